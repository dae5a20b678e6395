"""The site's certificate comes from a real ACME CA (Pebble, on the scenario's network), over
HTTP-01 on both web hosts that serve the name, and is renewed on the host without Ansible.

Clients on the hosts trust Pebble's root (prepare.yml), as browsers trust a public CA's.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import testinfra
from testlib.hosts import node
from testlib.http import http, s_client
from testlib.layout import ACME_DIR, CLIENT_CA, VHOST_FILE
from testlib.load import load
from testlib.run import SCENARIO, run_playbook
from testlib.wait import wait_until

WEB_PLAY = SCENARIO / "tests" / "web-tier.yml"
PEBBLE_CA = "/etc/letsencrypt/flask-deploy-directory-ca.pem"
PEBBLE_DIRECTORY = "https://pebble:14000/dir"  # inventory/group_vars/web.yml: nginx_vhost_acme_directory


@pytest.fixture(scope="module")
def pebble() -> Any:
    return testinfra.get_host("docker://prod-acme")


def orders(pebble: Any) -> int:
    """New orders Pebble has taken since it started."""
    return int(pebble.check_output("journalctl -u pebble --no-pager -o cat | grep -c 'POST /order-plz' || true"))


def served(host: Any, name: str) -> Any:
    """What an s_client to the host's HTTPS port with SNI name sees, checked against the trust store."""
    return s_client(host, "-verify_hostname", name, "-CAfile", CLIENT_CA, "-verify_return_error", name=name)


def nginx_master(host: Any) -> str:
    return host.check_output("systemctl show -p MainPID --value nginx")


def serial(host: Any, name: str) -> str:
    return host.check_output(
        f"openssl s_client -connect 127.0.0.1:443 -servername {name} </dev/null 2>/dev/null"
        " | openssl x509 -noout -serial"
    )


def test_served_certificate_is_issued_by_the_ca_for_every_name_of_the_site(web, server_names) -> None:
    host = node(web, sudo=True)
    for name in server_names:
        result = served(host, name)
        assert result.rc == 0, f"{name}: {result.stderr}"
        assert "Verify return code: 0 (ok)" in result.stdout, name
        assert "Pebble Intermediate CA" in result.stdout, name


def test_each_web_host_ordered_its_own_certificate(domain, web_names) -> None:
    serials = {serial(node(web, sudo=True), domain) for web in web_names}
    assert len(serials) == len(web_names)


def test_hsts_is_on_with_the_ca_issued_certificate(web, domain) -> None:
    headers = http(node(web, sudo=True), "/livez", name=domain).headers
    assert headers["strict-transport-security"].startswith("max-age=")


def test_certificates_are_renewed_on_the_host_by_certbots_timer(web) -> None:
    timer = node(web, sudo=True).service("certbot.timer")
    assert timer.is_enabled
    assert timer.is_running


def test_the_timers_renewal_job_runs_cleanly_against_the_ca(web) -> None:
    # What the timer starts, as it starts it (the unit's drop-in trusts the CA's own HTTPS).
    host = node(web, sudo=True)
    started = host.run("systemctl start certbot.service")
    assert started.rc == 0, started.stderr
    assert host.check_output("systemctl show -p Result --value certbot.service") == "success"


def test_a_dry_run_renewal_against_the_private_ca_succeeds_as_the_docs_say(web) -> None:
    # docs/certificates.md: --dry-run goes to Let's Encrypt's staging server unless --server names
    # the CA's directory, and certbot run by hand needs the CA's trust that the timer's unit has.
    host = node(web, sudo=True)
    dry = host.run(f"REQUESTS_CA_BUNDLE={PEBBLE_CA} certbot renew --dry-run --no-random-sleep-on-renew"
                   f" --server {PEBBLE_DIRECTORY}")
    assert dry.rc == 0, dry.stderr
    assert "Congratulations, all simulated renewals succeeded" in dry.stdout + dry.stderr


