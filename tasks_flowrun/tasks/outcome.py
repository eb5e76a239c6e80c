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
from typing import Any, List, Sequence, Tuple, Type

from prefect.engine import signals, state

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


def final_signal(
    names: Sequence[str], states: Sequence[state.State], result: Any, mirror: bool = False
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

    Returns:
        - PrefectStateSignal: the signal to raise
    """
    ranked = [classify(s) for s in states]
    worst = max(range(len(states)), key=lambda i: ranked[i][0])
    own_cls = ranked[worst][1]
    signal_cls = own_cls if mirror else _default_class(own_cls)
    if len(states) == 1:
        final = states[0]
        message = f"Child flow run {names[0]!r} finished in state {type(final).__name__}: {final.message}"
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
    return signal_cls(message=message, result=result)
