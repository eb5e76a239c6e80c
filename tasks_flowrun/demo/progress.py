"""Live progress: a table redrawn in place on a terminal, one line per state change otherwise."""
from typing import Dict, List, Optional, TextIO, Tuple

import pendulum

from .queries import RunRow

ARROW = " → "
FINISHED_OK = {"Success", "Cached"}
FINISHED_BAD = {"Failed", "TimedOut", "TriggerFailed", "ValidationFailed", "Cancelled", "Skipped"}

# ANSI sequences, terminal mode only
UP = "\x1b[{}A"
CLEAR_LINE = "\x1b[2K"
GREEN, RED, DIM, RESET = "\x1b[32m", "\x1b[31m", "\x1b[2m", "\x1b[0m"


def colour(state: str) -> str:
    if state in FINISHED_OK:
        return GREEN + state + RESET
    if state in FINISHED_BAD:
        return RED + state + RESET
    return state


def states_of(row: RunRow) -> List[Tuple[pendulum.DateTime, str]]:
    """The run's state history; its current state alone if the history is empty."""
    if row.history:
        return row.history
    return [(pendulum.now("UTC"), row.state or "Pending")]


class Progress:
    """Shows each run's path through its states (from the backend's state history).

    Args:
        - out (TextIO): where to write
        - tty (bool): redraw a table in place (True) or print a line per state (False)
        - expected_children (int): shown as "created k/N" until they all exist
        - origin (DateTime): time zero of the plain lines' timestamps
    """

    def __init__(self, out: TextIO, tty: bool, expected_children: int, origin: pendulum.DateTime) -> None:
        self.out = out
        self.tty = tty
        self.expected = expected_children
        self.origin = origin
        self.shown: Dict[str, int] = {}  # run id -> states already printed (plain mode)
        self._drawn_lines = 0

    def update(self, parent: Optional[RunRow], children: List[RunRow], elapsed: float) -> None:
        rows = ([("parent", parent)] if parent else []) + [("child", c) for c in children]
        if self.tty:
            self._redraw(rows, elapsed)
        else:
            self._print_new_states(rows)

    def close(self) -> None:
        if self.tty and self._drawn_lines:
            self.out.flush()

    def _print_new_states(self, rows: "List[Tuple[str, RunRow]]") -> None:
        new = []
        for role, row in rows:
            history = states_of(row)
            for when, state in history[self.shown.get(row.id, 0) :]:
                new.append((when, role, row.name, state))
            self.shown[row.id] = len(history)
        for when, role, name, state in sorted(new):
            seconds = max(0.0, (when - self.origin).total_seconds())
            self.out.write(f"[{seconds:6.1f}s] {role:<6} {name:<40} {state}\n")
        if new:
            self.out.flush()

    def _redraw(self, rows: "List[Tuple[str, RunRow]]", elapsed: float) -> None:
        width = max([len(row.name) for _, row in rows] + [10])
        children = [row for role, row in rows if role == "child"]
        done = sum(1 for row in children if row.state in FINISHED_OK | FINISHED_BAD)
        lines = [f"{DIM}{elapsed:6.1f}s  children created {len(children)}/{self.expected}, finished {done}{RESET}"]
        for role, row in rows:
            path = ARROW.join(colour(state) for _, state in states_of(row))
            lines.append(f"  {role:<6} {row.name:<{width}}  {path}")
        if self._drawn_lines:
            self.out.write(UP.format(self._drawn_lines))
        for line in lines:
            self.out.write(CLEAR_LINE + line + "\n")
        self._drawn_lines = len(lines)
        self.out.flush()
