"""Helpers of the uwsgi-metrics tests.

- uWSGI 2.0 stats documents (`uwsgi_stats`, `uwsgi_worker`), served by real unix sockets
  (`<run dir>/<app>/stats.sock`) from threads, as a vassal's stats server does: the whole JSON
  document to every connection, then the connection closed (`vassals` fixture);
- the exporter started the way systemd starts it for a socket unit with Accept=no: its listening
  socket on fd 3, LISTEN_PID its own pid, LISTEN_FDS=1 (`exporter` fixture runs its main() in a
  thread of this process so that coverage sees it; `activated_process` runs the file as a program);
- an HTTP client for a 127.0.0.1 or unix address, and raw exchanges for malformed requests;
- a strict parser of Prometheus' text exposition format 0.0.4 (prometheus_client is not a
  dependency of the project).
"""

from __future__ import annotations

import gc
import http.client
import io
import json
import math
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[5]
SCRIPT = "roles/uwsgi_emperor/files/uwsgi-metrics.py"
SD_LISTEN_FDS_START = 3
# How long a client of these tests waits for anything before the test fails.
CLIENT_TIMEOUT = 5.0


def wait_for(condition, timeout: float = CLIENT_TIMEOUT, interval: float = 0.002):
    """Poll condition() until it is true (and return it); fail the test after timeout s."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {condition.__name__}")
        time.sleep(interval)
    return result


# --- uWSGI's stats documents --------------------------------------------------------------------

def uwsgi_worker(wid: int, status: str = "idle", *, requests: int = 0, exceptions: int = 0,
                 harakiri_count: int = 0, respawn_count: int = 1, cores: int = 1, **override) -> dict:
    """One entry of the stats' "workers" list, with the keys uWSGI 2.0 writes (core/master_utils.c)."""
    worker = {
        "id": wid, "pid": 4000 + wid, "accepting": 1, "requests": requests, "delta_requests": requests,
        "exceptions": exceptions, "harakiri_count": harakiri_count, "signals": 0, "signal_queue": 0,
        "status": status, "rss": 0, "vsz": 0, "running_time": 81234567, "last_spawn": 1717000000,
        "respawn_count": respawn_count, "tx": 1048576, "avg_rt": 2315,
        "apps": [{"id": 0, "modifier1": 0, "mountpoint": "", "startup_time": 0, "requests": requests,
                  "exceptions": exceptions, "chdir": ""}],
        "cores": [{"id": core, "requests": requests // cores, "static_requests": 0, "routed_requests": 0,
                   "offloaded_requests": 0, "write_errors": 0, "read_errors": 0,
                   "in_request": int(status == "busy" and core == 0), "vars": [], "req_info": {}}
                  for core in range(cores)],
    }
    worker.update(override)
    return worker


def uwsgi_stats(workers: list[dict], *, listen_queue: int = 0, listen_queue_errors: int = 0,
                **override) -> dict:
    """A vassal's whole stats document, shaped like uWSGI 2.0's."""
    stats = {
        "version": "2.0.22", "listen_queue": listen_queue, "listen_queue_errors": listen_queue_errors,
        "signal_queue": 0, "load": listen_queue, "pid": 3999, "uid": 33, "gid": 33, "cwd": "/srv/app",
        "locks": [{"user 0": 0}, {"signal": 0}, {"filemon": 0}, {"timer": 0}, {"rbtimer": 0},
                  {"cron": 0}, {"rpc": 0}, {"snmp": 0}],
        "sockets": [{"name": "/run/uwsgi/app/app.sock", "proto": "uwsgi", "queue": listen_queue,
                     "max_queue": 100, "shared": 0, "can_offload": 0}],
        "workers": workers,
    }
    stats.update(override)
    return stats


