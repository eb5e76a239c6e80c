"""The `tasks-flowrun` command: `server` (the embedded backend), `config` (its effective settings),
`agent` (a warm, bounded Prefect 1 agent), `copy-database` and `demo` (the main job, end to end)."""
import argparse
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from . import __version__
from .agent.main import add_arguments as add_agent_arguments
from .config import log_level, non_negative_int, origin, port, positive_seconds, sqlite_synchronous, url_host
# plain Python: no need of the server extra
from .server.settings import DEFAULT_HOST, DEFAULT_PORT, database_target, is_database_url


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
        description="Run the embedded Prefect 1 backend in the foreground; Ctrl-C stops it. Each option also "
                    "comes from $TASKS_FLOWRUN_<OPTION> (e.g. TASKS_FLOWRUN_PORT), and --host, --port and "
                    "--log-level from Prefect's configuration (server.host, server.port, logging.level); "
                    "`tasks-flowrun config` shows what applies and why.",
    )
    add_server_arguments(server)
    server.set_defaults(handler=_run_server)

    config = commands.add_parser(
        "config",
        help="print the settings `tasks-flowrun server` would use and where each comes from",
        description="Print the effective settings of `tasks-flowrun server` (given the same options) and the "
                    "source of each: default, Prefect's config file, a PREFECT__ variable, a TASKS_FLOWRUN_ "
                    "variable or a flag; secrets masked. Then where Prefect's clients on this machine send "
                    "requests, and whether that is this server.",
    )
    add_server_arguments(config)
    config.add_argument("--json", action="store_true", help="print JSON instead of a table")
    config.set_defaults(handler=_run_config)

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


def _argument(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse `type` from a parser of tasks_flowrun.config (its message on bad input)."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


database_argument = _argument(database_target)


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `tasks-flowrun server` (and `config`). None = not given: the value then
    comes from the environment, Prefect's configuration or the default (server/settings.py)."""
    parser.add_argument("--host", type=_argument(url_host), default=None,
                        help=f"interface to bind (default: Prefect's server.host, else {DEFAULT_HOST})")
    parser.add_argument("--port", type=_argument(port), default=None,
                        help=f"TCP port, 0 for any free one (default: Prefect's server.port, else {DEFAULT_PORT})")
    parser.add_argument(
        "--database", type=database_argument, default=None,
        help="SQLite file (default: tasks_flowrun.db in Prefect's home_dir, ~/.prefect), or a "
             "postgresql://user:pass@host:port/dbname URL (several server processes may share one PostgreSQL "
             "database)"
    )
    parser.add_argument(
        "--api-key", default=None,
        help="require clients to send this key as a bearer token; visible to other users in the process "
             "list, prefer --api-key-file or $TASKS_FLOWRUN_API_KEY (default: $TASKS_FLOWRUN_API_KEY, else none)",
    )
    parser.add_argument("--api-key-file", type=Path, default=None, metavar="PATH",
                        help="read the API key from this file (its first line)")
    parser.add_argument(
        "--insecure", action="store_const", const=True, default=None,
        help="allow a --host other than loopback without an API key (anyone who can reach the port can "
             "run and change flows)",
    )
    parser.add_argument(
        "--heartbeat-timeout", type=_argument(positive_seconds), default=None, metavar="SECONDS",
        help="a flow run silent for this long lost its process: its unfinished tasks are re-run "
             "(the run is rescheduled, then Failed after --max-resurrections) (default: 120)",
    )
    parser.add_argument(
        "--max-resurrections", type=_argument(non_negative_int), default=None, metavar="N",
        help="reschedules of one run whose process died before it is marked Failed (default: 3)",
    )
    parser.add_argument(
        "--cors-origin", action="append", type=_argument(origin), default=None, metavar="ORIGIN",
        dest="cors_origins",
        help="let web pages from this origin (scheme://host[:port], e.g. the Prefect UI at http://localhost:8080) "
             "call the API from the browser; repeat for several (default: none)",
    )
    parser.add_argument(
        "--submitted-timeout", type=_argument(positive_seconds), default=None, metavar="SECONDS",
        help="a Submitted run whose agent has not started its process after this long is recovered like a "
             "dead one (default: 600)",
    )
    parser.add_argument(
        "--no-version-locking", action="store_const", const=False, default=None, dest="version_locking",
        help="accept Running and Submitted states sent with a stale version, as Prefect Server does (default: "
             "refused, per flow unless turned off with disable_flow_version_lock)",
    )
    parser.add_argument(
        "--sqlite-synchronous", type=_argument(sqlite_synchronous), default=None, metavar="MODE",
        help="SQLite only: 'normal' keeps every commit across any crash of this process (an OS crash or "
             "power cut may lose the last ones); 'full' syncs each commit to disk first, about 1 ms more per "
             "write (default: normal)",
    )
    parser.add_argument("--log-level", type=_argument(log_level), default=None, metavar="LEVEL",
                        help="DEBUG, INFO, WARNING, ERROR or CRITICAL (default: Prefect's logging.level, else INFO)")
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=None,
                        help="log one line per HTTP request (default: off)")


