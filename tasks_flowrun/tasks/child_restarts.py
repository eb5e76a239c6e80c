"""What a rerunning parent does with the children an earlier run of it made.

- A task retry, or a parent someone restarted: children that ended Failed (TimedOut,
  TriggerFailed... included) or were cancelled by the parent's own cancellation (the
  backend's `cancelled_with_parent` marker) are restarted in place; a child a user
  cancelled stays Cancelled (the user's decision stands), and the waiting task then fails
  saying so and how to run it again: restart that child.
- A parent the backend recovered after its process died (the `tasks_flowrun_recovered`
  marker on the state that put it back in the queue) re-attaches to its children and
  restarts none of them.
"""
import logging
from typing import Any, Dict, List, Mapping

import prefect

from ..client import restart_flow_run, restart_reason, user_cancelled


def rerun_advice(flow_run_id: str) -> str:
    """How to run again a child a user cancelled."""
    return (f"to run it again, restart that child (`tasks_flowrun.restart_flow_run({flow_run_id!r})`, or Restart "
            "on its page), then this parent")


def restart_children(client: "prefect.Client", rows: Mapping[str, Dict[str, Any]], logger: logging.Logger,
                     by: str) -> List[str]:
    """
    Restart in place the children among `rows` that the rule above restarts; say which
    children a user cancelled (they are left as they are).

    Args:
        - client (prefect.Client): the client
        - rows (Mapping[str, dict]): the children's rows, with their state history
        - logger (logging.Logger): where each decision is reported
        - by (str): what restarts them, for the new states' messages

    Returns:
        - List[str]: the ids restarted
    """
    restarted = []
    for run_id, row in rows.items():
        why = restart_reason(row)
        name = row.get("name")
        if why is not None:
            if restart_flow_run(client, run_id, f"Restarted by {by}: it {why}."):
                logger.info("Restarted child flow run %r (%s), which %s.", name, run_id, why)
                restarted.append(run_id)
        elif user_cancelled(row):
            logger.warning("Child flow run %r (%s) was cancelled by a user: it stays Cancelled; %s.",
                           name, run_id, rerun_advice(run_id))
    return restarted
