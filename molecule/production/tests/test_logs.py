"""Logs rotate on a bare host, under load, without losing a request."""

from __future__ import annotations

import uuid

import pytest
from conftest import SERVER_NAME, WEB, https, node
from harness import install_loadgen, load

ACCESS_LOG = "/var/log/nginx/notes.access.log"


@pytest.mark.parametrize("web", WEB)
def test_logrotate_runs_daily_from_its_timer(web: str) -> None:
    host = node(web)
    assert host.package("logrotate").is_installed
    assert host.service("logrotate.timer").is_enabled
    assert host.run("logrotate --debug /etc/logrotate.d/nginx").rc == 0


@pytest.mark.parametrize("web", WEB)
def test_forced_rotation_under_load_fails_no_request_and_new_requests_go_to_the_new_file(web: str) -> None:
    host = node(web)
    install_loadgen(host)
    with load(host, "https", "/livez", server_name=SERVER_NAME, connect="127.0.0.1") as summary:
        rotated = host.run("logrotate --force /etc/logrotate.d/nginx")
    assert rotated.rc == 0, rotated.stderr
    assert summary["sent"] > 50
    assert summary["failed"] == 0, summary
    marker = f"after-rotation-{uuid.uuid4()}"
    assert https(host, f"/livez?{marker}", "-o", "/dev/null").rc == 0
    assert host.run(f"grep -qF {marker} {ACCESS_LOG}").rc == 0
    assert host.run(f"grep -qF {marker} {ACCESS_LOG}.1").rc != 0
    assert host.file(f"{ACCESS_LOG}.1").exists
