"""A flow process whose answers to its Running states are lost (the backend committed them,
then the connection dropped, as when a backend stops right after a commit) retries them,
and its own retries are answered as done: the run finishes in the same process, and its
task's body runs exactly once. Without that, version locking refused the retries as if
another process had taken the run, which stayed Running with no process until recovery
judged it dead and ran it again."""
import re
from urllib.parse import urlparse

import pytest

from tests.agent.conftest import OwnAgent
from tests.agent.lossy_proxy import LossyProxy
from tests.helpers import prefect_env

pytestmark = pytest.mark.e2e

RUN_ID = re.compile(rb'(task_run_id|flow_run_id)\\?"\s*:\s*\\?"([0-9a-f-]{36})')


def _first_running_of_each_run():
    """Loses the answer to the first Running state of each flow run and of each task run."""
    seen = set()

    def lose(request: bytes) -> bool:
        if b"set_task_run_states" not in request and b"set_flow_run_states" not in request:
            return False
        if not re.search(rb'\\?"type\\?"\s*:\s*\\?"Running\\?"', request):
            return False
        found = RUN_ID.search(request)
        if found is None or found.group(2) in seen:
            return False
        seen.add(found.group(2))
        return True

    return lose


def test_a_flow_process_whose_running_answers_are_lost_finishes_its_run_once(server, test_home, project, tmp_path):
    target = urlparse(server.url)
    proxy = LossyProxy((target.hostname, target.port), _first_running_of_each_run())
    agent = OwnAgent(prefect_env(proxy.url, test_home), test_home, proxy.url, project, limit=2)
    try:
        run_id = agent.start(agent.register("counted.py"), workdir=str(tmp_path))
        final = agent.final(run_id, timeout=90)
        assert final["state"] == "Success", final
        assert final["times_resurrected"] == 0
        assert len((tmp_path / "executions").read_text().splitlines()) == 1
        kinds = [b"flow" if b"set_flow_run_states" in r else b"task" for r in proxy.lost]
        assert kinds.count(b"flow") == 1 and kinds.count(b"task") == 2, kinds  # the run, its Parameter, `work`
    finally:
        agent.stop()
        proxy.close()
