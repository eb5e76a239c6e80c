"""The environment of a flow process: LocalAgent's, plus what a warm agent needs."""
from typing import Dict, Mapping, Optional

# Heartbeats from a thread of the flow process itself: when the process dies they stop
# (a separate `prefect heartbeat` process would outlive it and keep the run "alive").
HEARTBEAT_MODE = "PREFECT__CLOUD__HEARTBEAT_MODE"
# Flow processes look for their own cancellation every 5 s instead of Prefect's 15 s.
CANCELLATION_INTERVAL = "PREFECT__CLOUD__CHECK_CANCELLATION_INTERVAL"
DEFAULT_CANCELLATION_INTERVAL = "5"


def flow_run_environment(local_agent_env: Mapping[str, str], explicit: Mapping[str, str],
                         agent_env: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """`local_agent_env` (what `LocalAgent.populate_env_vars` computes) with the warm
    agent's defaults and `agent_env` (the agent's own channels, e.g. the slot socket of
    `tasks_flowrun.slots`, which always win).

    The check-cancellation interval defaults to 5 s; any setting wins (the agent's own
    environment, `--env`, the run config's `env`). Heartbeats run in a thread of the flow
    process unless `explicit` (`--env` and the run config's `env`) chooses another mode.
    """
    env = dict(local_agent_env)
    env.setdefault(CANCELLATION_INTERVAL, DEFAULT_CANCELLATION_INTERVAL)
    env[HEARTBEAT_MODE] = explicit.get(HEARTBEAT_MODE) or "thread"
    env.update(agent_env or {})
    return env


# LocalAgent's per-run variables: everything else in a run's environment is the same for
# every run of an agent (unless a run config sets `env` or `working_dir`).
RUN_ID_VARIABLES = ("PREFECT__CONTEXT__FLOW_RUN_ID", "PREFECT__CONTEXT__FLOW_ID")


def without_run_ids(env: Mapping[str, str]) -> Dict[str, str]:
    """`env` without the variables that name the run."""
    return {k: v for k, v in env.items() if k not in RUN_ID_VARIABLES}
