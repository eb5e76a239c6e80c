"""The wait loop behind `WaitForFlowRun`: every run waited on, followed until it is finished.

Where the backend pushes changes (the embedded one, `POST /watch`), the loop registers the
runs once and then holds one request at a time, answered the moment a run changes, with
the rows of the runs that changed: a change costs one request and work in proportion to
the runs that changed, and the last child's final state ends the wait without another
request. A notification can still be lost (a server process's listener reconnecting, a
leader change) or a run deleted: so the holds also check, at a growing interval (`CHECK_FIRST`
doubling up to `CHECK_MAX`, back to the start after any change), that no run's version moved
unnoticed (the check rides on a hold that timed out, at no extra request), and a run deleted
while waited on ends the wait with an error naming it.

Elsewhere the loop polls: one request per poll for every unfinished run (chunked past
`READ_CHUNK` ids), on the `PollBackoff` schedule.

Rows carry what the views the wait returns are built from, so no request follows the end.
The loop stops at `max_duration` measured on `time.monotonic()`, warns when a due run is not
picked up by an agent, and streams state changes and log lines (see `log_stream.py`).
"""
import logging
import time
from typing import Any, Callable, Dict, List, Optional

import pendulum
import prefect
from prefect.engine import state as prefect_states

from ..client import ChangeStream, FlowRunNotFoundError, read_flow_runs
from ..client.change_stream import WatchAnswer
from .agents import explain_not_picked_up
from .backoff import PollBackoff
from .errors import FlowRunDeletedError, WaitTimeoutError
from .log_stream import LOG_TAIL, Line, LogStream
from .times import parse_timestamp

AGENT_WARNING_AFTER = 15.0  # seconds a due run may wait for an agent before we warn
AGENT_WARNING_EVERY = 60.0  # seconds between two warnings about the same run
PUSH_HOLD = 60.0  # seconds a pushed-changes request may be held
CHECK_FIRST = 2.0  # seconds from a change to the first check that no notification was lost
CHECK_MAX = 60.0  # the longest interval between two checks: what a lost notification costs at most
CHECK_FACTOR = 2.0


