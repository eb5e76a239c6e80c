"""The `tasks-flowrun` command: `server` (the embedded backend), `agent` (a warm, bounded Prefect 1
agent) and `demo` (the main job, end to end)."""
import argparse
import os
import sys
from pathlib import Path
from typing import List, Optional, Union
from urllib.parse import urlsplit

from . import __version__
from .agent.main import add_arguments as add_agent_arguments
from .server.settings import is_database_url  # plain Python: no need of the server extra

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4200


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tasks-flowrun",
        description="Prefect 1 child flow runs: an embedded backend and a one-command demo.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    server = commands.add_parser(
        "server",
        help="run the embedded Prefect 1 backend in the foreground",
        description="Run the embedded Prefect 1 backend (SQLite) in the foreground; Ctrl-C stops it.",
    )
    server.add_argument("--host", default=DEFAULT_HOST, help="interface to bind (default: %(default)s)")
    server.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="TCP port, 0 for any free one (default: %(default)s)"
    )
    server.add_argument(
        "--database", type=database_argument, default=None,
        help="SQLite file (default: ~/.prefect/tasks_flowrun.db), or a postgresql://user:pass@host:port/dbname "
             "URL (several server processes may share one PostgreSQL database)"
    )
    server.add_argument(
        "--api-key",
        default=None,
        help="require clients to send this key as a bearer token; visible to other users in the process "
             "list, prefer --api-key-file or $TASKS_FLOWRUN_API_KEY (default: $TASKS_FLOWRUN_API_KEY, else none)",
    )
    server.add_argument(
        "--api-key-file", type=Path, default=None, metavar="PATH",
        help="read the API key from this file (its first line)",
    )
    server.add_argument(
        "--insecure", action="store_true",
        help="allow a --host other than loopback without an API key (anyone who can reach the port can "
             "run and change flows)",
    )
    server.add_argument(
        "--heartbeat-timeout", type=_positive_seconds, default=120.0, metavar="SECONDS",
        help="a flow run silent for this long lost its process: its unfinished tasks are re-run "
             "(the run is rescheduled, then Failed after --max-resurrections) (default: %(default)s)",
    )
    server.add_argument(
        "--max-resurrections", type=int, default=3, metavar="N",
        help="reschedules of one run whose process died before it is marked Failed (default: %(default)s)",
    )
    server.add_argument(
        "--cors-origin", action="append", type=_origin, default=[], metavar="ORIGIN", dest="cors_origins",
        help="let web pages from this origin (scheme://host[:port], e.g. the Prefect UI at http://localhost:8080) "
             "call the API from the browser; repeat for several (default: none)",
    )
    server.set_defaults(handler=_run_server)

    agent = commands.add_parser(
        "agent",
        help="run a warm, bounded Prefect 1 agent (flow runs forked from a warm process)",
        description=(
            "Run a Prefect 1 agent in the foreground against the configured backend (any Prefect 1 "
            "backend). Like `prefect agent local start`, but each flow run is a process forked from a "
            "warm one that already imported Prefect, at most --limit working at once (runs waiting on "
            "their children apart); a cancelled run's process group is stopped, and a flow process that "
            "dies is reported at once."
        ),
    )
    add_agent_arguments(agent)
    agent.set_defaults(handler=_run_agent)

    copy = commands.add_parser(
        "copy-database",
        help="copy every flow, run and log from one database into another, empty one",
        description="Copy every row from SOURCE into TARGET, an empty database (e.g. a SQLite file into a "
                    "PostgreSQL database when moving to several server processes). Both are brought to the "
                    "current schema first; the copy is one transaction. Stop the servers using them first.",
    )
    copy.add_argument("source", type=database_argument, help="SQLite file or postgresql:// URL to copy from")
    copy.add_argument("target", type=database_argument, help="empty SQLite file or postgresql:// URL to copy into")
    copy.set_defaults(handler=_run_copy)

    demo = commands.add_parser(
        "demo",
        help="backend + LocalAgent + a parent flow fanning out to children, with live progress",
        description=(
            "Start the embedded backend and a real LocalAgent, register the examples, run the "
            "fan-out parent flow through the agent and show its children live."
        ),
    )
    demo.add_argument("--children", type=int, default=5, help="number of child flow runs (default: %(default)s)")
    demo.add_argument(
        "--port", type=int, default=None,
        help="backend port; 0 for any free one (default: 4200, or a free one if 4200 is taken)",
    )
    demo.add_argument("--database", type=database_argument, default=None,
                      help="SQLite file (default: a fresh temporary one), or a postgresql:// URL")
    demo.add_argument(
        "--timeout", type=float, default=300.0, help="give up after this many seconds (default: %(default)s)"
    )
    demo.add_argument("--keep", action="store_true", help="leave the backend and agent running until Ctrl-C")
    demo.set_defaults(handler=_run_demo)
    return parser


