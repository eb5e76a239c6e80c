"""A parent flow built in-process survives cloudpickle and runs under Dask executors."""
import cloudpickle
import pytest
from prefect import Flow, unmapped
from prefect.executors import DaskExecutor, LocalDaskExecutor

from tasks_flowrun import create_flow_run, wait_for_flow_run
from tests.tasks.conftest import register_script, runs_of_flow_named

pytestmark = pytest.mark.e2e

EXECUTORS = {
    "local-dask-threads": lambda: LocalDaskExecutor(scheduler="threads", num_workers=4),
    "dask-processes": lambda: DaskExecutor(
        cluster_kwargs={"n_workers": 2, "threads_per_worker": 2, "processes": True, "dashboard_address": None}
    ),
}


@pytest.mark.parametrize("executor", list(EXECUTORS))
def test_pickled_parent_under_dask_creates_and_waits(client, project, agent, executor):
    register_script("child.py", project)
    with Flow(f"pickled-parent-{executor}") as flow:
        ids = create_flow_run.map(
            flow_name=unmapped("child"), project_name=unmapped(project), parameters=[{"x": i} for i in range(3)]
        )
        wait_for_flow_run.map(ids, raise_final_state=unmapped(True))
    flow = cloudpickle.loads(cloudpickle.dumps(flow))
    state = flow.run(executor=EXECUTORS[executor]())
    assert state.is_successful(), state.result
    task_states = {task.name: s for task, s in state.result.items()}
    finished = task_states["wait_for_flow_run"].map_states
    assert len(finished) == 3 and all(s.is_successful() for s in finished)
    assert sorted(s.result.parameters["x"] for s in finished) == [0, 1, 2]
    children = runs_of_flow_named(client, "child", project)
    assert len(children) == 3 and all(c["state"] == "Success" for c in children)
    assert len({c["name"] for c in children}) == 3
