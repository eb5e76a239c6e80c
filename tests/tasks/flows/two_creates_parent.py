"""Parent with two create tasks for the same child flow (two children expected)."""
from prefect import Flow, Parameter

from tasks_flowrun import CreateFlowRun, wait_for_flow_run

first = CreateFlowRun(flow_name="child", parameters={"x": 1}, name="first")
second = CreateFlowRun(flow_name="child", parameters={"x": 2}, name="second")

with Flow("two-creates-parent") as flow:
    project = Parameter("project")
    a = first(project_name=project)
    b = second(project_name=project)
    wait_for_flow_run([a, b], raise_final_state=True)
