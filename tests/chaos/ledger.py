"""The table of faults injected and survived: one row per kind of fault of each scenario,
kept for pytest's terminal summary (and written as JSON for `tests/chaos/run.py`, which
prints the rows of both stores together)."""
import json
import os
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence

REPORT_VARIABLE = "TASKS_FLOWRUN_CHAOS_REPORT"  # a folder: each pass writes <store>.json into it
COLUMNS = ("store", "scenario", "fault", "target", "count", "executions", "extra", "explained by kills",
           "false deaths", "result")


@dataclass
class Row:
    store: str
    scenario: str
    fault: str
    target: str
    count: str  # injected (of planned)
    executions: int
    extra: int
    explained: int
    false_deaths: int  # reschedules of runs beyond the kills of their processes
    result: str

    def cells(self) -> List[str]:
        return [self.store, self.scenario, self.fault, self.target, self.count, str(self.executions),
                str(self.extra), str(self.explained), str(self.false_deaths), self.result]


@dataclass
class ScenarioRecord:
    store: str
    scenario: str
    seed: int
    schedule: List[str]
    timeline: List[str]
    rows: List[Row]
    problems: List[str] = field(default_factory=list)
    duplicates: List[str] = field(default_factory=list)
    recovery: List[str] = field(default_factory=list)  # the backend's last log lines about dead runs


class Ledger:
    def __init__(self) -> None:
        self.records: List[ScenarioRecord] = []

    def add(self, record: ScenarioRecord) -> None:
        self.records.append(record)
        folder = os.environ.get(REPORT_VARIABLE)
        if folder:
            path = Path(folder) / f"{record.store}.json"
            path.write_text(json.dumps([asdict(r) for r in self.records], indent=1))

    def lines(self) -> List[str]:
        return summary_lines(self.records)


def rows_for(store: str, scenario: str, injected: Sequence[tuple], executions: int, extra: int, explained: int,
             false_deaths: int, result: str) -> List[Row]:
    """`injected`: (fault kind, target, fired) per planned fault; one row per (kind, target)."""
    groups: Dict[tuple, List[bool]] = OrderedDict()
    for kind, target, fired in injected:
        groups.setdefault((kind, target), []).append(fired)
    return [Row(store, scenario, kind, target, f"{sum(fired)}/{len(fired)}", executions, extra, explained,
                false_deaths, result)
            for (kind, target), fired in groups.items()]


def table(rows: Sequence[Row]) -> List[str]:
    cells = [list(COLUMNS)] + [row.cells() for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    out = []
    for n, line in enumerate(cells):
        out.append("  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip())
        if n == 0:
            out.append("  ".join("-" * width for width in widths))
    return out


def summary_lines(records: Sequence[ScenarioRecord]) -> List[str]:
    if not records:
        return []
    seeds = sorted({r.seed for r in records})
    lines = [f"chaos seed: {', '.join(map(str, seeds))} (replay: tox -e chaos -- --chaos-seed {seeds[0]})", ""]
    lines += table([row for record in records for row in record.rows])
    for record in records:
        lines += ["", f"[{record.store}] {record.scenario}: {'survived' if not record.problems else 'FAILED'}",
                  "  schedule: " + "; ".join(record.schedule)]
        lines += ["  " + line for line in record.timeline]
        lines += [f"  duplicate: {line}" for line in record.duplicates[:10]]
        lines += [f"  PROBLEM: {problem}" for problem in record.problems]
        if record.problems:
            lines += [f"  backend: {line[:300]}" for line in record.recovery if "Recovery" in line]
    return lines


def load(folder: Path) -> List[ScenarioRecord]:
    """The records the passes wrote into `folder`."""
    records = []
    for path in sorted(Path(folder).glob("*.json")):
        for data in json.loads(path.read_text()):
            data["rows"] = [Row(**row) for row in data["rows"]]
            records.append(ScenarioRecord(**data))
    return records
