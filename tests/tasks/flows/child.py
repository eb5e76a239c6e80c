"""Child flow run by the parents in these tests: doubles `x` (required); fails if `fail`."""
import prefect
from prefect import Flow, Parameter, task


@task
def double(x, fail):
    prefect.context.logger.info(f"child doubling {x}")
    if fail:
        raise RuntimeError("the child was asked to fail")
    return 2 * x


with Flow("child") as flow:
    double(Parameter("x"), Parameter("fail", default=False))
