"""Top level of a three-level chain: creates the middle parent and waits for it."""
from prefect import Flow, Parameter

from tasks_flowrun import create_flow_run, wait_for_flow_run

with Flow("grandparent") as flow:
    project = Parameter("project")
    middle = create_flow_run(flow_name="middle-parent", project_name=project, parameters={"project": project})
    wait_for_flow_run(middle, raise_final_state=True, stream_logs=True)
