"""Shared fixtures of the tests of the programs the python_app role ships to hosts (roles/python_app/files).

Everything here is real: SQLite databases with the schema of the bundled app's migrations, files in
tmp_path, and servers on 127.0.0.1 (ephemeral ports) or unix sockets in tmp_path, each in a thread,
speaking HTTP, HTTPS or the uwsgi protocol. Nothing listens on any other address.
"""

from __future__ import annotations

import os
import pwd
import signal
import socket
import socketserver
import sqlite3
import ssl
import struct
import threading
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from programs import Run, run_as_main

FILES = "roles/python_app/files"
LOOPBACK = "127.0.0.1"
SITE = "notes.example.org"  # never resolved: the probe always connects to loopback


# --- the programs under test, each a fresh module ---------------------------------------------------


@pytest.fixture
def health_probe(load_file):
    return load_file(f"{FILES}/health_probe.py")


@pytest.fixture
def release_digest(load_file):
    return load_file(f"{FILES}/release_digest.py")


@pytest.fixture
def sqlite_backup(load_file):
    return load_file(f"{FILES}/sqlite_backup.py")


@pytest.fixture
def sqlite_restore(load_file):
    return load_file(f"{FILES}/sqlite_restore.py")


@pytest.fixture
def run_program(monkeypatch, capsys):
    """Runs a program's file as `python3 FILE ARGS...` would, in this process (so coverage sees it).

    Returns its exit status as the interpreter would make it (sys.exit("message") is 1, with the
    message on stderr) and what it printed."""
    root = Path(__file__).resolve().parents[5]

    def run(name: str, *argv: str) -> Run:
        path = root / FILES / name
        return run_as_main(path, argv, monkeypatch, capsys)

    return run


@pytest.fixture(autouse=True)
def process_state_restored():
    """The restore ignores SIGTERM and SIGHUP and drops its supplementary groups, and the backup sets
    a umask, for the rest of their process: here that process is pytest's, so all three are put
    back after every test."""
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP)}
    umask = os.umask(0o022)
    os.umask(umask)
    groups = os.getgroups()
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
    os.umask(umask)
    if os.geteuid() == 0 and os.getgroups() != groups:
        os.setgroups(groups)


# --- SQLite databases like the bundled app's ----------------------------------------------------------


_MIGRATIONS: list[tuple[int, str]] = []  # the app's SQLite ones, read once


@pytest.fixture
def make_notes_db(load_file):
    """make(path, texts, wal=True): a notes database with the schema the app's own migrations make
    (app/notes/migrate.py: their SQL and versions, in WAL as the app sets it), holding one note per
    text; wal=False leaves it one self-contained file, as a backup is."""
    if not _MIGRATIONS:
        _MIGRATIONS.extend((number, sql["sqlite"]) for number, sql in load_file("app/notes/migrate.py").MIGRATIONS)

    def make(path: Path, texts=("first note", "second note"), *, wal: bool = True) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute("PRAGMA synchronous=OFF")  # speed: the durability of a fixture is not under test
            conn.execute("PRAGMA journal_mode=WAL")
            for number, sql in _MIGRATIONS:
                conn.execute("BEGIN")
                conn.execute(sql)
                conn.execute(f"PRAGMA user_version = {number}")
                conn.execute("COMMIT")
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO notes (text) VALUES (?)", [(text,) for text in texts])
            conn.execute("COMMIT")
            if not wal:
                conn.execute("PRAGMA journal_mode=DELETE")
        return path

    return make


def _note_texts(path: Path) -> list[str]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return [row[0] for row in conn.execute("SELECT text FROM notes ORDER BY id")]


@pytest.fixture
def note_texts():
    """note_texts(path): the texts of the notes in a database, in order."""
    return _note_texts


def _journal_mode(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]


@pytest.fixture
def journal_mode():
    """journal_mode(path): what PRAGMA journal_mode says of a database ('wal', 'delete')."""
    return _journal_mode


def _page(path: Path, number: int) -> int:
    """Offset of a page of a database file (1 is the first)."""
    with open(path, "rb") as fh:
        header = fh.read(100)
    size = struct.unpack(">H", header[16:18])[0]
    return (number - 1) * (65536 if size == 1 else size)


def _corrupt(path: Path, how: str) -> Path:
    """Damages a self-contained notes database (wal=False) of many notes, as a bad disk would:
    'cells': a leaf page of notes loses its cell pointers (PRAGMA integrity_check lists the damage);
    'root': the root page of notes is overwritten (SQLite calls the image malformed)."""
    with closing(sqlite3.connect(path)) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'notes'").fetchone()[0]
    number, fill = {"cells": (pages, b"\x00"), "root": (root, b"\xff")}[how]
    with open(path, "r+b") as fh:
        fh.seek(_page(path, number) + 8)
        fh.write(fill * 64)
    return path


@pytest.fixture
def make_corrupt_db(make_notes_db):
    """make(path, how): a self-contained notes database of many notes (several pages), damaged as
    _corrupt says ('cells' or 'root')."""

    def make(path: Path, how: str) -> Path:
        return _corrupt(make_notes_db(path, [f"note {i}: " + "x" * 60 for i in range(200)], wal=False), how)

    return make


# --- accounts ----------------------------------------------------------------------------------------


def _uids_with_processes() -> set[int]:
    uids = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                uids.add(entry.stat(follow_symlinks=False).st_uid)
            except FileNotFoundError:
                pass
    return uids


