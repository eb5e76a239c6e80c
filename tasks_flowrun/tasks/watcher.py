"""The wait loop behind `WaitForFlowRun`: one request per poll for all watched runs.

Between polls, a backend that pushes changes (the embedded one) holds one request until a
watched run changes (or for up to a minute): the next poll follows the change within
milliseconds, and a quiet wait costs one request a minute. Elsewhere the loop sleeps by
`PollBackoff` between polls.

Each poll reads every unfinished run's current state (plus its state history when states
are streamed, and its recent logs when logs are streamed) in a single `flow_run(where: {id:
{_in: [...]}})` query. The loop sleeps by `PollBackoff`, stops at `max_duration` measured on
`time.monotonic()`, and warns when a due run is not picked up by an agent.

Logs: until a first log line is seen, each run's newest `LOG_TAIL` lines are read (so a run
with a huge history costs one bounded read), then the stream follows from there. Prefect
uploads run logs in batches (every few seconds) with their original
timestamps, so a log can become visible after newer ones. Each poll therefore re-reads a
`LOG_OVERLAP` window before the newest log seen and drops the lines already shown. A line
uploaded more than `LOG_OVERLAP` after a newer line, or after the run finished and the
wait ended, is not shown.
"""
import logging
import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import pendulum
import prefect
from prefect.engine.state import Pending, State

from ..client import ChangeStream, FlowRunNotFoundError, read_flow_runs
from .agents import explain_not_picked_up
from .backoff import PollBackoff
from .errors import WaitTimeoutError
from .times import parse_timestamp

LOG_OVERLAP = 10.0  # seconds of logs re-read on every poll
LOG_TAIL = 1000  # lines per run read until a first log is seen: a long history is not fetched whole
AGENT_WARNING_AFTER = 15.0  # seconds a due run may wait for an agent before we warn
AGENT_WARNING_EVERY = 60.0  # seconds between two warnings about the same run
MAX_REMEMBERED_LOGS = 5000  # forget lines older than the overlap window past this many
PUSH_HOLD = 60.0  # seconds a pushed-changes request may be held
# A flow process uploads its last log lines as it exits, just after its final state: with
# `stream_logs`, a wait gives them this long to arrive (returning as soon as they do).
LOG_GRACE = 3.0


