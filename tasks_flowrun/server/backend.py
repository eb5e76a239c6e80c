"""What the routes and the services of one backend share: its settings, its database (opened,
and created, at `settings.database`), the GraphQL service, its metrics and the records that
judge whether flow runs are alive. `open_backend` builds it; `app.py` assembles the rest."""
import datetime as dt
from dataclasses import dataclass

from .api.liveness import RunnerPolls
from .api.projects import ensure_default_tenant
from .api.recovery import RecoveryPolicy
from .availability import Availability
from .graphql.cost import CostLimits
from .graphql.executor import GraphQLService
from .graphql.schema import build
from .metrics import Metrics
from .settings import ServerSettings
from .storage.database import Database
from .storage.stores import open_database


@dataclass
class Backend:
    settings: ServerSettings
    db: Database
    tenant_id: str  # the default tenant: every request works in it
    graphql: GraphQLService
    cost_limits: CostLimits
    metrics: Metrics
    polls: RunnerPolls  # flow processes polling their own run: proof they are alive
    availability: Availability  # when the backend could not hear flow runs: silence it caused is no evidence
    recovery_policy: RecoveryPolicy  # for the recovery sweep, and for runs an agent reports dead


def recovery_policy(settings: ServerSettings) -> RecoveryPolicy:
    """How this backend judges and recovers dead runs (the sweep, and runs reported dead)."""
    return RecoveryPolicy(dt.timedelta(seconds=settings.heartbeat_timeout), settings.max_resurrections,
                          dt.timedelta(seconds=settings.submitted_timeout))


def open_backend(settings: ServerSettings) -> Backend:
    """The backend's shared parts, its database opened (and its default tenant made)."""
    db = open_database(settings.database, statement_timeout=settings.request_timeout,
                       sqlite_synchronous=settings.sqlite_synchronous)
    with db.write() as conn:
        tenant_id = ensure_default_tenant(conn)
    limits = CostLimits(settings.max_query_depth, settings.max_query_fields, settings.max_query_rows)
    polls = RunnerPolls()
    db.share_polls(polls)
    availability = Availability(settings.heartbeat_timeout, settings.submitted_timeout)
    db.watch_availability(availability)
    return Backend(settings=settings, db=db, tenant_id=tenant_id, graphql=GraphQLService(build(), limits),
                   cost_limits=limits, metrics=Metrics(db, db.changes.waiting), polls=polls,
                   availability=availability, recovery_policy=recovery_policy(settings))
