"""Where the demo runs: its port, Prefect's configuration, and the agent subprocess."""
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, Optional

import tasks_flowrun

from ..net import free_port, port_is_free
from ..prefect_env import prefect_variables

PREFERRED_PORT = 4200  # Prefect 1's default server endpoint


def choose_port(host: str, requested: Optional[int]) -> int:
    """`requested` if given (0 = any); else 4200 when free; else any free port."""
    if requested is None and port_is_free(host, PREFERRED_PORT):
        return PREFERRED_PORT
    if requested:
        return requested
    return free_port(host)


def prefect_env(url: str, home: Path) -> Dict[str, str]:
    """Environment for subprocesses (agent, flow runs) talking to the backend at `url`."""
    package_root = str(Path(tasks_flowrun.__file__).resolve().parents[1])
    python_path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    return {
        **os.environ,
        **prefect_variables(url, home),
        "PYTHONPATH": python_path,  # flow runs import tasks_flowrun even from a plain checkout
        "PYTHONUNBUFFERED": "1",
    }


@contextlib.contextmanager
def pointed_at(url: str, home: Path) -> Iterator[Dict[str, str]]:
    """Point this process (Prefect config) and its future subprocesses (os.environ) at `url`."""
    import prefect
    from prefect.utilities.configuration import set_temporary_config

    env = prefect_env(url, home)
    saved = dict(os.environ)
    os.environ.update(env)
    settings = {
        "backend": "server",
        "server.endpoint": url,
        "cloud.api": url,
        "cloud.graphql": url + "/graphql",
        "home_dir": str(home),
        "cloud.send_flow_run_logs": True,
    }
    try:
        with set_temporary_config(settings), prefect.context(config=prefect.config):
            yield env
    finally:
        os.environ.clear()
        os.environ.update(saved)


def start_agent(env: Dict[str, str], log_path: Path, limit: int = 2) -> subprocess.Popen:
    """`tasks-flowrun agent` in a subprocess (flow runs forked from a warm process, at most
    `limit` at once, stopped with the agent), output to `log_path`."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "tasks_flowrun.cli", "agent", "--name", "tasks-flowrun-demo",
             "--limit", str(limit), "--stop-runs-on-exit", "--preload", "tasks_flowrun"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal reaches the demo, which stops it
        )


def stop_agent(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop the agent (its own process group, see `start_agent`); it stops its flow runs."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(timeout=timeout)
            if sig == signal.SIGTERM:
                # the agent is gone; kill whatever is left of its group (its zygote)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
            break
        except subprocess.TimeoutExpired:
            continue
    proc.poll()


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
