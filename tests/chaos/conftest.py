"""The chaos suite runs only when asked: `tox -e chaos` (both stores at once, see run.py),
or `pytest tests/chaos` with `TASKS_FLOWRUN_CHAOS=1` or `--chaos-seed N`; otherwise its tests
are skipped (they take minutes). The seed makes the fault schedules reproducible: the same
seed, the same faults at the same points of each fan-out."""
import os
import random

import pytest

from tests.chaos.ledger import REPORT_VARIABLE, Ledger

ENABLE_VARIABLE = "TASKS_FLOWRUN_CHAOS"
SEED_VARIABLE = "TASKS_FLOWRUN_CHAOS_SEED"
_ledger = Ledger()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--chaos-seed", type=int, default=None,
                     help=f"seed of the chaos suite's fault schedules (default: ${SEED_VARIABLE}, else a random "
                          "one, printed); giving it runs the suite")
    parser.addoption("--chaos-every-store", action="store_true", default=False,
                     help="run every chaos scenario on the store of this run, not only those "
                          "tests/chaos/schedule.py gives it (twice as long)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"chaos: fault injection, minutes long (tox -e chaos, or {ENABLE_VARIABLE}=1)")


def chaos_enabled(config: pytest.Config) -> bool:
    return os.environ.get(ENABLE_VARIABLE) == "1" or config.getoption("--chaos-seed", default=None) is not None


def chaos_seed_of(config: pytest.Config) -> int:
    """The run's seed: --chaos-seed, else $TASKS_FLOWRUN_CHAOS_SEED, else drawn once."""
    if not hasattr(config, "_chaos_seed"):
        given = config.getoption("--chaos-seed", default=None) or os.environ.get(SEED_VARIABLE)
        config._chaos_seed = int(given) if given else random.SystemRandom().randrange(1, 1_000_000)
    return config._chaos_seed


def pytest_report_header(config: pytest.Config) -> str:
    return f"chaos seed: {chaos_seed_of(config)}" if chaos_enabled(config) else ""


def pytest_collection_modifyitems(config: pytest.Config, items) -> None:
    if chaos_enabled(config):
        return
    skip = pytest.mark.skip(reason=f"fault injection takes minutes: run it with `tox -e chaos` "
                                   f"(or {ENABLE_VARIABLE}=1 / --chaos-seed N)")
    for item in items:
        if item.get_closest_marker("chaos"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def chaos_seed(pytestconfig: pytest.Config) -> int:
    seed = chaos_seed_of(pytestconfig)
    print(f"\nchaos seed: {seed}")
    return seed


@pytest.fixture(scope="session")
def chaos_every_store(pytestconfig: pytest.Config) -> bool:
    return bool(pytestconfig.getoption("--chaos-every-store", default=False))


@pytest.fixture(scope="session")
def chaos_ledger() -> Ledger:
    return _ledger


def pytest_terminal_summary(terminalreporter) -> None:
    if os.environ.get(REPORT_VARIABLE):
        return  # tests/chaos/run.py prints the table of both stores' passes at the end
    lines = _ledger.lines()
    if lines:
        terminalreporter.write_sep("=", "chaos: faults injected and survived")
        for line in lines:
            terminalreporter.write_line(line)
