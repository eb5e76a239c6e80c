"""The scenarios and their fault schedules, drawn from the seed.

A schedule is a list of faults; each fires at a point of the fan-out's own progress (not at
a wall-clock time, so the same seed hits the same point on a fast or a loaded machine):

- faults of the backend, the agent or PostgreSQL fire once a share (`at`) of all the task
  executions the fan-out needs have started, `delay` seconds later;
- faults of a child's flow process fire while that child (`child`, its map index) executes
  `work[step]`, `delay` seconds into it; faults of the parent's process fire at `at`, while
  it waits for its children.

`duration` is how long the target stays down or stopped. The same seed gives the same
schedule: `plan(seed, scenario)` draws from a generator seeded with the seed and the
scenario's name only.
"""
import os
import random
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

from tests.chaos.services import STOCK_AGENT, WARM_AGENT
from tests.stores import POSTGRESQL as PG_STORE, SQLITE as SQLITE_STORE

# the backend's and the flow processes' timing in every scenario
TIMEOUT_VARIABLE = "TASKS_FLOWRUN_CHAOS_HEARTBEAT_TIMEOUT"  # a longer one on a machine too loaded for 10 s
HEARTBEAT_TIMEOUT = float(os.environ.get(TIMEOUT_VARIABLE) or 10.0)  # tasks-flowrun server --heartbeat-timeout
SUBMITTED_TIMEOUT = 60.0  # --submitted-timeout, on a backend that has it
MAX_RESURRECTIONS = 10  # generous: only the faults decide whether a run dies
FLOW_PROCESS_ENV = {  # what the agents' flow processes read (Prefect's defaults: 30 s, 15 s)
    "PREFECT__CLOUD__HEARTBEAT_INTERVAL": "2",
    "PREFECT__CLOUD__CHECK_CANCELLATION_INTERVAL": "2",
}
# Prefect's stock LocalAgent starts each flow process with a `prefect heartbeat` process beside
# it (heartbeat_mode "process"); 20 of those interpreters starting at once on a loaded 2-core
# machine take longer than the 10 s timeout to send their first beat, and the backend then
# rightly takes the silent runs for dead. The stock agent's flow processes here heartbeat from
# a thread instead (Prefect's own setting, what tasks-flowrun agent uses by default).
STOCK_AGENT_ENV = {"PREFECT__CLOUD__HEARTBEAT_MODE": "thread"}
# the fan-out
CHILDREN = 20
STEPS = 3  # `work` items per child
SECONDS = 3.0  # each `work` execution; `prepare` and `finish` take a quarter of it
TASKS_PER_CHILD = STEPS + 2

# fault kinds: (what is done, what undoes it)
SIGKILL_RESTART = "SIGKILL, restart"
SIGTERM_RESTART = "SIGTERM, restart"
SIGSTOP_SIGCONT = "SIGSTOP, SIGCONT"
SIGKILL = "SIGKILL"
PG_RESTART = "pg_ctl restart"
PG_STOP_START = "pg_ctl stop, start"

BACKEND, AGENT, POSTGRESQL, PARENT, CHILD = "backend", "agent", "postgresql", "parent", "child"


@dataclass(frozen=True)
class Fault:
    kind: str
    target: str  # BACKEND, AGENT, POSTGRESQL, PARENT or CHILD
    at: float = 0.0  # share of the fan-out's task executions started (not for CHILD)
    child: Optional[int] = None  # map index of the child (CHILD)
    step: Optional[int] = None  # which `work` item of the child (CHILD)
    delay: float = 0.0
    duration: float = 0.0

    def describe(self) -> str:
        if self.target == CHILD:
            where = f"child {self.child} in work[{self.step}] +{self.delay:.1f} s"
        else:
            where = f"{self.target} at {self.at:.0%} +{self.delay:.1f} s"
        held = f", for {self.duration:.1f} s" if self.duration else ""
        return f"{self.kind} {where}{held}"


@dataclass(frozen=True)
class Scenario:
    name: str
    agent: str
    what: str  # one line: what it shows
    draw: Callable[[random.Random], List[Fault]] = field(repr=False)
    agents: int = 1  # two: a run one agent's process holds can be deployed by the other
    stores: Tuple[str, ...] = (SQLITE_STORE, PG_STORE)  # where it runs by default (see SCENARIOS)


def plan(seed: int, scenario: Scenario) -> List[Fault]:
    """The scenario's faults for this seed (the same seed, the same faults)."""
    return scenario.draw(random.Random(f"{seed}/{scenario.name}"))


def _long(rng: random.Random) -> float:
    """Longer than the heartbeat timeout, which a backend must not take for deaths. Not much
    longer: Prefect's client retries a failed request 0, 2, 6, 14, 30 and 62 s after the first
    try, then gives up, so a process whose requests failed from the start of a 12 s outage is
    back 14 s in, of a 17 s one 30 s in (and $TASKS_FLOWRUN_CHAOS_HEARTBEAT_TIMEOUT must stay
    under about 45 s)."""
    return round(rng.uniform(HEARTBEAT_TIMEOUT + 1, HEARTBEAT_TIMEOUT + 2.5), 1)


