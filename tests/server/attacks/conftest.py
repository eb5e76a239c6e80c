"""One attacked backend (a subprocess) for the whole attack suite."""
from typing import Iterator

import pytest

from tests.helpers import stop_process
from tests.server.attacks.support import MAX_PEAK_RSS_MB, Target, start_target


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    target = start_target(tmp_path_factory.mktemp("attacked"))
    try:
        yield target
        assert target.peak_rss_mb() < MAX_PEAK_RSS_MB
    finally:
        stop_process(target.proc)
