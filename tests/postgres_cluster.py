"""A throwaway PostgreSQL cluster for one test session: initdb into a temporary folder,
trust authentication on localhost, a free TCP port, removed when stopped.

Its settings trade durability for speed (fsync, synchronous_commit and full_page_writes
off): right for a cluster that is thrown away after the run, never for one that keeps data.
initdb refuses to run as root, so as root the folder belongs to the `postgres` system user
and the PostgreSQL programs run through `runuser -u postgres --`.
"""
import glob
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import List, Optional

from tasks_flowrun.net import free_port

SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "300",  # many servers, each with a pool, start in one session
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "128MB",
    "max_wal_size": "1GB",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",  # the tests provoke errors on purpose: keep the log short
}
PREFIX = "tasks-flowrun-pg-"
OWNER = "owner.pid"  # the test process a cluster belongs to
SYSTEM_USER = "postgres"  # who runs the cluster when the tests run as root
SUPERUSER = "postgres"  # the cluster's own superuser role


def find_bindir() -> Path:
    """Where initdb and pg_ctl are: `pg_config --bindir`, else the newest Debian
    /usr/lib/postgresql/<version>/bin, else the PATH."""
    candidates: List[Path] = []
    if shutil.which("pg_config"):
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if done.returncode == 0:
            candidates.append(Path(done.stdout.strip()))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(p) for p in sorted(versions, key=_version_key, reverse=True)]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    raise RuntimeError("PostgreSQL's initdb and pg_ctl were not found (pg_config --bindir, "
                       "/usr/lib/postgresql/*/bin, PATH): install Debian's `postgresql` package")


def _version_key(bindir: str) -> List[int]:
    return [int(part) for part in re.findall(r"\d+", Path(bindir).parent.name)]


def remove_abandoned(base: str) -> None:
    """Stop and remove the clusters of test sessions that were killed before they could."""
    for folder in Path(base).glob(PREFIX + "*"):
        try:
            owner = int((folder / OWNER).read_text())
            os.kill(owner, 0)
            continue  # its session is still running
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue  # not one of ours, or not readable: leave it alone
        cluster = Cluster()
        cluster.folder = folder
        cluster.stop()


class Cluster:
    """One PostgreSQL server in a temporary folder; `start()`, `create_database()`, `stop()`."""

    def __init__(self, bindir: Optional[Path] = None) -> None:
        self.bindir = bindir or find_bindir()
        self.as_root = os.geteuid() == 0
        self.port = 0
        self.folder: Optional[Path] = None

    @property
    def data(self) -> Path:
        assert self.folder is not None
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    @property
    def admin_url(self) -> str:
        """The superuser's URL of the `postgres` database (to create, drop or inspect databases)."""
        return self.url()

    def start(self) -> "Cluster":
        # a short folder: the server's unix socket lives in it (paths are limited to ~100 bytes)
        base = tempfile.gettempdir() if len(tempfile.gettempdir()) < 60 else "/tmp"
        remove_abandoned(base)
        self.folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))
        (self.folder / OWNER).write_text(str(os.getpid()))
        try:
            if self.as_root:
                try:
                    shutil.chown(self.folder, SYSTEM_USER, SYSTEM_USER)
                except LookupError:
                    raise RuntimeError(f"as root, the cluster runs as the `{SYSTEM_USER}` system user, which "
                                       "does not exist: install Debian's `postgresql` package") from None
            self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
                      "--locale=C", "--no-sync")
            with open(self.data / "postgresql.conf", "a") as conf:
                conf.write("\n# a throwaway test cluster (tests/postgres_cluster.py)\n")
                conf.write(f"unix_socket_directories = '{self.folder}'\n")
                for name, value in SETTINGS.items():
                    conf.write(f"{name} = {value}\n")
            self._start_on_a_free_port()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_on_a_free_port(self, attempts: int = 3) -> None:
        for _ in range(attempts):
            self.port = free_port()
            done = self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data),
                             "-l", str(self.folder / "server.log"), "-o", f"-p {self.port}", check=False)
            if done.returncode == 0:
                return
        log = (self.folder / "server.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"pg_ctl start failed {attempts} times: {done.stdout}{done.stderr}\n{log}")

    def create_database(self, prefix: str = "test") -> str:
        """A new, empty database with a unique name; its URL."""
        import psycopg

        name = f"{re.sub(r'[^a-z0-9_]', '_', prefix.lower())[:40]}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def halt(self) -> None:
        """Stop the server (connections are closed, new ones refused), keeping its data and port."""
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))

    def resume(self) -> None:
        """Start a halted server again on the same port."""
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.folder / "server.log"),
                  "-o", f"-p {self.port}")

    def stop(self) -> None:
        """Stop the server at once (nothing in it is worth a clean shutdown) and remove its folder."""
        if self.folder is None:
            return
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data), check=False)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bindir / program), *args]
        if self.as_root:
            command = ["runuser", "-u", SYSTEM_USER, "--", *command]
        # the folder as working directory: the postgres user may not enter the current one
        done = subprocess.run(command, cwd=str(self.folder), capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stdout}{done.stderr}")
        return done
