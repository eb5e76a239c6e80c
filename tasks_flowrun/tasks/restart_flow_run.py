"""`restart_flow_run`: restart a failed run in place, as Prefect's UI does, from Python."""
from typing import Optional

import prefect

from ..client import restart_flow_run as _restart


def restart_flow_run(
    flow_run_id: str, client: Optional["prefect.Client"] = None, reason: str = "Restarted by hand."
) -> bool:
    """
    Restart a flow run that ended Failed, Cancelled or TimedOut, keeping its id: its
    unsuccessful task runs go back to Pending (successful ones keep their states and
    results) and the run is Scheduled to start now, for an agent to deploy. A restarted
    parent gives its failed children another chance the same way (see `restart_failed`
    on `CreateFlowRun` and `WaitForFlowRun`). Works against any Prefect 1 backend.

    Args:
        - flow_run_id (str): the run to restart
        - client (prefect.Client, optional): the client to use; defaults to a new one
        - reason (str, optional): recorded in the new states' messages

    Returns:
        - bool: `True` if the run was restarted; `False` if it was not in a restartable
            state (running, scheduled or successful runs are left as they are)
    """
    return _restart(client or prefect.Client(), flow_run_id, reason)
