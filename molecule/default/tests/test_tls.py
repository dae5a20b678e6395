"""TLS, with a real client inside the host: what nginx accepts, refuses and presents.

Debian's OpenSSL 3 client refuses old protocols and weak ciphers by itself; the
refusal tests lower its security level (@SECLEVEL=0), so a refusal can only come
from the server.
"""

import pytest

from testlib.http import s_client
from testlib.layout import TLS_CERT, TLS_KEY

SERVER_NAME = "localhost"

WEAK = "@SECLEVEL=0"


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_tls_version_is_accepted(host, version):
    result = s_client(host, version)
    assert result.rc == 0, result.stderr
    assert ("TLSv1.2" if version == "-tls1_2" else "TLSv1.3") in result.stdout


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_old_tls_version_is_refused_by_the_server(host, version):
    result = s_client(host, version, "-cipher", f"DEFAULT{WEAK}")
    assert result.rc != 0
    assert "Cipher is (NONE)" in result.stdout
    # The server refused the protocol itself, not merely every cipher it was offered.
    assert "alert protocol version" in result.stderr


@pytest.mark.parametrize(
    "cipher",
    [
        "ECDHE-RSA-AES128-SHA",  # CBC with SHA-1
        "AES128-GCM-SHA256",  # RSA key exchange: no forward secrecy
    ],
)
def test_weak_cipher_is_refused_by_the_server(host, cipher):
    result = s_client(host, "-tls1_2", "-cipher", f"{cipher}{WEAK}")
    assert result.rc != 0
    # The client did offer the cipher and reached the server, which refused it.
    assert "Cipher is (NONE)" in result.stdout


def test_served_certificate_is_the_configured_one(host):
    fingerprint = "openssl x509 -noout -fingerprint -sha256"
    configured = host.check_output(f"{fingerprint} -in {TLS_CERT}")
    served = host.check_output(
        f"openssl s_client -connect 127.0.0.1:443 -servername {SERVER_NAME} </dev/null 2>/dev/null | {fingerprint}"
    )
    assert served == configured


def test_served_certificate_verifies_for_the_server_name(host):
    result = s_client(host, "-CAfile", TLS_CERT, "-verify_hostname", SERVER_NAME, "-verify_return_error")
    assert result.rc == 0, result.stdout[-2000:]
    assert "Verify return code: 0 (ok)" in result.stdout


def test_session_tickets_are_not_issued(host):
    result = s_client(host, "-tls1_2")
    assert result.rc == 0, result.stderr
    assert "TLS session ticket:" not in result.stdout


def test_unknown_server_name_gets_its_handshake_rejected(host):
    result = s_client(host, name="unknown.example")
    assert result.rc != 0
    assert "unrecognized name" in result.stderr
    assert "BEGIN CERTIFICATE" not in result.stdout


def test_private_key_is_root_only_0600(host):
    key = host.file(TLS_KEY)
    assert key.is_file
    assert (key.user, key.group, key.mode) == ("root", "root", 0o600)


def test_tls_sessions_resume_from_the_servers_cache(host):
    # No tickets, so a TLS 1.2 session resumes only from nginx's shared session cache.
    result = s_client(host, "-tls1_2", "-reconnect")
    assert result.rc == 0, result.stderr
    assert "Reused, TLSv1.2" in result.stdout


def test_tls_sessions_are_kept_for_a_day(host):
    # ssl_session_timeout 1d: a TLS 1.3 client is told how long its session may be resumed.
    result = s_client(host, "-tls1_3", linger=1)
    assert result.rc == 0, result.stderr
    assert "TLS session ticket lifetime hint: 86400 (seconds)" in result.stdout


@pytest.mark.parametrize("cipher", ["ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-RSA-AES128-GCM-SHA256"])
def test_the_clients_preferred_cipher_is_chosen(host, cipher):
    # ssl_prefer_server_ciphers off: among allowed suites the client's first choice wins (a phone
    # without AES hardware gets ChaCha20), though the server's own list puts AES-GCM first.
    other = {"ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-RSA-AES128-GCM-SHA256"} - {cipher}
    result = s_client(host, "-tls1_2", "-cipher", ":".join([cipher, *other]))
    assert result.rc == 0, result.stderr
    assert f"Cipher is {cipher}" in result.stdout
