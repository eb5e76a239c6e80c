"""A flow run's `LocalRun` run config, as LocalAgent reads it."""
from prefect.run_configs import LocalRun, UniversalRun
from prefect.serialization.run_config import RunConfigSchema
from prefect.utilities.graphql import GraphQLResult


def local_run_config(flow_run: GraphQLResult) -> LocalRun:
    """The run's `LocalRun` (a `UniversalRun` becomes one; none gives the default).

    Raises:
        - TypeError: for any other run config type, which this agent cannot honour
    """
    serialized = getattr(flow_run, "run_config", None)
    if serialized is None:
        return LocalRun()
    run_config = RunConfigSchema().load(serialized)
    if isinstance(run_config, UniversalRun):
        return LocalRun(env=run_config.env, labels=run_config.labels)
    if not isinstance(run_config, LocalRun):
        raise TypeError(f"Flow run {flow_run.id} has a `run_config` of type `{type(run_config).__name__}`, "
                        "only `LocalRun` is supported")
    return run_config
