"""The agent's pieces without a backend: environment defaults, exit descriptions, the
fallback when a backend has no `report_dead_flow_run`, the command line."""
import logging

import pytest

from tasks_flowrun.agent.backend import Backend
from tasks_flowrun.agent.environment import flow_run_environment
from tasks_flowrun.agent.main import parse_env
from tasks_flowrun.agent.warm_agent import default_limit, describe_exit
from tasks_flowrun.cli import build_parser


def test_flow_processes_heartbeat_from_a_thread_and_check_cancellation_every_5_s_by_default():
    env = flow_run_environment({"PATH": "/bin"}, explicit={})
    assert env["PREFECT__CLOUD__HEARTBEAT_MODE"] == "thread"
    assert env["PREFECT__CLOUD__CHECK_CANCELLATION_INTERVAL"] == "5"


def test_explicit_settings_win():
    inherited = {"PREFECT__CLOUD__CHECK_CANCELLATION_INTERVAL": "2", "PREFECT__CLOUD__HEARTBEAT_MODE": "process"}
    env = flow_run_environment(inherited, explicit={})
    assert env["PREFECT__CLOUD__CHECK_CANCELLATION_INTERVAL"] == "2"
    assert env["PREFECT__CLOUD__HEARTBEAT_MODE"] == "thread"  # inherited: the agent's choice wins
    env = flow_run_environment(inherited, explicit={"PREFECT__CLOUD__HEARTBEAT_MODE": "off"})
    assert env["PREFECT__CLOUD__HEARTBEAT_MODE"] == "off"  # --env or the run config's env


def test_exit_descriptions():
    assert describe_exit(7, -9) == "its flow process (pid 7) was killed by SIGKILL"
    assert "exited with code 3" in describe_exit(7, 3)
    assert default_limit() >= 2


class _Refusing:
    def __init__(self, message: str) -> None:
        self.message = message
        self.calls = 0

    def graphql(self, *args, **kwargs):
        self.calls += 1
        raise ValueError(self.message)


@pytest.mark.parametrize("message", [
    "Cannot query field 'report_dead_flow_run' on type 'Mutation'.",
    "Unknown type 'report_dead_flow_run_input'.",
])
def test_a_backend_without_the_mutation_is_asked_once_then_left_to_its_heartbeat_timeout(message):
    client = _Refusing(message)
    backend = Backend(client, logging.getLogger("test"))
    assert backend.report_dead("id", "killed") is False
    assert backend.report_dead("id", "killed") is False
    assert client.calls == 1 and backend.reports_dead_runs is False


def test_other_errors_are_raised():
    backend = Backend(_Refusing("connection refused"), logging.getLogger("test"))
    with pytest.raises(ValueError):
        backend.report_dead("id", "killed")


def test_command_line():
    args = build_parser().parse_args(["agent", "-l", "a", "--label", "b", "--env", "K=V=W", "--limit", "3",
                                      "--poll-interval", "0.2", "--preload", "json", "--import-path", "x"])
    assert args.label == ["a", "b"] and args.limit == 3 and args.poll_interval == 0.2
    assert parse_env(args.env) == {"K": "V=W"} and args.preload == ["json"] and args.import_path == ["x"]
    with pytest.raises(ValueError):
        parse_env(["NOEQUALS"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["agent", "--limit", "0"])
