"""Fan-out: one child flow mapped over parameter sets, one bulk wait, then a task uses the results.

How to run (a Prefect 1 backend and a LocalAgent running, see the README):

    prefect create project examples
    prefect register -p examples/parent_flows/fan_out.py --project examples
    prefect run --name fan-out-parent --project examples --watch

`tasks-flowrun demo` runs this parent through a real agent and shows the children live.
"""
import time
from typing import Dict, List

import prefect
from prefect import Flow, Parameter, task, unmapped
from prefect.engine.results import LocalResult

from tasks_flowrun import create_flow_run, wait_for_flow_run


# --- the child: crunch one batch --------------------------------------------------------
@task
def crunch(batch: int, size: int, seconds: float) -> int:
    """Sum the numbers of one batch (pretending it takes `seconds`)."""
    time.sleep(seconds)
    total = sum(range(batch * size, (batch + 1) * size))
    prefect.context.get("logger").info("batch %s: total %s", batch, total)
    return total


# LocalResult: the child checkpoints its task results, so the parent can read them back.
with Flow("fan-out-child", result=LocalResult()) as child:
    crunch(Parameter("batch", default=0), Parameter("size", default=100), Parameter("seconds", default=1.0))


# --- the parent: one child per parameter set, waited on together -------------------------
DEFAULT_BATCHES = [{"batch": i, "size": 100, "seconds": 1.0} for i in range(5)]


@task
def report(children: list) -> int:
    """Read each child's `crunch` result back and add them up."""
    logger = prefect.context.get("logger")
    totals: Dict[str, int] = {}
    for view in children:  # FlowRunViews, in the order the children were created
        totals[view.name] = view.get_task_run(task_slug="crunch-1").get_result()
        logger.info("%s: %s, total %s", view.name, type(view.state).__name__, totals[view.name])
    grand_total = sum(totals.values())
    logger.info("%d children, grand total %s", len(totals), grand_total)
    return grand_total


with Flow("fan-out-parent") as flow:
    project = Parameter("project", default="examples")
    batches: List[dict] = Parameter("batches", default=DEFAULT_BATCHES)
    # One child flow run per parameter set; map index i gets its own idempotency key,
    # so a retry of this task never creates a second child for the same batch.
    child_run_ids = create_flow_run.map(
        flow_name=unmapped("fan-out-child"), project_name=unmapped(project), parameters=batches
    )
    # Not mapped: ONE wait on the whole list, one API request per poll for all children.
    children = wait_for_flow_run(child_run_ids, stream_logs=True, raise_final_state=True)
    report(children)


if __name__ == "__main__":
    flow.run()  # needs a backend: the children are flow runs created through the API
