"""The `tasks-flowrun agent` command line: options, and running the agent until stopped."""
import argparse
import os
import signal
from typing import Dict, List, Optional

DEFAULT_POLL_INTERVAL = 0.5

SLOTS_RULE = """\
slots:
  --limit counts the flow runs that work. A run waiting on other flow runs (inside
  wait_for_flow_run, create_flow_run(wait=True) or get_task_run_result of
  tasks_flowrun) is blocked and not counted, so its children can start under any
  limit and at any nesting depth; it counts again as soon as it works again (the
  count may then pass the limit for a while; new runs wait until it drops).
  Blocked runs are bounded on their own by --max-blocked (default: a quarter of
  the machine's memory, or of its container's limit, at 64 MiB per waiting flow
  process, at least 4 x --limit, at most 1024); runs that block beyond it count against --limit. When more runs
  are due than may start, children of this agent's waiting runs go first, the
  deepest first, then the earliest due: a tree of runs is worked through depth
  first, so about --limit x its depth runs wait at once, whatever its width.
  Only more than --max-blocked runs waiting at once on one agent, with every
  working slot held by yet more waiting runs, could stall it. Parents using
  other tasks (Prefect's own) hold their slot while they wait.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The agent's options (LocalAgent's, plus the warm agent's own), and the slot rule as
    the help's epilog."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = SLOTS_RULE
    parser.add_argument("--name", "-n", default=None,
                        help="agent name (default: $PREFECT__CLOUD__AGENT__NAME, else 'agent')")
    parser.add_argument("--label", "-l", action="append", default=[], metavar="LABEL",
                        help="label of the agent (repeatable); the hostname is added unless --no-hostname-label")
    parser.add_argument("--env", "-e", action="append", default=[], metavar="KEY=VALUE",
                        help="environment variable for every flow run (repeatable)")
    parser.add_argument("--import-path", "-p", action="append", default=[], metavar="PATH",
                        help="path added to the flow runs' import path (repeatable)")
    parser.add_argument("--no-hostname-label", action="store_true", help="do not add the hostname label")
    parser.add_argument("--show-flow-logs", "-f", action="store_true",
                        help="send the flow processes' output to the agent's output")
    parser.add_argument("--no-cloud-logs", action="store_true",
                        help="do not send the agent's and the flow runs' logs to the backend")
    parser.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                        help="flow runs working at once (runs waiting on other flow runs apart, see "
                             "'slots' below); more due runs stay Scheduled for other agents "
                             "(default: twice the CPU count, at least 2; a flow process of short tasks waits on "
                             "the backend about half of its time: give CPU-heavy flows the CPU count)")
    parser.add_argument("--max-blocked", type=_non_negative_int, default=None, metavar="N",
                        help="flow runs waiting on other flow runs that do not count against --limit; 0 "
                             "counts them all, as other agents do (default: from the machine's memory, see "
                             "'slots' below)")
    parser.add_argument("--poll-interval", type=_positive_float, default=DEFAULT_POLL_INTERVAL, metavar="SECONDS",
                        help="longest wait between two looks for due flow runs when the backend cannot "
                             "push them (the embedded backend does) (default: %(default)s)")
    parser.add_argument("--preload", action="append", default=[], metavar="MODULE",
                        help="module imported once by the warm process that flow processes are forked "
                             "from (repeatable)")
    parser.add_argument("--log-level", type=_log_level, default=None, metavar="LEVEL",
                        help="DEBUG, INFO, WARNING, ERROR or CRITICAL (default: $TASKS_FLOWRUN_LOG_LEVEL, else "
                             "Prefect's cloud.agent.level, INFO); the flow runs keep Prefect's logging.level")
    parser.add_argument("--stop-runs-on-exit", action="store_true",
                        help="kill the running flow processes when the agent stops (default: leave them "
                             "running, as LocalAgent does)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
    return value


def _log_level(text: str) -> str:
    from ..config import log_level

    try:
        return log_level(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def agent_log_level(flag: Optional[str]) -> str:
    """--log-level, else $TASKS_FLOWRUN_LOG_LEVEL, else Prefect's `cloud.agent.level` (what
    `prefect agent local start` uses), else INFO.

    Raises:
        - ConfigError: the variable or Prefect's setting is not a level
    """
    from ..config import Option, log_level, prefect_key, resolve

    option = Option("log_level", "--log-level", log_level, prefect_key("cloud.agent.level", log_level))
    return str(resolve([option], {"log_level": flag}, {"log_level": "INFO"})["log_level"].value)


def parse_env(pairs: List[str]) -> Dict[str, str]:
    """KEY=VALUE strings as a dict (the value may contain '=')."""
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


def use_log_level(level: str, name: Optional[str]) -> None:
    """Log from `level` up in Prefect's format (tasks_flowrun/logging_setup.py), the agent's own
    logger included: it is named after the agent, and Prefect sets its level from
    `cloud.agent.level`, as `prefect agent local start --log-level` does."""
    import prefect

    from ..logging_setup import configure_logging

    configure_logging(level, loggers=[name or prefect.config.cloud.agent.get("name", "agent")])
    prefect.config.cloud.agent.level = level


def run(args: argparse.Namespace, level: str = "INFO") -> int:
    """Start the agent in the foreground; SIGTERM and Ctrl-C stop it."""
    env = parse_env(args.env)
    from .warm_agent import WarmAgent

    use_log_level(level, args.name)
    agent = WarmAgent(name=args.name, labels=args.label, env_vars=env,
                      import_paths=[os.path.abspath(p) for p in args.import_path],
                      show_flow_logs=args.show_flow_logs, hostname_label=not args.no_hostname_label,
                      limit=args.limit, max_blocked=args.max_blocked, poll_interval=args.poll_interval,
                      preload=args.preload,
                      stop_runs_on_exit=args.stop_runs_on_exit, no_cloud_logs=args.no_cloud_logs or None)
    # Prefect's agent loop stops cleanly on SIGINT only; SIGTERM takes the same way out.
    signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
    try:
        agent.start()
    except KeyboardInterrupt:  # stopped before or after its loop (which handles SIGINT itself)
        pass
    return 0
