"""roles/uwsgi_emperor/files/uwsgi-metrics.py: the vassals' uWSGI stats as Prometheus metrics.

The vassals are real unix stats sockets served from threads (conftest.py); the exporter is handed
its listening socket as systemd hands it (fd 3, LISTEN_PID, LISTEN_FDS) and is scraped over HTTP
on 127.0.0.1 or a unix socket. Every exposition is read by a strict parser of the text format.
"""

from __future__ import annotations

import json
import os
import runpy
import socket
import sys
import threading
import time

import pytest
from uwsgi_metrics_testlib import (
    ROOT,
    SCRIPT,
    SD_LISTEN_FDS_START,
    FormatError,
    connect,
    exchange,
    http_request,
    parse_exposition,
    parse_reply,
    read_until_closed,
    uwsgi_stats,
    uwsgi_worker,
    wait_for,
)

GET = (b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9117\r\nUser-Agent: Prometheus/2.53.0\r\n"
       b"Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\n\r\n")
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"

# The families dashboards and alerts are written against, in the order they are exposed.
FAMILIES = [
    ("uwsgi_up", "gauge"),
    ("uwsgi_workers", "gauge"),
    ("uwsgi_listen_queue", "gauge"),
    ("uwsgi_listen_queue_errors_total", "counter"),
    ("uwsgi_requests_total", "counter"),
    ("uwsgi_exceptions_total", "counter"),
    ("uwsgi_harakiri_total", "counter"),
    ("uwsgi_worker_respawns_total", "counter"),
]


@pytest.fixture
def scrape(metrics, vassals):
    """The exposition of what the vassals' sockets hold now, parsed strictly."""
    return lambda: parse_exposition(metrics.exposition(vassals.pattern))


def busy_vassal() -> dict:
    """A vassal of four workers, one of them busy and one restarted twice."""
    return uwsgi_stats([
        uwsgi_worker(1, "idle", requests=120, exceptions=1, respawn_count=1),
        uwsgi_worker(2, "busy", requests=98, harakiri_count=1, respawn_count=3),
        uwsgi_worker(3, "idle", requests=101, respawn_count=1),
        uwsgi_worker(4, "idle", requests=87, exceptions=2, respawn_count=1),
    ], listen_queue=2, listen_queue_errors=0)


# --- the exposition's families -----------------------------------------------------------------

@pytest.mark.parametrize(("name", "kind"), FAMILIES)
def test_family_has_its_type_and_a_help_text(scrape, vassals, name, kind):
    vassals.serve("shop", busy_vassal())
    family = scrape()[name]
    assert family.type == kind
    assert family.help


def test_exposition_has_exactly_the_documented_families(scrape, vassals):
    vassals.serve("shop", busy_vassal())
    assert set(scrape()) == {name for name, _ in FAMILIES}


def test_counter_names_and_only_them_end_in_total(scrape, vassals):
    vassals.serve("shop", busy_vassal())
    families = scrape()
    assert {name for name, one in families.items() if one.type == "counter"} == \
        {name for name in families if name.endswith("_total")}


def test_families_are_declared_without_samples_when_no_vassal_runs(scrape):
    families = scrape()
    assert {name: (one.type, len(one.samples)) for name, one in families.items()} == \
        {name: (kind, 0) for name, kind in FAMILIES}


# --- what a vassal's stats become ------------------------------------------------------------

def test_vassal_whose_stats_socket_answers_is_up(scrape, vassals):
    vassals.serve("shop", busy_vassal())
    assert scrape().apps("uwsgi_up") == {"shop": 1}


def test_vassal_is_named_after_its_stats_socket_directory(scrape, vassals):
    vassals.serve("blog-api_2", busy_vassal())
    assert set(scrape().apps("uwsgi_requests_total")) == {"blog-api_2"}


