"""A throw-away PostgreSQL cluster on loopback for the ledger tests.

`make test` installs Debian's postgresql package; this starts a private cluster from its binaries
in a temporary folder (trust auth, loopback only, fsync off) and removes it afterwards.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path


def find_postgres_bin() -> Path | None:
    """The newest installed PostgreSQL server's bin folder, or None when none is installed."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresCluster:
    bin_dir: Path
    data_dir: Path
    port: int
    user: str = "cradle"

    @classmethod
    def start(cls, bin_dir: Path) -> PostgresCluster:
        base = Path(tempfile.mkdtemp(prefix="cradle-pg-"))
        cluster = cls(bin_dir, base / "data", _free_port())
        # PostgreSQL refuses to run as root; run it as the postgres system user then.
        if os.geteuid() == 0:
            shutil.chown(base, "postgres")
        cluster._run("initdb", "-D", str(cluster.data_dir), "-A", "trust", "-U", cluster.user,
                     "--no-sync", "-E", "UTF8")
        options = (f"-c listen_addresses=127.0.0.1 -p {cluster.port} -k {base} -c fsync=off "
                   "-c synchronous_commit=off -c max_connections=50")
        cluster._run("pg_ctl", "-D", str(cluster.data_dir), "-o", options, "-w", "-t", "60",
                     "-l", str(base / "server.log"), "start")
        return cluster

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Creates an empty database and returns its SQLAlchemy URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        finally:
            time.sleep(0.1)
            shutil.rmtree(self.data_dir.parent, ignore_errors=True)
