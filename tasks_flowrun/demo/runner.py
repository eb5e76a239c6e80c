"""Orchestration of `tasks-flowrun demo`: backend, agent, registration, one parent run, live view."""
import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, List, Optional, TextIO, Tuple, Union

import pendulum

from .environment import PREFERRED_PORT, choose_port, pointed_at, port_is_free, start_agent, stop_agent, tail
from .progress import Progress
from .queries import RunRow, fetch_runs, split_family
from .register import examples_dir, register_examples
from .summary import format_summary

PROJECT = "examples"
PARENT_FLOW = "fan-out-parent"
CHILD_FLOW = "fan-out-child"
MAX_POLL_ERRORS = 5


class DemoFailed(Exception):
    """The demo could not reach a successful end; the message says why."""


@dataclass
class DemoOptions:
    """What `tasks-flowrun demo` was asked to do (see its --help)."""

    children: int = 5
    port: Optional[int] = None  # None: 4200, or a free port if 4200 is taken
    database: Optional[Union[Path, str]] = None  # None: a fresh temporary SQLite file; or a postgresql:// URL
    keep: bool = False
    timeout: float = 300.0
    host: str = "127.0.0.1"
    poll_interval: float = 0.5


def child_parameters(count: int) -> List[dict]:
    """Parameter sets of the fan-out children: a few seconds each, so progress is visible."""
    return [{"batch": i, "size": 1000, "seconds": 1.0 + (i % 3) * 0.5} for i in range(count)]


def is_finished(state: Optional[str]) -> bool:
    from prefect.engine import state as states

    cls = getattr(states, state or "", None)
    return isinstance(cls, type) and issubclass(cls, states.Finished)


