"""The notes database: SQLite in the data directory, or PostgreSQL when ``DATABASE_URL`` names one.

A connection is opened on first use, stored in ``g`` for the request, so a worker that uWSGI forks
never shares a connection with its master: SQLite's one per request, PostgreSQL's kept for the
worker's next requests and checked before each (a dead one is replaced before the request uses it). Queries are written once, with ``?`` placeholders, and
``RETURNING``, which both speak (SQLite since 3.35).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, g, request

from . import migrate



class WriteNotConfirmed(Exception):
    """A write's commit was cut while it waited for a standby: it stands on the primary alone and may be
    lost in a failover. The client hears 503, as if it were not made, and may send it again."""


# What the database raises when it cannot serve now (full disk, lock held past the busy timeout,
# a server that is down, restarting or unreachable): 503 with Retry-After, never 500 (views.py).
UNAVAILABLE: tuple[type[Exception], ...] = (sqlite3.OperationalError, WriteNotConfirmed)
# Any error of the database: /healthz reports it unreachable.
ERRORS: tuple[type[Exception], ...] = (sqlite3.Error,)
# A PostgreSQL connection that broke under a request (its server stopped, restarted or was cut off:
# a failover, a switchover), which a read may try once more on a new connection (views.py); and
# what is not that (a statement past its timeout would only time out again).
BROKEN: tuple[type[Exception], ...] = ()
NOT_BROKEN: tuple[type[Exception], ...] = ()
try:  # psycopg is only needed, and only in the lock, for PostgreSQL
    import psycopg
    from psycopg.rows import dict_row

    # A server that is down, restarting, unreachable or past the statement timeout; a server that
    # is (now) a standby, during or after a failover; and a database that has not got the app's
    # tables yet (a new server, before its restore or the app's migration): 503 until it has.
    UNAVAILABLE += (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction, psycopg.errors.UndefinedTable)
    ERRORS += (psycopg.Error,)
    BROKEN, NOT_BROKEN = (psycopg.OperationalError,), (psycopg.errors.QueryCanceled,)
except ImportError:  # pragma: no cover - the lock always has it
    psycopg = None  # type: ignore[assignment]


def connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=5)
    conn.row_factory = sqlite3.Row
    return conn


# How long the app waits for the server, in seconds: to connect (each host of a multi-host URL), for
# a statement (a commit waiting for a standby included), and for a lost server's TCP to give up.
# All well under uWSGI's harakiri (30 s), so a request meets 503, not a cut.
CONNECT_TIMEOUT = 2
STATEMENT_TIMEOUT = 5
TCP_TIMEOUT = 3
# PostgreSQL's warning when a commit's wait for a synchronous standby was cut (by the statement
# timeout or a shutdown): the commit stands on the primary alone and is reported as if it were fine.
SYNC_WAIT_CUT = "canceling wait for synchronous replication"


def connect_postgresql(url: str, **attrs: Any) -> Any:
    """A connection; attrs override the URL's (libpq's keywords). Autocommit: each statement is its own
    transaction unless transaction() opens one."""
    if psycopg is None:  # pragma: no cover
        raise RuntimeError("DATABASE_URL names PostgreSQL, but psycopg is not installed")
    conn = psycopg.connect(
        url, autocommit=True, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT,
        options=f"-c statement_timeout={STATEMENT_TIMEOUT * 1000}", tcp_user_timeout=TCP_TIMEOUT * 1000,
        keepalives=1, keepalives_idle=TCP_TIMEOUT, keepalives_interval=1, keepalives_count=3, **attrs)
    conn.info_unconfirmed = False  # type: ignore[attr-defined]

    def notice(diagnostic: Any) -> None:
        if (diagnostic.message_primary or "").startswith(SYNC_WAIT_CUT):
            conn.info_unconfirmed = True  # type: ignore[attr-defined]

    conn.add_notice_handler(notice)
    return conn


class Watchdog:
    """Cancels a statement (a commit included) that ran past STATEMENT_TIMEOUT, from a thread of the
    worker's own. The server's statement_timeout stops at the commit: a commit waiting for a standby
    that is not there would wait for ever. Cancelled, it ends with PostgreSQL's warning (the commit
    stands on the primary alone), which execute() turns into WriteNotConfirmed: 503."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: Any = None
        self._deadline = 0.0
        self._pid = 0

    def arm(self, conn: Any) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a thread does not survive uWSGI's fork: one per worker
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="statement-watchdog", daemon=True).start()
            self._conn, self._deadline = conn, time.monotonic() + STATEMENT_TIMEOUT

    def disarm(self) -> None:
        with self._lock:
            self._conn = None

    @contextmanager
    def watching(self, conn: Any) -> Iterator[None]:
        self.arm(conn)
        try:
            yield
        finally:
            self.disarm()

    def _run(self) -> None:
        while True:
            time.sleep(0.25)
            with self._lock:
                conn = self._conn if self._conn is not None and time.monotonic() > self._deadline else None
                if conn is not None:
                    self._conn = None
            if conn is not None:
                try:
                    conn.cancel_safe(timeout=CONNECT_TIMEOUT)
                except Exception:  # noqa: BLE001 - a server gone: the statement fails by itself
                    pass


