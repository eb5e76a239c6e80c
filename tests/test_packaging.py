"""Packaging: one version everywhere, what the wheel holds and declares, and the PostgreSQL driver
as an extra of its own that the store asks for by name when it is missing."""
import configparser
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from importlib.metadata import version as installed_version
from pathlib import Path

import tasks_flowrun
from tests.test_cli import cli_command

REPO = Path(__file__).resolve().parents[1]


def test_one_version_everywhere() -> None:
    shown = subprocess.run(cli_command() + ["--version"], capture_output=True, text=True, timeout=60)
    assert shown.stdout.strip() == f"tasks-flowrun {tasks_flowrun.__version__}"
    assert installed_version("tasks_flowrun") == tasks_flowrun.__version__
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    assert setup["metadata"]["version"] == "attr: tasks_flowrun.__version__"  # written once, in the package
    # the changelog's newest release is this version
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", (REPO / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert releases and releases[0] == tasks_flowrun.__version__


def build_wheel(tmp_path: Path) -> Path:
    """A wheel of a copy of the sources (the build leaves nothing in the checkout)."""
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".tox", "build", "*.egg-info", "__pycache__",
                                                                "screenshots", ".pytest_cache"))
    out = tmp_path / "dist"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(source)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = out.glob("tasks_flowrun-*.whl")
    return wheel


def test_the_wheel_holds_and_declares_what_users_need(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    assert wheel.name.startswith(f"tasks_flowrun-{tasks_flowrun.__version__}-")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
        entry_points = archive.read(metadata_name.replace("METADATA", "entry_points.txt")).decode()
    assert "tasks_flowrun/py.typed" in names  # type hints for users' type checkers (PEP 561)
    assert "tasks_flowrun/server/web/static/index.html" in names
    assert any(n.startswith("tasks_flowrun/server/graphql/sdl/") and n.endswith(".graphql") for n in names)
    assert metadata["Version"] == tasks_flowrun.__version__
    assert metadata["Requires-Python"] in (">=3.9,<3.12", "<3.12,>=3.9")
    requires = metadata.get_all("Requires-Dist")
    psycopg = [r for r in requires if r.startswith("psycopg")]
    assert psycopg and all('extra == "postgres"' in r for r in psycopg), psycopg  # not with every server install
    assert any(r.startswith("prometheus") and 'extra == "server"' in r for r in requires)
    assert {"server", "postgres", "test"} <= set(metadata.get_all("Provides-Extra"))
    assert "[pytest11]\ntasks_flowrun = tasks_flowrun.pytest_plugin" in entry_points
    assert "tasks-flowrun = tasks_flowrun.cli:main" in entry_points


WITHOUT_PSYCOPG = ("import sys; sys.modules['psycopg'] = None  # as if the postgres extra were not installed\n"
                   "from tasks_flowrun.cli import main; sys.exit(main(sys.argv[1:]))")


def test_postgresql_without_the_extra_says_how_to_install_it(tmp_path: Path) -> None:
    url = "postgresql://me@127.0.0.1:1/flows"
    for args in (["server", "--port", "0", "--database", url],
                 ["copy-database", str(tmp_path / "missing.db"), url],
                 ["demo", "--port", "0", "--database", url]):
        if args[0] == "copy-database":
            (tmp_path / "missing.db").write_bytes(b"")
        proc = subprocess.run([sys.executable, "-c", WITHOUT_PSYCOPG, *args], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "pip install 'tasks_flowrun[postgres]'" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
