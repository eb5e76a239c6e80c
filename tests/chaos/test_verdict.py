"""The chaos suite's own logic, in seconds (these run in the default test run): schedules are
reproducible from the seed, and the verdict tells explained from unexplained executions."""
import os
from pathlib import Path
from typing import Optional

from tests.chaos import schedule
from tests.chaos.evidence import Evidence
from tests.chaos.verdict import judge, reschedules_from_running

PARENT = "00000000-0000-0000-0000-00000000000p"


def _child(index: int) -> str:
    return f"00000000-0000-0000-0000-{index:012d}"


def _mark(workdir: Path, run: str, task: str, map_index: int, pid: int, ended: Optional[float] = 2.0,
          copy: int = 1) -> None:
    folder = workdir / "executions"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{run}.{task}.{map_index}.{pid}" + (f".{copy}" if copy > 1 else "")
    text = "started 1.0\n" + (f"ended {ended}\n" if ended is not None else "")
    (folder / name).write_text(text)


def _fan_out(workdir: Path) -> dict:
    """Marker files of a fan-out that ran every task exactly once; its runs, all Success."""
    _mark(workdir, PARENT, "plan", -1, 100)
    children = []
    for index in range(schedule.CHILDREN):
        run = _child(index)
        for task in ("prepare", "finish"):
            _mark(workdir, run, task, -1, 200 + index)
        for step in range(schedule.STEPS):
            _mark(workdir, run, "work", step, 200 + index)
        children.append({"id": run, "name": f"child-{index}", "state": "Success",
                         "context": {"parent_map_index": index}})
    parent = {"id": PARENT, "name": "parent", "state": "Success"}
    histories = {run["id"]: ["Scheduled", "Submitted", "Running", "Success"] for run in [parent] + children}
    return {"parent": parent, "children": children, "histories": histories}


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    for scenario in schedule.SCENARIOS:
        assert schedule.plan(7, scenario) == schedule.plan(7, scenario), scenario.name
    assert [schedule.plan(7, s) for s in schedule.SCENARIOS] != [schedule.plan(8, s) for s in schedule.SCENARIOS]


def test_every_fault_is_clearly_shorter_or_clearly_longer_than_the_heartbeat_timeout() -> None:
    timeout = schedule.HEARTBEAT_TIMEOUT
    for seed in range(50):
        for scenario in schedule.SCENARIOS:
            for fault in schedule.plan(seed, scenario):
                assert fault.duration < timeout / 2 or fault.duration > timeout, (seed, scenario.name, fault)


def test_a_clean_fan_out_passes(tmp_path: Path) -> None:
    runs = _fan_out(tmp_path)
    verdict = judge(Evidence(tmp_path), runs["parent"], runs["children"], runs["histories"], [], {})
    assert verdict.passed, verdict.problems
    assert verdict.executions == schedule.CHILDREN * schedule.TASKS_PER_CHILD + 1 and verdict.extra == 0


def test_a_second_execution_after_the_suite_killed_the_first_is_explained(tmp_path: Path) -> None:
    runs = _fan_out(tmp_path)
    _mark(tmp_path, _child(3), "work", 1, 999, ended=None)  # the killed process never ended it
    runs["histories"][_child(3)] = ["Scheduled", "Submitted", "Running", "Scheduled", "Submitted", "Running",
                                    "Success"]
    verdict = judge(Evidence(tmp_path), runs["parent"], runs["children"], runs["histories"], [999], {_child(3): 1})
    assert verdict.passed, verdict.problems
    assert (verdict.extra, verdict.explained) == (1, 1)


def test_a_second_execution_no_kill_explains_fails(tmp_path: Path) -> None:
    runs = _fan_out(tmp_path)
    _mark(tmp_path, _child(3), "work", 1, 999)  # ended: a live process ran it too
    verdict = judge(Evidence(tmp_path), runs["parent"], runs["children"], runs["histories"], [999], {})
    assert not verdict.passed and verdict.unexplained == 1
    assert "no kill explains" in verdict.problems[0] and f"work[1] of {_child(3)}" in verdict.problems[0]


def test_an_unfinished_execution_of_a_process_not_killed_explains_nothing(tmp_path: Path) -> None:
    runs = _fan_out(tmp_path)
    _mark(tmp_path, _child(3), "work", 1, 999, ended=None)
    verdict = judge(Evidence(tmp_path), runs["parent"], runs["children"], runs["histories"], [555], {})
    assert verdict.unexplained == 1


def test_a_run_rescheduled_from_running_without_a_kill_is_a_false_death(tmp_path: Path) -> None:
    runs = _fan_out(tmp_path)
    runs["histories"][_child(5)] = ["Scheduled", "Submitted", "Running", "Scheduled", "Submitted", "Running",
                                    "Success"]
    verdict = judge(Evidence(tmp_path), runs["parent"], runs["children"], runs["histories"], [], {})
    assert verdict.false_deaths == 1 and "child-5 1x" in verdict.problems[0]
    # one whose process never started (rescheduled from Submitted) is no false death
    runs["histories"][_child(5)] = ["Scheduled", "Submitted", "Scheduled", "Submitted", "Running", "Success"]
    assert judge(Evidence(tmp_path), runs["parent"], runs["children"], runs["histories"], [], {}).passed
    assert reschedules_from_running(["Running", "Scheduled", "Running", "Scheduled"]) == 2


def test_missing_or_doubled_children_and_unfinished_runs_fail(tmp_path: Path) -> None:
    runs = _fan_out(tmp_path)
    children = runs["children"][:-1] + [dict(runs["children"][0], id=_child(99))]
    parent = dict(runs["parent"], state="Running")
    verdict = judge(Evidence(tmp_path), parent, children, runs["histories"], [], {})
    text = " | ".join(verdict.problems)
    assert "parent ended Running" in text and "several children for one map index" in text
    assert f"no child for map indexes [{schedule.CHILDREN - 1}]" in text
    assert "executions of task runs the fan-out does not have" in text


def test_a_task_that_never_completed_fails(tmp_path: Path) -> None:
    runs = _fan_out(tmp_path)
    os.remove(tmp_path / "executions" / f"{_child(2)}.finish.-1.{202}")
    verdict = judge(Evidence(tmp_path), runs["parent"], runs["children"], runs["histories"], [], {})
    assert "1 tasks never completed" in verdict.problems[0]