def _short(rng: random.Random) -> float:
    return round(rng.uniform(1.0, 3.0), 1)


def _delay(rng: random.Random, most: float = 1.5) -> float:
    return round(rng.uniform(0.0, most), 1)


def _backend(kind: str) -> Callable[[random.Random], List[Fault]]:
    def draw(rng: random.Random) -> List[Fault]:
        return [Fault(kind, BACKEND, at=round(rng.uniform(0.1, 0.3), 2), delay=_delay(rng), duration=_short(rng)),
                Fault(kind, BACKEND, at=round(rng.uniform(0.45, 0.65), 2), delay=_delay(rng), duration=_long(rng))]
    return draw


def _children(rng: random.Random, kind: str, durations: List[float]) -> List[Fault]:
    picked = rng.sample(range(CHILDREN), len(durations))
    return [Fault(kind, CHILD, child=index, step=rng.randrange(STEPS), delay=_delay(rng, SECONDS / 3), duration=held)
            for index, held in zip(picked, durations)]


def _agent_kills(rng: random.Random) -> List[Fault]:
    return [Fault(SIGKILL_RESTART, AGENT, at=round(rng.uniform(0.1, 0.3), 2), delay=_delay(rng), duration=_short(rng)),
            Fault(SIGKILL_RESTART, AGENT, at=round(rng.uniform(0.45, 0.65), 2), delay=_delay(rng),
                  duration=_long(rng))]


def _flow_kills(rng: random.Random) -> List[Fault]:
    return _children(rng, SIGKILL, [0.0, 0.0, 0.0]) + [
        Fault(SIGKILL, PARENT, at=round(rng.uniform(0.3, 0.6), 2), delay=_delay(rng))]


def _flow_stops(rng: random.Random) -> List[Fault]:
    held = [_short(rng), _long(rng), _long(rng)]
    rng.shuffle(held)
    return _children(rng, SIGSTOP_SIGCONT, held) + [
        Fault(SIGSTOP_SIGCONT, PARENT, at=round(rng.uniform(0.3, 0.6), 2), delay=_delay(rng), duration=_long(rng))]


def _stock_agent(rng: random.Random) -> List[Fault]:
    # the backend's outage early, while the children have most of their work ahead
    return ([Fault(SIGKILL_RESTART, BACKEND, at=round(rng.uniform(0.15, 0.3), 2), delay=_delay(rng),
                   duration=_long(rng))]
            + _children(rng, SIGKILL, [0.0])
            + [Fault(SIGKILL_RESTART, AGENT, at=round(rng.uniform(0.5, 0.7), 2), delay=_delay(rng),
                     duration=round(rng.uniform(2.0, 4.5), 1))])


def _postgres(rng: random.Random) -> List[Fault]:
    return [Fault(PG_RESTART, POSTGRESQL, at=round(rng.uniform(0.1, 0.3), 2), delay=_delay(rng)),
            Fault(PG_STOP_START, POSTGRESQL, at=round(rng.uniform(0.45, 0.65), 2), delay=_delay(rng),
                  duration=_long(rng))]


# Where each scenario runs. The backend killed and flow processes killed run on both stores:
# what the backend finds in its database after a SIGKILL, and the recovery it writes, are
# the store's business. The other faults hit processes whose behaviour does not depend on the
# store, and are shared out so that both passes fit in the time (`--chaos-every-store` runs
# every scenario on both); the stock agent's 20 fresh interpreters make the heaviest scenario;
# PostgreSQL's restarts run where there is a PostgreSQL.
SCENARIOS = [
    Scenario("backend-sigkill", WARM_AGENT, "the backend killed, restarted on its database",
             _backend(SIGKILL_RESTART), agents=2),
    Scenario("backend-sigterm", WARM_AGENT, "the backend stopped cleanly, restarted", _backend(SIGTERM_RESTART),
             agents=2, stores=(SQLITE_STORE,)),
    Scenario("backend-sigstop", WARM_AGENT, "the backend suspended, continued", _backend(SIGSTOP_SIGCONT), agents=2,
             stores=(PG_STORE,)),
    Scenario("agent-sigkill", WARM_AGENT, "one of two tasks-flowrun agents killed, restarted", _agent_kills,
             agents=2, stores=(PG_STORE,)),
    Scenario("stock-agent", STOCK_AGENT, "the backend killed, a child's process killed, prefect agent local killed",
             _stock_agent, stores=(SQLITE_STORE,)),
    Scenario("flow-sigkill", WARM_AGENT, "children's and the parent's flow processes killed", _flow_kills),
    Scenario("flow-sigstop", WARM_AGENT, "children's and the parent's flow processes suspended", _flow_stops,
             agents=2, stores=(SQLITE_STORE,)),
    Scenario("postgresql-restart", WARM_AGENT, "the PostgreSQL server restarted, then down a while", _postgres,
             agents=2, stores=(PG_STORE,)),
]