def test_workers_are_counted_by_state(scrape, vassals):
    vassals.serve("shop", uwsgi_stats([
        uwsgi_worker(1, "idle"), uwsgi_worker(2, "idle"), uwsgi_worker(3, "busy"),
        uwsgi_worker(4, "cheap", respawn_count=0), uwsgi_worker(5, "pause"), uwsgi_worker(6, "sig9"),
    ]))
    assert scrape()["uwsgi_workers"].by("state") == {"idle": 2, "busy": 1, "cheap": 1, "pause": 1, "sig9": 1}


def test_idle_and_busy_are_reported_when_no_worker_is_in_them(scrape, vassals):
    vassals.serve("shop", uwsgi_stats([uwsgi_worker(1, "cheap", respawn_count=0),
                                       uwsgi_worker(2, "cheap", respawn_count=0)]))
    assert scrape()["uwsgi_workers"].by("state") == {"idle": 0, "busy": 0, "cheap": 2}


def test_worker_without_a_status_is_counted_as_unknown(scrape, vassals):
    worker = uwsgi_worker(1)
    del worker["status"]
    vassals.serve("shop", uwsgi_stats([worker]))
    assert scrape()["uwsgi_workers"].by("state") == {"idle": 0, "busy": 0, "unknown": 1}


@pytest.mark.parametrize(("name", "key"), [
    ("uwsgi_listen_queue", "listen_queue"),
    ("uwsgi_listen_queue_errors_total", "listen_queue_errors"),
])
def test_listen_queue_figures_are_the_vassals_own(scrape, vassals, name, key):
    vassals.serve("shop", uwsgi_stats([uwsgi_worker(1)], **{key: 17}))
    assert scrape().value(name, app="shop") == 17


@pytest.mark.parametrize(("name", "key"), [
    ("uwsgi_requests_total", "requests"),
    ("uwsgi_exceptions_total", "exceptions"),
    ("uwsgi_harakiri_total", "harakiri_count"),
])
def test_worker_counter_is_summed_over_the_workers(scrape, vassals, name, key):
    vassals.serve("shop", uwsgi_stats([uwsgi_worker(1, **{key: 10}), uwsgi_worker(2, "busy", **{key: 32}),
                                       uwsgi_worker(3, **{key: 0})]))
    assert scrape().value(name, app="shop") == 42


@pytest.mark.parametrize(("respawn_counts", "respawns"), [
    pytest.param([1, 1, 1, 1], 0, id="all-first-spawn"),
    pytest.param([3, 1, 2], 3, id="restarted"),
    pytest.param([0, 0, 1], 0, id="cheaper-never-spawned"),
    pytest.param([], 0, id="no-worker"),
])
def test_respawns_leave_out_each_workers_first_start(scrape, vassals, respawn_counts, respawns):
    vassals.serve("shop", uwsgi_stats([uwsgi_worker(i, respawn_count=count)
                                       for i, count in enumerate(respawn_counts, 1)]))
    assert scrape().value("uwsgi_worker_respawns_total", app="shop") == respawns


def test_figures_missing_from_the_stats_count_as_zero(scrape, vassals):
    vassals.serve("shop", {"workers": [{"id": 1, "status": "idle"}]})
    families = scrape()
    assert [families.value(name, app="shop") for name, _ in FAMILIES if name != "uwsgi_workers"] == \
        [1, 0, 0, 0, 0, 0, 0]


def test_each_vassal_has_series_of_its_own(scrape, vassals):
    vassals.serve("shop", busy_vassal())
    vassals.serve("blog", uwsgi_stats([uwsgi_worker(1, requests=5), uwsgi_worker(2, "busy", requests=6)]))
    families = scrape()
    assert families.apps("uwsgi_requests_total") == {"blog": 11, "shop": 406}
    assert families["uwsgi_workers"].samples == {
        (("app", "blog"), ("state", "busy")): 1, (("app", "blog"), ("state", "idle")): 1,
        (("app", "shop"), ("state", "busy")): 1, (("app", "shop"), ("state", "idle")): 3,
    }


