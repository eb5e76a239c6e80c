"""A flow whose one task records each execution of its body: a line `<pid>` appended to
`<workdir>/executions` (side effects counted, not only states)."""
import os
from pathlib import Path

from prefect import Flow, Parameter, task


@task
def work(workdir):
    with open(Path(workdir) / "executions", "a") as out:
        out.write(f"{os.getpid()}\n")
    return "done"


with Flow("agent-counted") as flow:
    work(Parameter("workdir"))
