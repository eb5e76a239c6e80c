"""Fires a scenario's faults at their points of the fan-out, undoes them after their
duration, and keeps watching until the parent run finishes.

Faults of the backend, the agent and PostgreSQL happen one at a time (the next waits until
the previous one is undone); faults of flow processes may overlap them and each other.
Everything done is recorded as an `Injection`: when, to which process, and which task
executions that process had started without finishing at that moment.
"""
import signal
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from tests.chaos import schedule
from tests.chaos.evidence import Execution
from tests.chaos.processes import flow_process, is_alive, mentions, send
from tests.chaos.schedule import (AGENT, BACKEND, CHILD, PARENT, PG_RESTART, POSTGRESQL,
                                  SIGKILL, SIGKILL_RESTART, SIGSTOP_SIGCONT, SIGTERM_RESTART, Fault)
from tests.chaos.services import Postgres
from tests.chaos.world import FINAL_STATES, World

INFRASTRUCTURE = (BACKEND, AGENT, POSTGRESQL)
POLL = 0.1
SIGTERM_GRACE = 60.0  # a backend still shutting down after its down time gets this long, then SIGKILL


@dataclass
class Injection:
    fault: Fault
    armed_at: Optional[float] = None  # the scenario clock when its trigger was met (+ delay)
    fired_at: Optional[float] = None
    undone_at: Optional[float] = None
    pid: Optional[int] = None  # the flow process signalled
    flow_run_id: Optional[str] = None
    interrupted: List[Execution] = field(default_factory=list)  # unfinished executions of `pid` when fired
    notes: List[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.undone_at is not None

    def describe(self) -> str:
        if self.fired_at is None:
            return f"NOT INJECTED: {self.fault.describe()}" + (f" ({'; '.join(self.notes)})" if self.notes else "")
        held = f", undone at {self.undone_at:.1f} s" if self.undone_at is not None and self.fault.duration else ""
        who = f" pid {self.pid} ({self.flow_run_id})" if self.pid else ""
        what = (", interrupting " + ", ".join(e.describe() for e in self.interrupted)) if self.interrupted else ""
        if self.pid and not self.interrupted:
            what = ", no marked task in progress"
        notes = f" [{'; '.join(self.notes)}]" if self.notes else ""
        return f"{self.fired_at:6.1f} s  {self.fault.kind} {self.fault.target}{who}{what}{held}{notes}"


class Injector:
    """Runs one scenario's schedule against `world` while its parent run `parent_id` runs."""

    def __init__(self, world: World, faults: List[Fault], postgres: Optional[Postgres] = None) -> None:
        self.world = world
        self.injections = [Injection(fault) for fault in faults]
        self.postgres = postgres
        self.expected_executions = schedule.CHILDREN * schedule.TASKS_PER_CHILD + 1
        self._t0 = time.monotonic()
        self._children: Dict[int, str] = {}
        self._last_look = 0.0
        self.parent_final: Optional[dict] = None

    def clock(self) -> float:
        return time.monotonic() - self._t0

    def run(self, parent_id: str, deadline: float) -> None:
        """Inject, undo, watch: until the parent finished and every fault was undone (a fault
        whose point never came is left NOT INJECTED), or `deadline` seconds passed."""
        self.parent_id = parent_id
        while True:
            progress = self.world.evidence.started_count() / self.expected_executions
            for injection in self.injections:
                if injection.armed_at is None:
                    self._arm_if_due(injection, progress)
            for injection in self.injections:
                if injection.armed_at is not None and injection.fired_at is None and self.clock() >= injection.armed_at:
                    self._fire(injection)
            for injection in self.injections:
                if injection.fired_at is not None and not injection.done and self.clock() >= self._undo_time(injection):
                    self._undo(injection)
            if self.clock() - self._last_look >= 0.5 and not self._backend_unreachable():
                self._last_look = self.clock()
                run = self.world.run(parent_id)
                if run is not None and run["state"] in FINAL_STATES:
                    self.parent_final = run
            active = [i for i in self.injections if i.fired_at is not None and not i.done]
            if self.parent_final is not None and not active:
                return
            if self.clock() > deadline:
                for injection in active:  # leave nothing suspended or down
                    self._undo(injection)
                return
            time.sleep(POLL)

    # --- triggers ------------------------------------------------------------------------------

    def _arm_if_due(self, injection: Injection, progress: float) -> None:
        fault = injection.fault
        if fault.target == CHILD:
            child_id = self._child_id(fault.child)
            if child_id is None or not self.world.evidence.unfinished(child_id, "work", fault.step):
                return
        elif progress < fault.at:
            return
        injection.armed_at = self.clock() + fault.delay

    def _backend_unreachable(self) -> bool:
        """A fault of the backend or its database is in force (reads would only hang or fail)."""
        return any(i.fired_at is not None and not i.done and i.fault.target in (BACKEND, POSTGRESQL)
                   for i in self.injections)

    def _child_id(self, map_index: int) -> Optional[str]:
        if map_index not in self._children and not self._backend_unreachable():
            for child in self.world.children(self.parent_id) or []:
                self._children[(child.get("context") or {}).get("parent_map_index")] = child["id"]
        return self._children.get(map_index)

    # --- doing and undoing ---------------------------------------------------------------------

    def _fire(self, injection: Injection) -> None:
        fault = injection.fault
        if fault.target in INFRASTRUCTURE and any(
                i.fired_at is not None and not i.done and i.fault.target in INFRASTRUCTURE for i in self.injections):
            return  # one infrastructure fault at a time: try again once the other is undone
        action = {BACKEND: self._fire_backend, AGENT: self._fire_agent, POSTGRESQL: self._fire_postgres,
                  PARENT: self._fire_flow, CHILD: self._fire_flow}[fault.target]
        action(injection)

    def _fired(self, injection: Injection) -> None:
        injection.fired_at = self.clock()
        if injection.fault.kind in (SIGKILL, PG_RESTART):
            injection.undone_at = injection.fired_at  # nothing to undo

    def _fire_backend(self, injection: Injection) -> None:
        backend = self.world.backend
        sig = {SIGKILL_RESTART: signal.SIGKILL, SIGTERM_RESTART: signal.SIGTERM,
               SIGSTOP_SIGCONT: signal.SIGSTOP}[injection.fault.kind]
        backend.signal(sig)
        self._fired(injection)
        if sig == signal.SIGKILL:
            backend.wait_exit(10)

    def _fire_agent(self, injection: Injection) -> None:
        self.world.agents[0].kill()
        self._fired(injection)

    def _fire_postgres(self, injection: Injection) -> None:
        assert self.postgres is not None, "PostgreSQL faults need the PostgreSQL store"
        started = self.clock()
        if injection.fault.kind == PG_RESTART:
            self._fired(injection)
            self.postgres.restart()
            injection.notes.append(f"restart took {self.clock() - started:.1f} s")
        else:
            self.postgres.stop()
            self._fired(injection)

    def _fire_flow(self, injection: Injection) -> None:
        fault = injection.fault
        evidence = self.world.evidence
        if fault.target == PARENT:
            run_id, pid = self.parent_id, flow_process(self.parent_id, evidence, self.world.token)
        else:
            # mid-task, always: a process signalled between two tasks (its last one executed,
            # its Success maybe not yet recorded) would make a rerun nobody could account for;
            # if `work[step]` ended meanwhile (a slow machine), the task it executes next
            run_id = self._child_id(fault.child)
            running = [e for e in evidence.unfinished(run_id, "work", fault.step) or evidence.unfinished(run_id)
                       if is_alive(e.pid) and mentions(e.pid, self.world.token)]
            pid = running[-1].pid if running else None
        if pid is None:
            if not injection.notes:
                injection.notes.append("waiting for a live process of the run executing a task")
            return  # try again at the next look
        injection.notes.clear()
        injection.pid, injection.flow_run_id = pid, run_id
        injection.interrupted = [e for e in evidence.unfinished(run_id) if e.pid == pid]
        send(pid, signal.SIGKILL if fault.kind == SIGKILL else signal.SIGSTOP)
        self._fired(injection)

    def _undo_time(self, injection: Injection) -> float:
        return injection.fired_at + injection.fault.duration

    def _undo(self, injection: Injection) -> None:
        fault = injection.fault
        if fault.target == BACKEND:
            backend = self.world.backend
            if fault.kind == SIGSTOP_SIGCONT:
                backend.signal(signal.SIGCONT)
            else:
                if not backend.wait_exit(0 if fault.kind == SIGKILL_RESTART else SIGTERM_GRACE):
                    injection.notes.append(f"still running {SIGTERM_GRACE:.0f} s after the down time: SIGKILL")
                    backend.signal(signal.SIGKILL)
                    backend.wait_exit(10)
                elif fault.kind == SIGTERM_RESTART:
                    injection.notes.append(f"exit status {backend.process.returncode}")
                backend.start()
        elif fault.target == AGENT:
            self.world.agents[0].start()
        elif fault.target == POSTGRESQL:
            self.postgres.start()
        elif fault.kind == SIGSTOP_SIGCONT:
            send(injection.pid, signal.SIGCONT)
        injection.undone_at = self.clock()

    # --- what happened -------------------------------------------------------------------------

    def killed_pids(self) -> Dict[int, Injection]:
        """The flow processes this scenario SIGKILLed, with the injection that did it."""
        return {i.pid: i for i in self.injections if i.fault.kind == SIGKILL and i.pid is not None}

    def kills_per_run(self) -> Dict[str, int]:
        """How many of each run's processes this scenario SIGKILLed."""
        counts: Dict[str, int] = {}
        for injection in self.killed_pids().values():
            counts[injection.flow_run_id] = counts.get(injection.flow_run_id, 0) + 1
        return counts

    def not_injected(self) -> List[Injection]:
        return [i for i in self.injections if i.fired_at is None]

    def timeline(self) -> List[str]:
        return [i.describe() for i in sorted(self.injections, key=lambda i: (i.fired_at is None, i.fired_at or 0))]

