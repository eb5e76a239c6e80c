"""What the chaos flows leave on disk (see flows/chaos_flows.py): task executions, and the
processes that ran each flow run. Read by the fault injector (where is the fan-out, which
process runs what) and by the verdict (how often did each task really execute)."""
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

TaskKey = Tuple[str, str, int]  # (flow run id, task name, map index)


@dataclass(frozen=True)
class Execution:
    """One execution of one task run: its marker file, as it was when read."""

    flow_run_id: str
    task: str
    map_index: int
    pid: int
    started: float
    ended: Optional[float]  # None: its process never finished it (killed, or still running)

    @property
    def key(self) -> TaskKey:
        return (self.flow_run_id, self.task, self.map_index)

    def describe(self) -> str:
        index = "" if self.map_index < 0 else f"[{self.map_index}]"
        return f"{self.task}{index} of {self.flow_run_id} by pid {self.pid}"


class Evidence:
    """The marker files under one scenario's work directory."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)

    def executions(self) -> List[Execution]:
        found = []
        for path in sorted((self.workdir / "executions").glob("*")):
            parsed = _parse(path)
            if parsed is not None:
                found.append(parsed)
        return found

    def by_task(self) -> Dict[TaskKey, List[Execution]]:
        grouped: Dict[TaskKey, List[Execution]] = defaultdict(list)
        for execution in self.executions():
            grouped[execution.key].append(execution)
        for executions in grouped.values():
            executions.sort(key=lambda e: e.started)
        return dict(grouped)

    def started_count(self) -> int:
        folder = self.workdir / "executions"
        return sum(1 for _ in folder.glob("*")) if folder.exists() else 0

    def unfinished(self, flow_run_id: str, task: Optional[str] = None,
                   map_index: Optional[int] = None) -> List[Execution]:
        """Executions of the run (of that task and index, if given) not ended (yet)."""
        return [e for e in self.executions() if e.flow_run_id == flow_run_id and e.ended is None
                and (task is None or e.task == task) and (map_index is None or e.map_index == map_index)]

    def processes(self, flow_run_id: str) -> List[int]:
        """The pids of the processes that ran `flow_run_id`, oldest first."""
        folder = self.workdir / "processes"
        entries = []
        for path in folder.glob(f"{flow_run_id}.*") if folder.exists() else []:
            try:
                entries.append((float(path.read_text().split()[0]), int(path.name.rsplit(".", 1)[1])))
            except (OSError, ValueError, IndexError):
                continue  # being written
        return [pid for _, pid in sorted(entries)]


def _parse(path: Path) -> Optional[Execution]:
    parts = path.name.split(".")
    if len(parts) not in (4, 5):
        return None
    try:
        lines = path.read_text().split("\n")
        started = float(lines[0].split()[1]) if lines[0] else path.stat().st_mtime  # empty: killed at once
    except (OSError, ValueError, IndexError):
        return None
    ended = next((float(line.split()[1]) for line in lines[1:] if line.startswith("ended ")), None)
    return Execution(flow_run_id=parts[0], task=parts[1], map_index=int(parts[2]), pid=int(parts[3]),
                     started=started, ended=ended)