WATCHDOG = Watchdog()


class Database:
    """One connection, to SQLite or PostgreSQL, with the few operations the app needs."""

    def __init__(self, url: str | None, path: str, conn: Any = None) -> None:
        self.kind = "postgresql" if url else "sqlite"
        if conn is not None:
            self.conn: Any = conn
        elif url:
            self.conn = connect_postgresql(url)
        else:
            self.conn = connect(path)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self.kind == "sqlite":
            return self.conn.execute(sql, params)
        self.conn.info_unconfirmed = False
        with WATCHDOG.watching(self.conn):
            cursor = self.conn.execute(sql.replace("?", "%s"), params)
        if self.conn.info_unconfirmed:
            raise WriteNotConfirmed("the commit's wait for a synchronous standby was cut")
        return cursor

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.execute(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.execute(sql, params).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self.kind == "postgresql":
            self.conn.info_unconfirmed = False
            try:
                with self.conn.transaction():
                    yield
                    WATCHDOG.arm(self.conn)  # the commit, at the block's end
            finally:
                WATCHDOG.disarm()
            if self.conn.info_unconfirmed:
                raise WriteNotConfirmed("the commit's wait for a synchronous standby was cut")
        else:
            with self.conn:
                yield

    def schema_version(self) -> int:
        return migrate.version(self.conn, self.kind)

    def close(self) -> None:
        self.conn.close()


def prepare(path: str) -> None:
    """Turns on WAL (readers never wait for the writer) and gives an empty SQLite database the schema.

    WAL is a property of the database file, so it is set here, once, never per
    connection: the pragma costs far more than the connection it would be set on
    (measured: 188 us for connect + pragma + SELECT 1 + close, 22 us without it).
    A database that has tables is never migrated here: the deploy runs the
    migrations (notes.migrate) before it switches to a release, after a backup.
    PostgreSQL is never prepared by the app: the deploy migrates it.
    """
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        empty = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    finally:
        conn.close()
    if empty:
        migrate.migrate(path)


def kind() -> str:
    return "postgresql" if current_app.config.get("DATABASE_URL") else "sqlite"


def schema_version() -> int:
    return get_db().schema_version()


# PostgreSQL: one connection per worker process, opened by its first request (after uWSGI
# forked it) and kept for the next ones: a new connection costs a TCP and TLS handshake, SCRAM
# and a server process (measured: 75 requests/s against 800 on SQLite with one a request). A kept
# connection is checked with one round trip before a request uses it; a dead one (a restarted
# server, a cut connection) is replaced then, before the request has done anything. SQLite keeps
# one connection a request: it costs microseconds.
_KEPT: dict[str, Any] = {"pid": None, "url": None, "conn": None}


def _kept_postgresql(url: str) -> Any:
    conn = _KEPT["conn"] if (_KEPT["pid"], _KEPT["url"]) == (os.getpid(), url) else None
    if conn is not None:
        try:
            conn.execute("SELECT 1")
            return conn
        except psycopg.Error:
            conn.close()
    _KEPT.update(pid=os.getpid(), url=url, conn=None)
    conn = connect_postgresql(url)
    _KEPT["conn"] = conn
    return conn


# Each worker's one SQLite connection that is never closed nor queried after its first read: while
# it is open, SQLite keeps the database's -wal and -shm files, which it would otherwise delete when
# a request's connection closes as the last one, and the next request would have to create again.
# On a full disk it could not: reads would fail with the writes. Opened in the worker, never in the
# master before uWSGI forks.
_ANCHOR: dict[str, Any] = {"pid": None, "path": None, "conn": None}


def _anchor(path: str) -> None:
    if (_ANCHOR["pid"], _ANCHOR["path"]) == (os.getpid(), path):
        return
    if _ANCHOR["pid"] == os.getpid():  # another database (tests): this worker's earlier anchor goes
        release_anchor()
    conn = sqlite3.connect(path, timeout=5, check_same_thread=False)
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # maps the -shm; no transaction stays open
    _ANCHOR.update(pid=os.getpid(), path=path, conn=conn)


def release_anchor() -> None:
    """Closes this worker's anchor: the last connection to close then lets SQLite remove the -wal and
    -shm files (needed to leave WAL mode)."""
    if _ANCHOR["conn"] is not None and _ANCHOR["pid"] == os.getpid():
        _ANCHOR["conn"].close()
    _ANCHOR.update(pid=None, path=None, conn=None)


def get_db() -> Database:
    db: Database | None = g.get("db")
    if db is None:
        url = current_app.config.get("DATABASE_URL") or None
        path = str(current_app.config["DATABASE"])
        if not url and not current_app.extensions.get("notes_schema_ready"):
            # The database may have been unreachable at startup.
            prepare(path)
            current_app.extensions["notes_schema_ready"] = True
        if not url:
            _anchor(path)
        db = Database(url, path, _postgresql(url) if url else None)
        g.db = db
    return db


def _postgresql(url: str) -> Any:
    """The worker's kept connection to the primary; for a read while no primary can be reached (a
    failover under way), a connection to any server that answers, closed after the request."""
    try:
        return _kept_postgresql(url)
    except psycopg.OperationalError:
        if request.method not in ("GET", "HEAD"):
            raise
        current_app.logger.warning("no primary reachable: this read is served by any server")
        return connect_postgresql(url, target_session_attrs="any")


def discard() -> None:
    """Closes the request's connection, kept or not, after an error that says its server cannot serve
    (gone, a standby now, past its timeout): the next request connects anew, to the primary."""
    db: Database | None = g.pop("db", None)
    if db is None or db.kind != "postgresql":
        return
    if db.conn is _KEPT["conn"]:
        _KEPT.update(conn=None)
    db.close()


def close_db(exc: BaseException | None = None) -> None:
    db: Database | None = g.pop("db", None)
    if db is None:
        return
    if db.kind == "postgresql" and db.conn is _KEPT["conn"] and not db.conn.closed and not db.conn.broken \
            and db.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        return  # kept for the worker's next request
    if db.conn is _KEPT["conn"]:
        _KEPT.update(conn=None)
    db.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_db)
    if app.config.get("DATABASE_URL"):
        return  # nothing is opened before uWSGI forks the workers
    try:
        prepare(str(app.config["DATABASE"]))
        app.extensions["notes_schema_ready"] = True
    except sqlite3.Error:
        # Leave it to /healthz to report an unreachable database.
        app.logger.exception("could not initialise database %s", app.config["DATABASE"])
