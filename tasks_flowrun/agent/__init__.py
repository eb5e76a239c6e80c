"""`tasks-flowrun agent`: a warm, bounded Prefect 1 agent.

Small modules, one job each: `warm_agent` (the Agent subclass), `zygote` (the warm process
that forks flow processes), `child` (what a forked flow process does), `zygote_client` (the
agent's side of the zygote's pipes), `protocol` (their messages), `runs` (the running flow
processes, stopping their groups), `admission` (the slot rule: which due runs may start,
and which first), `slots_channel` (the socket on which flow processes say they wait, see
`tasks_flowrun.slots`), `pickup` (waking the loop when runs become due: pushed or polled),
`vouching` (telling the backend which flow processes live), `reaping` (subreapers,
process states, zombies), `backend` (states, cancellation, dead and live reports),
`environment` and `run_config` (a flow process's settings), `main` (command line).
It works against any Prefect 1 backend and never imports `tasks_flowrun.server`.
"""
from typing import Any

__all__ = ["WarmAgent", "default_limit"]


def __getattr__(name: str) -> Any:
    # imported on use: the zygote imports this package and needs none of the agent
    if name in __all__:
        from . import warm_agent

        return getattr(warm_agent, name)
    raise AttributeError(name)
