"""Turn children's final states into the waiting task's own final state.

Every finished state has a signal (never a `ValueError`): Success-like states (Success,
Cached, Mapped, Looped) -> `SUCCESS`, Skipped -> `SKIP`, Cancelled -> `CANCEL`, TimedOut ->
`TIMEOUT`, TriggerFailed / ValidationFailed / Failed -> their `FAIL` signals. Any other
finished state a backend might report is treated as a failure.

For several children the worst state wins, by severity:
Failed (any non-timeout failure) > TimedOut > Cancelled > Skipped > Success.
"""
from typing import Any, List, Sequence, Tuple, Type

from prefect.engine import signals, state

from .errors import CANCEL, TIMEOUT

SignalType = Type[signals.PrefectStateSignal]


def classify(final: state.State) -> Tuple[int, SignalType]:
    """
    The severity rank and signal class of one finished state.

    Args:
        - final (State): a finished state

    Returns:
        - Tuple[int, type]: (severity: 0 best .. 4 worst, signal class to raise)
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


def final_signal(names: Sequence[str], states: Sequence[state.State], result: Any) -> signals.PrefectStateSignal:
    """
    The signal that ends the waiting task in the (worst) child's final state.

    Args:
        - names (Sequence[str]): the children's run names, for the message
        - states (Sequence[State]): their final states, same order
        - result (Any): the task's result carried by the signal (views or ids)

    Returns:
        - PrefectStateSignal: the signal to raise
    """
    ranked = [classify(s) for s in states]
    worst = max(range(len(states)), key=lambda i: ranked[i][0])
    signal_cls = ranked[worst][1]
    if len(states) == 1:
        final = states[0]
        message = f"Child flow run {names[0]!r} finished in state {type(final).__name__}: {final.message}"
    else:
        floor = 2 if ranked[worst][0] >= 2 else 1  # list failures; else list the skipped ones
        listed: List[str] = [
            f"{name!r} ({type(s).__name__})" for name, s, rank in zip(names, states, ranked) if rank[0] >= floor
        ]
        if ranked[worst][0] >= 2:
            message = f"{len(listed)} of {len(states)} child flow runs did not succeed: {', '.join(listed)}"
        elif listed:
            message = f"{len(listed)} of {len(states)} child flow runs were skipped: {', '.join(listed)}"
        else:
            message = f"All {len(states)} child flow runs succeeded."
    return signal_cls(message=message, result=result)
