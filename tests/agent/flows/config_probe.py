"""A flow whose task writes what its process sees of Prefect's configuration and context to
`<workdir>/<flow run id>.json`: the run's ids as the context, the config and the context's
config hold them, a few values set through the environment, and the whole config as the
task's context holds it."""
import json
import os
from pathlib import Path

import prefect
from prefect import Flow, Parameter, task


@task
def probe(workdir):
    seen = {
        "context_flow_run_id": prefect.context.get("flow_run_id"),
        "context_flow_id": prefect.context.get("flow_id"),
        "config_flow_run_id": prefect.config.context.get("flow_run_id"),
        "context_config_flow_run_id": prefect.context.config.context.get("flow_run_id"),
        "heartbeat_mode": prefect.config.cloud.heartbeat_mode,
        "probe_setting": prefect.config.get("probe_setting"),
        "context_config_probe_setting": prefect.context.config.get("probe_setting"),
        # the whole config, as the context holds it and as prefect.config does
        "context_config": json.dumps(prefect.context.config.to_dict(), sort_keys=True, default=str),
        "config": json.dumps(prefect.config.to_dict(), sort_keys=True, default=str),
        "context_config_type": type(prefect.context.config).__name__,
        "env_flow_run_id": os.environ.get("PREFECT__CONTEXT__FLOW_RUN_ID"),
        "pid": os.getpid(),
    }
    (Path(workdir) / f"{prefect.context.get('flow_run_id')}.json").write_text(json.dumps(seen))
    return "done"


with Flow("agent-config-probe") as flow:
    probe(Parameter("workdir"))
