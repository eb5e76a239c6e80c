"""Run the benchmarks: our tasks vs `prefect.tasks.prefect`, same run, same embedded backend.

Usage (from the repository root):
    tox -e bench                      # everything (~15 minutes on a 2-core machine)
    tox -e bench -- fanout waiting    # a subset: fanout, waiting, e2e, agent, backend, scale, postgres
    python benchmarks/run_all.py --json results.json

Figures only: the exit status is non-zero only if a benchmark could not run at all, never
because a target was missed.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Bench, Row, print_table, say  # noqa: E402

# e2e and agent before backend: their agents never see its 10,000 runs
# postgres last: it starts a PostgreSQL cluster and servers of its own (needs PostgreSQL's programs)
ORDER = ["fanout", "waiting", "e2e", "agent", "backend", "scale", "postgres"]


def machine() -> str:
    try:
        mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.splitlines()[1].split()[1]
    except Exception:
        mem = "?"
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return (
        f"{os.cpu_count()} CPUs (nproc), {mem} RAM, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, load average (1 min) {load[0]:.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmarks", nargs="*", choices=ORDER + [[]], metavar="BENCHMARK",
                        help="which to run, among: " + ", ".join(ORDER) + " (default: all)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temp directory (database, agent log)")
    args = parser.parse_args()
    chosen = [name for name in ORDER if not args.benchmarks or name in args.benchmarks]

    say(f"machine at start: {machine()}")
    bench = Bench().start()
    say(f"embedded backend at {bench.url} (database {bench.home / 'backend.db'})")
    rows, failures, started = [], [], time.monotonic()
    try:
        for name in chosen:
            say(f"--- {name} ---")
            t0 = time.monotonic()
            try:
                rows += __import__(f"bench_{name}").run(bench)
            except Exception:
                failures.append(name)
                say(f"{name} FAILED:\n{traceback.format_exc()}")
                rows.append(Row(f"{name}: did not complete (see log above)", None))
            say(f"{name} took {time.monotonic() - t0:.0f} s")
    finally:
        bench.stop(keep=args.keep)
        if args.keep:
            say(f"kept {bench.home}")

    print()
    say(f"all benchmarks took {time.monotonic() - started:.0f} s; machine at end: {machine()}")
    print()
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": machine(),
            "rows": [dict(zip(["figure", "ours", "peer", "ratio", "target", "met"], r.cells())) for r in rows],
        }, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
