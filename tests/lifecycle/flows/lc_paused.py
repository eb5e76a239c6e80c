"""A flow whose only task pauses for approval: its run waits with no process on purpose."""
from prefect import Flow, task
from prefect.engine.signals import PAUSE


@task
def approve():
    raise PAUSE("waiting for a human")


with Flow("lc-paused") as flow:
    approve()
