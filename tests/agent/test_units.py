"""The agent's pieces without an agent: environment defaults, exit descriptions, the slot
rule and the depth-first order, the slot channel (real sockets, real processes), process
states, the fallbacks when a backend lacks a mutation, the command line."""
import json
import logging
import os
import signal
import subprocess
import sys
import time
from typing import List, Optional

import pytest

from tasks_flowrun.agent.admission import SlotRule, default_max_blocked, depth_first
from tasks_flowrun.agent.backend import Backend
from tasks_flowrun.agent.environment import flow_run_environment
from tasks_flowrun.agent.main import parse_env
from tasks_flowrun.agent.reaping import exists, runs_on
from tasks_flowrun.agent.runs import RunningRun
from tasks_flowrun.agent.slots_channel import SlotChannel
from tasks_flowrun.agent.warm_agent import default_limit, describe_exit
from tasks_flowrun.cli import build_parser
from tasks_flowrun.slots import ENV_VAR, blocked_on_children
from tests.helpers import wait_until


def test_flow_processes_heartbeat_from_a_thread_and_check_cancellation_every_5_s_by_default():
    env = flow_run_environment({"PATH": "/bin"}, explicit={})
    assert env["PREFECT__CLOUD__HEARTBEAT_MODE"] == "thread"
    assert env["PREFECT__CLOUD__CHECK_CANCELLATION_INTERVAL"] == "5"


def test_explicit_settings_win_but_the_agents_channel_is_always_given():
    inherited = {"PREFECT__CLOUD__CHECK_CANCELLATION_INTERVAL": "2", "PREFECT__CLOUD__HEARTBEAT_MODE": "process",
                 ENV_VAR: "/elsewhere"}
    env = flow_run_environment(inherited, explicit={}, agent_env={ENV_VAR: "/mine"})
    assert env["PREFECT__CLOUD__CHECK_CANCELLATION_INTERVAL"] == "2"
    assert env["PREFECT__CLOUD__HEARTBEAT_MODE"] == "thread"  # inherited: the agent's choice wins
    assert env[ENV_VAR] == "/mine"
    env = flow_run_environment(inherited, explicit={"PREFECT__CLOUD__HEARTBEAT_MODE": "off"})
    assert env["PREFECT__CLOUD__HEARTBEAT_MODE"] == "off"  # --env or the run config's env


def test_exit_descriptions():
    assert describe_exit(7, -9) == "its flow process (pid 7) was killed by SIGKILL"
    assert "exited with code 3" in describe_exit(7, 3)
    assert default_limit() == max(2, 2 * len(os.sched_getaffinity(0)))


# --- the slot rule ---------------------------------------------------------------------------

def _run(run_id: str, blocked: Optional[float] = None, finished: bool = False) -> RunningRun:
    return RunningRun(run_id, pid=hash(run_id) % 30000 + 2, started=0.0, blocked_since=blocked, finished=finished)


def test_blocked_and_finishing_runs_do_not_count_against_the_limit():
    rule = SlotRule(limit=2, max_blocked=3)
    runs = [_run("a", blocked=1.0), _run("b", blocked=2.0), _run("c"), _run("d", finished=True)]
    assert rule.counts(runs) == (1, 2)
    assert rule.free(runs, starting=0) == 1
    assert rule.free(runs, starting=1) == 0


def test_blocked_runs_past_the_bound_count_against_the_limit():
    rule = SlotRule(limit=2, max_blocked=1)
    runs = [_run("a", blocked=1.0), _run("b", blocked=2.0), _run("c", blocked=3.0)]
    assert rule.counts(runs) == (2, 1)
    assert rule.free(runs, starting=0) == 0


def test_children_of_the_agents_runs_go_first_deepest_first_then_by_start_time():
    runs = [_run("root", blocked=1.0), _run("child", blocked=2.0)]
    parents = {"other-early": (None, "2024-01-01T00:00:00"), "grandchild": ("child", "2024-01-01T00:00:09"),
               "sibling": ("root", "2024-01-01T00:00:05"), "other-late": (None, "2024-01-01T00:00:08"),
               "child": ("root", "2024-01-01T00:00:01"), "root": ("root", "")}  # a loop is no depth
    order = depth_first(["other-late", "sibling", "other-early", "grandchild", "unknown"], parents, runs)
    assert order == ["grandchild", "sibling", "unknown", "other-early", "other-late"]


def test_the_default_bound_on_blocked_runs_follows_memory_within_limits():
    assert 4 * 2 <= default_max_blocked(2) <= 1024
    assert default_max_blocked(512) == 2048  # never below 4 x the limit


# --- the slot channel --------------------------------------------------------------------------

