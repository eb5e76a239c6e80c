"""A flow whose task registers an exit handler that writes `<workdir>/<flow run id>.atexit`
when the flow process ends (and logs a line through Prefect)."""
import atexit
from pathlib import Path

import prefect
from prefect import Flow, Parameter, task


@task
def register_exit_handler(workdir):
    path = Path(workdir) / f"{prefect.context.flow_run_id}.atexit"
    atexit.register(path.write_text, "ran")
    prefect.context.get("logger").info("exit handler registered")
    return "done"


with Flow("agent-exit-handler") as flow:
    register_exit_handler(Parameter("workdir"))
