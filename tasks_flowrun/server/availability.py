"""Whether the backend could hear its flow runs: the gaps in its own availability.

Recovery judges a flow run dead from its silence (no heartbeat, no self-poll). Silence the
backend caused itself is no evidence: before it started, while its process was stopped
(SIGSTOP, a debugger, starved of CPU), while the machine slept or its wall clock jumped,
while its database did not answer, flow runs could not reach it. This tracker records the
end of the last such gap (`heard_since`), and nothing while a gap lasts; recovery counts a
run's silence from that moment at the earliest (see `api/recovery.py`), so no run is judged
dead before it has had a full timeout of availability to report in.

Gaps come from:

- the clocks, compared every half second by a ticker thread and at each sweep (`observe`):
  a monotonic step of several seconds means the process did not run; wall and monotonic
  clocks disagreeing means the machine slept or the wall clock jumped;
- sources that are unavailable until they recover (`unavailable(source)`,
  `available(source)`): the database, the PostgreSQL listener, a silent peer process;
- events (`gap(why)`): this process took the lead of the services, a peer was dropped.

Every change is logged on `tasks_flowrun.server`: WARNING when a grace period starts or
recovery pauses, INFO when the grace period is over.
"""
import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

logger = logging.getLogger("tasks_flowrun.server")

# A monotonic step this long between two looks: the process did not run (shorter delays are
# a loaded machine's scheduling, and requests queued meanwhile are answered, not lost)...
STALL_SECONDS = 6.0
BUSY_SHARE = 0.5  # ...unless it used at least this share of the step's CPU: then its own work held the interpreter
CLOCK_TOLERANCE = 2.0  # wall and monotonic steps differing by more: the wall clock jumped
CLIENT_RETRY_PAUSE = 32.0  # the longest pause of Prefect 1's client between two retries of a request


def _boottime() -> Optional[float]:
    """Seconds since boot, counting suspend (Linux's CLOCK_BOOTTIME), if the system has it."""
    clock_id = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(clock_id) if clock_id is not None else None


@dataclass(frozen=True)
class Clocks:
    """The clocks the tracker compares (replaceable in tests).

    Args:
        - monotonic (callable): seconds on a clock that never jumps and stops while the
            machine sleeps (`time.monotonic`)
        - wall (callable): seconds since the epoch (`time.time`)
        - boottime (callable): seconds on a clock that counts sleep too, or None
        - cpu (callable): CPU seconds this process used (`time.process_time`), which stand
            still while it is stopped and advance while its own work keeps the ticker waiting
    """

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    boottime: Callable[[], Optional[float]] = _boottime
    cpu: Callable[[], float] = time.process_time


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)


def _hhmmss(epoch: float) -> str:
    return _utc(epoch).strftime("%H:%M:%S UTC")


