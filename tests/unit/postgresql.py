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

`standby(cluster)` is a hot standby of it, as a cluster's member is: copied by pg_basebackup and
streaming its WAL, read-only, reached on a socket of its own.
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


def _as_server(base: Path) -> list[str]:
    """The prefix that runs a server program as Debian's postgres user when the tests run as root
    (the server refuses root), base and its socket directory made postgres's."""
    if os.geteuid() != 0:
        return []
    for path in (base, base / "socket"):
        shutil.chown(path, "postgres")
    return ["runuser", "-u", "postgres", "--"]


@contextmanager
def started(settings: str = "") -> Iterator[Cluster]:
    """A new cluster, running until the block ends; then stopped and its directory removed. settings:
    more of the server's command-line options (-c NAME=VALUE ...)."""
    bindir = postgresql_bin()
    # Not under pytest's own temporary directory, which only its owner may enter. In memory when
    # there is a tmpfs for it: every backup and restore creates databases, whose pages go to the
    # WAL, several times faster there than on a disk (fsync or not).
    shm = Path("/dev/shm")
    in_memory = shm.is_dir() and os.access(shm, os.W_OK | os.X_OK)
    base = Path(tempfile.mkdtemp(prefix="unit-postgresql-", dir=shm if in_memory else None))
    data, socket_dir = base / "data", base / "socket"
    socket_dir.mkdir()
    as_server = _as_server(base)
    port = _free_port()
    try:
        subprocess.run([*as_server, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                        "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
        # The durability of the tests' cluster is not under test (the programs' fsync of their files is).
        options = (f"-k {socket_dir} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off "
                   f"-c full_page_writes=off -c synchronous_commit=off {settings}")
        subprocess.run([*as_server, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                        options, "start"], check=True, capture_output=True)
        yield Cluster(bindir, socket_dir, port)
    finally:
        subprocess.run([*as_server, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def standby(primary: Cluster) -> Iterator[Cluster]:
    """A hot standby of primary, streaming its WAL, running until the block ends; then stopped and
    its directory removed."""
    base = Path(tempfile.mkdtemp(prefix="unit-postgresql-standby-", dir=Path(primary.socket_dir).parent.parent))
    data, socket_dir = base / "data", base / "socket"
    socket_dir.mkdir()
    as_server = _as_server(base)
    port = _free_port()
    try:
        subprocess.run([*as_server, str(primary.bindir / "pg_basebackup"), "-h", str(primary.socket_dir), "-p",
                        str(primary.port), "-U", "postgres", "-D", str(data), "--write-recovery-conf",
                        "--wal-method=stream", "--checkpoint=fast", "--no-sync"], check=True, capture_output=True)
        options = f"-k {socket_dir} -p {port} -c listen_addresses='' -c hot_standby=on -c fsync=off"
        subprocess.run([*as_server, str(primary.bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"),
                        "-o", options, "start"], check=True, capture_output=True)
        yield Cluster(primary.bindir, socket_dir, port)
    finally:
        subprocess.run([*as_server, str(primary.bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
