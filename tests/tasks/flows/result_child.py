"""Child whose tasks return values that a parent reads with `get_task_run_result`.

`double` keeps its result in the backend (`PrefectResult`), `to_file` writes it under the
Prefect home directory (`LocalResult`), `square` is mapped, `unsaved` is not checkpointed.
"""
import os

import prefect
from prefect import Flow, Parameter, task
from prefect.engine.results import LocalResult, PrefectResult


@task(result=PrefectResult())
def double(x):
    return 2 * x


@task(result=LocalResult(dir=os.path.join(prefect.config.home_dir, "task-results")))
def to_file(x):
    return {"x": x, "items": [x, x + 1]}


@task(result=PrefectResult())
def square(n):
    return n * n


@task(checkpoint=False)
def unsaved(x):
    return x + 100


with Flow("result-child") as flow:
    x = Parameter("x")
    double(x)
    to_file(x)
    square.map([1, 2, 3])
    unsaved(x)
