"""A flow whose task holds the interpreter lock for `seconds`: libc's `sleep` called through
`ctypes.PyDLL`, which keeps the lock during the call, so no other thread of the process (its
heartbeat thread, its cancellation checks) runs meanwhile. The task appends its pid to
`<workdir>/<flow run id>.starts` before, and "done" to `.ends` after."""
import ctypes
import os
from pathlib import Path

import prefect
from prefect import Flow, Parameter, task


@task
def hold_the_lock(workdir, seconds):
    stem = Path(workdir) / str(prefect.context.flow_run_id)
    with open(f"{stem}.starts", "a") as handle:
        handle.write(f"{os.getpid()}\n")
    ctypes.PyDLL(None).sleep(int(seconds))
    with open(f"{stem}.ends", "a") as handle:
        handle.write("done\n")
    return "done"


with Flow("agent-gil-holder") as flow:
    hold_the_lock(Parameter("workdir"), Parameter("seconds", default=15))
