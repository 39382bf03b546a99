"""A real PostgreSQL 15 for the tests, in a temp dir, on a free loopback port.

PostgreSQL refuses to run as root, and the tests run as root in CI: the server then runs as the
``postgres`` user (``runuser``) in a directory that user owns. Without PostgreSQL the tests that need
it are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _bin() -> Path:
    """Debian's PostgreSQL 15, else the newest one installed."""
    if env := os.environ.get("MEMGPT_TUI_PG_BIN"):
        return Path(env)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    preferred = Path("/usr/lib/postgresql/15/bin")
    return preferred if (preferred / "initdb").exists() or not found else found[-1].parent


BIN = _bin()


class Postgres:
    def __init__(self, port: int) -> None:
        self.port = port

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A URL to a new, empty database of this server."""
        import psycopg

        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def empty(url: str) -> None:
    """Drop everything a test made in the database at ``url`` (quicker than a new database each time),
    after closing the connections it may have left open."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def missing() -> str | None:
    """Why PostgreSQL cannot be started here, or None."""
    if not (BIN / "initdb").is_file():
        return f"PostgreSQL is not installed ({BIN}/initdb is missing; apt-get install postgresql)"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "running as root, and runuser (to run PostgreSQL as the postgres user) is missing"
    return None


def _as_postgres(*command: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running() -> Iterator[Postgres]:
    """Start a server (initdb, pg_ctl start), yield it, stop it and remove its files."""
    top = Path(tempfile.mkdtemp(prefix="memgpt-pg-"))
    data = top / "data"
    if os.geteuid() == 0:
        shutil.chown(top, "postgres", "postgres")
    port = _free_port()
    run = {"check": True, "capture_output": True, "timeout": 60}
    try:
        subprocess.run(
            _as_postgres(str(BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"),
            **run,
        )
        durability = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"  # a test server
        options = f"-p {port} -k {top} -c listen_addresses=127.0.0.1 {durability}"
        subprocess.run(
            _as_postgres(
                str(BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(top / "log"), "-w", "start"
            ),
            **run,
        )
        try:
            yield Postgres(port)
        finally:
            subprocess.run(
                _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"), **run
            )
    finally:
        shutil.rmtree(top, ignore_errors=True)
