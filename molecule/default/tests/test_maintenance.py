"""Maintenance mode (playbooks/maintenance.yml): while it is on, clients elsewhere get 503 with
Retry-After and the site's own page, the host's loopback still reaches the app (the health-gated
deploy goes that way), and switching on and back off fails no request under load."""

from __future__ import annotations

from typing import Any

import pytest
from testlib.hosts import address
from testlib.http import http
from testlib.layout import STYLESHEET
from testlib.load import load
from testlib.run import PlaybookRun, switch_maintenance

RETRY_AFTER = "300"  # nginx_vhost_maintenance_retry_after's default


def switch(host: Any, state: str) -> PlaybookRun:
    return switch_maintenance(state, "--limit", host.backend.hostname)


@pytest.fixture(scope="module")
def seen(host: Any) -> dict[str, Any]:
    """What a client elsewhere (the host's own network address, not loopback) and the loopback
    get while the site is switched into maintenance and back, under load from elsewhere."""
    public = address(host)
    out: dict[str, Any] = {}
    # Static files: no rate limit, so every answer is the switch's.
    with load(host, STYLESHEET, connect=public, accept=(503,)) as summary:
        try:
            out["on"] = switch(host, "on")
            out["public"] = http(host, "/", connect=public)
            out["public_post"] = http(host, "/api/notes", "-XPOST", "-H", "Content-Type: application/json",
                                      "-d", '{"text": "sent during maintenance"}', connect=public)
            out["loopback_healthz"] = http(host, "/healthz")
        finally:
            out["off"] = switch(host, "off")
        out["public_after"] = http(host, "/", connect=public)
    out["load"] = summary
    return out


def test_switching_on_and_off_succeeds(seen: dict[str, Any]) -> None:
    assert seen["on"].rc == 0, seen["on"]
    assert seen["off"].rc == 0, seen["off"]


def test_public_gets_503_with_retry_after_and_the_sites_own_page(seen: dict[str, Any]) -> None:
    page = seen["public"]
    assert page.status == 503
    assert page.headers["retry-after"] == RETRY_AFTER
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>Down for maintenance</title>" in page.body


def test_maintenance_page_is_never_cached_and_keeps_the_security_headers(seen: dict[str, Any]) -> None:
    headers = seen["public"].headers
    assert headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"


def test_public_post_gets_503_and_the_page_too_and_reaches_no_app(seen: dict[str, Any]) -> None:
    assert seen["public_post"].status == 503
    assert "<title>Down for maintenance</title>" in seen["public_post"].body
    assert "sent during maintenance" not in seen["public_after"].body


def test_loopback_healthz_still_reaches_the_app(seen: dict[str, Any]) -> None:
    response = seen["loopback_healthz"]
    assert response.status == 200
    assert '"status":"ok"' in response.body.replace(" ", "")


def test_switching_off_serves_the_public_again(seen: dict[str, Any]) -> None:
    assert seen["public_after"].status == 200
    assert "Down for maintenance" not in seen["public_after"].body


def test_no_request_fails_while_switching_either_way(seen: dict[str, Any]) -> None:
    summary = seen["load"]
    assert summary["failed"] == 0, summary
    # The load saw the site serve, then the maintenance page, then serve again.
    assert summary["by_status"].get("503", 0) > 0, summary
    assert summary["by_status"].get("200", 0) > 0, summary
