"""A parent flow whose runs give the fan-out benchmark a real `flow_run_id` to create children under.

Its runs are never executed (they carry a label no agent has); the benchmark calls the create
tasks' `run()` inside `prefect.context` with this run's id, as a mapped task run would.
"""
from prefect import Flow, task


@task
def nothing():
    return None


with Flow("bench-fanout-parent") as flow:
    nothing()
