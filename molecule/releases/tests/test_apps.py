"""Two apps on one host, each isolated from the other.

notes (the bundled app) and counter (tests' own app, outside app/) run under one emperor and one
nginx. What one app's workers can reach is asked from inside the emperor's sandbox, as that app's
user (testlib.apps.worker_view); each test also shows the app reaches its own, so that a probe
that reaches nothing could not pass it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from testlib.apps import COUNTER, NOTES, App, state, worker_view
from testlib.http import http

PAIRS = [(NOTES, COUNTER), (COUNTER, NOTES)]
IDS = ["notes-to-counter", "counter-to-notes"]


def a_worker(host: Any, app: App) -> int:
    """A worker of the app's own vassal, as its stats name them (not a probe's process)."""
    return state(host, app)["workers"][0]


@pytest.fixture(scope="module")
def views(host) -> dict[str, dict[str, Any]]:
    """What each app's workers reach of their own things and of the other app's."""
    out = {}
    for app, other in PAIRS:
        paths = [p for a in (app, other) for p in (a.data_dir, a.database, a.config_dir, a.secret_key, a.env_file)]
        out[app.name] = worker_view(host, app, {
            "read": paths + [f"/proc/{a_worker(host, other)}/environ"],
            "connect": [a.socket for a in (app, other)] + [a.stats_socket for a in (app, other)],
            "scan": True,
        })
    return out


def test_each_app_answers_under_its_own_name(host) -> None:
    notes = json.loads(http(host, "/healthz").body)
    counter = json.loads(http(host, "/healthz", name=COUNTER.server_name, cert=COUNTER.certificate).body)
    assert counter["app"] == "counter" and "app" not in notes
    assert counter["release"] != notes["release"]


def test_each_app_has_its_own_user_data_config_and_socket(host) -> None:
    for app in (NOTES, COUNTER):
        assert host.user(app.name).shell == "/usr/sbin/nologin"
        assert host.file(app.data_dir).user == app.name and host.file(app.data_dir).mode == 0o750
        assert host.file(app.secret_key).group == app.name and host.file(app.secret_key).mode == 0o640
        assert host.file(app.socket).user == app.name and host.file(app.socket).group == "www-data"
    assert host.user(NOTES.name).uid != host.user(COUNTER.name).uid


@pytest.mark.parametrize(("app", "other"), PAIRS, ids=IDS)
def test_workers_cannot_read_the_other_apps_data_config_or_secret(views, app, other) -> None:
    read = views[app.name]["read"]
    for path in (other.data_dir, other.database, other.config_dir, other.secret_key, other.env_file):
        assert read[path] == "PermissionError", path
    for path in (app.data_dir, app.database, app.secret_key, app.env_file):
        assert read[path] == "ok", path


@pytest.mark.parametrize(("app", "other"), PAIRS, ids=IDS)
def test_workers_cannot_read_the_other_apps_environment(host, views, app, other) -> None:
    environ = [p for p in views[app.name]["read"] if p.startswith("/proc/")]
    assert [views[app.name]["read"][p] for p in environ] == ["PermissionError"]
    # The other app's environment holds its secret: it is in its workers, not readable here.
    if other is COUNTER:
        assert "COUNTER_API_TOKEN" in host.file(COUNTER.env_file).content_string


@pytest.mark.parametrize(("app", "other"), PAIRS, ids=IDS)
def test_workers_cannot_connect_to_the_other_apps_socket_or_stats(views, app, other) -> None:
    connect = views[app.name]["connect"]
    assert connect[other.socket] == "PermissionError"
    assert connect[other.stats_socket] == "PermissionError"
    assert connect[app.socket] == "ok"
    assert connect[app.stats_socket] == "ok"


@pytest.mark.parametrize("app", [NOTES, COUNTER], ids=["notes", "counter"])
def test_workers_can_write_only_in_their_own_data_directory(views, app) -> None:
    # The app's stats socket lives in its own runtime directory, which uWSGI makes for it.
    own = (app.data_dir, app.run_dir)
    outside = [p for p in views[app.name]["writable"] if not any(p == d or p.startswith(d + "/") for d in own)]
    assert outside == []
    assert app.data_dir in views[app.name]["writable"]
    assert app.tmp_dir in views[app.name]["writable"]


def test_workers_keep_temporary_files_in_their_own_data_directory(host) -> None:
    for app in (NOTES, COUNTER):
        assert f"env = TMPDIR={app.tmp_dir}" in host.file(app.vassal).content_string
        assert host.file(app.tmp_dir).user == app.name and host.file(app.tmp_dir).mode == 0o700
