"""The roles' alerts, fired by real faults on notes-debian12 and seen in the Prometheus server's
own /api/v1/alerts (notes-debian13: Debian's prometheus, files/prometheus.yml, scraping every
2 s the targets playbooks/prometheus.yml lists from the inventory, with the rules it writes).
Its thresholds are lowered for the drills (host_vars/notes-debian13.yml): 20 s without a good
backup, 5xx counted over 15 s and held 5 s; the certificate's 14 days are the shipped ones.

Each drill runs once (a module fixture): the alert is silent, the fault is made, the alert
fires, the fault is undone, the alert resolves; each step's seconds are recorded, and each test
asserts one of them. The host ends as converged however a drill ends. The drills run in
notes-debian12's own xdist group (conftest.py), so that none of its other tests runs beside them.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterator
from typing import Any

import pytest
from testlib.hosts import node
from testlib.http import curl_command
from testlib.layout import APP, BACKUP_DIR, BACKUP_SERVICE, TLS_CERT, TLS_KEY, VASSAL_INI
from testlib.prometheus import active_at, alert_state, api, firing_alert, query, record, seconds_until

DRILLED = "notes-debian12"
pytestmark = pytest.mark.xdist_group(DRILLED)

BACKUP_MAX_AGE = 20  # host_vars/notes-debian13.yml: python_app_alert_backup_max_age
NO_BACKUP = "FlaskDeployNoGoodBackupFor26Hours"
BACKUP_METRIC = "flask_deploy_backup_last_success_timestamp_seconds"
CERTIFICATE = "FlaskDeployCertificateExpiresWithin14Days"
RATIO_5XX = "FlaskDeploy5xxRatioHigh"
EXPIRY_SERVICE = "flask-deploy-certificate-expiry.service"
SCRAPE_JOBS = {"node", "nginx", "nginx-responses", "uwsgi"}


@pytest.fixture(scope="module")
def drilled() -> Any:
    return node(DRILLED, sudo=True)


@pytest.fixture(scope="module")
def server() -> Any:
    return node("notes-debian13", sudo=True)


def state(server: Any, name: str, **labels: str) -> str:
    return alert_state(server, name, instance=DRILLED, **labels)


def requests(host: Any, count: int, path: str = "/livez") -> list[int]:
    """count GETs of the site in one go (one command on the host): their status codes."""
    curl = curl_command(path, "-o", "/dev/null", "-w", "%{http_code}\\n", max_time=5)
    return [int(code) for code in host.check_output(f"for i in $(seq {count}); do {curl} || true; done").split()]


def test_prometheus_scrapes_every_metrics_port_of_each_host_the_inventory_names(server):
    targets = api(server, "targets")["activeTargets"]
    seen = {(t["labels"]["job"], t["labels"]["instance"]) for t in targets}
    assert seen == {(job, h) for job in SCRAPE_JOBS for h in (DRILLED, "notes-debian13")}
    # Up within a few scrapes of converge, if not yet.
    assert seconds_until(lambda: all(t["health"] == "up" for t in api(server, "targets")["activeTargets"]), 30) is not None


def test_prometheus_evaluates_the_roles_rules(server):
    names = {rule["name"] for group in api(server, "rules")["groups"] for rule in group["rules"]}
    assert {NO_BACKUP, CERTIFICATE, RATIO_5XX, "FlaskDeployMetricsTargetDown"} <= names


# --- 1. The backups stop succeeding ---------------------------------------------------------------


def backup(host: Any) -> int:
    return host.run(f"systemctl start {BACKUP_SERVICE}").rc


@pytest.fixture(scope="module")
def backup_drill(drilled: Any, server: Any) -> Iterator[dict[str, Any]]:
    """A good backup; then the app user may no longer write the backup directory, and the backup
    (the timer's service, started now) fails; then the directory is put right and a backup made."""
    seen: dict[str, Any] = {}
    labels = {"app": APP}
    try:
        assert backup(drilled) == 0
        seen["silent_after_good_backup"] = seconds_until(lambda: state(server, NO_BACKUP, **labels) == "inactive", 30)
        drilled.check_output(f"chmod 0500 {BACKUP_DIR}")
        seen["failed_backup_rc"] = backup(drilled)
        seen["fired_after_failure"] = seconds_until(lambda: state(server, NO_BACKUP, **labels) == "firing",
                                                    BACKUP_MAX_AGE + 30)
        if seen["fired_after_failure"] is not None:
            seen["alert"] = firing_alert(server, NO_BACKUP, instance=DRILLED, **labels)
            # Prometheus' own times: the newest good backup's, and when the alert's condition held first.
            last_good = float(query(server, f'{BACKUP_METRIC}{{instance="{DRILLED}",app="{APP}"}}')[0]["value"][1])
            seen["fired_after_good_backup"] = active_at(seen["alert"]) - last_good
        drilled.check_output(f"chmod 0700 {BACKUP_DIR}")
        seen["repaired_backup_rc"] = backup(drilled)
        seen["resolved_after_repair"] = seconds_until(lambda: state(server, NO_BACKUP, **labels) == "inactive", 30)
    finally:
        drilled.run(f"chmod 0700 {BACKUP_DIR}")
    record("backup", seen)
    yield seen


def test_no_good_backup_alert_is_silent_while_the_newest_backup_is_recent(backup_drill):
    assert backup_drill["silent_after_good_backup"] is not None


def test_no_good_backup_alert_fires_once_backups_fail_for_longer_than_its_threshold(backup_drill):
    assert backup_drill["failed_backup_rc"] != 0, "the backup did not fail: no fault was made"
    assert backup_drill["fired_after_failure"] is not None, f"{NO_BACKUP} did not fire"
    # Not before the threshold: it counts from the last good backup.
    assert BACKUP_MAX_AGE <= backup_drill["fired_after_good_backup"] < BACKUP_MAX_AGE + 10
    alert = backup_drill["alert"]
    assert alert["labels"]["severity"] == "critical"
    assert APP in alert["annotations"]["summary"] and DRILLED in alert["annotations"]["summary"]


def test_no_good_backup_alert_resolves_with_the_next_good_backup(backup_drill):
    assert backup_drill["repaired_backup_rc"] == 0
    assert backup_drill["resolved_after_repair"] is not None, f"{NO_BACKUP} still fires"


# --- 2. A site serves a certificate that expires soon -------------------------------------------

SHORT_LIVED = ("openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj /CN=localhost "
               "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout {key} -out {crt}")


def served_end(host: Any) -> str:
    """notAfter=... of the certificate the site serves."""
    return host.check_output("openssl s_client -connect 127.0.0.1:443 -servername localhost </dev/null 2>/dev/null"
                             " | openssl x509 -noout -enddate")


@pytest.fixture(scope="module")
def certificate_drill(drilled: Any, server: Any) -> Iterator[dict[str, Any]]:
    """The site's certificate is replaced by one that ends in 3 days and nginx reloaded; the
    hourly writer of the certificates' ends runs; then the real certificate is put back."""
    seen: dict[str, Any] = {}
    labels = {"site": APP}
    saved = "/root/alert-drill-certificate"
    drilled.check_output(f"mkdir -p {saved} && cp -p {TLS_CERT} {TLS_KEY} {saved}/")
    real_end = served_end(drilled)
    try:
        seen["silent_before"] = seconds_until(lambda: state(server, CERTIFICATE, **labels) == "inactive", 10)
        drilled.check_output(SHORT_LIVED.format(key=f"{saved}/short.key", crt=f"{saved}/short.crt"))
        drilled.check_output(f"cat {saved}/short.crt > {TLS_CERT} && cat {saved}/short.key > {TLS_KEY}"
                             " && systemctl reload nginx")
        short_end = drilled.check_output(f"openssl x509 -noout -enddate -in {saved}/short.crt")
        start = time.monotonic()
        seen["served_short_lived"] = seconds_until(lambda: served_end(drilled) == short_end, 10) is not None
        drilled.check_output(f"systemctl start {EXPIRY_SERVICE}")
        seen["fired_after_fault"] = seconds_until(lambda: state(server, CERTIFICATE, **labels) == "firing", 30)
        if seen["fired_after_fault"] is not None:
            seen["fired_after_fault"] = time.monotonic() - start
            seen["alert"] = firing_alert(server, CERTIFICATE, instance=DRILLED, **labels)
        drilled.check_output(f"cp -p {saved}/{TLS_CERT.rsplit('/', 1)[1]} {TLS_CERT} && "
                             f"cp -p {saved}/{TLS_KEY.rsplit('/', 1)[1]} {TLS_KEY} && systemctl reload nginx")
        start = time.monotonic()
        seen["served_real_again"] = seconds_until(lambda: served_end(drilled) == real_end, 10) is not None
        drilled.check_output(f"systemctl start {EXPIRY_SERVICE}")
        seen["resolved_after_repair"] = seconds_until(lambda: state(server, CERTIFICATE, **labels) == "inactive", 30)
        if seen["resolved_after_repair"] is not None:
            seen["resolved_after_repair"] = time.monotonic() - start
    finally:
        name = shlex.quote(saved)
        drilled.run(f"cp -p {name}/{TLS_CERT.rsplit('/', 1)[1]} {TLS_CERT} && cp -p {name}/{TLS_KEY.rsplit('/', 1)[1]} "
                    f"{TLS_KEY} && systemctl reload nginx && systemctl start {EXPIRY_SERVICE}; rm -rf {name}")
    record("certificate", seen)
    yield seen


def test_certificate_alert_is_silent_while_the_certificate_has_long_to_run(certificate_drill):
    assert certificate_drill["silent_before"] is not None


def test_certificate_alert_fires_when_the_site_serves_one_ending_within_14_days(certificate_drill):
    assert certificate_drill["served_short_lived"], "nginx did not serve the short-lived certificate: no fault was made"
    assert certificate_drill["fired_after_fault"] is not None, f"{CERTIFICATE} did not fire"
    alert = certificate_drill["alert"]
    assert alert["labels"]["severity"] == "warning"
    assert 2 * 86400 < float(alert["value"]) <= 3 * 86400  # the seconds left, as the summary says them


def test_certificate_alert_resolves_once_the_real_certificate_is_served_again(certificate_drill):
    assert certificate_drill["served_real_again"]
    assert certificate_drill["resolved_after_repair"] is not None, f"{CERTIFICATE} still fires"


# --- 3. A burst of 5xx: the app's workers are gone ------------------------------------------------


@pytest.fixture(scope="module")
def errors_drill(drilled: Any, server: Any) -> Iterator[dict[str, Any]]:
    """The app's vassal is taken from the emperor (its workers stop: nginx answers 502) while
    clients keep asking; then it is given back and the clients get 200 again."""
    seen: dict[str, Any] = {"codes_during_fault": [], "codes_after": []}
    parked = f"/root/{APP}.ini.alert-drill"
    try:
        seen["silent_before"] = seconds_until(lambda: state(server, RATIO_5XX) == "inactive", 30)
        drilled.check_output(f"mv {VASSAL_INI} {parked}")
        start = time.monotonic()

        def clients_get_5xx_and_it_fires() -> bool:
            seen["codes_during_fault"] += requests(drilled, 5)
            return state(server, RATIO_5XX) == "firing"

        seen["fired_after_fault"] = seconds_until(clients_get_5xx_and_it_fires, 60, every=0)
        if seen["fired_after_fault"] is not None:
            seen["fired_after_fault"] = time.monotonic() - start
            seen["alert"] = firing_alert(server, RATIO_5XX, instance=DRILLED)
        drilled.check_output(f"mv {parked} {VASSAL_INI}")
        start = time.monotonic()
        seen["app_back"] = seconds_until(lambda: requests(drilled, 1) == [200], 60)

        def clients_get_200_and_it_resolves() -> bool:
            seen["codes_after"] += requests(drilled, 5)
            return state(server, RATIO_5XX) == "inactive"

        seen["resolved_after_repair"] = seconds_until(clients_get_200_and_it_resolves, 60, every=0)
        if seen["resolved_after_repair"] is not None:
            seen["resolved_after_repair"] = time.monotonic() - start
    finally:
        drilled.run(f"test -e {VASSAL_INI} || mv {parked} {VASSAL_INI}")
        seconds_until(lambda: requests(drilled, 1) == [200], 60)
    record("5xx", seen)
    yield seen


def test_5xx_alert_is_silent_while_the_app_answers(errors_drill):
    assert errors_drill["silent_before"] is not None


def test_5xx_alert_fires_when_the_apps_workers_are_gone(errors_drill):
    codes = errors_drill["codes_during_fault"]
    assert codes and all(code >= 500 for code in codes[-5:]), f"no burst of 5xx was made: {codes}"
    assert errors_drill["fired_after_fault"] is not None, f"{RATIO_5XX} did not fire"
    assert errors_drill["alert"]["labels"]["severity"] == "critical"


def test_5xx_alert_resolves_once_the_app_answers_again(errors_drill):
    assert errors_drill["app_back"] is not None, "the app did not come back"
    assert set(errors_drill["codes_after"]) == {200}
    assert errors_drill["resolved_after_repair"] is not None, f"{RATIO_5XX} still fires"
