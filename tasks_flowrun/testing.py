"""Test parent flows against a real backend: `embedded_backend()`, and the pytest fixture
`tasks_flowrun_backend` (loaded automatically when tasks_flowrun is installed; see
`tasks_flowrun/pytest_plugin.py`).

Each use gets a fresh embedded backend (a SQLite file in a temporary folder), a
`tasks-flowrun agent` in a subprocess running the child flow runs, and Prefect pointed at
that backend: this process's configuration, and the environment of the subprocesses it
starts (the agent's, and any of the test's own). Everything is restored, and the agent
with its flow processes stopped, on exit.

    from tasks_flowrun.testing import embedded_backend

    with embedded_backend() as backend:
        backend.register(child_flow, project_name="tests")
        state = parent_flow.run()      # its create_flow_run tasks create real child runs
        assert state.is_successful()   # ... which the agent ran

Needs the `server` extra (`pip install 'tasks_flowrun[server]'`).
"""
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

from .prefect_env import prefect_settings, prefect_variables

AGENT_NAME = "tasks-flowrun-test-agent"
AGENT_START_TIMEOUT = 60.0  # seconds for the agent to register with the backend
STOP_TIMEOUT = 10.0


class EmbeddedBackend:
    """A running embedded backend with its agent, as `embedded_backend()` yields it.

    Args:
        - server (EmbeddedServer): the backend, served in a thread of this process
        - home (Path): Prefect's `home_dir` while it runs (registered flows' Local storage goes here)
        - agent (subprocess.Popen, optional): the `tasks-flowrun agent` process
        - agent_log (Path): the agent's output, flow runs' output included
        - env (Dict[str, str]): the environment the agent (and any subprocess) runs with
    """

    def __init__(self, server: Any, home: Path, agent: Optional[subprocess.Popen], agent_log: Path,
                 env: Dict[str, str]) -> None:
        self.server = server
        self.home = home
        self.agent = agent
        self.agent_log = agent_log
        self.env = env
        self._client: Any = None

    @property
    def url(self) -> str:
        """The backend's address, e.g. `http://127.0.0.1:41234`."""
        return str(self.server.url)

    @property
    def client(self) -> Any:
        """A `prefect.Client` talking to this backend."""
        if self._client is None:
            from prefect import Client

            self._client = Client(api_server=self.url)
        return self._client

    def register(self, flow: Any, project_name: str = "tests", **kwargs: Any) -> str:
        """Register `flow` into `project_name` (created if missing), with Local storage
        under `home`, where the agent loads it from; returns the flow id.

        Args:
            - flow (prefect.Flow): the flow, e.g. a child flow a parent creates runs of
            - project_name (str): the project (default `tests`)
            - **kwargs: more arguments of `flow.register`

        Returns:
            - str: the id of the registered flow version
        """
        self.client.create_project(project_name)
        kwargs.setdefault("no_url", True)
        return str(flow.register(project_name=project_name, **kwargs))

    def agent_output(self, chars: int = 6000) -> str:
        """The end of the agent's output (for failure messages)."""
        try:
            return self.agent_log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _import_path() -> str:
    """This process's import path, for the agent's flow processes: they load the flows a test
    registered, whose tasks cloudpickle refers to by module (often the test module itself)."""
    entries = [p for p in sys.path if p and os.path.isdir(p)]
    entries += [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in entries]
    return os.pathsep.join(entries)


@contextlib.contextmanager
def _environment(variables: Dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _prefect_pointed_at(url: str, home: Path) -> Iterator[None]:
    import prefect
    # Prefect's own helper for temporary configuration (it restores the previous one)
    from prefect.utilities.configuration import set_temporary_config

    with set_temporary_config(prefect_settings(url, home)), prefect.context(config=prefect.config):
        yield


def _start_agent(env: Dict[str, str], log_path: Path, limit: int, args: Sequence[str]) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "tasks_flowrun.cli", "agent", "--name", AGENT_NAME, "--limit", str(limit),
             "--stop-runs-on-exit", "--show-flow-logs", *args],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped with its zygote and flow processes
        )


def _wait_registered(backend: EmbeddedBackend, timeout: float) -> None:
    """Until the agent has asked the backend for work (so children never wait for it)."""
    query = "query($name: String) { agent(where: {name: {_eq: $name}}) { last_queried } }"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert backend.agent is not None
        if backend.agent.poll() is not None:
            raise RuntimeError(f"the tasks-flowrun agent exited at start (code {backend.agent.returncode}); "
                               f"its output:\n{backend.agent_output()}")
        rows = backend.client.graphql(query, variables={"name": AGENT_NAME}).data.agent
        if rows and rows[0].last_queried:
            return
        time.sleep(0.1)
    raise RuntimeError(f"the tasks-flowrun agent did not reach the backend within {timeout:g} s; "
                       f"its output:\n{backend.agent_output()}")


def _stop_agent(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError, PermissionError):  # its zygote and flow processes
        os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def embedded_backend(directory: Optional[Path] = None, agent: bool = True, agent_limit: int = 8,
                     agent_args: Sequence[str] = ()) -> Iterator[EmbeddedBackend]:
    """A fresh embedded backend with a `tasks-flowrun agent`, Prefect pointed at it.

    Args:
        - directory (Path, optional): where its database, Prefect home and the agent's log
            go (default: a temporary folder, removed at the end)
        - agent (bool): start a `tasks-flowrun agent` (default True)
        - agent_limit (int): the agent's `--limit` (default 8): flow runs at once, a parent
            waiting on children holding one
        - agent_args (Sequence[str]): more options of `tasks-flowrun agent`, e.g.
            `["--label", "gpu"]`

    Returns:
        - Iterator[EmbeddedBackend]: the backend (`.url`, `.client`, `.register()`)

    Raises:
        - RuntimeError: the agent did not start, or it died while in use (with its output)
    """
    from .server.embedded import EmbeddedServer

    owned = directory is None
    root = Path(tempfile.mkdtemp(prefix="tasks-flowrun-test-")) if directory is None else Path(directory)
    home = root / "prefect-home"
    home.mkdir(parents=True, exist_ok=True)
    failed: List[BaseException] = []
    with contextlib.ExitStack() as stack:
        if owned:
            stack.callback(shutil.rmtree, root, ignore_errors=True)
        server = EmbeddedServer(port=0, database=root / "backend.db")
        stack.enter_context(server)
        variables = prefect_variables(server.url, home)
        stack.enter_context(_environment(variables))
        stack.enter_context(_prefect_pointed_at(server.url, home))
        env = {**os.environ, "PYTHONPATH": _import_path(), "PYTHONUNBUFFERED": "1"}
        backend = EmbeddedBackend(server, home, None, root / "agent.log", env)
        if agent:
            backend.agent = _start_agent(env, backend.agent_log, agent_limit, agent_args)
            stack.callback(_stop_agent, backend.agent)
            _wait_registered(backend, AGENT_START_TIMEOUT)
        try:
            yield backend
        except BaseException as exc:
            failed.append(exc)
            raise
        finally:
            died = backend.agent is not None and backend.agent.poll() is not None
            if died and not failed:
                assert backend.agent is not None
                raise RuntimeError(f"the tasks-flowrun agent exited while in use (code {backend.agent.returncode}): "
                                   f"child flow runs could not run; its output:\n{backend.agent_output()}")
