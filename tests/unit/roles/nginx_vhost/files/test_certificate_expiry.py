"""certificate_expiry.py: when each site's certificate expires, as the node exporter's textfile
collector reads it (checked with promtool check metrics, as Prometheus' own parser takes it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from programs import run_as_main

SCRIPT = Path(__file__).resolve().parents[5] / "roles/nginx_vhost/files/certificate_expiry.py"
METRIC = "flask_deploy_certificate_expiry_timestamp_seconds"


def certificate(path: Path, name: str, not_after: datetime) -> Path:
    """A self-signed certificate, then another one in the same file (a chain: the site's comes first)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    pems = []
    for subject, end in ((name, not_after), ("intermediate CA", not_after + timedelta(days=400))):
        key = ec.generate_private_key(ec.SECP256R1())
        dn = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        cert = (x509.CertificateBuilder().subject_name(dn).issuer_name(dn).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(not_after - timedelta(days=90)).not_valid_after(end)
                .sign(key, hashes.SHA256()))
        pems.append(cert.public_bytes(serialization.Encoding.PEM))
    path.write_bytes(b"".join(pems))
    return path


def checked_by_promtool(text: str) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: scripts/bootstrap installs it (Debian's prometheus package)"
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def samples(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_each_sites_certificate_end_is_written(tmp_path, monkeypatch, capsys):
    notes_end = datetime(2027, 3, 7, 9, 16, 8, tzinfo=timezone.utc)
    shop_end = datetime(2026, 12, 20, tzinfo=timezone.utc)
    notes = certificate(tmp_path / "notes.crt", "notes.example.org", notes_end)
    shop = certificate(tmp_path / "fullchain.pem", "shop.example.org", shop_end)
    textfile = tmp_path / "textfile" / "flask-deploy-certificates.prom"
    textfile.parent.mkdir()

    result = run_as_main(SCRIPT, (textfile, f"notes={notes}", f"shop={shop}"), monkeypatch, capsys)

    assert result.code == 0, result.stderr
    text = textfile.read_text()
    assert samples(text) == [f'{METRIC}{{site="notes"}} {int(notes_end.timestamp())}',
                             f'{METRIC}{{site="shop"}} {int(shop_end.timestamp())}']
    checked_by_promtool(text)
    assert textfile.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in textfile.parent.iterdir()] == [textfile.name]  # no partial file left


def test_a_certificate_that_cannot_be_read_is_left_out_named_and_fails_the_run(tmp_path, monkeypatch, capsys):
    end = datetime(2027, 1, 1, tzinfo=timezone.utc)
    good = certificate(tmp_path / "good.crt", "good.example.org", end)
    garbage = tmp_path / "garbage.crt"
    garbage.write_text("not a certificate\n")
    textfile = tmp_path / "certs.prom"

    result = run_as_main(SCRIPT, (textfile, f"gone={tmp_path}/gone.crt", f"garbage={garbage}", f"good={good}"),
                         monkeypatch, capsys)

    assert result.code == 1
    assert f"cannot read gone: {tmp_path}/gone.crt" in result.stderr
    assert f"cannot read garbage: {garbage}" in result.stderr
    text = textfile.read_text()
    assert samples(text) == [f'{METRIC}{{site="good"}} {int(end.timestamp())}']
    checked_by_promtool(text)


def test_no_site_writes_a_file_without_samples(tmp_path, monkeypatch, capsys):
    textfile = tmp_path / "certs.prom"
    assert run_as_main(SCRIPT, (textfile,), monkeypatch, capsys).code == 0
    assert samples(textfile.read_text()) == []


def test_without_a_textfile_it_prints_the_usage(monkeypatch, capsys):
    result = run_as_main(SCRIPT, (), monkeypatch, capsys)
    assert result.code == 1
    assert "usage: certificate_expiry.py TEXTFILE SITE=PATH..." in result.stderr


def test_debian_12s_cryptography_without_utc_dates_is_read_too(load_file, tmp_path, monkeypatch):
    """python3-cryptography 38 (Debian 12) has not_valid_after (naive UTC) only."""
    module = load_file("roles/nginx_vhost/files/certificate_expiry.py")
    end = datetime(2027, 2, 1, 12, 0, tzinfo=timezone.utc)

    class Old:
        not_valid_after = end.replace(tzinfo=None)

    monkeypatch.setattr(module.x509, "load_pem_x509_certificate", lambda data: Old())
    path = tmp_path / "old.crt"
    path.write_text("whatever\n")
    assert module.not_after(path) == int(end.timestamp())
