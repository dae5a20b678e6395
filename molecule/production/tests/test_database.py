"""The app's shared database: Debian's PostgreSQL on its own host, reached by the app hosts only,
over TLS with the server's certificate and name verified, each app's role in its own database,
and sized for every worker of every app host."""

from __future__ import annotations

import json

import pytest
from testlib.database import app_connects, psql
from testlib.hosts import address, node
from testlib.http import http
from testlib.layout import ENV_FILE
from testlib.load import install_loadgen
from testlib.run import SCENARIO, run_playbook
from testlib.uwsgi import worker_pids

DB = "prod-db"
WEB_ONLY = "prod-web"
CONSISTENCY = "/usr/local/bin/flask-deploy-consistency"


@pytest.fixture(scope="module")
def db():
    return node(DB, sudo=True)


def test_postgresql_is_debians_own_with_data_checksums(db) -> None:
    # prod-db runs Debian 12: PostgreSQL 15.
    assert psql(db, "SHOW server_version_num").startswith("15")
    assert psql(db, "SHOW data_checksums") == "on"
    assert db.service("postgresql@15-main").is_running
    assert db.service("postgresql@15-main").is_enabled


def test_memory_follows_the_inventory_and_connections_every_worker(db, app_names) -> None:
    # group_vars/db.yml gives PostgreSQL 1024 MiB: a quarter is shared_buffers.
    assert psql(db, "SHOW shared_buffers") == "256MB"
    assert psql(db, "SHOW effective_cache_size") == "768MB"
    workers = sum(len(worker_pids(node(app, sudo=True))) for app in app_names)
    assert int(psql(db, "SHOW max_connections")) == workers + 20


def test_health_checks_report_postgresql(domain) -> None:
    web = node(WEB_ONLY, sudo=True)
    bodies = [json.loads(http(web, "/healthz", name=domain).body) for _ in range(6)]
    assert {(b["status"], b["database"]) for b in bodies} == {("ok", "postgresql")}


def test_app_is_told_a_url_that_verifies_the_server_and_finds_the_primary(app) -> None:
    url = node(app, sudo=True).check_output(f"sed -n 's/^NOTES_DATABASE_URL=//p' {ENV_FILE}")
    assert url.startswith(f"postgresql://notes@{address(node(DB))}:5432/notes?")
    assert "sslmode=verify-full" in url and "target_session_attrs=read-write" in url


def test_app_connects_over_tls_and_verifies_the_server(app) -> None:
    seen = app_connects(node(app, sudo=True))
    assert seen == {"ssl": True, "tls": seen["tls"], "database": "notes", "user": "notes"}
    assert seen["tls"] in ("TLSv1.2", "TLSv1.3")


def test_a_server_the_app_cannot_verify_is_refused(app) -> None:
    # The system's public CAs did not sign the server's certificate: verify-full stops there.
    seen = app_connects(node(app, sudo=True), sslrootcert="/etc/ssl/certs/ca-certificates.crt")
    assert "certificate verify failed" in seen.get("error", ""), seen


def test_a_connection_without_tls_is_refused(app) -> None:
    seen = app_connects(node(app, sudo=True), sslmode="disable")
    assert "no pg_hba.conf entry" in seen.get("error", "") and "no encryption" in seen["error"], seen


def test_the_apps_role_reaches_only_its_own_database(app) -> None:
    seen = app_connects(node(app, sudo=True), dbname="postgres")
    assert "no pg_hba.conf entry" in seen.get("error", ""), seen


def test_pg_hba_admits_each_app_host_to_the_apps_database_over_tls_only(db, app_names) -> None:
    remote = psql(db, "SELECT type, database[1], user_name[1], address, netmask, auth_method FROM pg_hba_file_rules"
                      " WHERE type LIKE 'host%' AND address NOT IN ('127.0.0.1', '::1')").splitlines()
    expected = [f"hostssl|notes|notes|{address(node(app))}|255.255.255.255|scram-sha-256" for app in app_names]
    assert sorted(remote) == sorted(expected)


def test_the_port_resets_a_host_that_is_not_an_app_host() -> None:
    web_only = node(WEB_ONLY, sudo=True)
    refused = web_only.run(f"timeout 5 bash -c '</dev/tcp/{address(node(DB))}/5432'")
    assert refused.rc == 1 and "refused" in refused.stderr, refused


def test_the_port_answers_an_app_host(app) -> None:
    assert node(app, sudo=True).run(f"timeout 5 bash -c '</dev/tcp/{address(node(DB))}/5432'").rc == 0


def test_every_acknowledged_note_is_in_every_later_read_whichever_app_host_answers(domain, app_names, report) -> None:
    web = node(WEB_ONLY, sudo=True)
    install_loadgen(web)
    source = (SCENARIO.parent / "shared" / "testlib" / "consistency.py").read_text()
    web.check_output(f"cat > {CONSISTENCY} <<'PY'\n{source}\nPY\nchmod 0755 {CONSISTENCY}")
    summary = json.loads(web.check_output(f"{CONSISTENCY} --host {domain} --writes 200"))
    report.add("200 writes through prod-web, each read back by id and in the list (2 app hosts, 1 PostgreSQL)",
               {"sent": summary["acknowledged"] + summary["reads"], "failed": summary["misses"]},
               f"{summary['misses']} acknowledged notes missing from a later read; answered by "
               f"{', '.join(f'{h} {n}' for h, n in sorted(summary['app_hosts'].items()))}")
    assert summary["acknowledged"] == 200, summary
    assert summary["misses"] == 0, summary
    assert set(summary["app_hosts"]) == set(app_names), summary


def test_several_app_hosts_without_a_shared_database_are_refused_before_any_host_changes() -> None:
    run = run_playbook(SCENARIO / "converge.yml", "-e", '{"notes_database": null}')
    assert run.rc != 0, run
    assert "notes: web host prod-both sends its requests to app hosts prod-app, prod-both" in run.text, run
    assert "Give the app a shared database" in run.text
    assert set(run.changed.values()) == {0}, run.changed