@pytest.mark.parametrize("app", [
    pytest.param('say"hi', id="quote"),
    pytest.param("back\\slash", id="backslash"),
    pytest.param("line\nfeed", id="line-feed"),
    pytest.param("\\n", id="backslash-n"),
    pytest.param("café-ünï", id="non-ascii"),
    pytest.param("a b,c=d}", id="label-syntax"),
])
def test_vassal_name_is_escaped_in_its_label(scrape, vassals, app):
    vassals.serve(app, busy_vassal())
    vassals.dead(app + "-old")
    assert scrape().apps("uwsgi_up") == {app: 1, app + "-old": 0}


@pytest.mark.parametrize("state", ['odd"state', "odd\\state", "odd\nstate"])
def test_worker_state_is_escaped_in_its_label(scrape, vassals, state):
    vassals.serve("shop", uwsgi_stats([uwsgi_worker(1, state)]))
    assert scrape()["uwsgi_workers"].by("state") == {"idle": 0, "busy": 0, state: 1}


def test_stats_longer_than_one_read_are_read_whole(scrape, vassals):
    stats = uwsgi_stats([uwsgi_worker(i, "busy" if i % 4 == 0 else "idle", requests=1000 + i, cores=32)
                         for i in range(1, 33)])
    assert len(json.dumps(stats)) > 2 * 65536  # what read_stats() asks of one recv()
    vassals.serve("big", stats)
    families = scrape()
    assert families.value("uwsgi_requests_total", app="big") == sum(1000 + i for i in range(1, 33))
    assert families["uwsgi_workers"].by("state") == {"idle": 24, "busy": 8}


def test_stats_are_read_again_at_every_scrape(scrape, vassals):
    server = vassals.serve("shop", uwsgi_stats([uwsgi_worker(1, requests=10)]))
    first = scrape().value("uwsgi_requests_total", app="shop")
    server.payload = json.dumps(uwsgi_stats([uwsgi_worker(1, requests=25)])).encode()
    assert (first, scrape().value("uwsgi_requests_total", app="shop")) == (10, 25)


def test_directory_without_a_stats_socket_is_no_vassal(scrape, vassals):
    vassals.serve("shop", busy_vassal())
    (vassals.root / "static").mkdir()
    (vassals.root / "static" / "app.sock").touch()
    assert scrape().apps("uwsgi_up") == {"shop": 1}


# --- vassals whose stats cannot be read --------------------------------------------------------

def test_vassal_whose_socket_refuses_connections_is_down(scrape, vassals):
    vassals.dead("shop")
    assert scrape().apps("uwsgi_up") == {"shop": 0}


def test_down_vassal_has_no_series_but_uwsgi_up(scrape, vassals):
    vassals.dead("shop")
    families = scrape()
    assert {name: len(one.samples) for name, one in families.items() if one.samples} == {"uwsgi_up": 1}


def test_vassal_that_stops_answering_is_down_at_the_next_scrape(scrape, vassals):
    server = vassals.serve("shop", busy_vassal())
    first = scrape().value("uwsgi_up", app="shop")
    server.close()
    assert (first, scrape().value("uwsgi_up", app="shop")) == (1, 0)