class Demo:
    def __init__(self, options: DemoOptions, out: TextIO, workdir: Path, stack: contextlib.ExitStack) -> None:
        self.options = options
        self.out = out
        self.workdir = workdir
        self.stack = stack
        self.agent_log = workdir / "agent.log"

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def run(self) -> int:
        from prefect import Client

        from ..server.embedded import EmbeddedServer

        opts = self.options
        if opts.port and not port_is_free(opts.host, opts.port):
            raise DemoFailed(f"port {opts.port} is taken; pick another with --port, or leave it out")
        port = choose_port(opts.host, opts.port)
        if opts.port is None and port != PREFERRED_PORT:
            self.say(f"port {PREFERRED_PORT} is taken; using {port}")
        database = opts.database or self.workdir / "demo.db"
        server = EmbeddedServer(host=opts.host, port=port, database=database).start()
        self.stack.callback(server.stop)
        self.say(f"backend  {server.url}  (database {server.app.state.db.description})")

        home = self.workdir / "prefect-home"
        home.mkdir(exist_ok=True)
        env = self.stack.enter_context(pointed_at(server.url, home))
        # the parent waits while its children run: one slot each, so they all run at once
        agent = start_agent(env, self.agent_log, limit=self.options.children + 1)
        self.stack.callback(stop_agent, agent)
        self.say(f"agent    tasks-flowrun agent, a warm LocalAgent, pid {agent.pid}  (log {self.agent_log})")

        client = Client()
        client.create_project(PROJECT)
        flows = register_examples(client, PROJECT)
        self.say(f"flows    {len(flows)} example flows from {examples_dir()} in project {PROJECT!r}")

        origin = pendulum.now("UTC")
        since = origin.subtract(seconds=1)  # children are scheduled after this (clock slack)
        parent_id = client.create_flow_run(
            flow_id=flows[PARENT_FLOW],
            parameters={"project": PROJECT, "batches": child_parameters(opts.children)},
            run_name="demo-fan-out",
        )
        self.say(f"parent   {PARENT_FLOW} run {parent_id}: {opts.children} x {CHILD_FLOW}, via the agent")
        self.say()
        parent, children, problem = self.watch(client, parent_id, flows[CHILD_FLOW], since, origin, agent)

        self.say()
        self.say(format_summary(parent, children))
        self.say()
        self.say(f"backend: {server.url}")
        self.say(f"parent run on the web page: {server.url}/default/flow-run/{parent_id}")
        problem = problem or self.verdict(parent, children)
        if problem and opts.keep:  # keep the backend up to look into what went wrong
            print(f"demo FAILED: {problem}", file=sys.stderr, flush=True)
            self.keep_running(server.url, agent)
            return 1
        if problem:
            raise DemoFailed(problem)
        self.say(f"demo OK: parent Success, {len(children)} of {opts.children} children Success")
        if opts.keep:
            self.keep_running(server.url, agent)
        return 0

    def watch(
        self,
        client: Any,
        parent_id: str,
        child_flow_id: str,
        since: pendulum.DateTime,
        origin: pendulum.DateTime,
        agent: subprocess.Popen,
    ) -> Tuple[Optional[RunRow], List[RunRow], Optional[str]]:
        """Poll until the parent is finished; return (parent, children, problem or None)."""
        display = Progress(self.out, self.out.isatty(), self.options.children, origin=origin)
        started = time.monotonic()
        parent: Optional[RunRow] = None
        children: List[RunRow] = []
        errors = 0
        try:
            while True:
                elapsed = time.monotonic() - started
                try:
                    rows = fetch_runs(client, parent_id, [child_flow_id], since)
                    errors = 0
                except Exception as exc:  # a transient error must not end the demo at once
                    errors += 1
                    if errors >= MAX_POLL_ERRORS:
                        return parent, children, f"polling the backend failed {errors} times in a row: {exc}"
                else:
                    parent, children = split_family(rows, parent_id)
                    display.update(parent, children, elapsed)
                    if parent is not None and is_finished(parent.state):
                        return parent, children, None
                if agent.poll() is not None:
                    return parent, children, f"the agent exited; its last lines:\n{tail(self.agent_log)}"
                if elapsed > self.options.timeout:
                    state = parent.state if parent else "unknown"
                    return parent, children, (
                        f"timed out after {self.options.timeout:g}s: the parent run is still {state}; "
                        f"agent log: {self.agent_log}"
                    )
                time.sleep(self.options.poll_interval)
        finally:
            display.close()

    def verdict(self, parent: Optional[RunRow], children: List[RunRow]) -> Optional[str]:
        """None if the parent and every expected child succeeded, else what went wrong."""
        problems = []
        bad = [f"{c.name} ({c.state or 'Pending'})" for c in children if c.state != "Success"]
        if bad:
            problems.append(f"children not successful: {', '.join(bad)}")
        if len(children) != self.options.children:
            problems.append(f"expected {self.options.children} children, found {len(children)}")
        if parent is None or parent.state != "Success":
            state = parent.state if parent else "missing"
            message = f": {parent.message}" if parent and parent.message else ""
            problems.append(f"the parent run ended {state}{message}")
        return "; ".join(problems) or None

    def keep_running(self, url: str, agent: subprocess.Popen) -> None:
        # inside the `try` from the first line: a Ctrl-C right after the hint is a clean stop too
        try:
            self.say()
            self.say("The backend and the agent keep running. From another shell, point `prefect` at them:")
            self.say("    prefect backend server")
            self.say(f"    export PREFECT__SERVER__ENDPOINT={url}")
            self.say(f"    export PREFECT__SERVER__UI__ENDPOINT={url}   # Prefect's printed run URLs open the web page")
            self.say(f"    prefect run --name hello-world-parent --project {PROJECT} --watch")
            self.say(f"Web page (runs, each parent's tree of children): {url}/")
            self.say("Press Ctrl-C to stop.")
            while agent.poll() is None:
                time.sleep(0.5)
            self.say(f"the agent exited; its last lines:\n{tail(self.agent_log)}")
        except KeyboardInterrupt:
            self.say("\nstopping")


def _interrupt(signum: int, frame: Optional[FrameType]) -> None:
    raise KeyboardInterrupt


def run_demo(options: DemoOptions, out: Optional[TextIO] = None) -> int:
    """Run the demo; return the process exit code (0 only if every child ended Success)."""
    out = out or sys.stdout
    workdir = Path(tempfile.mkdtemp(prefix="tasks-flowrun-demo-"))
    # Ctrl-C and `kill` both end in the same clean-up, even where a shell started us with
    # SIGINT ignored (background jobs)
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    code = 1
    try:
        with contextlib.ExitStack() as stack:
            code = Demo(options, out, workdir, stack).run()
    except DemoFailed as exc:
        print(f"\ndemo FAILED: {exc}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted: the agent and the backend are stopped", file=sys.stderr, flush=True)
        code = 130
    except Exception as exc:  # anything unexpected: one clear line, logs kept
        print(f"\ndemo FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code == 1 and (workdir / "agent.log").exists():
        print(f"logs kept in {workdir}", file=sys.stderr, flush=True)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return code
