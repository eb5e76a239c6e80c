"""A tree of flow runs for the agent's slot tests: a run of depth d > 0 creates `width` runs
of this same flow (depth d - 1) and waits for them (one bulk wait); a run of depth 0 runs
three quick tasks. Every run appends its flow run id to `<workdir>/runs` when its work task
runs, so a test counts executions (exactly one per run, whatever the agent does)."""
from pathlib import Path

import prefect
from prefect import Flow, Parameter, task, unmapped

from tasks_flowrun import create_flow_run, wait_for_flow_run


@task
def record(workdir):
    with open(Path(workdir) / "runs", "a") as handle:
        handle.write(f"{prefect.context.flow_run_id}\n")
    return 1


@task
def child_parameters(depth, width, project, workdir, recorded):
    if depth <= 0:
        return []
    return [{"depth": depth - 1, "width": width, "project": project, "workdir": workdir} for _ in range(width)]


@task
def double(x):
    return 2 * x


@task
def report(x):
    return x


with Flow("agent-tree") as flow:
    depth, width = Parameter("depth", default=0), Parameter("width", default=2)
    project, workdir = Parameter("project"), Parameter("workdir")
    recorded = record(workdir)
    report(double(recorded))
    ids = create_flow_run.map(flow_name=unmapped("agent-tree"), project_name=unmapped(project),
                              parameters=child_parameters(depth, width, project, workdir, recorded))
    wait_for_flow_run(ids, raise_final_state=True)