GOOD = json.dumps(busy_vassal()).encode()
GARBAGE = [
    pytest.param(b"", id="nothing"),
    pytest.param(b"uWSGI is busy\n", id="text"),
    pytest.param(bytes(range(256)), id="binary"),
    pytest.param(GOOD[:len(GOOD) // 2], id="cut-short"),
    pytest.param(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + GOOD, id="stats-http"),
    pytest.param(b"[]", id="array"),
    pytest.param(b'"busy"', id="string"),
    pytest.param(b"null", id="null"),
    pytest.param(json.dumps({"version": "2.0.22", "pid": 1}).encode(), id="no-workers"),
    pytest.param(json.dumps(uwsgi_stats(None)).encode(), id="workers-null"),
    pytest.param(json.dumps(uwsgi_stats([{**uwsgi_worker(1), "requests": "many"}])).encode(), id="counter-text"),
    pytest.param(json.dumps(uwsgi_stats([{**uwsgi_worker(1), "respawn_count": None}])).encode(), id="counter-null"),
    pytest.param(json.dumps(uwsgi_stats([uwsgi_worker(1)], listen_queue={})).encode(), id="queue-object"),
    pytest.param(json.dumps(uwsgi_stats([uwsgi_worker(1)], listen_queue=float("nan"))).encode(), id="queue-nan"),
    pytest.param(b'{"workers": [1]}', id="worker-not-an-object"),
    pytest.param(b'{"workers": "ab"}', id="workers-a-string"),
    pytest.param(b'{"workers": [], "listen_queue": 1e400}', id="queue-past-a-float"),
    pytest.param(b'{"workers": [], "listen_queue": Infinity}', id="queue-infinity"),
    pytest.param(b"[" * 100000, id="nested-past-the-recursion-limit"),
]


@pytest.mark.parametrize("payload", GARBAGE)
def test_vassal_sending_what_is_not_its_stats_is_down(scrape, vassals, payload):
    vassals.serve("shop", payload)
    assert scrape().apps("uwsgi_up") == {"shop": 0}


@pytest.mark.parametrize("kind", ["regular-file", "fifo", "directory", "symlink-to-a-live-socket"])
def test_stats_path_that_is_not_a_socket_is_down(scrape, vassals, kind):
    path = vassals.path("shop")
    live = vassals.serve("real", busy_vassal())
    if kind == "regular-file":
        path.write_bytes(GOOD)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        path.symlink_to(live.path)
    assert scrape().apps("uwsgi_up") == {"real": 1, "shop": 0}
    assert live.connections == 1  # the symlink was not followed


def test_unreadable_vassals_do_not_hide_the_others(scrape, vassals):
    vassals.serve("a-shop", busy_vassal())
    vassals.dead("b-dead")
    vassals.serve("c-garbage", b"<html>502 Bad Gateway</html>")
    vassals.serve("d-blog", uwsgi_stats([uwsgi_worker(1, requests=7)]))
    families = scrape()
    assert families.apps("uwsgi_up") == {"a-shop": 1, "b-dead": 0, "c-garbage": 0, "d-blog": 1}
    assert families.apps("uwsgi_requests_total") == {"a-shop": 406, "d-blog": 7}


# --- HTTP ------------------------------------------------------------------------------------

@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_UNIX], ids=["tcp-127.0.0.1", "unix"])
def test_scrape_of_metrics_is_answered_with_the_exposition(start_exporter, vassals, family):
    vassals.serve("shop", busy_vassal())
    reply = http_request(start_exporter(family).address)
    assert reply.status == 200
    assert parse_exposition(reply.text).value("uwsgi_requests_total", app="shop") == 406


def test_answer_is_typed_as_prometheus_text(exporter, vassals):
    vassals.serve("shop", busy_vassal())
    assert http_request(exporter.address).headers["Content-Type"] == PROMETHEUS_TEXT


def test_answer_length_counts_bytes_of_non_ascii_names(exporter, vassals):
    vassals.serve("café", busy_vassal())
    reply = parse_reply(exchange(exporter.address, GET))
    assert (int(reply.headers["Content-Length"]), reply.trailing) == (len(reply.body), b"")
    assert parse_exposition(reply.text).apps("uwsgi_up") == {"café": 1}


def test_connection_is_closed_after_one_answer(exporter, vassals):
    vassals.serve("shop", busy_vassal())
    with connect(exporter.address) as sock:
        sock.sendall(GET)
        reply = parse_reply(read_until_closed(sock))  # read_until_closed fails unless the server closes
    assert (reply.status, reply.headers["Connection"], reply.trailing) == (200, "close", b"")


def test_query_string_of_metrics_is_ignored(exporter, vassals):
    vassals.serve("shop", busy_vassal())
    reply = http_request(exporter.address, "/metrics?name[]=uwsgi_up")
    assert (reply.status, parse_exposition(reply.text).apps("uwsgi_up")) == (200, {"shop": 1})