def test_a_waiting_flow_process_tells_the_agent_once_per_transition():
    """A real process (as a flow process would) nests two waits and ends them: the channel
    hears "blocked" once, then "working" once, attributed to the process by the kernel."""
    heard: List[tuple] = []
    channel = SlotChannel(lambda pid, run, blocked: heard.append((pid, run, blocked)), logging.getLogger("t"))
    channel.start()
    try:
        script = ("from tasks_flowrun.slots import blocked_on_children\n"
                  "with blocked_on_children('run-1'):\n"
                  "    with blocked_on_children('run-1'):\n"
                  "        pass\n")
        process = subprocess.run([sys.executable, "-c", script], env={**os.environ, **channel.environment},
                                 timeout=60, check=True)
        wait_until(lambda: len(heard) == 2, timeout=10, what=f"two messages, heard {heard}")
        assert [(run, blocked) for _, run, blocked in heard] == [("run-1", True), ("run-1", False)]
        assert heard[0][0] != os.getpid() and heard[0][0] > 1  # the child's pid, from the kernel
        assert process.returncode == 0
    finally:
        channel.close()
    assert not os.path.exists(channel.directory)


def test_without_an_agent_a_wait_sends_nothing_and_never_fails(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with blocked_on_children("run"):
        pass
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "no-agent-listens-here"))
    with blocked_on_children("run"):  # the agent is gone: the message is dropped
        pass


def test_the_channel_directory_is_private():
    channel = SlotChannel(lambda *a: None, logging.getLogger("t"))
    try:
        assert os.stat(channel.directory).st_mode & 0o077 == 0
    finally:
        channel.close()


def test_unreadable_messages_are_ignored():
    import socket

    heard: List[tuple] = []
    channel = SlotChannel(lambda pid, run, blocked: heard.append((run, blocked)), logging.getLogger("t")).start()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            for data in (b"not json", b"[1, 2]", b'{"run": "x"}', json.dumps({"run": "ok", "blocked": True}).encode()):
                sock.sendto(data, channel.path)
        wait_until(lambda: heard, timeout=10)
        time.sleep(0.2)
        assert heard == [("ok", True)]
    finally:
        channel.close()


# --- process states ------------------------------------------------------------------------------

def test_a_stopped_or_exited_process_does_not_run_on():
    process = subprocess.Popen(["sleep", "30"])
    try:
        assert runs_on(process.pid) and exists(process.pid)
        os.kill(process.pid, signal.SIGSTOP)
        wait_until(lambda: not runs_on(process.pid), timeout=10, what="the stopped state")
        assert exists(process.pid)  # stopped, not gone: still vouched for, not reported dead
        os.kill(process.pid, signal.SIGCONT)
        wait_until(lambda: runs_on(process.pid), timeout=10)
        process.kill()
        wait_until(lambda: not exists(process.pid), timeout=10, what="the zombie state")  # not reaped yet
    finally:
        process.kill()
        process.wait()
    assert not exists(process.pid)


# --- fallbacks when the backend lacks a mutation ---------------------------------------------

class _Scripted:
    """A stand-in for `prefect.Client.graphql` that records the variables it is called with
    and raises the given messages in turn (then answers `answer`)."""

    def __init__(self, *errors: str, answer: Optional[dict] = None) -> None:
        self.errors = list(errors)
        self.answer = answer
        self.calls: List[dict] = []

    def graphql(self, query, variables=None, **kwargs):
        from prefect.utilities.graphql import GraphQLResult

        self.calls.append(variables or {})
        if self.errors:
            raise ValueError(self.errors.pop(0))
        return GraphQLResult({"data": self.answer})


@pytest.mark.parametrize("message", [
    "Cannot query field 'report_dead_flow_run' on type 'Mutation'.",
    "Unknown type 'report_dead_flow_run_input'.",
])
def test_a_backend_without_the_mutation_is_asked_once_then_left_to_its_heartbeat_timeout(message):
    client = _Scripted(message)
    backend = Backend(client, logging.getLogger("test"))  # type: ignore[arg-type]
    assert backend.report_dead("id", "killed", 3).supported is False
    assert backend.report_dead("id", "killed", 3).supported is False
    assert len(client.calls) == 1 and backend.reports_dead_runs is False


