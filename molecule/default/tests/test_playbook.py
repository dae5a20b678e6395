"""The playbook's own promises, checked from the controller against the converged hosts.

These run once (no ``host`` fixture): they drive ansible-playbook itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from testlib.run import PROJECT, SCENARIO, PlaybookRun, run_playbook


def converge(*args: str) -> PlaybookRun:
    """converge.yml against the scenario's hosts."""
    return run_playbook(SCENARIO / "converge.yml", *args)


# A site as the inventory wires it, for bad values to be put into.
SITE = '"name": "notes", "server_names": ["localhost"], "upstreams": ["unix:/run/uwsgi/notes.sock"]'
ACME_SITE = '"name": "notes", "upstreams": ["unix:/run/uwsgi/notes.sock"], "acme": true'


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """On the controller: a.crt with a.key, and b.key, which belongs to no certificate there."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    out = tmp_path_factory.mktemp("certs")
    keys = {name: ec.generate_private_key(ec.SECP256R1()) for name in ("a", "b")}
    for name, key in keys.items():
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        (out / f"{name}.key").write_bytes(pem)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(keys["a"].public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(keys["a"], hashes.SHA256())
    )
    (out / "a.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return out


@pytest.mark.parametrize(
    ("extra_vars", "named", "allowed"),
    [
        ('{"python_app_processes": "lots"}', "python_app_processes", "cannot be converted to an int"),
        ('{"python_app_name": "../etc"}', "python_app_name", "hold only a-z, 0-9, _ and -"),
        ('{"python_app_buffer_size": 100}', "python_app_buffer_size", "4096 to 65535"),
        ('{"python_app_env": {"BAD-NAME": "x"}}', "python_app_env", "must map variable names"),
        ('{"uwsgi_emperor_vassals_dir": "vassals"}', "uwsgi_emperor_vassals_dir", "must be absolute paths"),
        ('{"nginx_vhost_sites": [{"name": "notes"}]}', "nginx_vhost_sites[notes]", "needs at least one server_names entry"),
        (
            '{"nginx_vhost_sites": [{"name": "notes", "server_names": ["x"], "upstreams": ["http://nope"]}]}',
            "upstreams",
            "of the form unix:/path or host:port",
        ),
        ('{"nginx_vhost_https_port": 70000}', "nginx_vhost_https_port", "two different ports from 1 to 65535"),
        ('{"nginx_vhost_rate_limit": "fast"}', "nginx_vhost_rate_limit", "a rate such as 10r/s"),
        ('{"nginx_vhost_compression_types": ["text/html"]}', "nginx_vhost_compression_types", "without text/html"),
        ('{"nginx_vhost_brotli_level": 12}', "nginx_vhost_brotli_level", "must be one of: 0, 1, 2"),
        (
            '{"nginx_vhost_sites": [{' + SITE + ', "tls_certificate": "@CERTS@/a.crt"}]}',
            "nginx_vhost_sites",
            "parameters are required together: tls_certificate, tls_key",
        ),
        (
            '{"nginx_vhost_sites": [{' + SITE + ', "tls_certificate": "@CERTS@/none.crt", "tls_key": "@CERTS@/a.key"}]}',
            "tls_certificate",
            "must be files on the controller",
        ),
        (
            '{"nginx_vhost_sites": [{' + SITE + ', "tls_certificate": "@CERTS@/a.crt", "tls_key": "@CERTS@/b.key"}]}',
            "tls_key",
            "whose public key is the one of the PEM private key",
        ),
        (
            '{"nginx_vhost_sites": [{' + ACME_SITE + ', "server_names": ["*.example.org"]}]}',
            "nginx_vhost_sites[notes] has acme: true",
            "server_names must be DNS names the CA can validate",
        ),
        (
            '{"nginx_vhost_sites": [{' + ACME_SITE + ', "server_names": ["notes.example.org"]}], "nginx_vhost_acme_email": "x"}',
            "nginx_vhost_acme_email",
            "an address the CA writes to",
        ),
        ('{"flask_apps": [{"name": "notes", "server_names": ["localhost"], "port": 3031}]}',
         "flask_apps[0]", "unknown key(s) port"),
        ('{"flask_apps": [{"name": "notes", "server_names": ["localhost"], "acme": "no"}]}',
         "flask_apps[0] (notes)", "acme ('no') must be true or false"),
        ('{"flask_apps": [{"name": "notes", "server_names": ["localhost"]}, {"name": "shop", "server_names": ["shop.test"]}]}',
         "flask_apps", "notes and shop both use uwsgi_port 3031"),
        ('{"flask_apps": [{"name": "notes", "server_names": ["localhost"]}], "python_app_src_dir": "/srv"}',
         "python_app_src_dir", "would apply to every app"),
        ('{"maintenance": "maybe"}', "maintenance", "must be on or off"),
        ('{"maintenance": "on", "maintenance_app": "shop"}', "maintenance_app", "must name one of the apps deployed here"),
        ('{"metrics_address": "every-address"}', "metrics_address", "must be an IP address or empty"),
        ('{"python_app_backup_dir": "/var/lib/notes/backups"}', "python_app_backup_dir", "nor inside it"),
        ('{"python_app_backup_on_calendar": "daily; rm -rf /"}', "python_app_backup_on_calendar",
         "a systemd calendar expression"),
    ],
    ids=[
        "processes-not-int",
        "name-unsafe",
        "buffer-out-of-range",
        "env-name-unsafe",
        "vassals-dir-relative",
        "site-without-names",
        "upstream-malformed",
        "https-port-out-of-range",
        "rate-limit-malformed",
        "compression-types-with-html",
        "brotli-level-out-of-range",
        "certificate-without-key",
        "certificate-file-missing",
        "certificate-and-key-mismatch",
        "acme-wildcard-name",
        "acme-without-contact",
        "apps-unknown-key",
        "apps-acme-not-bool",
        "apps-same-port",
        "apps-with-an-inventory-wide-app-option",
        "maintenance-not-on-or-off",
        "maintenance-of-an-unknown-app",
        "metrics-address-not-an-address",
        "backups-inside-the-data",
        "backup-schedule-not-a-calendar",
    ],
)
def test_bad_value_fails_before_any_host_changes_naming_the_variable(
    extra_vars: str, named: str, allowed: str, certs: Path
) -> None:
    # One host is enough to show each check (and a run on one host takes the controller half the
    # work); the environment case below runs on both, and shows that every host stops.
    run = converge("--limit", "notes-debian12", "--extra-vars", extra_vars.replace("@CERTS@", str(certs)))
    assert run.rc != 0, run
    message = "\n".join(run.messages)
    assert named in message, run
    assert allowed in message, run
    # The run stopped in the validation play: no play that changes a host began.
    assert run.plays == ["Role inputs are valid on every host"], run.plays
    assert all(r["failures"] == 1 and r["changed"] == 0 for r in run.recap.values()), run.recap
    # Key material never shows up, whatever failed.
    assert "PRIVATE KEY" not in run.text


def test_a_bad_environment_value_is_refused_without_showing_it() -> None:
    secret = "s3cret-value-that-must-never-be-shown"
    run = converge("--extra-vars", '{"python_app_env": {"NOTES_TOKEN": "first line\\n' + secret + '"}}')
    assert run.rc != 0, run
    assert "single-line values" in "\n".join(run.messages), run
    assert run.plays == ["Role inputs are valid on every host"], run.plays
    assert len(run.recap) == 2 and all(r["failures"] == 1 and r["changed"] == 0 for r in run.recap.values()), run.recap
    assert secret not in run.text


# What a stop in the first play must leave: no play that changes a host begun, and every host of
# the scenario there and unchanged. (A failed run_once check counts as one host's failure in the
# recap; any_errors_fatal stops the others without counting them.)
def assert_stopped_before_any_host_changed(run: PlaybookRun, reachable: set[str]) -> None:
    assert run.plays == ["Role inputs are valid on every host"], run.plays
    assert reachable <= set(run.recap), run.recap
    assert all(stats["changed"] == 0 for stats in run.recap.values()), run.recap


def test_an_unreachable_app_host_stops_the_run_before_any_host_changes_naming_it(tmp_path: Path) -> None:
    # An app host whose name resolves nowhere (the .invalid domain never does), as a host that is
    # down or mistyped: without the check, the reachable hosts deployed while the web hosts failed.
    lost = tmp_path / "lost.yml"
    lost.write_text("app:\n  hosts:\n    notes-lost:\n      ansible_connection: ssh\n"
                    "      ansible_host: notes-lost.invalid\n")
    run = run_playbook(PROJECT / "site.yml", inventories=(lost,))
    assert run.rc != 0, run
    message = "\n".join(run.messages)
    assert "Unreachable: notes-lost (facts not gathered" in message, run
    assert "No host was changed" in message, run
    assert_stopped_before_any_host_changed(run, {"notes-debian12", "notes-debian13"})


def test_a_bad_server_name_in_flask_apps_stops_every_host_before_any_changes_naming_it() -> None:
    # nginx would read "notes example.org" as two names; it failed only on the web tier, after the
    # app hosts of other machines had run theirs. Now the first play refuses it on every host.
    apps = '{"flask_apps": [{"name": "notes", "server_names": ["localhost", "notes example.org"]}]}'
    run = run_playbook(PROJECT / "site.yml", "--extra-vars", apps)
    assert run.rc != 0, run
    message = "\n".join(run.messages)
    assert "flask_apps[0] (notes): server_names must be host names" in message, run
    assert "not 'notes example.org'" in message, run
    assert_stopped_before_any_host_changed(run, {"notes-debian12", "notes-debian13"})


def test_rollback_with_no_earlier_release_says_so_and_changes_nothing() -> None:
    # Each host of this scenario holds the one release its converge built.
    run = run_playbook(PROJECT / "playbooks" / "rollback.yml", "--limit", "notes-debian12")
    assert run.rc != 0, run
    message = "\n".join(run.messages)
    assert "Cannot roll back notes on notes-debian12: no release on the host is older than the current one" in message, run
    assert "''" not in message, run
    assert all(r["changed"] == 0 for r in run.recap.values()), run.recap
    # Nor does a run print a deprecation the user cannot act on (ansible.cfg, requirements-dev.txt).
    assert "DEPRECATION" not in run.stderr and "DeprecationWarning" not in run.stderr, run.stderr