def database_argument(text: str) -> Union[Path, str]:
    """`--database`: a postgresql:// URL as given, anything else a SQLite file path."""
    return text if is_database_url(text) else Path(text).expanduser()


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text!r}")
    return value


def _origin(text: str) -> str:
    """A browser origin, `scheme://host[:port]`, as browsers send it (lowercase, no path)."""
    parts = urlsplit(text.strip().rstrip("/"))
    if text.strip() == "*":
        raise argparse.ArgumentTypeError("'*' is not allowed: list each origin (scheme://host[:port])")
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"{text!r} is not an origin: expected scheme://host[:port], "
                                         "e.g. http://localhost:8080")
    return f"{parts.scheme}://{parts.netloc}".lower()


def _missing_extra(exc: ImportError) -> int:
    print(
        f"tasks-flowrun: the embedded backend needs the 'server' extra ({exc.name} is missing): "
        "pip install 'tasks_flowrun[server]'",
        file=sys.stderr,
    )
    return 2


def _run_server(args: argparse.Namespace) -> int:
    try:
        from .server.cli import serve
        from .server.settings import ServerSettings
    except ImportError as exc:
        return _missing_extra(exc)
    if args.max_resurrections < 0:
        print("tasks-flowrun server: --max-resurrections must be 0 or more", file=sys.stderr)
        return 2
    try:
        api_key = _api_key(args)
    except ValueError as exc:
        print(f"tasks-flowrun server: {exc}", file=sys.stderr)
        return 2
    settings = ServerSettings(host=args.host, port=args.port, database=args.database, api_key=api_key,
                              heartbeat_timeout=args.heartbeat_timeout, max_resurrections=args.max_resurrections,
                              insecure=args.insecure, cors_origins=tuple(args.cors_origins))
    return serve(settings)


def _api_key(args: argparse.Namespace) -> Optional[str]:
    """The key from --api-key (with a warning), --api-key-file, or $TASKS_FLOWRUN_API_KEY."""
    if args.api_key is not None and args.api_key_file is not None:
        raise ValueError("give either --api-key or --api-key-file, not both")
    if args.api_key is not None:
        print("tasks-flowrun server: warning: --api-key is visible to every user in the process list; "
              "use --api-key-file PATH or $TASKS_FLOWRUN_API_KEY instead", file=sys.stderr)
        return args.api_key or None
    if args.api_key_file is not None:
        try:
            lines = args.api_key_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read --api-key-file {str(args.api_key_file)!r}: {exc}") from None
        key = lines[0].strip() if lines else ""
        if not key:
            raise ValueError(f"--api-key-file {str(args.api_key_file)!r} is empty")
        return key
    return os.environ.get("TASKS_FLOWRUN_API_KEY") or None


def _run_agent(args: argparse.Namespace) -> int:
    from .agent.main import parse_env, run

    try:
        parse_env(args.env)
    except ValueError as exc:
        print(f"tasks-flowrun agent: {exc}", file=sys.stderr)
        return 2
    return run(args)


def _run_demo(args: argparse.Namespace) -> int:
    if args.children < 1:
        print("tasks-flowrun demo: --children must be at least 1", file=sys.stderr)
        return 2
    try:
        from .demo import DemoOptions, run_demo
    except ImportError as exc:
        return _missing_extra(exc)
    options = DemoOptions(
        children=args.children, port=args.port, database=args.database, keep=args.keep, timeout=args.timeout
    )
    return run_demo(options)


def _run_copy(args: argparse.Namespace) -> int:
    try:
        from .server.storage.copying import CopyRefused, copy_database
        from .server.storage.database import open_database
        from .server.storage.migrations import SchemaVersionError
    except ImportError as exc:
        return _missing_extra(exc)
    if str(args.source) == str(args.target):
        print("tasks-flowrun copy-database: the source and the target are the same database", file=sys.stderr)
        return 2
    if not is_database_url(args.source) and not Path(args.source).exists():
        print(f"tasks-flowrun copy-database: no SQLite file at {args.source}", file=sys.stderr)
        return 2
    try:
        source = open_database(args.source)
        target = open_database(args.target)
    except SchemaVersionError as exc:
        print(f"tasks-flowrun copy-database: {exc}", file=sys.stderr)
        return 2
    try:
        copied = copy_database(source, target, lambda table, rows: print(f"{table:<20} {rows:>10,} rows"))
    except CopyRefused as exc:
        print(f"tasks-flowrun copy-database: {exc}", file=sys.stderr)
        return 2
    finally:
        source.dispose()
        target.dispose()
    print(f"copied {sum(copied.values()):,} rows from {source.description} to {target.description}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the `tasks-flowrun` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
