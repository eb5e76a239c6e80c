"""Parent that creates one child (its parameters chosen by the test) and waits on it.

Its results are checkpointed (LocalResult), so the test can load the `FlowRunView` the
wait task returned.
"""
from prefect import Flow, Parameter
from prefect.engine.results import LocalResult

from tasks_flowrun import create_flow_run, wait_for_flow_run

with Flow("wait-outcome-parent", result=LocalResult()) as flow:
    child_id = create_flow_run(
        flow_name="child",
        project_name=Parameter("project"),
        parameters=Parameter("child_parameters", default={"x": 1}),
        scheduled_start_time=Parameter("child_start", default=None),
    )
    wait_for_flow_run(child_id, raise_final_state=Parameter("raise_final_state", default=True))
