"""A mapped task, a reducer and a task that always fails; results are PrefectResults (stored in the state)."""
import prefect
from prefect import Flow, Parameter, task
from prefect.engine.results import PrefectResult


@task(result=PrefectResult())
def numbers(n):
    return list(range(n))


@task(result=PrefectResult())
def inc(x):
    prefect.context.get("logger").info("incrementing %s", x)
    return x + 1


@task(result=PrefectResult())
def total(values):
    return sum(values)


@task
def explode():
    raise ValueError("boom: this task always fails")


with Flow("mapped-with-failure", result=PrefectResult()) as flow:
    n = Parameter("n", default=3)
    incremented = inc.map(numbers(n))
    total(incremented)
    explode()
