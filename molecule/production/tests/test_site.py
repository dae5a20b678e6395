"""The site under its real name, on every shape of host: both tiers, web only, app only."""

from __future__ import annotations

import json

import pytest
from conftest import APPS, SERVER_NAME, WEB, address, https, node

APP_ONLY = "prod-app"


def test_the_domain_resolves_to_the_web_hosts(host) -> None:
    resolved = set(host.check_output(f"getent ahostsv4 {SERVER_NAME} | cut -d' ' -f1").split())
    assert resolved == {address(node(name)) for name in WEB}


@pytest.mark.parametrize("web", WEB)
def test_site_answers_its_name_over_https_with_a_certificate_for_it(web: str) -> None:
    result = https(node(web), "/healthz", "-o", "/dev/null", "-w", "%{http_code}")
    assert result.stdout == "200", result.stderr


@pytest.mark.parametrize("web", WEB)
def test_a_name_the_site_does_not_have_is_refused(web: str) -> None:
    result = node(web).run("openssl s_client -connect 127.0.0.1:443 -servername localhost </dev/null")
    assert result.rc != 0
    assert "unrecognized name" in result.stderr


@pytest.mark.parametrize("web", WEB)
def test_requests_through_each_web_host_reach_both_app_hosts(web: str) -> None:
    answers = {json.loads(https(node(web), "/healthz").stdout)["hostname"] for _ in range(20)}
    assert answers == set(APPS)


def test_app_only_host_runs_no_nginx() -> None:
    assert not node(APP_ONLY).package("nginx").is_installed


def test_app_only_host_binds_uwsgi_to_its_own_address_only() -> None:
    app = node(APP_ONLY)
    listening = app.socket.get_listening_sockets()
    assert f"tcp://{address(app)}:3031" in listening
    assert "tcp://0.0.0.0:3031" not in listening