@pytest.fixture
def idle_account() -> pwd.struct_passwd:
    """An account other than this process's with no process running: an app user whose app is stopped."""
    busy = _uids_with_processes() | {os.geteuid(), 0}
    accounts = sorted(pwd.getpwall(), key=lambda a: a.pw_name != "nobody")
    for account in accounts:
        if account.pw_uid not in busy:
            return account
    pytest.fail("no account without a running process to act as the app's user")


@pytest.fixture
def root():
    """The restore runs as root: it gives the copied database to the app's user (fchown) and drops
    to that user (setuid). Those tests need root, as CI runs them (.ci/run)."""
    if os.geteuid() != 0:
        pytest.fail("this test needs root, as the restore has it on a host (CI runs the tests as root)")


@pytest.fixture
def this_account() -> pwd.struct_passwd:
    """The account this process runs as: one whose processes never stop (this one among them)."""
    return pwd.getpwuid(os.geteuid())


# --- servers on loopback -------------------------------------------------------------------------------


@dataclass
class Seen:
    path: str
    headers: Message


class _LoopbackHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        """As HTTPServer's, without its reverse lookup of the address (socket.getfqdn): no resolver."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class HTTPResponder:
    """A real HTTP (or, given a TLS context, HTTPS) server on 127.0.0.1, in a thread.

    Answers GET PATH from answer(PATH, ...), 404 otherwise; records every request and the SNI names
    clients sent."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[Seen] = []
        self.server_names: list[str | None] = []
        responder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                responder.requests.append(Seen(self.path, self.headers))
                status, headers, body = responder.routes.get(self.path.split("?")[0], (404, {}, b"not found"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = _LoopbackHTTPServer((LOOPBACK, 0), Handler)
        if context is not None:
            context.sni_callback = lambda sslobj, name, ctx: self.server_names.append(name)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.scheme = "https" if context else "http"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def url(self, path: str = "/healthz", host: str = SITE) -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def answer(self, path: str, status: int, body: bytes = b"", **headers: str) -> None:
        self.routes[path] = (status, {name.replace("_", "-"): value for name, value in headers.items()}, body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for the site and its key, as a host's nginx might have."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SITE)])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SITE)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    certfile, keyfile = directory / "site.crt", directory / "site.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return certfile, keyfile


@pytest.fixture
def http_server():
    server = HTTPResponder()
    yield server
    server.close()


@pytest.fixture
def https_server(tls_files):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    server = HTTPResponder(context)
    yield server
    server.close()


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError(f"connection closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def parse_uwsgi_vars(body: bytes) -> dict[str, str]:
    """The variables of a uwsgi request's body: (u16le key size, key, u16le value size, value)...,
    strictly: sizes that do not add up to the body are an error, as they are to uWSGI."""
    env, at = {}, 0
    while at < len(body):
        parts = []
        for _ in range(2):
            if at + 2 > len(body):
                raise ValueError(f"truncated uwsgi variable at byte {at}")
            (size,) = struct.unpack_from("<H", body, at)
            if at + 2 + size > len(body):
                raise ValueError(f"uwsgi variable at byte {at} runs past the body")
            parts.append(body[at + 2:at + 2 + size].decode())
            at += 2 + size
        env[parts[0]] = parts[1]
    return env


@dataclass
class UwsgiRequest:
    modifier1: int
    modifier2: int
    env: dict[str, str]


@dataclass
class StreamResponder:
    """A real stream server in a thread, on a unix socket or 127.0.0.1: reads one request, in the
    uwsgi protocol (as uWSGI's socket reads it) or, raw, up to a blank line; records it; sends
    `reply` as it is, then closes the connection."""

    reply: bytes
    protocol: str = "uwsgi"
    unix_path: Path | None = None
    requests: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    def __post_init__(self) -> None:
        responder = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                try:
                    if responder.protocol == "uwsgi":
                        modifier1, size, modifier2 = struct.unpack("<BHB", _recv_exactly(self.request, 4))
                        env = parse_uwsgi_vars(_recv_exactly(self.request, size))
                        responder.requests.append(UwsgiRequest(modifier1, modifier2, env))
                    else:
                        data = b""
                        while b"\r\n\r\n" not in data:
                            chunk = self.request.recv(65536)
                            if not chunk:
                                break
                            data += chunk
                        responder.requests.append(data)
                except (OSError, EOFError, ValueError, UnicodeDecodeError) as exc:
                    responder.errors.append(exc)
                    return
                self.request.sendall(responder.reply)

        if self.unix_path is not None:
            self.server = socketserver.ThreadingUnixStreamServer(str(self.unix_path), Handler)
            self.address = str(self.unix_path)
        else:
            self.server = socketserver.ThreadingTCPServer((LOOPBACK, 0), Handler)
            self.address = f"{LOOPBACK}:{self.server.server_address[1]}"
        self.server.daemon_threads = True
        self.port = None if self.unix_path else self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def serve(tmp_path):
    """serve(reply, protocol='uwsgi', unix=True): a StreamResponder, closed after the test."""
    started = []

    def start(reply: bytes, protocol: str = "uwsgi", *, unix: bool = True) -> StreamResponder:
        path = tmp_path / f"app{len(started)}.sock" if unix else None
        responder = StreamResponder(reply, protocol, path)
        started.append(responder)
        return responder

    yield start
    for responder in started:
        responder.close()


@pytest.fixture
def refused_port():
    """A port on 127.0.0.1 that is bound but not listening: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        yield sock.getsockname()[1]


def http_reply(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    """A response as uWSGI writes it on its socket for a WSGI app."""
    return f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n\r\n".encode() + body


@pytest.fixture
def make_http_reply():
    return http_reply
