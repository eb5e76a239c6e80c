"""Prefect 1's own LocalAgent, with its idle back-off capped for snappy pick-ups.

Usage: python -m tasks_flowrun.demo.agent [--label L ...] [--name NAME]

The stock agent loop waits 0.25 s after a poll that found work and grows the wait up
to 10 s while idle. Children created by a parent would then sit Scheduled for up to 10 s
before the agent looks again. This runs the unchanged LocalAgent class with the same
back-off shape capped at 0.5 s; `prefect agent local start` works too, just slower.
"""
import argparse
import os
from typing import List, Optional

IDLE_INTERVALS = {0: 0.25, 1: 0.5}  # consecutive empty polls -> seconds to wait


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tasks_flowrun.demo.agent")
    parser.add_argument("--label", action="append", default=[], help="extra agent label (repeatable)")
    parser.add_argument("--name", default="tasks-flowrun-demo")
    args = parser.parse_args(argv)

    from prefect.agent import agent as agent_module
    from prefect.agent.local import LocalAgent

    agent_module.Agent._loop_intervals = dict(IDLE_INTERVALS)
    # Flow processes inherit the agent's environment: have them check for cancellation
    # every 5 s (Prefect's default is 15 s), so a cancelled run (or a cancelled parent's
    # children) stops within seconds. An explicit setting wins.
    os.environ.setdefault("PREFECT__CLOUD__CHECK_CANCELLATION_INTERVAL", "5")
    LocalAgent(labels=args.label, name=args.name).start()


if __name__ == "__main__":
    main()
