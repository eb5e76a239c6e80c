"""A one-task flow that finishes at once; runs through the session's LocalAgent (hostname label)."""
import prefect
from prefect import Flow, task


@task
def answer():
    prefect.context.get("logger").info("quick flow ran")
    return 42


with Flow("quick") as flow:
    answer()
