"""Child of the restart tests. Each attempt appends a line to `<workdir>/<run id>.attempts`;
the first attempt does what `first` says ("fail": fails; "wait": waits for
`<workdir>/release-<x>`, up to 2 minutes; "ok": nothing), later attempts succeed at once."""
import time
from pathlib import Path

import prefect
from prefect import Flow, Parameter, task


@task
def work(x, first, workdir):
    path = Path(workdir) / f"{prefect.context.flow_run_id}.attempts"
    with open(path, "a") as handle:
        handle.write("x\n")
    if len(path.read_text().split()) > 1:
        return x
    if first == "fail":
        raise RuntimeError(f"child {x} fails its first attempt")
    if first == "wait":
        deadline = time.monotonic() + 120
        while not (Path(workdir) / f"release-{x}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    return x


with Flow("rr-child") as flow:
    work(Parameter("x"), Parameter("first"), Parameter("workdir"))