@pytest.mark.parametrize("request_head", [
    pytest.param(b"GET / HTTP/1.1", id="root"),
    pytest.param(b"GET /metrics/ HTTP/1.1", id="trailing-slash"),
    pytest.param(b"GET /metricsx HTTP/1.1", id="longer-path"),
    pytest.param(b"GET /favicon.ico HTTP/1.1", id="other-file"),
    pytest.param(b"GET http://127.0.0.1:9117/metrics HTTP/1.1", id="absolute-form"),
    pytest.param(b"POST /metrics HTTP/1.1\r\nContent-Length: 0", id="post"),
    pytest.param(b"DELETE /metrics HTTP/1.1", id="delete"),
    pytest.param(b"get /metrics HTTP/1.1", id="lower-case-method"),
    pytest.param(b"GET", id="no-path"),
    pytest.param(b"", id="no-request-line"),
])
def test_anything_but_get_metrics_is_not_found(exporter, vassals, request_head):
    vassals.serve("shop", busy_vassal())
    reply = parse_reply(exchange(exporter.address, request_head + b"\r\nHost: localhost\r\n\r\n"))
    assert (reply.status, reply.headers["Content-Type"]) == (404, "text/plain; charset=utf-8")
    assert "/metrics" in reply.text and "uwsgi_" not in reply.text


def test_request_with_bare_line_feeds_is_answered(exporter, vassals):
    vassals.serve("shop", busy_vassal())
    reply = parse_reply(exchange(exporter.address, b"GET /metrics HTTP/1.0\nHost: localhost\n\n"))
    assert (reply.status, parse_exposition(reply.text).apps("uwsgi_up")) == (200, {"shop": 1})


def test_request_whose_client_stops_sending_is_answered(exporter, vassals):
    vassals.serve("shop", busy_vassal())
    reply = parse_reply(exchange(exporter.address, b"GET /metrics HTTP/1.0\r\n", end_request=True))
    assert reply.status == 200


def test_request_with_long_headers_under_the_limit_is_answered(metrics, exporter, vassals):
    vassals.serve("shop", busy_vassal())
    head = GET[:-2] + b"Cookie: " + b"c" * (metrics.MAX_REQUEST - len(GET) - 20) + b"\r\n\r\n"
    assert len(head) <= metrics.MAX_REQUEST
    assert parse_reply(exchange(exporter.address, head)).status == 200


def test_request_over_the_size_limit_is_dropped_unanswered(metrics, exporter, vassals):
    vassals.serve("shop", busy_vassal())
    endless = b"GET /metrics HTTP/1.1\r\nCookie: " + b"c" * (metrics.MAX_REQUEST + 3 * 4096)
    assert exchange(exporter.address, endless) == b""


def test_request_not_ended_in_time_is_dropped_unanswered(metrics, exporter, vassals, monkeypatch):
    vassals.serve("shop", busy_vassal())
    monkeypatch.setattr(metrics, "TIMEOUT", 0.2)
    with connect(exporter.address) as sock:
        start = time.monotonic()
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n")
        received = read_until_closed(sock)
        waited = time.monotonic() - start
    assert received == b""
    assert waited >= 0.1


def test_scrape_beyond_the_concurrency_limit_waits_for_a_free_slot(metrics, exporter, vassals):
    vassals.serve("shop", busy_vassal())
    holders = [connect(exporter.address) for _ in range(metrics.CONCURRENT)]  # silent: each holds a slot
    try:
        wait_for(lambda: exporter.blocked_in() == "acquire")
        waiting = connect(exporter.address)
        waiting.sendall(GET)
        assert (exporter.handlers_running(), exporter.blocked_in()) == (metrics.CONCURRENT, "acquire")
        holders.pop().close()
        with waiting:
            reply = parse_reply(read_until_closed(waiting))
        assert reply.status == 200
    finally:
        for sock in holders:
            sock.close()


