"""Prefect's settings that point a process at a Prefect 1 backend (the one home of them: the
demo, `tasks_flowrun.testing`, the tests and the benchmarks use them)."""
from pathlib import Path
from typing import Any, Dict


def prefect_settings(url: str, home: Path) -> Dict[str, Any]:
    """Prefect configuration keys that point this process at the backend at `url`."""
    return {"backend": "server", "server.endpoint": url, "cloud.api": url, "cloud.graphql": f"{url}/graphql",
            "home_dir": str(home), "cloud.send_flow_run_logs": True}


def prefect_variables(url: str, home: Path, send_logs: bool = True) -> Dict[str, str]:
    """The same as `PREFECT__` environment variables, for subprocesses (`send_logs`: whether
    flow runs send their logs to the backend)."""
    return {"PREFECT__BACKEND": "server", "PREFECT__SERVER__ENDPOINT": url, "PREFECT__CLOUD__API": url,
            "PREFECT__HOME_DIR": str(home), "PREFECT__CLOUD__SEND_FLOW_RUN_LOGS": "true" if send_logs else "false"}
