"""The `hello-world` flow of the end-to-end tests (registered with `prefect register -p`).

Its run config carries the label `e2e-genuine-agent`, so only the stock `prefect agent local start`
that the CLI test starts with that label picks it up (Local storage adds the hostname label too).
Logs are shipped every 0.5 s and the task lingers 1.5 s, so its log line reaches the backend before
the run finishes (the watcher stops polling logs once it sees a finished state).
"""
import time

import prefect
from prefect import Flow, Parameter, task
from prefect.run_configs import LocalRun


@task
def say_hello(name):
    prefect.context.get("logger").info("Hello, %s!", name)
    time.sleep(1.5)
    return f"Hello, {name}!"


with Flow(
    "hello-world",
    run_config=LocalRun(labels=["e2e-genuine-agent"], env={"PREFECT__CLOUD__LOGGING_HEARTBEAT": "0.5"}),
) as flow:
    name = Parameter("name", default="world")
    say_hello(name)