def test_dropped_connections_give_their_slots_back(metrics, exporter, vassals, monkeypatch):
    vassals.serve("shop", busy_vassal())
    monkeypatch.setattr(metrics, "TIMEOUT", 0.05)
    stalled = [connect(exporter.address) for _ in range(2 * metrics.CONCURRENT)]
    for sock in stalled:
        with sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\n")
            assert read_until_closed(sock) == b""
    monkeypatch.setattr(metrics, "TIMEOUT", 10)
    assert http_request(exporter.address).status == 200


def test_failing_accept_gives_its_slot_back_and_serving_resumes(metrics, exporter, vassals):
    vassals.serve("shop", busy_vassal())
    with socket.socket(fileno=os.dup(SD_LISTEN_FDS_START)) as listener:  # the socket main() accepts on
        taken = exporter.slots_taken
        listener.shutdown(socket.SHUT_RDWR)  # from now on accept() fails (EINVAL), until it listens again
        # main() takes a slot before every accept: failing more often than there are slots, it
        # goes on only if every failure gave its slot back.
        wait_for(lambda: exporter.slots_taken > taken + 2 * metrics.CONCURRENT)
        listener.listen()
        exporter.address = listener.getsockname()  # a new port: the shutdown let the old one go
    reply = http_request(exporter.address)
    assert (reply.status, parse_exposition(reply.text).apps("uwsgi_up")) == (200, {"shop": 1})


def test_simultaneous_scrapes_each_get_the_whole_exposition(metrics, exporter, vassals):
    vassals.serve("shop", busy_vassal())
    vassals.dead("old")
    replies, errors = [], []
    barrier = threading.Barrier(metrics.CONCURRENT)

    def scrape_once():
        try:
            barrier.wait(5)
            replies.append(http_request(exporter.address))
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=scrape_once) for _ in range(metrics.CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert [(r.status, parse_exposition(r.text).apps("uwsgi_up")) for r in replies] == \
        [(200, {"old": 0, "shop": 1})] * metrics.CONCURRENT


def test_respawns_counted_across_scrapes_follow_the_workers_restarts(exporter, vassals):
    server = vassals.serve("shop", uwsgi_stats([uwsgi_worker(1), uwsgi_worker(2)]))
    seen = [parse_exposition(http_request(exporter.address).text).value("uwsgi_worker_respawns_total", app="shop")]
    for counts in ([2, 1], [4, 2]):  # worker 1 restarted once, then twice more; worker 2 once
        server.payload = json.dumps(uwsgi_stats([uwsgi_worker(1, respawn_count=counts[0]),
                                                 uwsgi_worker(2, respawn_count=counts[1])])).encode()
        reply = http_request(exporter.address)
        seen.append(parse_exposition(reply.text).value("uwsgi_worker_respawns_total", app="shop"))
    assert seen == [0, 1, 4]


# --- starting as systemd starts it -------------------------------------------------------------

@pytest.mark.parametrize("environment", [
    pytest.param({}, id="no-variables"),
    pytest.param({"LISTEN_FDS": "1"}, id="no-pid"),
    pytest.param({"LISTEN_PID": "{pid}"}, id="no-fds"),
    pytest.param({"LISTEN_PID": "1", "LISTEN_FDS": "1"}, id="other-process"),
    pytest.param({"LISTEN_PID": "{pid}", "LISTEN_FDS": "0"}, id="no-socket"),
    pytest.param({"LISTEN_PID": "{pid}", "LISTEN_FDS": "2"}, id="two-sockets"),
])
def test_main_refuses_to_run_without_its_one_socket(metrics, vassals, monkeypatch, capsys, environment):
    monkeypatch.delenv("LISTEN_PID", raising=False)
    monkeypatch.delenv("LISTEN_FDS", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value.format(pid=os.getpid()))
    monkeypatch.setattr(sys, "argv", [SCRIPT, vassals.pattern])
    assert metrics.main() == 2
    assert "uwsgi-metrics.socket" in capsys.readouterr().err


def test_program_run_by_hand_exits_2(vassals, monkeypatch, capsys):
    monkeypatch.delenv("LISTEN_PID", raising=False)
    monkeypatch.delenv("LISTEN_FDS", raising=False)
    monkeypatch.setattr(sys, "argv", [str(ROOT / SCRIPT), vassals.pattern])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(ROOT / SCRIPT), run_name="__main__")
    out, err = capsys.readouterr()
    assert (exited.value.code, out) == (2, "")
    assert "started without its socket" in err