class Availability:
    """
    When the backend could last not hear flow runs (thread-safe).

    Args:
        - grace (float): seconds of availability a run gets to report in after a gap (the
            heartbeat timeout); used in log messages and to tell when a grace period is over
        - submitted_grace (float, optional): the same for Submitted runs (their timeout)
        - clocks (Clocks, optional): the clocks to compare
        - why_started (str, optional): the reason logged for the first grace period
        - retry_allowance (float, optional): seconds added to every grace period for
            clients backing off between retries (default: Prefect's longest pause, 32 s)
    """

    def __init__(self, grace: float, submitted_grace: Optional[float] = None, clocks: Clocks = Clocks(),
                 why_started: str = "the backend just started", retry_allowance: float = CLIENT_RETRY_PAUSE) -> None:
        self.grace = grace
        self.submitted_grace = submitted_grace
        self.retry_allowance = retry_allowance
        self.clocks = clocks
        self._lock = threading.Lock()
        self._last = (clocks.monotonic(), clocks.wall(), clocks.boottime())
        self._last_cpu = clocks.cpu()
        self._since = self._last[1]  # wall-clock end of the last gap
        self._down: Dict[str, str] = {}  # source -> why it is unavailable
        self._in_grace = False
        self.last_gap = why_started  # why the last gap happened
        self.generation = 0  # counts gaps: a sweep that saw it change meanwhile is void
        self._stall_ended: Optional[float] = None  # monotonic time the last stall or clock jump was seen
        with self._lock:
            self._gap_ended(self._since, why_started, level=logging.INFO, force=True)

    # -- what recovery asks --------------------------------------------------------------

    def heard_since(self) -> Optional[dt.datetime]:
        """From when (UTC) a run's silence counts: the end of the last gap, plus the time
        clients may take to retry; None while the backend cannot hear flow runs."""
        with self._lock:
            return None if self._down else _utc(self._since + self.retry_allowance)

    def available_for(self) -> Optional[float]:
        """Seconds since the end of the last gap, or None while the backend cannot hear flow runs."""
        with self._lock:
            return None if self._down else max(0.0, self.clocks.wall() - self._since)

    def unavailable_reasons(self) -> List[str]:
        with self._lock:
            return list(self._down.values())

    # -- what feeds it ------------------------------------------------------------------

    def observe(self) -> None:
        """Compare the clocks with the previous look; a step the process cannot explain is a gap."""
        mono, wall, boot, cpu = self.clocks.monotonic(), self.clocks.wall(), self.clocks.boottime(), self.clocks.cpu()
        with self._lock:
            last_mono, last_wall, last_boot = self._last
            self._last = (mono, wall, boot)
            step, wall_step = mono - last_mono, wall - last_wall
            cpu_step, self._last_cpu = cpu - self._last_cpu, cpu
            why = None
            if step > STALL_SECONDS and cpu_step >= BUSY_SHARE * step:
                # the process ran all along, busy with its own work (a long request holding the
                # interpreter): requests waited in the socket's queue and are answered late, not lost
                logger.debug("The backend was busy for %.0f s (%.0f s of CPU); not a gap.", step, cpu_step)
            elif step > STALL_SECONDS:
                why = (f"the backend process did not run for {step:.0f} s (stopped, suspended or starved of CPU), "
                       "so flow runs could not reach it")
            elif abs(wall_step - step) > CLOCK_TOLERANCE:
                slept = (boot is not None and last_boot is not None and wall_step > step
                         and abs((boot - last_boot) - wall_step) <= CLOCK_TOLERANCE)
                if slept:
                    why = f"the machine was asleep for {wall_step - step:.0f} s"
                else:
                    direction = "forward" if wall_step > step else "back"
                    why = (f"the wall clock jumped {direction} by {abs(wall_step - step):.0f} s, so the times of "
                           "the runs' last signs of life are not comparable with now")
            if why is not None:  # (after a jump back, the earlier gap's end stays the later one)
                self._stall_ended = mono
                self._gap_ended(max(wall, self._since), why, force=True)
            elif self._in_grace and not self._down and wall >= self._since + self.retry_allowance + self.grace:
                self._in_grace = False
                logger.info("Recovery grace period over: flow runs silent for %g s are judged dead again.",
                            self.grace)

    def last_stall(self) -> Optional[float]:
        """When (monotonic seconds) the process last resumed after not running (stopped,
        suspended, starved) or after a clock jump, looking at the clocks now; None if never.
        A request's time budget does not count such a stall (see graphql/budget.py)."""
        self.observe()
        with self._lock:
            return self._stall_ended

    def gap(self, why: str, ended_at: Optional[float] = None) -> None:
        """A gap that ended at `ended_at` (epoch seconds; default now), e.g. this process
        took the services' lead; ignored if an earlier one already covers it."""
        with self._lock:
            self._gap_ended(self.clocks.wall() if ended_at is None else ended_at, why)

    def unavailable(self, source: str, why: str) -> None:
        """`source` cannot pass flow runs' signs of life on until `available(source)`."""
        with self._lock:
            if source in self._down:
                self._down[source] = why
                return
            self._down[source] = why
            self.generation += 1
            logger.warning("Recovery paused: %s. No flow run is judged dead while this lasts, nor for a full "
                           "timeout after.", why)

    def available(self, source: str, why: Optional[str] = None) -> None:
        """`source` works again: a gap ends now (nothing happens if it was not unavailable)."""
        with self._lock:
            if self._down.pop(source, None) is None:
                return
            self._gap_ended(self.clocks.wall(), why or f"{source} is available again")

    def down_sources(self) -> List[str]:
        with self._lock:
            return list(self._down)

    def forget(self, prefix: str) -> None:
        """Drop the unavailable sources whose name starts with `prefix`, with no gap (e.g.
        the peers a process that no longer leads recovery stops watching)."""
        with self._lock:
            for source in [s for s in self._down if s.startswith(prefix)]:
                del self._down[source]

    # -- inside the lock ------------------------------------------------------------------

    def _gap_ended(self, at: float, why: str, level: int = logging.WARNING, force: bool = False) -> None:
        if at <= self._since and not force:
            return  # a gap ending no later than the last one is already honoured
        self.generation += 1
        self._since = at
        self.last_gap = why
        self._in_grace = True
        if self._down:
            logger.log(level, "Recovery grace period: %s; recovery stays paused: %s.", why,
                       "; ".join(self._down.values()))
            return
        start = self._since + self.retry_allowance
        submitted = f"; Submitted runs: before {_hhmmss(start + self.submitted_grace)}" if self.submitted_grace else ""
        logger.log(level, "Recovery grace period: %s. No flow run is judged dead before %s (a full heartbeat "
                   "timeout of %g s to report in, after %g s for clients to retry%s).", why,
                   _hhmmss(start + self.grace), self.grace, self.retry_allowance, submitted)
