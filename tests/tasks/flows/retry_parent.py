"""Parent whose create-and-wait task fails (failing child) and is retried once."""
import datetime

from prefect import Flow, Parameter

from tasks_flowrun import CreateFlowRun

create_and_wait = CreateFlowRun(
    flow_name="child",
    parameters={"x": 1, "fail": True},
    wait=True,
    max_retries=1,
    retry_delay=datetime.timedelta(seconds=1),
)

with Flow("retry-parent") as flow:
    create_and_wait(project_name=Parameter("project"))
