"""Which states may follow a finished state (README, "Recovery": state transition rules).

A finished run changes again only in two ways:

- a restart: a waiting state (Pending, Scheduled, Retrying, Resume, Paused), from anyone
  (Prefect's UI, `tasks_flowrun.restart_flow_run`, the client, Prefect's task runner
  retrying a failed task in its process);
- another finished state over a finished run that is not Cancelled: Prefect's UI "Mark
  as" (Failed over Success, after fixing data by hand), Prefect's task runner caching a
  success (Success -> Cached). It starts no work, so no process needs fencing from it.

Everything else is refused with `VERSION_LOCKING_ERROR` (Prefect's runner then reads the
stored state and goes on from it):

- a Cancelled run takes nothing but a restart (or Cancelled again): a late process's
  Running, Success or Failed looks exactly like a user's "Mark as", and a cancelled run
  must stay cancelled until someone restarts it;
- a finished run does not become Running (or Cancelling) without a restart; only a task
  run that Looped runs again (the next iteration of a looping task).

Running writes to unfinished runs that another process took are version locking's job
(see locking.py).
"""
from typing import Any, Dict

from prefect.engine import state as prefect_states

from .locking import VersionLockError


def _finished(name: Any) -> bool:
    cls = getattr(prefect_states, str(name), None)
    return isinstance(cls, type) and issubclass(cls, prefect_states.Finished)


def check_transition(kind: str, run: Dict[str, Any], new: type) -> None:
    """Refuse `new` (a Prefect state class) for a flow or task run (`kind`: "flow run" or
    "task run") that is finished, unless the rules above allow it."""
    current = run.get("state")
    if not _finished(current) or issubclass(new, prefect_states.Pending):
        return
    if current == "Cancelled":
        if issubclass(new, prefect_states.Cancelled):
            return
        raise VersionLockError(
            f"The {kind} {run['id']} is Cancelled: a cancelled run changes only by a restart (a Scheduled or "
            f"Pending state, e.g. the UI's Restart or tasks_flowrun.restart_flow_run), not to {new.__name__}. "
            "A process that was still working on it has been fenced off.")
    if issubclass(new, prefect_states.Running) and not (kind == "task run" and current == "Looped"):
        raise VersionLockError(
            f"The {kind} {run['id']} is {current} (finished): it runs again only after a restart (a Scheduled or "
            f"Pending state), not by a {new.__name__} state from a process that comes back late.")