def test_program_started_by_socket_activation_answers_scrapes(activated_process, vassals):
    vassals.serve("shop", busy_vassal())
    vassals.dead("old")
    reply = http_request(activated_process)
    assert (reply.status, parse_exposition(reply.text).apps("uwsgi_up")) == (200, {"old": 0, "shop": 1})


# --- the strict parser these tests read the expositions with ----------------------------------

HEAD = "# HELP x_total Things.\n# TYPE x_total counter\n"


@pytest.mark.parametrize("text", [
    pytest.param(HEAD + 'x_total{a="1"} 1', id="no-final-line-feed"),
    pytest.param(HEAD + "# HELP x_total Again.\n", id="second-help"),
    pytest.param(HEAD + "# TYPE x_total counter\n", id="second-type"),
    pytest.param('x_total{a="1"} 1\n# TYPE x_total counter\n', id="type-after-sample"),
    pytest.param(HEAD + 'x_total{a="1"} 1\ny 2\nx_total{a="2"} 1\n', id="split-group"),
    pytest.param(HEAD + 'x_total{a="1"} 1\nx_total{a="1"} 2\n', id="series-twice"),
    pytest.param(HEAD + 'x_total{a="1",a="2"} 1\n', id="label-twice"),
    pytest.param(HEAD + 'x_total{a="\\t"} 1\n', id="bad-label-escape"),
    pytest.param(HEAD + 'x_total{a="1} 1\n', id="unterminated-label"),
    pytest.param(HEAD + 'x_total{a="1" b="2"} 1\n', id="no-label-comma"),
    pytest.param(HEAD + 'x_total{1a="1"} 1\n', id="bad-label-name"),
    pytest.param(HEAD + 'x_total{__a="1"} 1\n', id="reserved-label-name"),
    pytest.param(HEAD + "x_total one\n", id="bad-value"),
    pytest.param(HEAD + "x_total 1 soon\n", id="bad-timestamp"),
    pytest.param(HEAD + "x_total\n", id="no-value"),
    pytest.param(HEAD + "x_total -1\n", id="negative-counter"),
    pytest.param(HEAD + "x_total NaN\n", id="nan-counter"),
    pytest.param("# HELP x bad \\t escape\n", id="bad-help-escape"),
    pytest.param("# TYPE x histogram\n", id="unhandled-type"),
    pytest.param("# TYPE x\n", id="type-without-kind"),
    pytest.param("# TYPE 1x gauge\n", id="bad-metric-name"),
    pytest.param("{a=\"1\"} 1\n", id="no-metric-name"),
])
def test_parser_rejects_malformed_text(text):
    with pytest.raises(FormatError):
        parse_exposition(text)


def test_parser_reads_escapes_labels_and_values():
    families = parse_exposition(
        "# HELP g A \\\\ gauge\\nof things.\n# TYPE g gauge\n"
        'g{a="q\\"b\\\\s\\nn",b="2",} -1.5e3 1700000000\ng 2\n# a comment\n\nu +Inf\n')
    assert (families["g"].help, families["g"].type) == ("A \\ gauge\nof things.", "gauge")
    assert families["g"].samples == {(("a", 'q"b\\s\nn'), ("b", "2")): -1500.0, (): 2.0}
    assert (families["u"].type, families.value("u")) == (None, float("inf"))
