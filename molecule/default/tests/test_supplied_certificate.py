"""A second site, whose certificate the operator supplies from a CA of their own: nginx serves it,
sends HSTS with it and staples the CA's OCSP answer to it; removed (state: absent), it is gone.

The CA and its OCSP responder (`openssl ocsp`, a transient systemd unit) live on the host; the
certificate names the responder in its Authority Information Access, as a real CA's does.
tests/supplied-site.yml runs the web role with the stack's sites and this one.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from typing import Any

import pytest
from testlib.http import curl_command, http, s_client
from testlib.layout import SITES_AVAILABLE, SITES_ENABLED, TLS_DIR
from testlib.run import SCENARIO, PlaybookRun, run_playbook
from testlib.wait import wait_until

SITE = "supplied"
NAME = "supplied.test"
CA_DIR = "/root/supplied-ca"
CA_CERT = f"{CA_DIR}/ca.crt"
OCSP_PORT = 8889
OCSP_UNIT = "flask-deploy-test-ocsp"

MAKE_CA = f"""set -e
mkdir -p {CA_DIR} && cd {CA_DIR}
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj '/CN=Flask Deploy Test CA'
openssl req -newkey rsa:2048 -nodes -keyout site.key -out site.csr -subj '/CN={NAME}'
printf 'subjectAltName=DNS:{NAME}\\nauthorityInfoAccess=OCSP;URI:http://127.0.0.1:{OCSP_PORT}\\n' > site.ext
openssl x509 -req -in site.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile site.ext -out site.crt
serial=$(openssl x509 -in site.crt -noout -serial | cut -d= -f2)
end=$(date -u -d "$(openssl x509 -in site.crt -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
printf 'V\\t%s\\t\\t%s\\tunknown\\t/CN={NAME}\\n' "$end" "$serial" > index.txt
cat site.crt ca.crt > fullchain.crt
"""


def site_files(site: str = SITE) -> list[str]:
    return [f"{SITES_ENABLED}/{site}.conf", f"{SITES_AVAILABLE}/{site}.conf", f"{TLS_DIR}/{site}.crt",
            f"{TLS_DIR}/{site}.key"]


def web_play(host: Any, directory: Any, site: dict[str, Any]) -> PlaybookRun:
    extra = directory / f"{site.get('state', 'present')}.json"
    extra.write_text(json.dumps({"supplied_site": site}))
    return run_playbook(SCENARIO / "tests" / "supplied-site.yml", "--limit", host.backend.hostname, "-e", f"@{extra}")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return tmp_path_factory.mktemp("supplied")


@pytest.fixture(scope="module")
def supplied_site(host: Any, workdir: Any) -> Iterator[None]:
    host.check_output(f"bash -c {shlex.quote(MAKE_CA)}")
    host.check_output(f"systemd-run --unit {OCSP_UNIT} --working-directory {CA_DIR} openssl ocsp -index index.txt "
                      f"-port {OCSP_PORT} -rsigner ca.crt -rkey ca.key -CA ca.crt -ignore_err")
    site = {"name": SITE, "server_names": [NAME],
            "tls_certificate_content": host.file(f"{CA_DIR}/fullchain.crt").content_string,
            "tls_key_content": host.file(f"{CA_DIR}/site.key").content_string}
    try:
        run = web_play(host, workdir, site)
        assert run.rc == 0, run
        # A reload is asynchronous: the old workers may answer for a moment.
        wait_until(lambda: host.run(curl_command("/livez", name=NAME, cert=CA_CERT)).rc == 0, 10)
        yield
    finally:
        # Whatever the tests did: the host ends as converged.
        host.run(f"rm -f {' '.join(site_files())} && systemctl reload nginx")
        host.run(f"systemctl stop {OCSP_UNIT}; rm -rf {CA_DIR}")


def test_supplied_certificate_is_served_and_verifies_against_its_ca(host, supplied_site) -> None:
    assert http(host, "/healthz", name=NAME, cert=CA_CERT).status == 200


def test_site_with_a_supplied_certificate_sends_hsts(host, supplied_site) -> None:
    hsts = http(host, "/healthz", name=NAME, cert=CA_CERT).headers["strict-transport-security"]
    assert hsts == "max-age=63072000; includeSubDomains"


def test_supplied_certificate_comes_with_its_cas_ocsp_answer(host, supplied_site) -> None:
    # nginx asks the responder after the first handshake and staples the verified answer from then on.
    def stapled() -> bool:
        out = s_client(host, "-status", name=NAME).stdout
        return "OCSP Response Status: successful" in out and "Cert Status: good" in out

    wait_until(stapled, 30, every=1)


def test_site_set_absent_is_no_longer_served_and_its_files_are_gone(host, supplied_site, workdir) -> None:
    run = web_play(host, workdir, {"name": SITE, "state": "absent"})
    assert run.rc == 0, run
    assert not any(host.file(path).exists for path in site_files())
    # Its name now meets the default server, which refuses every handshake; the other site serves on.
    wait_until(lambda: "unrecognized name" in s_client(host, name=NAME).stderr, 10)
    assert http(host, "/healthz").status == 200
    assert host.file(f"/var/log/nginx/{SITE}.access.log").exists  # logs are kept