class StatsSocket:
    """A vassal's stats server on a real unix socket: `payload` to every connection, then close."""

    def __init__(self, path: Path, payload: bytes):
        self.path, self.payload, self.connections = path, payload, 0
        self._stopping = threading.Event()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen(16)
        self._thread = threading.Thread(target=self._serve, name=f"stats {path.parent.name}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            conn, _ = self._listener.accept()
            with conn:
                if self._stopping.is_set():
                    return
                self.connections += 1
                try:
                    conn.sendall(self.payload)
                except OSError:
                    pass  # the reader went away

    def close(self) -> None:
        """Stop answering; the socket file stays, so that connecting to it is refused (a dead vassal)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as wake:
            wake.connect(str(self.path))
        self._thread.join(CLIENT_TIMEOUT)
        self._listener.close()


class Vassals:
    """The vassals' stats sockets under one run directory: <root>/<app>/stats.sock."""

    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir()
        self.servers: dict[str, StatsSocket] = {}

    @property
    def pattern(self) -> str:
        """The glob the exporter is given (uwsgi_emperor_metrics_stats_sockets)."""
        return str(self.root / "*" / "stats.sock")

    def path(self, app: str) -> Path:
        directory = self.root / app
        directory.mkdir(exist_ok=True)
        return directory / "stats.sock"

    def serve(self, app: str, stats: dict | bytes) -> StatsSocket:
        """A live vassal answering `stats` (a document, or raw bytes as they are)."""
        payload = stats if isinstance(stats, bytes) else json.dumps(stats).encode()
        server = self.servers[app] = StatsSocket(self.path(app), payload)
        return server

    def dead(self, app: str) -> Path:
        """A vassal whose stats socket file is left behind with nobody listening (connect is refused)."""
        path = self.path(app)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.bind(str(path))
        return path

    def close(self) -> None:
        for server in self.servers.values():
            server.close()


@pytest.fixture
def vassals(tmp_path):
    run = Vassals(tmp_path / "run")
    yield run
    run.close()


@pytest.fixture
def metrics(load_file):
    """The exporter's module, fresh from its file."""
    return load_file(SCRIPT)


# --- Prometheus' text format ------------------------------------------------------------------

class FormatError(AssertionError):
    """The text breaks Prometheus' text exposition format."""


METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
FLOAT = re.compile(r"[+-]?(?:Inf|NaN|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
TIMESTAMP = re.compile(r"-?[0-9]+")
BLANKS = re.compile(r"[ \t]+")
HELP_LINE = re.compile(r"# HELP (?P<name>\S+)(?: (?P<text>.*))?")
TYPE_LINE = re.compile(r"# TYPE (?P<name>\S+) (?P<type>\S+)")
# Kinds whose samples carry the family's own name (histograms and summaries are not exported here).
KINDS = ("counter", "gauge", "untyped")


def key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


@dataclass
class Family:
    name: str
    type: str | None = None
    help: str | None = None
    samples: dict[tuple[tuple[str, str], ...], float] = field(default_factory=dict)

    def value(self, **labels: str) -> float:
        return self.samples[key(labels)]

    def by(self, label: str) -> dict[str, float]:
        """The family's values keyed by one label's value."""
        return {dict(labels)[label]: value for labels, value in self.samples.items()}


class Exposition(dict):
    """Families by name, in the order the text gave them."""

    def value(self, name: str, **labels: str) -> float:
        return self[name].value(**labels)

    def apps(self, name: str) -> dict[str, float]:
        return self[name].by("app")


def _unescape_help(text: str, lineno: int) -> str:
    out, chars = [], iter(text)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped not in ("\\", "n"):
                raise FormatError(f"line {lineno}: bad escape \\{escaped} in a HELP text")
            out.append("\n" if escaped == "n" else "\\")
        else:
            out.append(char)
    return "".join(out)


def _labels(line: str, pos: int, lineno: int) -> tuple[dict[str, str], int]:
    """The label set that opens at line[pos] == "{", and the position after its "}"."""
    labels: dict[str, str] = {}
    pos += 1
    while True:
        if line.startswith("}", pos):
            return labels, pos + 1
        match = LABEL_NAME.match(line, pos)
        if not match:
            raise FormatError(f"line {lineno}: bad label name at column {pos}: {line!r}")
        name, pos = match.group(), match.end()
        if name.startswith("__"):
            raise FormatError(f"line {lineno}: reserved label name {name}")
        if name in labels:
            raise FormatError(f"line {lineno}: label {name} given twice")
        if not line.startswith('="', pos):
            raise FormatError(f'line {lineno}: label {name} not followed by ="')
        pos += 2
        value = []
        while True:
            if pos >= len(line):
                raise FormatError(f"line {lineno}: unterminated value of label {name}")
            char = line[pos]
            if char == '"':
                pos += 1
                break
            if char == "\\":
                escaped = line[pos + 1:pos + 2]
                if escaped not in ("\\", '"', "n"):
                    raise FormatError(f"line {lineno}: bad escape \\{escaped} in label {name}")
                value.append("\n" if escaped == "n" else escaped)
                pos += 2
            else:
                value.append(char)
                pos += 1
        labels[name] = "".join(value)
        if line.startswith(",", pos):
            pos += 1
        elif not line.startswith("}", pos):
            raise FormatError(f"line {lineno}: label {name} followed by neither , nor }}")


def parse_exposition(text: str) -> Exposition:
    """Families of a Prometheus text exposition (format 0.0.4), checked strictly.

    One group of lines per metric; at most one HELP and one TYPE line each, the TYPE before any
    sample; valid metric and label names; only \\\\, \\" and \\n escaped in label values (\\\\ and
    \\n in HELP); a float value and an optional integer timestamp; no series twice; counters
    neither negative nor NaN; the text ends with a line feed.
    """
    if not text.endswith("\n"):
        raise FormatError("the text does not end with a line feed")
    families = Exposition()
    current: str | None = None

    def family(name: str, lineno: int) -> Family:
        nonlocal current
        if not METRIC_NAME.fullmatch(name):
            raise FormatError(f"line {lineno}: bad metric name {name!r}")
        if name != current:
            if name in families:
                raise FormatError(f"line {lineno}: the lines of {name} are not one group")
            families[name] = Family(name)
            current = name
        return families[name]

    for lineno, line in enumerate(text[:-1].split("\n"), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            if match := HELP_LINE.fullmatch(line):
                one = family(match["name"], lineno)
                if one.help is not None:
                    raise FormatError(f"line {lineno}: second HELP line of {one.name}")
                one.help = _unescape_help(match["text"] or "", lineno)
            elif match := TYPE_LINE.fullmatch(line):
                one = family(match["name"], lineno)
                if one.type is not None:
                    raise FormatError(f"line {lineno}: second TYPE line of {one.name}")
                if one.samples:
                    raise FormatError(f"line {lineno}: TYPE line of {one.name} after its samples")
                if match["type"] not in KINDS:
                    raise FormatError(f"line {lineno}: type {match['type']!r} of {one.name} not handled")
                one.type = match["type"]
            elif line.startswith(("# HELP", "# TYPE")):
                raise FormatError(f"line {lineno}: malformed {line[2:6]} line: {line!r}")
            continue
        match = METRIC_NAME.match(line)
        if not match:
            raise FormatError(f"line {lineno}: not a sample: {line!r}")
        one = family(match.group(), lineno)
        labels, pos = _labels(line, match.end(), lineno) if line.startswith("{", match.end()) else ({}, match.end())
        rest = BLANKS.split(line[pos:])
        if rest[0] != "" or len(rest) not in (2, 3):
            raise FormatError(f"line {lineno}: expected name{{labels}} value [timestamp]: {line!r}")
        if not FLOAT.fullmatch(rest[1]):
            raise FormatError(f"line {lineno}: bad value {rest[1]!r}")
        if len(rest) == 3 and not TIMESTAMP.fullmatch(rest[2]):
            raise FormatError(f"line {lineno}: bad timestamp {rest[2]!r}")
        value = float(rest[1])
        if one.type == "counter" and (math.isnan(value) or value < 0):
            raise FormatError(f"line {lineno}: counter {one.name} at {value}")
        if key(labels) in one.samples:
            raise FormatError(f"line {lineno}: series {one.name}{labels} given twice")
        one.samples[key(labels)] = value
    return families


# --- HTTP over either socket family -----------------------------------------------------------

Address = str | tuple  # a unix socket's path, or (host, port)


def connect(address: Address) -> socket.socket:
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(CLIENT_TIMEOUT)
    sock.connect(address)
    return sock


class _Connection(http.client.HTTPConnection):
    def __init__(self, address: Address):
        super().__init__("localhost", timeout=CLIENT_TIMEOUT)
        self._address = address

    def connect(self) -> None:
        self.sock = connect(self._address)


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    trailing: bytes = b""  # what the server sent after the body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def http_request(address: Address, path: str = "/metrics", method: str = "GET") -> Reply:
    """One request with http.client, as a scraper makes it."""
    conn = _Connection(address)
    try:
        conn.request(method, path, headers={"Accept": "text/plain;version=0.0.4;q=1,*/*;q=0.1"})
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def read_until_closed(sock: socket.socket) -> bytes:
    """All the peer sends until it closes (a reset counts as closing); fails on CLIENT_TIMEOUT."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


class _Kept(io.BytesIO):
    def close(self) -> None:  # http.client closes its file at the end of the body: keep it readable
        pass


def parse_reply(raw: bytes) -> Reply:
    """One HTTP response read by http.client from raw bytes, and whatever follows its body."""
    stream = _Kept(raw)

    class Source:
        def makefile(self, *args, **kwargs):
            return stream

    response = http.client.HTTPResponse(Source())
    response.begin()
    body = response.read()
    return Reply(response.status, response.headers, body, stream.read())


def exchange(address: Address, data: bytes, *, end_request: bool = False) -> bytes:
    """Send raw bytes (then shut the write side if end_request) and read until the server closes."""
    with connect(address) as sock:
        sock.sendall(data)
        if end_request:
            sock.shutdown(socket.SHUT_WR)
        return read_until_closed(sock)


# --- the exporter, started as systemd starts it ------------------------------------------------

class _Stop(BaseException):
    """Ends the exporter's main(), whose accept loop has no way out of its own."""


def _listener(family: int, tmp_path: Path) -> tuple[socket.socket, Address]:
    """A listening socket as uwsgi-metrics.socket makes it (ListenStream=, default backlog)."""
    if family == socket.AF_UNIX:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = str(tmp_path / "metrics.sock")
        sock.bind(path)
        address: Address = path
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        address = sock.getsockname()
    sock.listen(socket.SOMAXCONN)
    return sock, address


class Exporter:
    """The exporter's main() in a thread of this process, handed its socket the systemd way.

    The listening socket is put on fd 3 (SD_LISTEN_FDS_START) with LISTEN_PID=this process and
    LISTEN_FDS=1, as systemd does before it executes the service. Whatever this process had on
    fd 3 (pytest keeps a descriptor there) is put back when the exporter stops.

    main() loops for ever, as a resident service does. The one seam the tests use to end it is its
    slot semaphore: a real threading.BoundedSemaphore whose acquire() raises once the exporter is
    stopping (main() takes a slot before every accept). (An asynchronous exception raised in
    main()'s thread is not delivered while coverage traces it, on Python 3.11.)
    """

    def __init__(self, module, pattern: str, family: int, tmp_path: Path, monkeypatch):
        self.module, self.pattern = module, pattern
        self._family, self._tmp_path, self._monkeypatch = family, tmp_path, monkeypatch
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self._stopping = threading.Event()
        self.slots_taken = 0  # how many times main() has taken a slot (once before every accept)

    def start(self) -> Exporter:
        listener, self.address = _listener(self._family, self._tmp_path)
        self._inode = os.fstat(listener.fileno()).st_ino
        try:
            self._saved = os.dup(SD_LISTEN_FDS_START)
            self._saved_inheritable = os.get_inheritable(SD_LISTEN_FDS_START)
        except OSError:
            self._saved = None
        if listener.fileno() == SD_LISTEN_FDS_START:
            listener.detach()  # already where systemd puts it
        else:
            os.dup2(listener.fileno(), SD_LISTEN_FDS_START)
            listener.close()
        self._monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
        self._monkeypatch.setenv("LISTEN_FDS", "1")
        self._monkeypatch.setattr(sys, "argv", [str(ROOT / SCRIPT), self.pattern])
        exporter = self

        class Slots(threading.BoundedSemaphore):
            def acquire(self, *args, **kwargs):
                if exporter._stopping.is_set():
                    raise _Stop
                taken = super().acquire(*args, **kwargs)
                exporter.slots_taken += 1
                return taken

        class Threading:  # the module's `threading`, but for its semaphore
            BoundedSemaphore = Slots

            def __getattr__(self, name):
                return getattr(threading, name)

        self._monkeypatch.setattr(self.module, "threading", Threading())
        self.thread = threading.Thread(target=self._run, name="uwsgi-metrics main", daemon=True)
        self.thread.start()
        wait_for(lambda: self.blocked_in() == "accept" or not self.thread.is_alive())
        assert self.thread.is_alive(), f"main() ended: {self.error!r}"
        return self

    def _run(self) -> None:
        try:
            self.module.main()
            self.error = AssertionError("main() returned")
        except _Stop:
            pass
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.error = exc

    def blocked_in(self) -> str | None:
        """What main() waits in right now: "accept" (a scrape) or "acquire" (a free slot)."""
        frame = sys._current_frames().get(self.thread.ident)
        callee = None
        while frame is not None:
            if frame.f_code is self.module.main.__code__:
                return callee.f_code.co_name if callee else None
            callee, frame = frame, frame.f_back
        return None

    def handlers_running(self) -> int:
        """Connections being answered now (threads inside the exporter's handle())."""
        running = 0
        for frame in sys._current_frames().values():
            while frame is not None:
                if frame.f_code is self.module.handle.__code__:
                    running += 1
                    break
                frame = frame.f_back
        return running

    def stop(self) -> None:
        try:
            self._stopping.set()
            if self.thread.is_alive():

                def stopped() -> bool:
                    try:
                        with connect(self.address):  # wakes accept(); main() stops at its next slot
                            pass
                    except (ConnectionRefusedError, ConnectionResetError):
                        pass  # main() stopped, and its listening socket closed, meanwhile
                    self.thread.join(0.05)
                    return not self.thread.is_alive()

                wait_for(stopped)
            gc.collect()
            try:
                still = os.fstat(SD_LISTEN_FDS_START)
            except OSError:
                still = None
            assert not (still and stat.S_ISSOCK(still.st_mode) and still.st_ino == self._inode), \
                "the exporter's listening socket outlived main()"
        finally:
            if self._saved is not None:
                os.dup2(self._saved, SD_LISTEN_FDS_START, inheritable=self._saved_inheritable)
                os.close(self._saved)
        if self.error is not None:
            raise AssertionError(f"the exporter's main() failed: {self.error!r}") from self.error


@pytest.fixture
def start_exporter(metrics, vassals, tmp_path, monkeypatch):
    """start_exporter(family=AF_INET) -> a running Exporter over the `vassals` fixture's sockets."""
    started: list[Exporter] = []

    def start(family: int = socket.AF_INET) -> Exporter:
        exporter = Exporter(metrics, vassals.pattern, family, tmp_path, monkeypatch)
        started.append(exporter)
        return exporter.start()

    yield start
    for exporter in reversed(started):
        exporter.stop()


@pytest.fixture
def exporter(start_exporter) -> Exporter:
    return start_exporter()


# systemd's part between fork and exec, for a program run as a separate process: the listening
# socket onto fd 3, LISTEN_PID (the pid the program will have: exec keeps it) and LISTEN_FDS.
ACTIVATE = (
    "import os, sys\n"
    "os.dup2(int(sys.argv[1]), 3)\n"
    "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1')\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n"
)


@pytest.fixture
def activated_process(vassals, tmp_path):
    """The exporter's file run as a program by a systemd-like activation; -> its socket's address."""
    listener, address = _listener(socket.AF_UNIX, tmp_path)
    env = {key: value for key, value in os.environ.items() if not key.startswith("LISTEN_")}
    process = subprocess.Popen(
        [sys.executable, "-c", ACTIVATE, str(listener.fileno()), str(ROOT / SCRIPT), vassals.pattern],
        pass_fds=[listener.fileno()], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    listener.close()
    yield address
    process.terminate()
    try:
        _, err = process.communicate(timeout=CLIENT_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    assert b"Traceback" not in err, err.decode(errors="replace")


# The test module imports these helpers by this name: "conftest" is also the name of
# tests/unit/conftest.py, and which of the two a plain `import conftest` finds depends on the order
# in which pytest loaded them.
sys.modules["uwsgi_metrics_testlib"] = sys.modules[__name__]
