"""Waiting: how fast a wait notices a finished child, and what waiting costs in requests.

Latency (ours vs peer, same child, same moment): a child run is created (label no agent
has) and set Running through the API. Our `wait_for_flow_run.run(flow_run_id=...)` and the
peer's `wait_for_flow_run.run(flow_run_id=...)` start in two threads, both with their
default options. After a random delay of 0.5-3 s (the targets' case is "finishes within 10 s";
shorter delays keep the run short and stay inside our 10 s fast-poll phase, and they do
not change the peer, whose poll interval is a constant 2 s) the main thread sets the child
Success with `Client.set_flow_run_state` (a `set_flow_run_states` mutation). Latency = the
moment each wait returns - the moment that mutation's response arrived (the state is
committed before the response is sent). TRIALS trials.

Our wait learns of changes from the embedded backend's held requests (pushed changes);
the same trials are then run with pushed changes turned off on the client (as against a
backend without them), to show the polling fallback.

Latency is also given from the final state's own timestamp, as the backend recorded it
(inside the transaction, before its commit: an upper bound that includes the commit).

Work per notification (ours only: the peer waits on one run per task): NOTIFIED = 2,000
children are created and set Running; one `wait_for_flow_run` (default options) waits on
all of them; once it holds, the children are set Success one after the other. The
backend's own counters (`GET /stats`, `watch`) give what answering cost: answers with
changes, database rows read for them, time spent outside the holds, and entries of the
change feed walked; the wait's requests are counted on both sides. Figures per answer and
per finished child.

Requests per minute (ours vs peer, for 1 and for 20 waiting children): 42 children are
created and set Running (they never finish; Running rather than Scheduled so neither side
adds agent-health queries). Four waits run at the same time for WINDOW s: ours on 1 child,
ours on 20 children (one bulk wait: `flow_run_id=[...20 ids]`), the peer on 1 child, and the
peer on 20 children (20 waits in 20 threads, since its `wait_for_flow_run` takes one id: the
honest equivalent of `wait_for_flow_run.map`). Each stops by its own `max_duration`. Every
`prefect.Client` request is attributed to the thread that sent it (a call-through spy on
`Client._request`, checked against the server's own counter). Reported per waiting child
and per minute: over the first minute, and in the steady state from STEADY_FROM s to WINDOW
s (our backoff reaches its 10 s cap ~34 s after the last change).
"""
import datetime
import logging
import random
import threading
import time
from typing import Any, Callable, Dict, List

from common import NO_AGENT, Bench, RequestLog, Row, median, percentile, say

TRIALS = 20
NOTIFIED = 2_000
DELAY = (0.5, 3.0)
WINDOW = 100.0
STEADY_FROM = 40.0
MANY = 20


def _running_child(bench: Bench) -> str:
    from prefect.engine.state import Running

    flow_run_id = bench.client.create_flow_run(flow_id=bench.register("child.py"), labels=[NO_AGENT])
    bench.client.set_flow_run_state(flow_run_id, Running("benchmark: running, finishes when told"))
    return flow_run_id


def _in_thread(tag: str, log: RequestLog, fn: Callable[[], Any], out: Dict[str, Any]) -> threading.Thread:
    def body() -> None:
        import prefect

        log.tag(tag)
        try:
            with prefect.context(logger=logging.getLogger(f"bench.{tag}")):
                fn()
            out[tag] = time.monotonic()
            out[f"{tag}:wall"] = time.time()
        except Exception as exc:  # a timeout is the expected end of the requests-per-minute waits
            out[tag] = time.monotonic()
            out[f"{tag}:error"] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=body, name=f"bench-{tag}", daemon=True)
    thread.start()
    return thread


def latency(bench: Bench, log: RequestLog, with_peer: bool = True) -> Dict[str, List[float]]:
    from prefect.engine.state import Success
    from prefect.tasks.prefect import wait_for_flow_run as peer_wait

    from tasks_flowrun import wait_for_flow_run as our_wait

    rng = random.Random(1)
    sides = ("ours", "peer") if with_peer else ("ours",)
    found: Dict[str, List[float]] = {side: [] for side in sides}
    found["ours-from-state"] = []
    for trial in range(TRIALS):
        child = _running_child(bench)
        out: Dict[str, Any] = {}
        threads = [_in_thread("ours", log, lambda: our_wait.run(flow_run_id=child), out)]
        if with_peer:
            threads.append(_in_thread("peer", log, lambda: peer_wait.run(flow_run_id=child), out))
        delay = rng.uniform(*DELAY)
        time.sleep(delay)
        bench.client.set_flow_run_state(child, Success("benchmark: done"))
        finished_at = time.monotonic()
        for thread in threads:
            thread.join(timeout=60)
        for side in sides:
            if f"{side}:error" in out or side not in out:
                raise RuntimeError(f"trial {trial}: the {side} wait did not return: {out.get(side + ':error', 'still waiting after 60 s')}")
            found[side].append(out[side] - finished_at)
        found["ours-from-state"].append(out["ours:wall"] - _final_state_time(bench, child))
        say(f"latency trial {trial + 1:2d}: child finished after {delay:.2f} s; "
            + ", ".join(f"{side} noticed in {found[side][-1]:.3f} s" for side in sides))
    return found


