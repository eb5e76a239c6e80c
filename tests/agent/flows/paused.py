"""A flow whose only task pauses for approval: its runner returns with the run Running and
the task Paused, waiting with no process on purpose."""
from prefect import Flow, task
from prefect.engine.signals import PAUSE


@task
def approve():
    raise PAUSE("waiting for a human")


with Flow("agent-paused") as flow:
    approve()
