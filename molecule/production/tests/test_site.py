"""The site under its real name, on every shape of host: both tiers, web only, app only."""

from __future__ import annotations

import json

from testlib.hosts import address, node
from testlib.http import curl, http
from testlib.layout import UWSGI_PORT

APP_ONLY = "prod-app"


def test_the_domain_resolves_to_the_web_hosts(host, domain, web_names) -> None:
    resolved = set(host.check_output(f"getent ahostsv4 {domain} | cut -d' ' -f1").split())
    assert resolved == {address(node(name)) for name in web_names}


def test_site_answers_its_name_over_https_with_a_certificate_for_it(web, domain) -> None:
    result = curl(node(web, sudo=True), "/healthz", "-w", "%{http_code}", name=domain)
    assert result.stdout == "200", result.stderr


def test_a_name_the_site_does_not_have_is_refused(web) -> None:
    result = node(web, sudo=True).run("openssl s_client -connect 127.0.0.1:443 -servername localhost </dev/null")
    assert result.rc != 0
    assert "unrecognized name" in result.stderr


def test_requests_through_each_web_host_reach_both_app_hosts(web, domain, app_names) -> None:
    host = node(web, sudo=True)
    answers = {json.loads(http(host, "/healthz", name=domain).body)["hostname"] for _ in range(20)}
    assert answers == set(app_names)


def test_app_only_host_runs_no_nginx() -> None:
    assert not node(APP_ONLY).package("nginx").is_installed


def test_app_only_host_binds_uwsgi_to_its_own_address_only() -> None:
    app = node(APP_ONLY, sudo=True)
    listening = app.socket.get_listening_sockets()
    assert f"tcp://{address(app)}:{UWSGI_PORT}" in listening
    assert f"tcp://0.0.0.0:{UWSGI_PORT}" not in listening


def test_a_health_check_from_loopback_can_pin_this_hosts_own_app(domain, app_names) -> None:
    # What the release gate relies on: with X-Flask-Deploy-Pin: local, nginx on a host in both
    # groups sends the request to its own app, never to the other app host.
    host = node("prod-both", sudo=True)
    pinned = {json.loads(http(host, "/healthz", "-H", "X-Flask-Deploy-Pin: local", name=domain).body)["hostname"]
              for _ in range(10)}
    assert pinned == {"prod-both"}
