"""Processes of the agent's that nobody else reaps: the agent and its zygote are child
subreapers (Linux `PR_SET_CHILD_SUBREAPER`), so the processes a flow process leaves behind,
and the flow processes of a zygote that died, become theirs instead of init's (which, in a
container, may never reap them) and are reaped here, leaving no zombies."""
import ctypes
import os
from pathlib import Path
from typing import Iterable, List, Optional

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants; False where the system
    does not offer it (then they go to init, as usual)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def process_state(pid: int) -> Optional[str]:
    """The one-letter state of a process from `/proc/<pid>/stat` (R, S, D, T, Z...), None
    when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def parent_of(pid: int) -> Optional[int]:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def runs_on(pid: int) -> bool:
    """Whether the process lives and can make progress: not gone, not a zombie, not stopped
    (SIGSTOP / a debugger)."""
    state = process_state(pid)
    if state is None and not Path("/proc/self/stat").exists():  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return state is not None and state not in ("Z", "X", "x", "T", "t")


def exists(pid: int) -> bool:
    """Whether the process exists and has not exited (a zombie has)."""
    state = process_state(pid)
    if state is None and not Path("/proc/self/stat").exists():
        return runs_on(pid)
    return state is not None and state not in ("Z", "X", "x")


def wait_nohang(pid: int) -> Optional[int]:
    """Reap `pid` if it exited: its wait status, or None while it runs.

    Raises:
        - ChildProcessError: `pid` is not a child of this process
    """
    done, status = os.waitpid(pid, os.WNOHANG)
    return status if done else None


def zombie_children(parent: int, exclude: Iterable[int] = ()) -> List[int]:
    """Children of `parent` that exited and wait to be reaped (state Z)."""
    skip = set(exclude)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in skip:
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == "Z" and fields[1] == str(parent):
            found.append(int(entry.name))
    return found


def reap_zombies(parent: int, exclude: Iterable[int] = ()) -> int:
    """Reap this process's exited children other than `exclude` (e.g. a child a `Popen`
    waits for); returns how many."""
    reaped = 0
    for pid in zombie_children(parent, exclude):
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                reaped += 1
        except ChildProcessError:
            pass
    return reaped
