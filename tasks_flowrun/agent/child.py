"""A forked flow process: become the flow run's own process, then run it as
`prefect execute flow-run` does."""
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any, Dict, Optional, Tuple

from ..writer_header import WRITER_HEADER, new_writer_token
from .environment import RUN_ID_VARIABLES
from .protocol import RETURNED, RETURNED_UNFINISHED

CONTEXT_PREFIX = "PREFECT__CONTEXT__"  # Prefect's loader puts these in the config's `context` section


def run_order(request: Dict[str, Any], marker_fd: int) -> int:
    """Run the flow run described by `request` (see `protocol.py`); returns the exit code.

    Writes a marker byte to `marker_fd` when the flow runner returned normally, so the
    zygote can tell a finished process from one that died (killed, `os._exit`, a crash)
    whatever its code, and a run the runner left Running (see `protocol.py`).
    """
    os.setsid()  # its own session and process group: the agent stops the whole group
    _redirect_stdio(show_logs=bool(request.get("show_logs")))
    _apply_environment(request["env"], request.get("cwd"))
    if request.get("inherit_config"):
        _set_run_ids(request["env"])
    else:
        _install_prefect_config()
    _lighten_context_config()
    flow = request["flow"]
    code, left_running = _run_flow(flow["name"], flow["storage"])
    if code == 0:
        try:
            os.write(marker_fd, RETURNED_UNFINISHED if left_running else RETURNED)
        except OSError:
            pass
    return code


def _redirect_stdio(show_logs: bool) -> None:
    """stdin from /dev/null; stdout and stderr to the agent's stdout (`--show-flow-logs`) or
    /dev/null, as LocalAgent does."""
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    if show_logs:
        os.dup2(1, 2)
    else:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
    os.close(devnull)


def _apply_environment(env: Dict[str, str], cwd: Optional[str]) -> None:
    """The run's environment, working directory and import path, as a fresh interpreter
    started with them would have them."""
    for key in [k for k in os.environ if k not in env]:
        del os.environ[key]
    for key, value in env.items():  # most of it is the zygote's already: set only what differs
        if os.environ.get(key) != value:
            os.environ[key] = value
    if cwd:
        os.chdir(cwd)
    entries = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:0] = [p for p in dict.fromkeys(entries) if p not in sys.path]


def _install_prefect_config() -> None:
    """Prefect's configuration loaded again from the run's environment, installed in place,
    as a fresh interpreter would have it.

    `load_default_config` is Prefect's own loader (defaults, user config, PREFECT__* env).
    The values go into the live `prefect.config` object (modules that imported `config`, and
    the context of every thread started later, see it); the main thread's context gets the
    config's `context` section (flow run id, flow id) and its own copy of the config, as
    `prefect.context` has when Prefect is imported. The process runs one flow run and ends,
    so nothing needs restoring (`set_temporary_config` would copy and merge the whole
    configuration twice more for that).
    """
    import prefect
    from prefect.configuration import load_default_config

    fresh = load_default_config()
    prefect.config.clear()
    prefect.config.update(fresh)
    prefect.context.update(fresh.get("context", {}))
    prefect.context.update(config=prefect.config.copy())
    # the "prefect" logger took its level from the zygote's config when it was imported
    logging.getLogger("prefect").setLevel(prefect.config.logging.level)


def _lighten_context_config() -> None:
    """The main thread's `prefect.context.config` as the same values in Prefect's `DotDict`s
    (a mapping with attribute access, as the config's `Box`) instead of a `Config`.

    Prefect's runners enter `prefect.context(...)` with a dict that holds the whole config
    (`dict(prefect.context)`) about four times per task run, and each time merge it into
    itself (`merge_dicts`). A `Config` copies itself recursively at every level of that
    merge: about 3 ms per merge on a 2-core machine, a sixth of a 3-task child's CPU.
    `DotDict`s copy one level at a time: 0.15 ms. `prefect.config` itself stays a `Config`."""
    import prefect

    prefect.context.update(config=as_dot_dicts(prefect.context.config))


