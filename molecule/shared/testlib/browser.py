"""A real browser: Debian's headless Chromium on the controller, driven by chromedriver (Selenium).

It reaches a test host's site by the site's name over HTTPS (the name mapped to the host's
address, nothing else resolved), and trusts the certificate that host serves and nothing else:
Chromium reads trust from an NSS database in $HOME, and each browser gets a home of its own.
Every page records the Content-Security-Policy violations it sees, besides the console.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from testlib.hosts import address
from testlib.layout import TLS_CERT

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Runs in every page before its own scripts.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


class Browser:
    def __init__(self, driver: webdriver.Chrome, origin: str) -> None:
        self.driver = driver
        self.origin = origin

    def open(self, path: str) -> None:
        """Loads path; what the console logged before is dropped."""
        self.driver.get_log("browser")
        self.driver.get(self.origin + path)

    def console(self) -> list[str]:
        """What the console logged since the last open or call (errors and warnings included)."""
        return [entry["message"] for entry in self.driver.get_log("browser")]

    def csp_violations(self) -> list[str]:
        return list(self.driver.execute_script("return window.__cspViolations || []"))

    def css(self, selector: str, prop: str) -> str:
        return str(self.driver.execute_script(
            "return getComputedStyle(document.querySelector(arguments[0]))[arguments[1]]", selector, prop))

    def find(self, selector: str) -> Any:
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def texts(self, selector: str) -> list[str]:
        return [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, selector)]

    def fetch(self, path: str) -> dict[str, Any]:
        """A GET from the page's own script, from the server (never the browser's cache): status,
        Cache-Control and body."""
        return dict(self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0], {cache: 'no-store'}).then(async (r) => done({status: r.status,"
            " cacheControl: r.headers.get('cache-control'), body: await r.text()}))"
            ".catch((e) => done({status: 0, body: String(e)}));", path))


def _trust(home: Path, pem: str) -> None:
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    cert = home / "site.crt"
    cert.write_text(pem)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True)
    # P: a trusted peer, the self-signed certificate the site serves.
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-A", "-t", "P,,", "-n", "site", "-i", str(cert)], check=True)


@contextmanager
def chromium(host: Any, name: str = "localhost", cert: str = TLS_CERT) -> Iterator[Browser]:
    """Chromium opening https://name/ on host, trusting the certificate at cert on that host."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as tmp:
        home = Path(tmp) / "home"
        _trust(home, host.file(cert).content_string)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    f"--user-data-dir={tmp}/profile", f"--host-resolver-rules=MAP {name} {address(host)}"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(CHROMEDRIVER, env={**os.environ, "HOME": str(home)})
        driver = webdriver.Chrome(options=options, service=service)
        try:
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_CSP_VIOLATIONS})
            yield Browser(driver, f"https://{name}")
        finally:
            driver.quit()
