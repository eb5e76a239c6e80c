"""The child flow of the benchmarks: three quick tasks (a run gets 3 task runs, as in docs/architecture.md, "Performance targets")."""
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


with Flow("bench-child") as flow:
    report(double(load(Parameter("x", default=0))))