def as_dot_dicts(mapping: Mapping[str, Any]) -> Any:
    """`mapping` and every mapping nested in it as `prefect.utilities.collections.DotDict`."""
    from prefect.utilities.collections import DotDict

    return DotDict({key: as_dot_dicts(value) if isinstance(value, Mapping) else value
                    for key, value in mapping.items()})


def _set_run_ids(env: Dict[str, str]) -> None:
    """The zygote's configuration was loaded from this very environment but for the run's
    ids (the agent said so): only those are set, as Prefect's loader sets PREFECT__CONTEXT__*
    values (in the config's `context` section, converted with its own functions) and as
    `prefect.context` takes them when Prefect is imported."""
    import prefect
    from prefect.configuration import Config, interpolate_env_vars, string_to_type

    ids = {key[len(CONTEXT_PREFIX):].lower(): string_to_type(interpolate_env_vars(env[key]))  # type: ignore[arg-type]
           for key in RUN_ID_VARIABLES if key in env}
    for config in (prefect.config, prefect.context.config):
        if not isinstance(config.get("context"), Config):
            config["context"] = Config()
        config["context"].update(ids)
    prefect.context.update(ids)


def _run_flow(flow_name: str, serialized_storage: Dict[str, Any]) -> Tuple[int, bool]:
    """What `prefect execute flow-run` does, with the flow's name and storage the agent read
    when it took the run (the command would ask the backend for them again): load the flow
    from its storage, with the storage's secrets, and run it with the default flow runner
    (the cloud runner, from the environment); on a failure to load or run, mark the run
    Failed with the reason and log it, as the command does.

    Returns the exit code, and whether the runner returned with the run still Running."""
    import prefect
    from prefect.engine import get_default_flow_runner_class
    from prefect.engine.state import Failed, State
    from prefect.serialization.storage import StorageSchema
    from prefect.tasks.secrets import PrefectSecret

    flow_run_id = prefect.context.get("flow_run_id")
    with prefect.context(running_with_backend=True):
        try:
            storage = StorageSchema().load(serialized_storage)
            secrets = dict(prefect.context.get("secrets", {}))
            secrets.update({name: PrefectSecret(name=name).run() for name in storage.secrets})
            with prefect.context(secrets=secrets, loading_flow=True):
                flow = storage.get_flow(flow_name)
            with prefect.context(secrets=secrets):
                end = runner_class(get_default_flow_runner_class())(flow=flow).run()
        except Exception as exc:
            message = f"Failed to load and execute flow run: {exc!r}"
            client = prefect.Client()
            client.set_flow_run_state(flow_run_id=flow_run_id, state=Failed(message=message))
            client.write_run_logs([{"flow_run_id": flow_run_id, "name": "execute flow-run", "message": message,
                                    "level": "ERROR"}])
            print(message, file=sys.stderr, flush=True)
            return 1, False
    return 0, isinstance(end, State) and end.is_running()


def runner_class(base: type) -> type:
    """`base` (the default flow runner class) made to send this process's writer token
    (`writer_header.py`) with every request of its client and of its task runners' clients,
    through Prefect's public `Client.attach_headers`; any other runner class as it is."""
    from prefect.engine.cloud import CloudFlowRunner, CloudTaskRunner

    if not issubclass(base, CloudFlowRunner):
        return base
    headers = {WRITER_HEADER: new_writer_token()}

    class WriterTaskRunner(CloudTaskRunner):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.client.attach_headers(headers)

    class WriterFlowRunner(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.client.attach_headers(headers)
            if getattr(self, "task_runner_cls", None) is CloudTaskRunner:
                setattr(self, "task_runner_cls", WriterTaskRunner)

    # Prefect names a runner's logger after its class: logs read as they always did
    WriterTaskRunner.__name__ = WriterTaskRunner.__qualname__ = CloudTaskRunner.__name__
    WriterFlowRunner.__name__ = WriterFlowRunner.__qualname__ = base.__name__
    return WriterFlowRunner
