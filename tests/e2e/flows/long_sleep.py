"""A flow whose task sleeps for a long time, to be cancelled while running.

The runner checks for cancellation every second instead of every 15 s (run config env).
"""
import time

import prefect
from prefect import Flow, Parameter, task
from prefect.run_configs import LocalRun


@task
def nap(seconds):
    prefect.context.get("logger").info("napping for %s s", seconds)
    time.sleep(seconds)


@task
def after_nap():
    prefect.context.get("logger").info("this must never run")


with Flow(
    "long-sleep",
    run_config=LocalRun(
        env={"PREFECT__CLOUD__CHECK_CANCELLATION_INTERVAL": "1", "PREFECT__CLOUD__LOGGING_HEARTBEAT": "0.5"}
    ),
) as flow:
    seconds = Parameter("seconds", default=120)
    after_nap(upstream_tasks=[nap(seconds)])
