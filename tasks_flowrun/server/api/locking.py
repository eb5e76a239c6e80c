"""Version locking: a process that comes back late cannot start work handed to another.

Every state written to a run adds one to its `version`. Prefect's runners send, with each
Running state, the version they last read (plus one per state they wrote themselves), and
agents send the version they read with each Submitted state. With version locking on (the
default, per flow group: `settings.version_locking_enabled`, server-wide:
`--no-version-locking`), the backend refuses

- a Running state (or Cancelling) whose version is given and differs from the run's:
  `VERSION_LOCKING_ERROR`, on which Prefect's runner reads the stored state and ends that
  work instead of starting it;
- a task run's Running state while it is already Running (the same code): a second
  process never runs a task a first one is running;
- a Submitted state whose version is given and differs ("State update failed: ...", the
  text agents read as "someone else took it").

A process's own retry is not a late process: when the answer to its Running state was lost
(the backend stopped after committing it, a connection dropped), Prefect's client sends the
same state again with the same version. A flow process of `tasks-flowrun agent` sends a
writer token of its own with its state changes (tasks_flowrun/writer_header.py), kept with
the Running state it wrote (`state_writer`); a Running state whose sender's token is that
one, at the version just before the run's, is answered as done (`own_retry`) and changes
nothing. Any other sender, or the same one after anything else was written, is refused.

Every write the backend makes to a run itself (recovery, cancellation, a restart) adds one
to the version of each unfinished task run of it (`bump_task_runs`), so a runner that read
a version before cannot start that task afterwards.
"""
from typing import Any, Dict, FrozenSet, Iterable, Optional

from prefect.engine import state as prefect_states
from sqlalchemy.engine import Connection

from ..storage.rows import fetch_row
from ..storage.runs import bump_task_run_versions
from ..timestamps import clock
from .errors import ApiError

VERSION_LOCKING_ERROR = "VERSION_LOCKING_ERROR"
SETTING = "version_locking_enabled"


def _final_states() -> FrozenSet[str]:
    """Names of the states after which a task run does not run again on its own (Finished
    and its subclasses, except Looped: a looping task runs again)."""
    return frozenset(name for name, obj in vars(prefect_states).items()
                     if isinstance(obj, type) and issubclass(obj, prefect_states.Finished)
                     and not issubclass(obj, prefect_states.Looped))


FINAL_STATES = _final_states()


class VersionLockError(ApiError):
    """A state a late or racing process sent for work someone else took; Prefect's client
    raises `VersionLockMismatchSignal` on this code."""

    code = VERSION_LOCKING_ERROR


def locking_enabled(conn: Connection, flow_group_id: Optional[str], server_wide: bool = True) -> bool:
    """Whether version locking applies to the runs of a flow group (on unless the group or
    the whole backend turned it off)."""
    if not server_wide:
        return False
    group = fetch_row(conn, "flow_group", ("settings",), id=flow_group_id) if flow_group_id else None
    settings = (group or {}).get("settings")
    return not isinstance(settings, dict) or settings.get(SETTING, True) is not False


def own_retry(run: Dict[str, Any], version: Optional[int], writer: Optional[str]) -> bool:
    """Whether a Running state sent with `version` by the process of token `writer` is that
    process's retry of the Running state the run holds (written by it at `version + 1`)."""
    return (writer is not None and version is not None and run["state"] == "Running"
            and run.get("state_writer") == writer and run["version"] == version + 1)


def check_running(kind: str, run: Dict[str, Any], version: Optional[int]) -> None:
    """Refuse a Running state sent with a version other than the run's."""
    if version is not None and version != run["version"]:
        raise VersionLockError(
            f"Version lock: the {kind} {run['id']} is at version {run['version']} ({run['state']}), not {version}: "
            "it changed since this process read it (it was rescheduled, cancelled or taken by another process). "
            "Read the run's state again instead of running it.")


def check_not_running(run: Dict[str, Any]) -> None:
    """Refuse a task run's Running state while it is already Running."""
    if run["state"] == "Running":
        raise VersionLockError(
            f"Version lock: the task run {run['id']} is already Running (version {run['version']}): another process "
            "runs it. Read its state again instead of running it.")


def check_submitted(kind: str, run: Dict[str, Any], version: Optional[int]) -> None:
    """Refuse a Submitted state sent with a version other than the run's."""
    if version is not None and version != run["version"]:
        raise ApiError(
            f"State update failed: the {kind} {run['id']} is at version {run['version']} ({run['state']}), not "
            f"{version}: it changed since it was read (another agent took it, or it was put back in its queue). "
            "Read the queue again.")


def bump_task_runs(conn: Connection, flow_run_id: str, exclude: Iterable[str] = ()) -> int:
    """Add one to the version of every unfinished task run of the flow run (but `exclude`,
    the ones this write just gave a new state); returns how many changed."""
    return bump_task_run_versions(conn, flow_run_id, sorted(FINAL_STATES), list(exclude), clock.now_text())
