"""Child of the log tests: waits for `<workdir>/release` (so that every child finishes at
the same moment), then logs its known last line and ends."""
import time
from pathlib import Path

import prefect
from prefect import Flow, Parameter, task


@task
def work(x, workdir):
    logger = prefect.context.get("logger")
    logger.info(f"child {x} is waiting for the release")
    (Path(workdir) / f"waiting-{x}").write_text("")
    deadline = time.monotonic() + 90
    while not (Path(workdir) / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    logger.info(f"last line of child {x}")
    return x


with Flow("lines-child") as flow:
    work(Parameter("x"), Parameter("workdir"))
