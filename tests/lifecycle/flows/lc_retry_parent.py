"""Parent whose create-and-wait task is retried once: its child fails on its first attempt."""
import datetime

from prefect import Flow, Parameter

from tasks_flowrun import CreateFlowRun

create_and_wait = CreateFlowRun(
    flow_name="lc-child", wait=True, max_retries=1, retry_delay=datetime.timedelta(seconds=1)
)

with Flow("lc-retry-parent") as flow:
    workdir = Parameter("workdir")
    create_and_wait(project_name=Parameter("project"), parameters={"workdir": workdir, "mode": "flaky"})
