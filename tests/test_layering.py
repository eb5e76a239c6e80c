"""Pins the architecture: import directions between zones, and the public API."""
import ast
import re
from pathlib import Path

import tasks_flowrun

PACKAGE = Path(tasks_flowrun.__file__).parent


def _imports(path: Path) -> set:
    """Absolute module names imported by a file (relative imports resolved)."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
        package = parts
    else:
        package = parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _zone_imports(zone: str) -> dict:
    return {p: _imports(p) for p in (PACKAGE / zone).rglob("*.py")}


def test_plugin_never_imports_the_embedded_backend():
    for zone in ("tasks", "client"):
        for path, names in _zone_imports(zone).items():
            bad = sorted(n for n in names if n.startswith("tasks_flowrun.server"))
            assert not bad, f"{path} imports {bad}: the plugin must work against any Prefect 1 backend"


def test_tasks_do_not_hold_graphql_text_or_reach_around_the_client():
    for path in (PACKAGE / "tasks").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "mutation {" not in text and "query {" not in text, f"{path}: GraphQL text belongs in client/"


def test_client_does_not_import_tasks():
    for path, names in _zone_imports("client").items():
        bad = sorted(n for n in names if n.startswith("tasks_flowrun.tasks"))
        assert not bad, f"{path} imports {bad}: client/ sits below tasks/"


def test_the_slots_module_stands_alone():
    # `tasks_flowrun/slots.py` is shared by the tasks (which say when a run waits) and the
    # agent (which counts it): it imports neither of them, nor Prefect, nor the backend.
    names = _imports(PACKAGE / "slots.py")
    bad = sorted(n for n in names if n.startswith(("tasks_flowrun", "prefect")))
    assert not bad, f"slots.py imports {bad}: it must stay importable from tasks/ and agent/ alike"
    for zone in ("tasks", "agent"):
        users = [p for p, found in _zone_imports(zone).items() if "tasks_flowrun.slots" in found]
        assert users, f"{zone}/ no longer uses tasks_flowrun.slots"


def test_the_agent_imports_neither_the_tasks_nor_the_backend():
    for path, names in _zone_imports("agent").items():
        bad = sorted(n for n in names if n.startswith(("tasks_flowrun.server", "tasks_flowrun.tasks",
                                                        "tasks_flowrun.client")))
        assert not bad, f"{path} imports {bad}: the agent works against any Prefect 1 backend, with any tasks"


def test_backend_layers_point_one_way():
    # http -> graphql -> api -> storage, services beside them; app.py assembles them all.
    above_api = ("tasks_flowrun.server.graphql", "tasks_flowrun.server.http", "tasks_flowrun.server.app",
                 "tasks_flowrun.server.backend")
    forbidden = {
        "server/storage": ("tasks_flowrun.server.api", "tasks_flowrun.server.services") + above_api,
        "server/api": ("tasks_flowrun.server.services",) + above_api,
        "server/graphql": ("tasks_flowrun.server.http", "tasks_flowrun.server.app", "tasks_flowrun.server.backend"),
        "server/services": ("tasks_flowrun.server.graphql", "tasks_flowrun.server.http", "tasks_flowrun.server.app"),
    }
    for zone, prefixes in forbidden.items():
        for path, names in _zone_imports(zone).items():
            bad = sorted(n for n in names if n.startswith(prefixes))
            assert not bad, f"{path} imports {bad}, against the layering of docs/architecture.md"


def test_domain_rules_do_no_network_io():
    # api/ decides; what reaches other hosts (cloud hooks) is queued there and delivered by
    # services/, so a domain function never waits on the network inside a transaction.
    network = ("requests", "urllib.request", "http.client", "socket", "httpx", "aiohttp", "tasks_flowrun.server.services")
    for path, names in _zone_imports("server/api").items():
        bad = sorted(n for n in names if n.startswith(network))
        assert not bad, f"{path} imports {bad}: network I/O belongs in server/services"


def test_private_prefect_apis_are_used_through_one_module():
    # prefect_private.py names each private Prefect API the package needs, and why no public
    # way exists; nothing else reaches them
    private = ("_from_flow_run_data", "_tenant_id", "_loop_intervals", "_get_ready_flow_runs",
               "_get_flow_run_metadata", "_TimestampedState", "_upgrade_revs")
    for path in PACKAGE.rglob("*.py"):
        if path.name == "prefect_private.py":
            continue
        text = path.read_text(encoding="utf-8")
        used = [name for name in private if re.search(rf"(?<!\w){name}\b", text)]
        assert not used, f"{path} uses {used}: go through tasks_flowrun/prefect_private.py"


def test_sql_lives_in_storage_only():
    for path in (PACKAGE / "server").rglob("*.py"):
        if "storage" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        for keyword in ("SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM"):
            assert keyword not in text, f"{path} contains SQL text ({keyword.strip()}); keep SQL in server/storage"


def test_public_api():
    assert sorted(tasks_flowrun.__all__) == [
        "CreateFlowRun",
        "GetTaskRunResult",
        "WaitForFlowRun",
        "create_flow_run",
        "get_task_run_result",
        "restart_flow_run",
        "wait_for_flow_run",
    ]
    from prefect import Task

    assert issubclass(tasks_flowrun.CreateFlowRun, Task)
    assert issubclass(tasks_flowrun.WaitForFlowRun, Task)
    assert isinstance(tasks_flowrun.create_flow_run, tasks_flowrun.CreateFlowRun)
    assert isinstance(tasks_flowrun.wait_for_flow_run, tasks_flowrun.WaitForFlowRun)
    assert issubclass(tasks_flowrun.GetTaskRunResult, Task)
    assert isinstance(tasks_flowrun.get_task_run_result, tasks_flowrun.GetTaskRunResult)
