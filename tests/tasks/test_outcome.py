"""Children's final states -> the waiting task's final state (never a ValueError)."""
import pytest
from prefect import Flow, task
from prefect.engine import signals, state

from tasks_flowrun.tasks.errors import CANCEL, TIMEOUT
from tasks_flowrun.tasks.outcome import classify, final_signal

# (child's final state, signal by default, task state by default, signal mirrored, task state mirrored)
CASES = [
    (state.Success("ok"), signals.SUCCESS, state.Success, signals.SUCCESS, state.Success),
    (state.Cached("ok"), signals.SUCCESS, state.Success, signals.SUCCESS, state.Success),
    (state.Mapped("ok"), signals.SUCCESS, state.Success, signals.SUCCESS, state.Success),
    (state.Skipped("skip"), signals.FAIL, state.Failed, signals.SKIP, state.Skipped),
    (state.Failed("boom"), signals.FAIL, state.Failed, signals.FAIL, state.Failed),
    (state.TriggerFailed("t"), signals.TRIGGERFAIL, state.TriggerFailed, signals.TRIGGERFAIL, state.TriggerFailed),
    (state.ValidationFailed("v"), signals.VALIDATIONFAIL, state.ValidationFailed, signals.VALIDATIONFAIL,
     state.ValidationFailed),
    (state.TimedOut("slow"), signals.FAIL, state.Failed, TIMEOUT, state.TimedOut),
    (state.Cancelled("stop"), signals.FAIL, state.Failed, CANCEL, state.Cancelled),
]


def _task_state_of(sig: signals.PrefectStateSignal) -> state.State:
    @task
    def mirror():
        raise sig

    with Flow("mirror") as flow:
        t = mirror()
    return flow.run().result[t]


@pytest.mark.parametrize("mirror", [False, True], ids=["default", "mirror"])
@pytest.mark.parametrize("final, default_cls, default_state, mirror_cls, mirror_state", CASES,
                         ids=[type(c[0]).__name__ for c in CASES])
def test_every_final_state_has_a_signal_that_ends_the_task(
    final, default_cls, default_state, mirror_cls, mirror_state, mirror
):
    sig = final_signal(["child-0"], [final], result="view", mirror=mirror)
    assert type(sig) is (mirror_cls if mirror else default_cls)
    task_result = _task_state_of(sig)
    assert type(task_result) is (mirror_state if mirror else default_state)
    assert task_result.message == f"Child flow run 'child-0' finished in state {type(final).__name__}: {final.message}"


def test_by_default_a_cancelled_timed_out_or_skipped_child_fails_the_parent_flow():
    for final in (state.Cancelled("stop"), state.TimedOut("slow"), state.Skipped("skip")):

        @task
        def waiting():
            raise final_signal(["x"], [final], result=None)

        with Flow("parent") as flow:
            waiting()
        assert flow.run().is_failed(), final

    @task
    def mirrored():
        raise final_signal(["x"], [state.Cancelled("stop")], result=None, mirror=True)

    with Flow("parent") as flow:
        mirrored()
    assert flow.run().is_successful()  # why mirroring is not the default


def test_list_names_every_child_that_did_not_succeed():
    states = [state.Success(), state.Cancelled(), state.Failed(), state.Skipped(), state.Success()]
    sig = final_signal(["a", "b", "c", "d", "e"], states, result=[1, 2, 3, 4, 5])
    assert type(sig) is signals.FAIL
    assert sig.state.message == "3 of 5 child flow runs did not succeed: 'b' (Cancelled), 'c' (Failed), 'd' (Skipped)"
    assert sig.state.result == [1, 2, 3, 4, 5]

    sig = final_signal(["a", "b"], [state.Failed("x"), state.Cancelled("y")], result=None)
    assert sig.state.message == "2 of 2 child flow runs did not succeed: 'a' (Failed), 'b' (Cancelled)"
    for pair in ([state.TimedOut(), state.Cancelled()], [state.Success(), state.Cancelled()],
                 [state.Success(), state.Skipped()]):
        assert type(final_signal(["a", "b"], pair, result=None)) is signals.FAIL
    sig = final_signal(["a", "b"], [state.Success(), state.TriggerFailed()], result=None)
    assert type(sig) is signals.TRIGGERFAIL

    sig = final_signal(["a", "b"], [state.Success(), state.Success()], result="r")
    assert type(sig) is signals.SUCCESS and sig.state.result == "r"
    assert sig.state.message == "All 2 child flow runs succeeded."


def test_mirrored_list_ends_in_the_worst_state_class():
    sig = final_signal(["a", "b", "c"], [state.Success(), state.Cancelled(), state.Failed()], result=None, mirror=True)
    assert type(sig) is signals.FAIL
    assert sig.state.message == "2 of 3 child flow runs did not succeed: 'b' (Cancelled), 'c' (Failed)"
    assert type(final_signal(["a", "b"], [state.TimedOut(), state.Cancelled()], None, mirror=True)) is TIMEOUT
    assert type(final_signal(["a", "b"], [state.Success(), state.Cancelled()], None, mirror=True)) is CANCEL
    sig = final_signal(["a", "b"], [state.Success(), state.Skipped()], result=None, mirror=True)
    assert type(sig) is signals.SKIP and sig.state.message == "1 of 2 child flow runs were skipped: 'b' (Skipped)"


def test_classify_keeps_the_own_state_class():
    assert classify(state.Cancelled())[1] is CANCEL
    assert classify(state.TimedOut())[1] is TIMEOUT
    assert classify(state.Skipped())[1] is signals.SKIP


def test_prefect_signal_from_state_now_knows_cancelled_and_timed_out():
    assert signals.signal_from_state(state.Cancelled()) is CANCEL
    assert signals.signal_from_state(state.TimedOut()) is TIMEOUT
