"""Turn children's final states into the waiting task's own final state.

Every finished state maps to a signal (never a `ValueError`). By default a child that did
not succeed never lets the waiting task pass: Success-like states (Success, Cached, Mapped,
Looped) -> `SUCCESS`; TriggerFailed / ValidationFailed -> their own `FAIL` subclasses;
everything else (Failed, TimedOut, Cancelled, Skipped, or any other finished state a
backend might report) -> `FAIL`. Prefect counts a Cancelled or Skipped task as "not
failed", so ending the task in those states would let the parent flow end Success.

With `mirror=True` the task ends in the child's own state class instead: Skipped ->
`SKIP`, Cancelled -> `CANCEL`, TimedOut -> `TIMEOUT` (for users who branch on them).

For several children the worst state decides, by severity:
Failed (any non-timeout failure) > TimedOut > Cancelled > Skipped > Success.
"""
from typing import Any, List, Optional, Sequence, Tuple, Type

from prefect.engine import signals, state

from ..client.restart_in_place import CANCELLED_WITH_PARENT
from .child_restarts import rerun_advice
from .errors import CANCEL, TIMEOUT

SignalType = Type[signals.PrefectStateSignal]

# Signals kept as they are even by default: they are already failures with a precise class.
_OWN_FAILURES = (signals.TRIGGERFAIL, signals.VALIDATIONFAIL)


def classify(final: state.State) -> Tuple[int, SignalType]:
    """
    The severity rank and own signal class of one finished state.

    Args:
        - final (State): a finished state

    Returns:
        - Tuple[int, type]: (severity: 0 best .. 4 worst, the signal that ends a task in
            the same state class)
    """
    if isinstance(final, state.Skipped):  # a Success subclass: check first
        return 1, signals.SKIP
    if isinstance(final, (state.Success, state.Looped)):
        return 0, signals.SUCCESS
    if isinstance(final, state.Cancelled):
        return 2, CANCEL
    if isinstance(final, state.TimedOut):
        return 3, TIMEOUT
    if isinstance(final, state.TriggerFailed):
        return 4, signals.TRIGGERFAIL
    if isinstance(final, state.ValidationFailed):
        return 4, signals.VALIDATIONFAIL
    return 4, signals.FAIL


def is_success(final: state.State) -> bool:
    """Whether a finished state counts as "the child succeeded"."""
    return classify(final)[0] == 0


def _default_class(own: SignalType) -> SignalType:
    if own is signals.SUCCESS or own in _OWN_FAILURES:
        return own
    return signals.FAIL


def cancelled_by_user(history: Sequence[state.State]) -> bool:
    """
    Whether a run whose states are `history` ended Cancelled by a user: its newest
    Cancelling / Cancelled states do not carry the backend's `cancelled_with_parent` marker.

    Args:
        - history (Sequence[State]): the run's states, oldest first (a `FlowRunView`'s)

    Returns:
        - bool: `True` for a Cancelled run a user (not its parent's cancellation) stopped
    """
    if not history or not isinstance(history[-1], state.Cancelled):
        return False
    for entry in reversed(history):
        if not isinstance(entry, (state.Cancelled, state.Cancelling)):
            break
        if (entry.context or {}).get(CANCELLED_WITH_PARENT):
            return False
    return True


def final_signal(
    names: Sequence[str],
    states: Sequence[state.State],
    result: Any,
    mirror: bool = False,
    cancelled_by_users: Sequence[Optional[str]] = (),
) -> signals.PrefectStateSignal:
    """
    The signal that ends the waiting task once its children finished.

    Args:
        - names (Sequence[str]): the children's run names, for the message
        - states (Sequence[State]): their final states, same order
        - result (Any): the task's result carried by the signal (views or ids)
        - mirror (bool, optional): end in the (worst) child's own state class (Cancelled,
            TimedOut, Skipped...) rather than `Failed` for every child that did not
            succeed; defaults to `False`
        - cancelled_by_users (Sequence[str], optional): same order: the run id of each
            child a user cancelled (`None` for the others); the message says a restart of
            the parent leaves them Cancelled, and how to run them again

    Returns:
        - PrefectStateSignal: the signal to raise
    """
    ranked = [classify(s) for s in states]
    worst = max(range(len(states)), key=lambda i: ranked[i][0])
    own_cls = ranked[worst][1]
    signal_cls = own_cls if mirror else _default_class(own_cls)
    by_users = [(name, run_id) for name, run_id in zip(names, cancelled_by_users) if run_id]
    if len(states) == 1:
        final = states[0]
        message = f"Child flow run {names[0]!r} finished in state {type(final).__name__}: {final.message}"
        if by_users:
            run_id = by_users[0][1]
            message += (f" A user cancelled it ({run_id}), so a restart of this parent leaves it Cancelled: "
                        f"{rerun_advice(run_id)}.")
        return signal_cls(message=message, result=result)
    # Mirroring a list that was only skipped reports the skipped ones; otherwise every
    # child that did not succeed is named.
    only_skipped = mirror and ranked[worst][0] == 1
    listed: List[str] = [
        f"{name!r} ({type(s).__name__})" for name, s, rank in zip(names, states, ranked) if rank[0] >= 1
    ]
    if not listed:
        message = f"All {len(states)} child flow runs succeeded."
    elif only_skipped:
        message = f"{len(listed)} of {len(states)} child flow runs were skipped: {', '.join(listed)}"
    else:
        message = f"{len(listed)} of {len(states)} child flow runs did not succeed: {', '.join(listed)}"
    if by_users:
        named = ", ".join(f"{name!r} ({run_id})" for name, run_id in by_users)
        message += (f". Cancelled by a user, so a restart of this parent leaves them Cancelled: {named}; to run "
                    "them again, restart those children (`tasks_flowrun.restart_flow_run(id)`, or Restart on "
                    "their pages), then this parent")
    return signal_cls(message=message, result=result)


def user_cancelled_ids(views: Sequence[Any]) -> List[Optional[str]]:
    """For each `FlowRunView`, its id if a user cancelled it, else `None`."""
    return [view.flow_run_id if cancelled_by_user(view.states) else None for view in views]
