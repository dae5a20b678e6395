"""The site under its real name, on every shape of host: both tiers, web only, app only."""

from __future__ import annotations

import json

from testlib.hosts import address, node
from testlib.http import curl, curl_command, http
from testlib.layout import UWSGI_PORT
from testlib.run import switch_maintenance

APP_ONLY = "prod-app"
WEB_ONLY = "prod-web"


def connects(client, target: str, port: int) -> bool:
    code = f"import socket; socket.create_connection(('{target}', {port}), timeout=5).close()"
    return client.run(f'python3 -c "{code}"').rc == 0


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


def test_app_uwsgi_port_is_refused_from_a_host_that_is_not_a_web_host() -> None:
    app_only, both = node(APP_ONLY, sudo=True), node("prod-both", sudo=True)
    assert connects(node(WEB_ONLY, sudo=True), address(both), UWSGI_PORT)
    assert not connects(app_only, address(both), UWSGI_PORT)


def test_maintenance_switches_a_web_host_whose_apps_are_on_other_hosts(domain) -> None:
    web = node(WEB_ONLY, sudo=True)

    def status(connect: str) -> str:
        return web.check_output(curl_command("/", "-o", "/dev/null", "-w", "%{http_code}", name=domain,
                                             connect=connect))

    try:
        on = switch_maintenance("on")
        assert on.rc == 0, on
        assert status(address(web)) == "503"  # the web host's own network address: not loopback
        assert status("127.0.0.1") == "200"
    finally:
        off = switch_maintenance("off")
    assert off.rc == 0, off
    assert status(address(web)) == "200"


def test_a_health_check_from_loopback_can_pin_this_hosts_own_app(domain, app_names) -> None:
    # What the release gate relies on: with X-Flask-Deploy-Pin: local, nginx on a host in both
    # groups sends the request to its own app, never to the other app host.
    host = node("prod-both", sudo=True)
    pinned = {json.loads(http(host, "/healthz", "-H", "X-Flask-Deploy-Pin: local", name=domain).body)["hostname"]
              for _ in range(10)}
    assert pinned == {"prod-both"}
