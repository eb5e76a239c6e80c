"""Which task runs rerun on a restart or a recovery: the failed ones, plus the successful
upstream ones whose value they need and that was never persisted."""
from tasks_flowrun.rerun_plan import result_is_lost, task_runs_to_rerun


def _run(run_id, task_id, state, location=None):
    return {"id": run_id, "task_id": task_id, "state": state,
            "serialized_state": {"type": state, "_result": {"type": "Result", "location": location}}}


def _failed(row):
    return row["state"] == "Failed"


def test_only_failed_task_runs_rerun_when_every_value_was_persisted():
    rows = [_run("a", "A", "Success", '"1"'), _run("b", "B", "Failed")]
    assert task_runs_to_rerun(rows, [("A", "B")], _failed) == {"b"}


def test_lost_upstream_values_rerun_transitively_but_unrelated_work_does_not():
    rows = [_run("p", "P", "Success"), _run("a", "A", "Success"), _run("b", "B", "Failed"),
            _run("x", "X", "Success"), _run("kept", "K", "Success", '"v"')]
    edges = [("P", "A"), ("A", "B"), ("K", "B"), ("X", "Y")]
    assert task_runs_to_rerun(rows, edges, _failed) == {"p", "a", "b"}


def test_mapped_children_of_a_lost_upstream_all_rerun():
    rows = [_run("m", "M", "Mapped"), _run("m0", "M", "Success"), _run("m1", "M", "Success", '"1"'),
            _run("r", "R", "Failed")]
    assert task_runs_to_rerun(rows, [("M", "R")], _failed) == {"m0", "r"}


def test_task_runs_that_run_anyway_get_their_lost_upstream_values_back():
    rows = [_run("a", "A", "Success"), _run("b", "B", "Pending"), _run("c", "C", "Success", '"1"')]
    edges = [("A", "B"), ("C", "B")]
    assert task_runs_to_rerun(rows, edges, _failed) == set()
    assert task_runs_to_rerun(rows, edges, _failed, runs_anyway=lambda r: r["state"] == "Pending") == {"a"}


def test_what_counts_as_lost():
    assert result_is_lost(_run("a", "A", "Success"))
    assert not result_is_lost(_run("a", "A", "Success", '"x"'))
    assert not result_is_lost(_run("a", "A", "Skipped"))
    assert not result_is_lost(_run("a", "A", "Failed"))
