"""Children's final states -> the waiting task's final state (never a ValueError)."""
import pytest
from prefect import Flow, task
from prefect.engine import signals, state

from tasks_flowrun.tasks.errors import CANCEL, TIMEOUT
from tasks_flowrun.tasks.outcome import classify, final_signal


@pytest.mark.parametrize(
    "final, signal_cls, task_state",
    [
        (state.Success("ok"), signals.SUCCESS, state.Success),
        (state.Cached("ok"), signals.SUCCESS, state.Success),
        (state.Mapped("ok"), signals.SUCCESS, state.Success),
        (state.Skipped("skip"), signals.SKIP, state.Skipped),
        (state.Failed("boom"), signals.FAIL, state.Failed),
        (state.TriggerFailed("t"), signals.TRIGGERFAIL, state.TriggerFailed),
        (state.ValidationFailed("v"), signals.VALIDATIONFAIL, state.ValidationFailed),
        (state.TimedOut("slow"), TIMEOUT, state.TimedOut),
        (state.Cancelled("stop"), CANCEL, state.Cancelled),
    ],
)
def test_every_final_state_has_a_signal_that_ends_the_task_in_it(final, signal_cls, task_state):
    assert classify(final)[1] is signal_cls

    @task
    def mirror():
        raise final_signal(["child-0"], [final], result="view")

    with Flow("mirror") as flow:
        t = mirror()
    task_result = flow.run().result[t]
    assert type(task_result) is task_state
    assert "child-0" in task_result.message


def test_worst_state_wins_and_message_names_the_children():
    states = [state.Success(), state.Cancelled(), state.Failed(), state.Skipped()]
    sig = final_signal(["a", "b", "c", "d"], states, result=[1, 2, 3, 4])
    assert isinstance(sig, signals.FAIL) and not isinstance(sig, TIMEOUT)
    assert "2 of 4" in str(sig.state.message)
    assert "'b' (Cancelled)" in sig.state.message and "'c' (Failed)" in sig.state.message
    assert "'a'" not in sig.state.message
    assert sig.state.result == [1, 2, 3, 4]

    sig = final_signal(["a", "b"], [state.TimedOut(), state.Cancelled()], result=None)
    assert isinstance(sig, TIMEOUT)
    sig = final_signal(["a", "b"], [state.Success(), state.Cancelled()], result=None)
    assert isinstance(sig, CANCEL)
    sig = final_signal(["a", "b"], [state.Success(), state.Skipped()], result=None)
    assert isinstance(sig, signals.SKIP) and "were skipped: 'b'" in sig.state.message
    sig = final_signal(["a", "b"], [state.Success(), state.Success()], result="r")
    assert isinstance(sig, signals.SUCCESS) and sig.state.result == "r"


def test_prefect_signal_from_state_now_knows_cancelled_and_timed_out():
    assert signals.signal_from_state(state.Cancelled()) is CANCEL
    assert signals.signal_from_state(state.TimedOut()) is TIMEOUT