def test_a_challenge_token_another_web_host_placed_is_served_by_this_one(domain, web_names) -> None:
    # The CA's request for a token may reach either web host; the one without it asks its peers.
    owner, other = (node(web, sudo=True) for web in web_names)
    token = f"token-{uuid.uuid4().hex}"
    owner.check_output(f"echo {token}.key > {ACME_DIR}/{token}")
    try:
        fetched = http(other, f"/.well-known/acme-challenge/{token}", name=domain, scheme="http")
    finally:
        owner.run(f"rm -f {ACME_DIR}/{token}")
    assert (fetched.status, fetched.body.strip()) == (200, f"{token}.key")


def test_a_token_no_web_host_has_is_404_without_going_round(web, domain) -> None:
    missing = f"/.well-known/acme-challenge/missing-{uuid.uuid4().hex}"
    assert http(node(web, sudo=True), missing, name=domain, scheme="http").status == 404


def test_forced_renewal_under_load_is_served_after_a_graceful_reload(domain) -> None:
    host = node("prod-both", sudo=True)
    before, master = serial(host, domain), nginx_master(host)
    # The load is flowing before the renewal and goes on after the reload, however slow the host.
    with load(host, "/livez", name=domain, sent_before=25, sent_after=50) as summary:
        renewed = host.run(f"REQUESTS_CA_BUNDLE={PEBBLE_CA} certbot renew --cert-name notes --force-renewal"
                           " --no-random-sleep-on-renew")
        assert renewed.rc == 0, renewed.stderr
        wait_until(lambda: serial(host, domain) != before, 30)  # the reload is asynchronous
    assert nginx_master(host) == master
    assert summary["sent"] > 50
    assert summary["failed"] == 0, summary


def test_a_rerun_with_a_valid_certificate_places_no_order(pebble) -> None:
    before = orders(pebble)
    run = run_playbook(WEB_PLAY)
    assert run.rc == 0, run
    assert set(run.changed.values()) == {0}, run.changed
    assert orders(pebble) == before


def test_a_site_moved_to_another_ca_gets_a_certificate_from_it(pebble, domain) -> None:
    # As from Let's Encrypt's staging CA to its production one. Pebble answers its directory under
    # another URL too (a query string), which certbot records as another CA.
    host = node("prod-both", sudo=True)
    before, orders_before = serial(host, domain), orders(pebble)
    other = "https://pebble:14000/dir?second-ca"
    try:
        moved = run_playbook(WEB_PLAY, "-e", f"nginx_vhost_acme_directory={other}")
        assert moved.rc == 0, moved
        assert orders(pebble) > orders_before
        assert f"server = {other}" in host.file("/etc/letsencrypt/renewal/notes.conf").content_string
        wait_until(lambda: serial(host, domain) != before, 30)
    finally:
        assert run_playbook(WEB_PLAY).rc == 0  # back to the inventory's CA, for the tests after this one


def names_extra_vars(domain: str, *more: str, **extra: str) -> tuple[str, str]:
    return "-e", json.dumps({"notes_server_names": [domain, *more], **extra})


def test_an_unreachable_ca_fails_the_run_naming_the_site_and_the_site_keeps_its_certificate(domain) -> None:
    host = node("prod-both", sudo=True)
    before = serial(host, domain)
    run = run_playbook(WEB_PLAY, *names_extra_vars(domain, f"new.{domain}",
                                                   nginx_vhost_acme_directory="https://pebble:14001/dir"))
    assert run.rc != 0, run
    assert f"Site notes got no certificate for {domain}, new.{domain} from https://pebble:14001/dir" in run.text
    assert "Connection refused" in run.text or "Failed to establish" in run.text, run.text
    assert serial(host, domain) == before
    assert f"new.{domain}" not in host.file(VHOST_FILE).content_string


def test_a_name_that_fails_validation_fails_the_run_naming_it_and_the_site_keeps_its_certificate(domain) -> None:
    host = node("prod-both", sudo=True)
    before = serial(host, domain)
    missing = f"missing-{uuid.uuid4().hex[:8]}.example.test"
    run = run_playbook(WEB_PLAY, *names_extra_vars(domain, missing))
    assert run.rc != 0, run
    assert f"Site notes got no certificate for {domain}, {missing}" in run.text
    assert f"Domain: {missing}" in run.text, run.text
    assert serial(host, domain) == before
    assert missing not in host.file(VHOST_FILE).content_string
