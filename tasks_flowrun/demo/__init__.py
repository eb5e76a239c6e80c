"""`tasks-flowrun demo`: the embedded backend, `tasks-flowrun agent` (a warm LocalAgent) and the
fan-out example, live.

Small modules, one job each: `environment` (port, Prefect config, agent process),
`register` (example flows), `queries` (the one polling query), `progress` (live display),
`summary` (final table), `runner` (orchestration).
"""
from .runner import DemoOptions, run_demo

__all__ = ["DemoOptions", "run_demo"]
