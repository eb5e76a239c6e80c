"""Say why a due flow run has not been picked up by an agent.

An agent deploys a run only if the run's labels are a subset of the agent's labels, and an
agent that has labels never takes a run without labels (Prefect Server's queue rule). An
agent counts as healthy if it queried the backend within `HEALTHY_WITHIN` seconds.
"""
from typing import Any, Dict, Iterable, List

import pendulum
import prefect

from ..client import read_agents

HEALTHY_WITHIN = 60.0


def labels_fit(run_labels: Iterable[str], agent_labels: Iterable[str]) -> bool:
    """
    Whether an agent with `agent_labels` may deploy a run with `run_labels`.

    Args:
        - run_labels (Iterable[str]): the run's labels
        - agent_labels (Iterable[str]): the agent's labels

    Returns:
        - bool: the run's labels are a subset of the agent's, and an agent with labels
            is not asked to take an unlabeled run
    """
    run, agent = set(run_labels or []), set(agent_labels or [])
    if not run and agent:
        return False
    return run <= agent


def explain_not_picked_up(client: "prefect.Client", rows: List[Dict[str, Any]]) -> Dict[str, str]:
    """
    One agent query, then a reason per run.

    Args:
        - client (prefect.Client): the client
        - rows (List[dict]): polled flow-run rows (`id`, `labels`)

    Returns:
        - dict: flow run id -> a sentence explaining the likely cause
    """
    agents = read_agents(client)
    now = pendulum.now("UTC")
    for agent in agents:
        queried = agent.get("last_queried")
        agent["age"] = (now - pendulum.parse(queried)).total_seconds() if queried else None
    return {row["id"]: _reason(row.get("labels") or [], agents) for row in rows}


def _describe(agent: Dict[str, Any]) -> str:
    labels = sorted(agent.get("labels") or [])
    age = agent.get("age")
    seen = "never queried" if age is None else f"last queried {age:.0f} s ago"
    return f"{agent.get('name') or agent.get('id')!r} (labels {labels}, {seen})"


def _reason(labels: List[str], agents: List[Dict[str, Any]]) -> str:
    wanted = f"labels {sorted(labels)}" if labels else "no labels"
    if not agents:
        return f"No agent has ever connected to this backend; start one that accepts runs with {wanted}."
    fitting = [a for a in agents if labels_fit(labels, a.get("labels") or [])]
    healthy = [a for a in fitting if a["age"] is not None and a["age"] <= HEALTHY_WITHIN]
    if healthy:
        return (
            f"Agent {_describe(healthy[0])} accepts runs with {wanted} and is alive; it may be "
            "busy or slow to pick the run up."
        )
    if fitting:
        return (
            f"The only agents that accept runs with {wanted} look down: "
            f"{', '.join(_describe(a) for a in fitting)}. Restart one of them."
        )
    return (
        f"No agent accepts runs with {wanted} (an agent runs a flow run only if the run's labels "
        f"are a subset of its own). Known agents: {', '.join(_describe(a) for a in agents)}. "
        "Start an agent with matching labels, or create the run with other `labels`."
    )
