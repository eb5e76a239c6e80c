"""Three quick tasks (the benchmarks' child): a run of it only costs what the agent and the
flow runner add."""
from prefect import Flow, Parameter, task


@task
def load(x):
    return x


@task
def double(x):
    return 2 * x


@task
def report(y):
    return y


with Flow("agent-quick") as flow:
    report(double(load(Parameter("x", default=0))))
