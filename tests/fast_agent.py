"""The real Prefect 1 LocalAgent with its idle back-off capped at 0.5 s (tests only).

Usage: python tests/fast_agent.py [--label L ...]
"""
import argparse
import os

from prefect.agent import agent as agent_module
from prefect.agent.local import LocalAgent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--label", action="append", default=[])
    args = parser.parse_args()
    # The stock loop backs off 0.25 s -> 10 s when idle; keep the same shape, capped at 0.5 s.
    agent_module.Agent._loop_intervals = {0: 0.25, 1: 0.5}
    # Flow processes inherit the agent's environment: have them check for cancellation
    # every 5 s (Prefect's default is 15 s), so a cancelled run (or a cancelled parent's
    # children) stops within seconds. An explicit setting wins.
    os.environ.setdefault("PREFECT__CLOUD__CHECK_CANCELLATION_INTERVAL", "5")
    LocalAgent(labels=args.label, name="test-agent").start()


if __name__ == "__main__":
    main()
