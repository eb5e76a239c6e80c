"""The task-library shape: options stored by __init__, overridable in run(), picklable."""
import datetime
import inspect

import cloudpickle
import pytest
from prefect import Task

import tasks_flowrun
from tasks_flowrun import (
    CreateFlowRun,
    GetTaskRunResult,
    WaitForFlowRun,
    create_flow_run,
    get_task_run_result,
    wait_for_flow_run,
)


@pytest.mark.parametrize("cls", [CreateFlowRun, WaitForFlowRun, GetTaskRunResult])
def test_run_takes_the_same_options_as_init(cls):
    init = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "kwargs")]
    run = [p for p in inspect.signature(cls.run).parameters if p != "self"]
    assert init == run
    instance = cls(**{name: f"v-{name}" for name in init}, name="custom")
    assert all(getattr(instance, name) == f"v-{name}" for name in init)
    assert isinstance(instance, Task) and instance.name == "custom"
    for doc in (cls.__doc__, cls.run.__doc__):
        assert "Args:" in doc or "Returns:" in doc
    assert all(f"- {name} (" in cls.__doc__ for name in init)


def test_ready_made_instances():  # the public names themselves are pinned in tests/test_layering.py
    assert isinstance(create_flow_run, CreateFlowRun) and isinstance(wait_for_flow_run, WaitForFlowRun)
    assert isinstance(get_task_run_result, GetTaskRunResult)


def test_tasks_survive_cloudpickle():
    task = CreateFlowRun(
        flow_name="child", parameters={"x": 1}, labels=["a"], max_retries=2, retry_delay=datetime.timedelta(seconds=1)
    )
    copy = cloudpickle.loads(cloudpickle.dumps(task))
    assert (copy.flow_name, copy.parameters, copy.labels, copy.max_retries) == ("child", {"x": 1}, ["a"], 2)
    waiter = cloudpickle.loads(cloudpickle.dumps(WaitForFlowRun(poll_interval=2, raise_final_state=True)))
    assert (waiter.poll_interval, waiter.raise_final_state) == (2, True)


def test_client_and_tasks_never_import_the_server():
    import ast
    from pathlib import Path

    root = Path(tasks_flowrun.__file__).parent
    for folder in ("tasks", "client"):
        for path in (root / folder).glob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    module = ("." * node.level) + (node.module or "")
                    assert "server" not in module, f"{path} imports {module}"
                elif isinstance(node, ast.Import):
                    assert not any("tasks_flowrun.server" in a.name for a in node.names), path