def _final_state_time(bench: Bench, flow_run_id: str) -> float:
    """When the backend recorded the run's current state (epoch seconds, its clock)."""
    import pendulum

    query = {"query": {f'flow_run(where: {{id: {{_eq: "{flow_run_id}"}}}})': {"state_timestamp"}}}
    return pendulum.parse(bench.client.graphql(query).data.flow_run[0].state_timestamp).timestamp()


def notification_work(bench: Bench, log: RequestLog) -> Dict[str, float]:
    """What one notification costs a pushed wait on NOTIFIED runs (see the module docstring)."""
    from prefect.engine.state import Running, Success

    from tasks_flowrun import wait_for_flow_run as our_wait

    flow_id = bench.register("child.py")
    say(f"work per notification: creating {NOTIFIED} children and setting them Running ...")
    ids = [bench.client.create_flow_run(flow_id=flow_id, labels=[NO_AGENT]) for _ in range(NOTIFIED)]
    for run_id in ids:
        bench.client.set_flow_run_state(run_id, Running("benchmark: running"))
    out: Dict[str, Any] = {}
    before_fields = bench.server.stats.snapshot()["fields"].get("watch", 0)
    thread = _in_thread("notified", log, lambda: our_wait.run(flow_run_id=ids, max_duration=600), out)
    deadline = time.monotonic() + 120
    while bench.server.stats.snapshot()["fields"].get("watch", 0) - before_fields < 2:  # registered, then holding
        if time.monotonic() > deadline:
            raise RuntimeError("the wait on 2,000 runs did not start holding")
        time.sleep(0.2)
    time.sleep(1.0)
    start = bench.server.stats.watch()
    watch_requests = bench.server.stats.snapshot()["fields"].get("watch", 0)
    graphql_before = log.count("notified")
    t0 = time.monotonic()
    for run_id in ids:
        bench.client.set_flow_run_state(run_id, Success("benchmark: done"))
    thread.join(timeout=600)
    if "notified:error" in out or "notified" not in out:
        raise RuntimeError(f"the wait on {NOTIFIED} runs failed: {out.get('notified:error', 'still waiting')}")
    end = bench.server.stats.watch()
    delta = {key: end[key] - start.get(key, 0) for key in end}
    answers = max(delta["answers"], 1)
    watches = bench.server.stats.snapshot()["fields"].get("watch", 0) - watch_requests
    graphql = log.count("notified") - graphql_before
    figures = {
        "answers": delta["answers"], "runs_answered": delta["runs_answered"],
        "requests_per_answer": (watches + graphql) / answers,
        "rows_per_answer": delta["rows_read"] / answers, "rows_per_child": delta["rows_read"] / NOTIFIED,
        "server_ms_per_answer": delta["busy_seconds"] * 1000 / answers,
        "server_ms_per_child": delta["busy_seconds"] * 1000 / NOTIFIED,
        "feed_entries_per_answer": delta["feed_log_entries"] / answers,
        "ids_received": delta["ids_received"], "seconds": out["notified"] - t0,
    }
    say(f"work per notification, {NOTIFIED} children finishing one after the other in {figures['seconds']:.1f} s: "
        f"{delta['answers']} answers for {delta['runs_answered']} changed runs, {watches} watch + {graphql} "
        f"GraphQL requests; per answer {figures['rows_per_answer']:.2f} rows read, "
        f"{figures['server_ms_per_answer']:.2f} ms server time, {figures['feed_entries_per_answer']:.1f} feed "
        f"entries walked; ids sent again: {delta['ids_received']}")
    return figures


def polling_latency(bench: Bench, log: RequestLog) -> List[float]:
    """Our wait's latency when it polls (pushed changes turned off on the client)."""
    from tasks_flowrun.client import ChangeStream, forget_capabilities

    ChangeStream(bench.client).give_up()
    try:
        return latency(bench, log, with_peer=False)["ours"]
    finally:
        forget_capabilities()