class WaitLoop:
    """
    Follow some flow runs until all are finished.

    Args:
        - client (prefect.Client): the client to read with
        - flow_run_ids (List[str]): distinct ids of the runs to watch
        - stream_states (bool): log each run's state changes
        - stream_logs (bool): log each run's log lines
        - max_duration (float, optional): seconds of wall-clock time before giving up
        - backoff (PollBackoff): the poll schedule (when the backend cannot push)
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
        self.push = push
        self.polls = 0  # GraphQL reads
        self.rows: Dict[str, Dict[str, Any]] = {}
        self.states: Dict[str, type] = {}  # each run's current state class, from its row
        self.logs = LogStream(clock)
        self._watched = set(self.ids)
        self._unfinished: Dict[str, None] = {}  # ordered: runs not finished as last seen
        self._untaken: Dict[str, None] = {}  # unfinished runs no agent has taken yet
        self._states_seen: Dict[str, int] = {}
        self._warned_at: Dict[str, float] = {}
        self._check_every = CHECK_FIRST
        self._check_at = 0.0

    def run(self) -> Dict[str, Dict[str, Any]]:
        """
        Follow the runs until every one is finished (and, with `stream_logs`, its last
        lines are read).

        Returns:
            - dict: flow run id -> its last row (with the fields of a `FlowRunView`)

        Raises:
            - FlowRunNotFoundError: a run does not exist
            - FlowRunDeletedError: a run was deleted before it finished
            - WaitTimeoutError: `max_duration` elapsed first
        """
        started = self.clock()
        deadline = None if self.max_duration is None else started + self.max_duration
        if self.push is not None and not self.push.start(self.ids):
            self._stop_pushing()  # the registration also took the token changes count from
        rows = self._read(self.ids)
        missing = [run_id for run_id in self.ids if run_id not in rows]
        if missing:
            raise FlowRunNotFoundError(f"No flow run found with id(s) {missing!r}; nothing to wait for.")
        changed = self._apply(rows)
        self._check_at = self.clock() + self._check_every
        try:
            while True:
                awaited = self.logs.awaited() if self.stream_logs else []
                if not self._unfinished and not awaited:
                    break
                now = self.clock()
                if deadline is not None and now >= deadline:
                    if self._unfinished:
                        raise WaitTimeoutError(self._timeout_message(list(self._unfinished), now - started))
                    break  # out of time while waiting for last log lines: they are not shown
                self._warn_if_not_picked_up(now - started, now)
                remaining = None if deadline is None else max(deadline - now, 0.0)
                if self.push is not None:
                    self._hold(now, remaining)
                else:
                    changed = self._poll_after_sleep(awaited, changed, now, remaining)
        finally:
            if self.push is not None:
                self.push.close()
        return self.rows

    # -- pushed changes -------------------------------------------------------------------

    def _hold(self, now: float, remaining: Optional[float]) -> None:
        """One held request: apply what changed, or check versions when it timed out."""
        assert self.push is not None
        until_check = max(self._check_at - now, 0.0)
        limits = [PUSH_HOLD, until_check]
        if self._untaken:
            limits.append(AGENT_WARNING_AFTER)  # come back to warn about runs no agent takes
        grace_end = self.logs.next_deadline() if self.stream_logs else None
        if grace_end is not None:
            limits.append(max(grace_end - now, 0.0))
        if remaining is not None:
            limits.append(remaining)
        hold = min(limits)
        verify = hold >= until_check  # this hold ends at the check's time: check at its end
        answer = self.push.wait(hold, verify=verify, logs_after=self.logs.after if self.stream_logs else None,
                                logs_tail=LOG_TAIL)
        if answer is None:
            self._stop_pushing()
            return
        if answer.changed or answer.deleted:
            self._take(answer)
            self._check_every = CHECK_FIRST
            self._check_at = self.clock() + self._check_every
        elif answer.versions is not None:
            stale = [run_id for run_id, row in self.rows.items()
                     if run_id in answer.versions and answer.versions[run_id] != row.get("version")]
            gone = [run_id for run_id in self._unfinished if run_id not in answer.versions]
            if stale or gone:
                self._take(WatchAnswer(changed=stale + gone))
                self._check_every = CHECK_FIRST
            else:
                self._check_every = min(self._check_every * CHECK_FACTOR, CHECK_MAX)
            self._check_at = self.clock() + self._check_every

    def _take(self, answer: WatchAnswer) -> None:
        """Apply an answer's rows; read the changed runs it carried no row for; fail on a
        run deleted before it finished."""
        rows = dict(answer.runs)
        deleted = set(answer.deleted)
        unread = [run_id for run_id in answer.changed if run_id not in rows and run_id not in deleted]
        if unread:
            found = self._read(unread)
            rows.update(found)
            deleted.update(run_id for run_id in unread if run_id not in found)
        self._apply(rows)
        self._fail_if_deleted(deleted)

    def _stop_pushing(self) -> None:
        if self.push is not None:
            self.push.close()
        self.push = None  # the backend cannot push (any more): poll from now on

    # -- polling --------------------------------------------------------------------------

    def _poll_after_sleep(self, awaited: List[str], changed: bool, now: float, remaining: Optional[float]) -> bool:
        pending = list(self._unfinished)
        delay = self.backoff.next_interval(changed, now)
        grace_end = self.logs.next_deadline() if self.stream_logs and not pending else None
        if grace_end is not None:
            delay = min(delay, max(grace_end - now, 0.0), max(self.backoff.minimum, 1.0))
        self.sleep(delay if remaining is None else min(delay, remaining))
        ids = pending + [run_id for run_id in awaited if run_id not in pending]
        rows = self._read(ids)
        self._fail_if_deleted({run_id for run_id in pending if run_id not in rows})
        return self._apply(rows)

    # -- rows -----------------------------------------------------------------------------

    def _read(self, ids: List[str]) -> Dict[str, Dict[str, Any]]:
        self.polls += 1
        after = self.logs.after if self.stream_logs else None
        return read_flow_runs(self.client, ids, self.stream_logs, after, logs_tail=LOG_TAIL)

    def _apply(self, rows: Dict[str, Dict[str, Any]]) -> bool:
        """Take newer rows; stream their new states and lines; whether a run changed."""
        changed = False
        lines: List[Line] = []
        for run_id, row in rows.items():
            if run_id not in self._watched:
                continue
            known = self.rows.get(run_id)
            if known is not None and (row.get("version") or 0) < (known.get("version") or 0):
                row = {**known, "logs": row.get("logs")}  # an older read: keep the newer state
            elif known is None or row.get("version") != known.get("version"):
                changed = True
            self.rows[run_id] = row
            self.states[run_id] = state = state_class(row)
            if issubclass(state, prefect_states.Finished):
                self._unfinished.pop(run_id, None)
                self._untaken.pop(run_id, None)
                if self.stream_logs:
                    self.logs.finished(run_id, row.get("state_timestamp"))
            else:
                if run_id not in self._unfinished and known is not None and self.stream_logs:
                    self.logs.restarted(run_id)
                self._unfinished[run_id] = None
                if issubclass(state, (prefect_states.Submitted, prefect_states.Running)):
                    self._untaken.pop(run_id, None)
                else:
                    self._untaken[run_id] = None
            if self.stream_states:
                lines += self._new_states(run_id, row)
            if self.stream_logs:
                lines += self.logs.new_lines(row)
        for _, level, message in sorted(lines, key=lambda line: line[0]):
            self.logger.log(level, message)
        return changed

    def _fail_if_deleted(self, deleted: Any) -> None:
        gone = [run_id for run_id in deleted if run_id in self._unfinished]
        if gone:
            described = ", ".join(f"{self.rows[r].get('name')!r} ({r})" for r in gone)
            raise FlowRunDeletedError(
                f"Child flow run {described} was deleted while this task waited for it"
                if len(gone) == 1 else
                f"Child flow runs {described} were deleted while this task waited for them"
            )

    def _new_states(self, run_id: str, row: Dict[str, Any]) -> List[Line]:
        history = sorted(row.get("states") or [], key=lambda s: parse_timestamp(s["timestamp"]))
        seen = self._states_seen.get(run_id, 0)
        if len(history) <= seen:
            return []
        self._states_seen[run_id] = len(history)
        lines = []
        for entry in history[seen:]:
            serialized = entry.get("serialized_state") or {}
            text = f"{row.get('name')}: entered state <{serialized.get('type')}>: {serialized.get('message')}"
            lines.append((parse_timestamp(entry["timestamp"]), logging.INFO, text))
        return lines

    # -- agents -----------------------------------------------------------------------------

    def _warn_if_not_picked_up(self, elapsed: float, now: float) -> None:
        """Warn (one agent query for all late runs) about due runs no agent has taken."""
        if elapsed < AGENT_WARNING_AFTER or not self._untaken:
            return
        utc_now = pendulum.now("UTC")
        late = []
        for run_id in self._untaken:
            due = (self.rows[run_id].get("serialized_state") or {}).get("start_time")
            if due and (utc_now - parse_timestamp(due)).total_seconds() < AGENT_WARNING_AFTER:
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
            f"{self.rows[r].get('name')!r} ({r}) in state {self.states[r].__name__}"
            for r in pending
        )
        return (
            f"Gave up waiting after {elapsed:.1f} s (max_duration={self.max_duration:g} s): "
            f"still not finished: {described}."
        )


def state_class(row: Dict[str, Any]) -> type:
    """The class of the run's current state, from its `serialized_state` (Pending if it has
    none yet, or one this Prefect does not know): cheaper than deserializing the state."""
    name = (row.get("serialized_state") or {}).get("type")
    cls = getattr(prefect_states, str(name), None)
    return cls if isinstance(cls, type) and issubclass(cls, prefect_states.State) else prefect_states.Pending
