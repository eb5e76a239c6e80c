"""Relationships load in batches: one SQL statement per nesting level, whatever the row count."""
import json
import threading
from typing import Any, Iterator, List, Tuple

import pytest
import sqlalchemy as sa

from tests.server.support import GraphQL


@pytest.fixture
def statements(server) -> Iterator[List[Tuple[Any, str, str]]]:
    """SQL statements the backend runs (SQLAlchemy's, where the reads go) while the test runs,
    each with the connection that ran it and its parameters. A request's reads share one
    connection, opened for it and closed with it, whereas the shared backend may serve other
    clients (an earlier test's processes) meanwhile, even on the same worker thread. Holding
    the connections here keeps each one's identity its own while the test runs."""
    seen: List[Tuple[Any, str, str]] = []
    lock = threading.Lock()

    def record(conn, _cursor, statement, parameters, *_args):
        with lock:
            seen.append((conn, statement, repr(parameters)))

    engine = server.app.state.db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize("runs", [2, 12])
def test_each_level_is_one_statement(gql: GraphQL, make_flow, statements: List[Tuple[Any, str, str]], runs: int):
    flow = make_flow(n_tasks=3)
    ids = [gql.create_flow_run(flow_id=flow.id) for _ in range(runs)]
    statements.clear()
    data = gql.data(
        "query { flow_run(where: {id: {_in: %s}}) { id flow { name project { name } } "
        "task_runs(order_by: {created: asc}, limit: 2) { id task { slug } } states { state } } }" % json.dumps(ids))
    assert len(data["flow_run"]) == runs
    assert all(r["flow"]["name"] == flow.name and r["flow"]["project"]["name"] == flow.project
               for r in data["flow_run"])
    assert all(len(r["task_runs"]) == 2 and r["task_runs"][0]["task"]["slug"] for r in data["flow_run"])
    assert all(len(r["states"]) == 1 for r in data["flow_run"])
    # the query's own connection: the one that read these runs by their ids
    [ours] = {id(conn) for conn, sql, params in statements
              if "FROM flow_run" in sql and "flow_run.id IN" in sql and ids[0] in params}
    # flow_run, flow, project, task_runs, task, states: six levels, six statements
    selects = [sql for conn, sql, _ in statements if id(conn) == ours and sql.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 6, selects
