"""The unit tests' PostgreSQL server: one throwaway cluster for the whole session, which the
`postgresql_cluster` fixture of tests/unit/conftest.py starts the first time a test asks for it.

Everything is real: Debian's binaries (the newest /usr/lib/postgresql/*/bin), a cluster in a
temporary directory, run as Debian's postgres user when the tests run as root (the server refuses
root). It has two ways in, as a database server has:

- a unix socket in that directory, where the superuser, postgres, is trusted: the way in of the
  programs the postgresql_server role runs as postgres on the host, and of the tests' own SQL;
- 127.0.0.1 on a port of its own, where every role must give its password (scram-sha-256): the way
  in of an app's role, from its own host.

Tests share the server and nothing else: each names its databases and roles with a token of its own
and drops them after it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Cluster:
    bindir: Path  # its version's server and client programs (pg_dump, psql, ...)
    socket_dir: Path  # the directory of its unix socket: the superuser's way in (trust)
    port: int  # of the socket, and of 127.0.0.1 (a password asked of every role)


def postgresql_bin() -> Path:
    """The directory of the newest PostgreSQL installed from Debian's packages."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        pytest.fail("no PostgreSQL server found (/usr/lib/postgresql/*/bin/initdb): scripts/bootstrap installs "
                    "Debian's postgresql package")
    return found[-1].parent


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def started() -> Iterator[Cluster]:
    """A new cluster, running until the block ends; then stopped and its directory removed."""
    bindir = postgresql_bin()
    # Not under pytest's own temporary directory, which only its owner may enter. In memory when
    # there is a tmpfs for it: every backup and restore creates databases, whose pages go to the
    # WAL, several times faster there than on a disk (fsync or not).
    shm = Path("/dev/shm")
    in_memory = shm.is_dir() and os.access(shm, os.W_OK | os.X_OK)
    base = Path(tempfile.mkdtemp(prefix="unit-postgresql-", dir=shm if in_memory else None))
    data, socket_dir = base / "data", base / "socket"
    socket_dir.mkdir()
    as_server: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: it runs as Debian's postgres user
        shutil.chown(base, "postgres")
        shutil.chown(socket_dir, "postgres")
        as_server = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    try:
        subprocess.run([*as_server, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                        "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
        # The durability of the tests' cluster is not under test (the programs' fsync of their files is).
        options = (f"-k {socket_dir} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off -c synchronous_commit=off")
        subprocess.run([*as_server, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                        options, "start"], check=True, capture_output=True)
        yield Cluster(bindir, socket_dir, port)
    finally:
        subprocess.run([*as_server, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