class Watcher:
    """
    Poll some flow runs until all are finished.

    Args:
        - client (prefect.Client): the client to poll with
        - flow_run_ids (List[str]): distinct ids of the runs to watch
        - stream_states (bool): log each run's state changes
        - stream_logs (bool): log each run's log lines
        - max_duration (float, optional): seconds of wall-clock time before giving up
        - backoff (PollBackoff): the poll schedule
        - logger (logging.Logger): where streamed lines and warnings go
        - clock (Callable, optional): monotonic clock (tests)
        - sleep (Callable, optional): sleep function (tests)
        - push (ChangeStream, optional): held requests for pushed changes; `None` polls
    """

    def __init__(
        self,
        client: "prefect.Client",
        flow_run_ids: List[str],
        stream_states: bool,
        stream_logs: bool,
        max_duration: Optional[float],
        backoff: PollBackoff,
        logger: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        push: Optional[ChangeStream] = None,
    ) -> None:
        self.client = client
        self.ids = list(flow_run_ids)
        self.stream_states = stream_states
        self.stream_logs = stream_logs
        self.max_duration = max_duration
        self.backoff = backoff
        self.logger = logger
        self.clock = clock
        self.sleep = sleep
        self.polls = 0
        self.push = push
        self.rows: Dict[str, Dict[str, Any]] = {}
        self._signature: Dict[str, Tuple[Any, str]] = {}
        self._states_seen: Dict[str, int] = {}
        self._logs_seen: Set[Tuple[str, str, str]] = set()
        self._newest_log: Optional[pendulum.DateTime] = None
        self._warned_at: Dict[str, float] = {}

    def run(self) -> Dict[str, Dict[str, Any]]:
        """
        Poll until every run is finished.

        Returns:
            - dict: flow run id -> its last polled row

        Raises:
            - FlowRunNotFoundError: a run does not exist (or disappeared)
            - WaitTimeoutError: `max_duration` elapsed first
        """
        started = self.clock()
        deadline = None if self.max_duration is None else started + self.max_duration
        pending = list(self.ids)
        if self.push is not None and self.push.wait(pending, 0.0) is None:
            self.push = None  # the first call only takes a token: changes from here on count
        while pending:
            changed, pending = self._poll(pending)
            if not pending:
                break
            self._until_next_poll(pending, changed, started, deadline)
        if self.stream_logs:
            self._last_log_lines()
        return self.rows

    def _last_log_lines(self) -> None:
        """Read the log lines the runs uploaded as their processes exited."""
        if self.push is not None:
            if self.push.wait(self.ids, LOG_GRACE) == []:
                return  # no line came
        else:
            self.sleep(min(LOG_GRACE, max(self.backoff.minimum, 1.0)))
        self._poll(list(self.ids))

    def _until_next_poll(self, pending: List[str], changed: bool, started: float, deadline: Optional[float]) -> None:
        """Return when it is time to poll again: a pushed change, or the backoff's interval."""
        while True:
            now = self.clock()
            if deadline is not None and now >= deadline:
                raise WaitTimeoutError(self._timeout_message(pending, now - started))
            self._warn_if_not_picked_up(pending, now - started, now)
            remaining = None if deadline is None else max(deadline - now, 0.0)
            if self.push is not None:
                hold = PUSH_HOLD if self._all_taken(pending) else AGENT_WARNING_AFTER
                seen = self.push.wait(pending, hold if remaining is None else min(hold, remaining))
                if seen:
                    return
                if seen is not None:
                    continue  # held until its time was up: nothing changed, nothing to read
                self.push = None  # the backend cannot push (any more): poll from now on
            delay = self.backoff.next_interval(changed, now)
            self.sleep(delay if remaining is None else min(delay, remaining))
            return

    def _all_taken(self, pending: List[str]) -> bool:
        """Whether every unfinished run has been taken by an agent (no warning to give)."""
        for run_id in pending:
            state = current_state(self.rows[run_id])
            if not (state.is_submitted() or state.is_running()):
                return False
        return True

    def _poll(self, pending: List[str]) -> Tuple[bool, List[str]]:
        logs_after = None
        if self._newest_log is not None:
            logs_after = self._newest_log.subtract(seconds=LOG_OVERLAP).isoformat()
        rows = read_flow_runs(self.client, pending, self.stream_states, self.stream_logs, logs_after,
                              logs_tail=LOG_TAIL)
        self.polls += 1
        missing = [run_id for run_id in pending if run_id not in rows]
        if missing:
            raise FlowRunNotFoundError(f"No flow run found with id(s) {missing!r}; nothing to wait for.")
        changed = False
        still: List[str] = []
        lines: List[Tuple[pendulum.DateTime, int, str]] = []
        for run_id in pending:
            row = rows[run_id]
            self.rows[run_id] = row
            state = current_state(row)
            signature = (row.get("version"), type(state).__name__)
            changed = changed or self._signature.get(run_id) != signature
            self._signature[run_id] = signature
            if self.stream_states:
                lines += self._new_states(run_id, row)
            if self.stream_logs:
                lines += self._new_logs(row)
            if not state.is_finished():
                still.append(run_id)
        for _, level, message in sorted(lines, key=lambda line: line[0]):
            self.logger.log(level, message)
        return changed, still

    def _new_states(self, run_id: str, row: Dict[str, Any]) -> List[Tuple[pendulum.DateTime, int, str]]:
        history = sorted(row.get("states") or [], key=lambda s: parse_timestamp(s["timestamp"]))
        seen = self._states_seen.get(run_id, 0)
        self._states_seen[run_id] = len(history)
        lines = []
        for entry in history[seen:]:
            state = State.deserialize(entry["serialized_state"])
            text = f"{row.get('name')}: entered state <{type(state).__name__}>: {state.message}"
            lines.append((parse_timestamp(entry["timestamp"]), logging.INFO, text))
        return lines

    def _new_logs(self, row: Dict[str, Any]) -> List[Tuple[pendulum.DateTime, int, str]]:
        lines = []
        if self._newest_log is None and len(row.get("logs") or []) >= LOG_TAIL:
            lines.append((parse_timestamp(row["logs"][-1]["timestamp"]), logging.INFO,
                          f"{row.get('name')}: (earlier log lines not shown: streaming from its last {LOG_TAIL})"))
        for log in row.get("logs") or []:
            key = (row["id"], str(log.get("timestamp")), str(log.get("message")))
            if key in self._logs_seen:
                continue
            self._logs_seen.add(key)
            stamp = parse_timestamp(log["timestamp"])
            if self._newest_log is None or stamp > self._newest_log:
                self._newest_log = stamp
            level = logging.getLevelName(str(log.get("level") or "INFO").upper())
            level = level if isinstance(level, int) else logging.INFO
            lines.append((stamp, level, f"{row.get('name')}: {log.get('message')}"))
        if len(self._logs_seen) > MAX_REMEMBERED_LOGS and self._newest_log is not None:
            horizon = self._newest_log.subtract(seconds=LOG_OVERLAP)
            self._logs_seen = {k for k in self._logs_seen if parse_timestamp(k[1]) >= horizon}
        return lines

    def _warn_if_not_picked_up(self, pending: List[str], elapsed: float, now: float) -> None:
        """Warn (one agent query for all late runs) about due runs no agent has taken."""
        if elapsed < AGENT_WARNING_AFTER:
            return
        utc_now = pendulum.now("UTC")
        late = []
        for run_id in pending:
            state = current_state(self.rows[run_id])
            if state.is_submitted() or state.is_running() or state.is_finished():
                continue
            due = getattr(state, "start_time", None)
            if due is not None and (utc_now - pendulum.instance(due)).total_seconds() < AGENT_WARNING_AFTER:
                continue
            if now - self._warned_at.get(run_id, -AGENT_WARNING_EVERY) < AGENT_WARNING_EVERY:
                continue
            late.append(run_id)
        if not late:
            return
        try:
            reasons = explain_not_picked_up(self.client, [self.rows[run_id] for run_id in late])
        except Exception as exc:  # the warning is advice: never fail the wait over it
            reasons = {run_id: f"(could not query agents: {exc})" for run_id in late}
        for run_id in late:
            self._warned_at[run_id] = now
            row = self.rows[run_id]
            self.logger.warning(
                f"{row.get('name')}: not picked up by an agent after {elapsed:.0f} s of waiting. "
                f"{reasons.get(run_id, '')}"
            )

    def _timeout_message(self, pending: List[str], elapsed: float) -> str:
        described = ", ".join(
            f"{self.rows[r].get('name')!r} ({r}) in state {type(current_state(self.rows[r])).__name__}"
            for r in pending
        )
        return (
            f"Gave up waiting after {elapsed:.1f} s (max_duration={self.max_duration:g} s): "
            f"still not finished: {described}."
        )


def current_state(row: Dict[str, Any]) -> State:
    """The run's current state, from its `serialized_state` (Pending if there is none yet)."""
    serialized = row.get("serialized_state")
    if not serialized:
        return Pending(message="No state reported yet.")
    return State.deserialize(serialized)
