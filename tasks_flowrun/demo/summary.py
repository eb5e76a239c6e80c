"""The table printed when the demo ends."""
from typing import List, Optional

from .queries import RunRow


def _seconds(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1f}s"


def format_table(headers: List[str], rows: List[List[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    def line(cells: List[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule] + [line(r) for r in rows])


def format_summary(parent: Optional[RunRow], children: List[RunRow]) -> str:
    """Child name, id, final state and duration per child; then the parent's line."""
    rows = [[c.name, c.id, c.state or "Pending", _seconds(c.duration)] for c in children]
    text = format_table(["child", "flow run id", "final state", "duration"], rows)
    if parent is not None:
        text += f"\n\nparent {parent.name} ({parent.id}): {parent.state or 'Pending'}, {_seconds(parent.duration)}"
        if parent.state != "Success" and parent.message:
            text += f"\n  message: {parent.message}"
    for child in children:
        if child.state != "Success" and child.message:
            text += f"\n  {child.name}: {child.message}"
    return text
