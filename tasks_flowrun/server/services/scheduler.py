"""Background service: keeps the next scheduled runs of every flow with an active schedule."""
import logging

from ..api.errors import ApiError
from ..api.schedules import active_flow_ids, schedule_flow_runs
from ..storage.database import Database
from .periodic import PeriodicService

logger = logging.getLogger("tasks_flowrun.server")


class Scheduler(PeriodicService):
    """Tops up scheduled runs every `interval` seconds."""

    name = "scheduler"

    def __init__(self, db: Database, interval: float = 60.0) -> None:
        super().__init__(interval, db)

    def run_once(self) -> int:
        created = 0
        with self.db.read() as conn:
            flow_ids = active_flow_ids(conn)
        for flow_id in flow_ids:
            try:
                with self.db.write() as conn:
                    created += len(schedule_flow_runs(conn, flow_id))
            except ApiError as exc:
                logger.warning("Could not schedule runs of flow %s: %s", flow_id, exc)
        return created
