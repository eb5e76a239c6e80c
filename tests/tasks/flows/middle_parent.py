"""Middle level of a three-level chain: creates the child and waits (in one task)."""
from prefect import Flow, Parameter

from tasks_flowrun import CreateFlowRun

with Flow("middle-parent") as flow:
    CreateFlowRun(flow_name="child", parameters={"x": 7}, wait=True)(project_name=Parameter("project"))
