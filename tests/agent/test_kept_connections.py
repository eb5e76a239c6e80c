"""Flow processes forked by `tasks-flowrun agent` send Prefect's requests over one kept-alive
connection per thread (Prefect's client alone opens one per request)."""
import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json, threading
    import prefect
    from urllib3.util import connection
    from tasks_flowrun.prefect_private import keep_client_connections_open

    opened = {}  # a counting spy on the TCP connections urllib3 opens, per thread
    real_create = connection.create_connection

    def create_connection(*args, **kwargs):
        name = threading.current_thread().name
        opened[name] = opened.get(name, 0) + 1
        return real_create(*args, **kwargs)

    connection.create_connection = create_connection
    keep_client_connections_open()
    keep_client_connections_open()  # a second call changes nothing

    def connections(requests_to_send):
        client = prefect.Client()
        for _ in range(requests_to_send):
            client.graphql({"query": {"tenant": {"id"}}})
        return opened.get(threading.current_thread().name, 0)

    counts = {"main": connections(10)}
    thread = threading.Thread(target=lambda: counts.update(other=connections(5)))
    thread.start(); thread.join()
    print(json.dumps(counts))
""")


def test_requests_of_one_thread_share_one_connection(backend_env):
    done = subprocess.run([sys.executable, "-c", SCRIPT], env={**os.environ, **backend_env}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts == {"main": 1, "other": 1}  # 10 and 5 requests: one connection each thread