def test_dead_reports_carry_the_deployments_version_and_drop_it_for_a_backend_that_does_not_know_it():
    refusal = ("Variable '$input' got invalid value {...}; Field 'flow_run_version' is not defined by type "
               "'report_dead_flow_run_input'.")
    client = _Scripted(refusal, answer={"report_dead_flow_run": {"success": True, "error": None}})
    backend = Backend(client, logging.getLogger("test"))  # type: ignore[arg-type]
    assert backend.report_dead("id", "killed", 3).recovered
    assert client.calls[0]["input"] == {"flow_run_id": "id", "reason": "killed", "flow_run_version": 3}
    assert client.calls[1]["input"] == {"flow_run_id": "id", "reason": "killed"}
    assert backend.fences_dead_reports is False
    backend.report_dead("id", "again", 4)
    assert client.calls[2]["input"] == {"flow_run_id": "id", "reason": "again"}


def test_a_refused_dead_report_says_why():
    client = _Scripted(answer={"report_dead_flow_run": {"success": False, "error": "deployed again since"}})
    report = Backend(client, logging.getLogger("test")).report_dead("id", "killed", 3)  # type: ignore[arg-type]
    assert not report.recovered and report.supported and report.error == "deployed again since"
    assert client.calls[0]["input"]["flow_run_version"] == 3


def test_vouching_falls_back_to_heartbeats_on_a_backend_without_the_mutation():
    client = _Scripted("Cannot query field 'report_live_flow_runs' on type 'Mutation'.")
    backend = Backend(client, logging.getLogger("test"))  # type: ignore[arg-type]
    assert backend.report_live([("id", 1)]) is None and backend.vouches is False
    assert backend.report_live([("id", 1)]) is None and len(client.calls) == 1


def test_other_errors_are_raised():
    backend = Backend(_Scripted("connection refused"), logging.getLogger("test"))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        backend.report_dead("id", "killed")


# --- the command line ----------------------------------------------------------------------

def test_command_line():
    args = build_parser().parse_args(["agent", "-l", "a", "--label", "b", "--env", "K=V=W", "--limit", "3",
                                      "--poll-interval", "0.2", "--preload", "json", "--import-path", "x",
                                      "--max-blocked", "7"])
    assert args.label == ["a", "b"] and args.limit == 3 and args.poll_interval == 0.2 and args.max_blocked == 7
    assert parse_env(args.env) == {"K": "V=W"} and args.preload == ["json"] and args.import_path == ["x"]
    defaults = build_parser().parse_args(["agent"])
    assert defaults.limit is None and defaults.max_blocked is None
    with pytest.raises(ValueError):
        parse_env(["NOEQUALS"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["agent", "--limit", "0"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["agent", "--max-blocked", "-1"])
    assert build_parser().parse_args(["agent", "--max-blocked", "0"]).max_blocked == 0


def test_the_help_explains_the_slot_rule(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["agent", "--help"])
    text = capsys.readouterr().out
    assert "--max-blocked" in text and "blocked and not counted" in text and "depth" in text


class _RecordingBackend:
    """Stands in for `Backend` (narrow: what the voucher sends)."""

    def __init__(self, vouches: bool) -> None:
        self.vouches = vouches
        self.reported: List[list] = []
        self.beats: List[str] = []

    def report_live(self, runs):
        self.reported.append(list(runs))
        return [run_id for run_id, _ in runs] if self.vouches else None

    def heartbeat(self, run_id):
        self.beats.append(run_id)


def test_the_voucher_reports_live_and_stopped_processes_in_one_request_and_falls_back_to_heartbeats():
    from tasks_flowrun.agent.vouching import Voucher

    sleeper = subprocess.Popen(["sleep", "30"])
    stopped = subprocess.Popen(["sleep", "30"])
    os.kill(stopped.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: not runs_on(stopped.pid), timeout=10)
        runs = [RunningRun("live", sleeper.pid, 0.0, deploy_version=4),
                RunningRun("stopped", stopped.pid, 0.0, deploy_version=2),
                RunningRun("retry", sleeper.pid, 0.0, deploy_version=None),  # deployed without Submitted
                RunningRun("done", sleeper.pid, 0.0, deploy_version=1, finished=True)]
        backend = _RecordingBackend(vouches=True)
        voucher = Voucher(backend, lambda: runs, logging.getLogger("t"))  # type: ignore[arg-type]
        # a stopped process finishes its task when continued: it keeps its run
        assert voucher.vouch() == ["live", "stopped"]
        assert backend.reported == [[("live", 4), ("stopped", 2)]] and backend.beats == ["retry"]
        fallback = _RecordingBackend(vouches=False)
        voucher = Voucher(fallback, lambda: runs, logging.getLogger("t"))  # type: ignore[arg-type]
        voucher.vouch()
        voucher.vouch()  # within cloud.heartbeat_interval: no second heartbeat
        assert sorted(fallback.beats) == ["live", "retry", "stopped"]
    finally:
        for process in (sleeper, stopped):
            process.kill()
            process.wait()
