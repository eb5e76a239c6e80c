"""Scheduled: a parent creates children that start later, by relative delay and by absolute time.

How to run (a Prefect 1 backend and a LocalAgent running, see the README):

    prefect create project examples
    prefect register -p examples/parent_flows/scheduled.py --project examples
    prefect run --name schedule-reminders --project examples --watch

Both children are created at once, stay Scheduled until they are due (the agent leaves
them alone until then), and the parent waits for both with one bulk wait.
"""
from datetime import timedelta

import pendulum
import prefect
from prefect import Flow, Parameter, task

from tasks_flowrun import create_flow_run, wait_for_flow_run


# --- the child ----------------------------------------------------------------------------
@task
def remind(message: str) -> None:
    prefect.context.get("logger").info("Reminder: %s", message)


with Flow("reminder") as child:
    remind(Parameter("message", default="time to stretch"))


# --- the parent ---------------------------------------------------------------------------
@task
def seconds_from_now(seconds: float) -> pendulum.DateTime:
    return pendulum.now("UTC").add(seconds=seconds)


with Flow("schedule-reminders") as flow:
    project = Parameter("project", default="examples")
    delay_seconds = Parameter("delay_seconds", default=8)

    # A timedelta means "this long after the create task runs".
    soon = create_flow_run(
        flow_name="reminder",
        project_name=project,
        parameters={"message": "five seconds have passed"},
        scheduled_start_time=timedelta(seconds=5),
    )
    # An absolute time works too: a datetime (naive means UTC), a pendulum DateTime or an
    # ISO 8601 string; here it is computed by an upstream task.
    later = create_flow_run(
        flow_name="reminder",
        project_name=project,
        parameters={"message": "the absolute time has come"},
        scheduled_start_time=seconds_from_now(delay_seconds),
    )
    wait_for_flow_run([soon, later], stream_logs=True, raise_final_state=True)


if __name__ == "__main__":
    flow.run()  # needs a backend: the children are flow runs created through the API
