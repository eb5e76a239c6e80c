"""Fan-outs of 20 children (a real parent flow: `create_flow_run.map` + `wait_for_flow_run`,
through real agents) while the backend, the agents, the flow processes and PostgreSQL are
killed, suspended and restarted on a seeded schedule (schedule.py). Every task execution
leaves a marker file, so executions are counted exactly (verdict.py says what must hold).

Timing: the backend judges a run dead after 10 s of silence; flow processes heartbeat and
check for cancellation every 2 s. The long faults last longer than that timeout.
"""
import os
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import pytest

from tests import stores
from tests.chaos import schedule
from tests.chaos.injector import Injector
from tests.chaos.ledger import Ledger, ScenarioRecord, rows_for
from tests.chaos.processes import is_alive, mentions
from tests.chaos.schedule import AGENT, BACKEND, CHILD, PARENT, POSTGRESQL, SCENARIOS, Fault, Scenario, plan
from tests.chaos.services import Postgres
from tests.chaos.verdict import Verdict, judge
from tests.chaos.world import FINAL_STATES, World
from tests.helpers import wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.timeout(600)]

RUN_DEADLINE = 300.0  # seconds for a fan-out under faults to finish
SETTLE = 45.0  # seconds for executions still in flight (and children) to end after the parent


@dataclass
class Outcome:
    """What one scenario did and what came of it."""

    verdict: Verdict
    injector: Injector
    parent: Optional[Dict[str, Any]]
    took: float
    recovery: List[str]  # the backend's log lines about dead runs
    load: str  # the machine's load averages before and after


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_fan_out_survives(scenario: Scenario, chaos_seed: int, chaos_ledger: Ledger, chaos_every_store: bool,
                          tmp_path) -> None:
    faults = plan(chaos_seed, scenario)
    if any(fault.target == POSTGRESQL for fault in faults) and not stores.is_postgresql():
        pytest.skip("restarts the PostgreSQL server: runs with --store=postgresql")
    if stores.current() not in scenario.stores and not chaos_every_store:
        pytest.skip(f"runs on {' and '.join(scenario.stores)} (tests/chaos/schedule.py); "
                    "--chaos-every-store runs it here too")
    print(f"\n{scenario.name} (seed {chaos_seed}): {scenario.what}")
    for fault in faults:
        print(f"  {fault.describe()}")
    outcome = _run(scenario, faults, tmp_path)
    verdict = outcome.verdict
    chaos_ledger.add(_record(scenario, chaos_seed, faults, outcome))
    print(f"{scenario.name}: {'survived' if verdict.passed else 'FAILED'}; {verdict.executions} executions, "
          f"{verdict.extra} extra, {verdict.explained} explained by kills, {verdict.false_deaths} false deaths, "
          f"in {outcome.took:.0f} s")
    assert verdict.passed, "\n".join(
        [f"seed {chaos_seed}, scenario {scenario.name}:"] + verdict.problems + ["timeline:"]
        + outcome.injector.timeline() + ["backend recovery log:"] + outcome.recovery[-10:])


def _run(scenario: Scenario, faults: List[Fault], tmp_path) -> Outcome:
    """The fan-out under the faults, then the verdict on what it left."""
    database = stores.fresh_database(tmp_path / "db", name=scenario.name.replace("-", "_"))
    postgres = Postgres(stores.cluster(), tmp_path / "pg_ctl.log") if stores.is_postgresql() else None
    load_before = _load()
    with World(scenario.agent, tmp_path, database, agents=scenario.agents) as world:
        started = time.monotonic()
        parent_id = world.start_parent()
        injector = Injector(world, faults, postgres)
        injector.run(parent_id, deadline=RUN_DEADLINE)
        took = time.monotonic() - started
        parent, children = _settle(world, parent_id)
        run_ids = [r["id"] for r in ([parent] if parent else []) + (children or [])]
        verdict = judge(world.evidence, parent, children, world.state_histories(run_ids), injector.killed_pids(),
                        injector.kills_per_run())
        recovery = world.backend.recovery_lines()
        gone = [agent.name for agent in world.agents if not agent.alive()]
        if world.backend.process.poll() is not None:
            gone.append("the backend")
    if parent is None or parent["state"] not in FINAL_STATES:
        verdict.problems.insert(0, f"the parent did not finish within {RUN_DEADLINE:.0f} s: {parent}")
    if gone:
        verdict.problems.append(f"died by itself during the scenario: {', '.join(gone)}")
    for injection in injector.not_injected():
        verdict.problems.append(f"a fault was never injected (the fan-out proves nothing about it): "
                                f"{injection.describe()}")
    return Outcome(verdict, injector, parent, took, recovery, f"{load_before} -> {_load()}")


def _settle(world: World, parent_id: str):
    """The parent and its children once nothing of the fan-out executes any more (or SETTLE
    seconds passed): an execution still in flight would be missed by the count."""
    def quiet() -> bool:
        in_flight = [e for e in world.evidence.executions()
                     if e.ended is None and is_alive(e.pid) and mentions(e.pid, world.token)]
        children = world.children(parent_id)
        return not in_flight and children is not None and all(c["state"] in FINAL_STATES for c in children)

    try:
        wait_until(quiet, timeout=SETTLE, interval=0.5)
    except AssertionError:
        pass  # judged as it is: what is unfinished shows in the verdict
    return world.run(parent_id), world.children(parent_id)


def _record(scenario: Scenario, seed: int, faults: List[Fault], outcome: Outcome) -> ScenarioRecord:
    verdict, injector, parent = outcome.verdict, outcome.injector, outcome.parent
    injected = [(_fault_label(i.fault), _target_label(i.fault, scenario), i.fired_at is not None)
                for i in injector.injections]
    return ScenarioRecord(
        store=stores.current(), scenario=scenario.name, seed=seed,
        schedule=[f"{scenario.agents} x {scenario.agent}"] + [f.describe() for f in faults],
        timeline=([f"{'':8}load average {outcome.load}"] + injector.timeline()
                  + [f"{outcome.took:6.1f} s  the parent ended {parent and parent['state']}"]),
        rows=rows_for(stores.current(), scenario.name, injected, verdict.executions, verdict.extra,
                      verdict.explained, verdict.false_deaths, "survived" if verdict.passed else "FAILED"),
        problems=verdict.problems, duplicates=verdict.duplicates,
        recovery=[line for line in outcome.recovery if "Recovery" in line][-3:])


def _load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def _fault_label(fault: Fault) -> str:
    if not fault.duration:
        return fault.kind
    side = ">" if fault.duration > schedule.HEARTBEAT_TIMEOUT else "<"
    return f"{fault.kind} ({side} timeout)"


def _target_label(fault: Fault, scenario: Scenario) -> str:
    agent = scenario.agent if scenario.agents == 1 else f"{scenario.agent} (1 of {scenario.agents})"
    return {BACKEND: "tasks-flowrun server", AGENT: agent, POSTGRESQL: "PostgreSQL",
            PARENT: "parent flow process", CHILD: "child flow process"}[fault.target]