def _server_flags(args: argparse.Namespace) -> Dict[str, Any]:
    """The options given on the command line, by the name of their setting (argparse's `dest`)."""
    from .server.settings import SERVER_OPTIONS

    flags = {option.name: getattr(args, option.name, None) for option in SERVER_OPTIONS}
    return {name: tuple(value) if isinstance(value, list) else value for name, value in flags.items()}


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
    except ImportError as exc:
        return _missing_extra(exc)
    from .config import ConfigError, PrefectConfig
    from .logging_setup import configure_logging
    from .server.settings import client_mismatch, resolve_server_settings

    try:
        prefect = PrefectConfig()
        settings, sources = resolve_server_settings(_server_flags(args), prefect)
    except ConfigError as exc:
        print(f"tasks-flowrun server: {exc}", file=sys.stderr)
        return 2
    if args.api_key is not None:
        print("tasks-flowrun server: warning: --api-key is visible to every user in the process list; "
              "use --api-key-file PATH or $TASKS_FLOWRUN_API_KEY instead", file=sys.stderr)
    configure_logging(settings.log_level, access_log=settings.access_log)
    for note in client_mismatch(settings, prefect):
        logging.getLogger("tasks_flowrun.server").info(note)
    return serve(settings, sources=sources)


def _run_config(args: argparse.Namespace) -> int:
    import json

    from .config import ConfigError, PrefectConfig, json_value, masked_url, shown, table
    from .server.settings import SERVER_OPTIONS, client_mismatch, client_view, resolve_server_settings

    try:
        prefect = PrefectConfig()
        settings, sources = resolve_server_settings(_server_flags(args), prefect)
    except ConfigError as exc:
        print(f"tasks-flowrun config: {exc}", file=sys.stderr)
        return 2
    options = {option.name: option for option in SERVER_OPTIONS}
    clients = [(label, ("***" if "key" in label else masked_url(str(value))) if value else None, source)
               for label, value, source in client_view(prefect)]
    notes = client_mismatch(settings, prefect)
    if args.json:
        server = {name: {"value": json_value(options[name], setting.value), "source": setting.source}
                  for name, setting in sources.items()}
        print(json.dumps({"server": server, "clients": {label: {"value": value, "source": source}
                                                        for label, value, source in clients},
                          "notes": notes}, indent=2))
        return 0
    rows = [(name, shown(options[name], setting.value), setting.source) for name, setting in sources.items()]
    print("\n".join(table(rows)))
    print()
    print("\n".join(table([(label, value or "(none)", source) for label, value, source in clients],
                          ("prefect client", "value", "source"))))
    for note in notes:
        print(f"\nnote: {note}")
    return 0


def _run_agent(args: argparse.Namespace) -> int:
    from .agent.main import agent_log_level, parse_env, run

    try:
        parse_env(args.env)
        level = agent_log_level(args.log_level)
    except ValueError as exc:  # ConfigError included
        print(f"tasks-flowrun agent: {exc}", file=sys.stderr)
        return 2
    return run(args, level)


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
    if is_database_url(args.database):
        try:
            from .server.storage import postgres_store  # noqa: F401  (says how to install the extra)
        except ImportError as exc:
            print(f"tasks-flowrun demo: {exc}", file=sys.stderr)
            return 2
    return run_demo(options)


def _run_copy(args: argparse.Namespace) -> int:
    try:
        from .server.storage.copying import CopyRefused, copy_database
        from .server.storage.stores import open_database
        from .server.storage.migrations import SchemaVersionError
    except ImportError as exc:
        return _missing_extra(exc)
    if str(args.source) == str(args.target):
        print("tasks-flowrun copy-database: the source and the target are the same database", file=sys.stderr)
        return 2
    if not is_database_url(args.source) and not Path(args.source).exists():
        print(f"tasks-flowrun copy-database: no SQLite file at {args.source}", file=sys.stderr)
        return 2
    opened = []
    try:
        for where in (args.source, args.target):
            opened.append(open_database(where))
    except (SchemaVersionError, ImportError) as exc:  # ImportError: the `postgres` extra is missing
        for db in opened:
            db.dispose()
        print(f"tasks-flowrun copy-database: {exc}", file=sys.stderr)
        return 2
    source, target = opened
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