def request_rates(bench: Bench, log: RequestLog) -> Dict[str, Dict[str, float]]:
    from prefect.tasks.prefect import wait_for_flow_run as peer_wait

    from tasks_flowrun import wait_for_flow_run as our_wait

    one_ours, one_peer = _running_child(bench), _running_child(bench)
    many_ours = [_running_child(bench) for _ in range(MANY)]
    many_peer = [_running_child(bench) for _ in range(MANY)]
    limit = datetime.timedelta(seconds=WINDOW)
    out: Dict[str, Any] = {}
    server_before = bench.requests()
    started = time.monotonic()
    threads = [
        _in_thread("ours-1", log, lambda: our_wait.run(flow_run_id=one_ours, max_duration=limit), out),
        _in_thread("ours-20", log, lambda: our_wait.run(flow_run_id=many_ours, max_duration=limit), out),
        _in_thread("peer-1", log, lambda: peer_wait.run(flow_run_id=one_peer, max_duration=limit), out),
    ]
    for i, child in enumerate(many_peer):
        threads.append(_in_thread("peer-20", log, lambda c=child: peer_wait.run(flow_run_id=c, max_duration=limit), {}))
    say(f"requests per minute: 4 waits on {2 + 2 * MANY} never-finishing children, {WINDOW:.0f} s ...")
    for thread in threads:
        thread.join(timeout=WINDOW + 60)
    end = started + WINDOW
    server_delta = bench.requests() - server_before
    tags = ("ours-1", "ours-20", "peer-1", "peer-20")
    counted = sum(log.count(tag, started) for tag in tags)
    say(f"requests seen by the server during the window: {server_delta}; attributed to the waits: {counted}")
    for tag in ("ours-1", "ours-20", "peer-1"):
        say(f"  {tag} ended: {out.get(tag + ':error', 'returned (unexpected: the children never finish)')[:160]}")
    rates: Dict[str, Dict[str, float]] = {}
    for tag in tags:
        children = MANY if tag.endswith("-20") else 1
        first = log.count(tag, started, started + 60.0)
        steady = log.count(tag, started + STEADY_FROM, end) * 60.0 / (WINDOW - STEADY_FROM)
        rates[tag] = {"first_minute": first / children, "steady": steady / children, "total_steady": steady}
        say(f"  {tag}: {first} requests in the first minute, {steady:.1f}/min steady "
            f"-> per child {first / children:.2f}/min first minute, {steady / children:.2f}/min steady")
    return rates


def run(bench: Bench) -> List[Row]:
    with RequestLog() as log:
        found = latency(bench, log)
        polled = polling_latency(bench, log)
        work = notification_work(bench, log)
        rates = request_rates(bench, log)
    lower = lambda limit: (lambda o, p: o <= limit)  # noqa: E731
    rows = [
        Row(f"waiting: latency (pushed changes), median of {TRIALS}", median(found["ours"]), median(found["peer"]),
            "s", "<= 0.005 s", lower(0.005), digits=4),
        Row(f"waiting: latency from the state's own timestamp (commit included), median of {TRIALS}",
            median(found["ours-from-state"]), None, "s", digits=4),
        Row(f"waiting: latency (pushed changes), p95 of {TRIALS}", percentile(found["ours"], 95),
            percentile(found["peer"], 95), "s", "<= 0.100 s", lower(0.100), digits=3),
        Row(f"waiting: latency (polling fallback), median of {TRIALS}", median(polled), median(found["peer"]), "s",
            "<= 0.5 s", lower(0.5), digits=3),
        Row(f"waiting: latency (polling fallback), p95 of {TRIALS}", percentile(polled, 95),
            percentile(found["peer"], 95), "s", digits=3),
    ]
    rows += [
        Row(f"waiting on {NOTIFIED}: requests per notification (answer)", work["requests_per_answer"], None, "",
            "1", lower(1.0)),
        Row(f"waiting on {NOTIFIED}: database rows read per notification", work["rows_per_answer"], None),
        Row(f"waiting on {NOTIFIED}: database rows read per finished child", work["rows_per_child"], None),
        Row(f"waiting on {NOTIFIED}: server time per notification", work["server_ms_per_answer"], None, "ms",
            digits=3),
        Row(f"waiting on {NOTIFIED}: change-feed entries walked per notification", work["feed_entries_per_answer"],
            None),
    ]
    for n in (1, MANY):
        ours, peer = rates[f"ours-{n}"], rates[f"peer-{n}"]
        rows += [
            Row(f"waiting on {n}: requests/min per child, first minute", ours["first_minute"], peer["first_minute"]),
            Row(f"waiting on {n}: requests/min per child, steady ({STEADY_FROM:.0f}-{WINDOW:.0f} s)",
                ours["steady"], peer["steady"]),
            Row(f"waiting on {n}: requests/min per wait, steady ({STEADY_FROM:.0f}-{WINDOW:.0f} s)",
                ours["total_steady"], peer["total_steady"], "", "<= 1 per wait", lower(1.0)),
        ]
    cost = lambda side: rates[f"{side}-{MANY}"]["total_steady"] / max(rates[f"{side}-1"]["total_steady"], 1e-9)  # noqa: E731
    rows.append(Row(f"waiting: request rate on {MANY} runs / on 1 run (steady)", cost("ours"), cost("peer"), "x",
                    "1 request per poll, not N (~1x)", lower(1.2)))
    return rows
