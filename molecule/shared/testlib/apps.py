"""Several apps on one host: where each one's things are, and what one app's workers can reach.

What a worker can reach is asked from inside: a probe vassal that the emperor starts as the app's
user, in the emperor's sandbox like the app's own workers, runs probe_worker.py and writes what it
found to the app's temporary directory. The app itself is never touched.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testlib.http import curl_command
from testlib.layout import RUN_DIR, SITES_AVAILABLE, SITES_ENABLED, TLS_DIR, VASSALS_DIR
from testlib.load import load
from testlib.uwsgi import vassal_stats
from testlib.wait import wait_until

PROBE_SCRIPT = "/usr/local/lib/flask-deploy-probe-worker.py"


@dataclass(frozen=True)
class App:
    """One app of the host, by the names the stack gives it (python_app's defaults)."""

    name: str
    server_name: str
    # What load on the app asks for.
    load_path: str = "/healthz"

    @property
    def data_dir(self) -> str:
        return f"/var/lib/{self.name}"

    @property
    def database(self) -> str:
        return f"{self.data_dir}/{self.name}.sqlite3"

    @property
    def tmp_dir(self) -> str:
        return f"{self.data_dir}/tmp"

    @property
    def config_dir(self) -> str:
        return f"/etc/{self.name}"

    @property
    def backup_dir(self) -> str:
        return f"/var/backups/{self.name}"

    @property
    def secret_key(self) -> str:
        return f"{self.config_dir}/secret_key"

    @property
    def env_file(self) -> str:
        return f"{self.config_dir}/environment"

    @property
    def root(self) -> str:
        return f"/srv/{self.name}"

    @property
    def vassal(self) -> str:
        return f"{VASSALS_DIR}/{self.name}.ini"

    @property
    def socket(self) -> str:
        return f"{RUN_DIR}/{self.name}.sock"

    @property
    def run_dir(self) -> str:
        return f"{RUN_DIR}/{self.name}"

    @property
    def stats_socket(self) -> str:
        return f"{self.run_dir}/stats.sock"

    @property
    def site(self) -> str:
        return f"{SITES_AVAILABLE}/{self.name}.conf"

    @property
    def site_link(self) -> str:
        return f"{SITES_ENABLED}/{self.name}.conf"

    @property
    def certificate(self) -> str:
        return f"{TLS_DIR}/{self.name}.crt"

    @property
    def firewall_rules(self) -> str:
        return f"/etc/nftables.d/{self.name}-uwsgi.nft"


# The releases scenario's two apps (molecule/releases/host_vars): the bundled app, and counter,
# the tests' own app that lives outside app/.
NOTES = App("notes", "localhost", "/api/notes")
COUNTER = App("counter", "counter.localhost", "/hits")


def worker_view(host: Any, app: App, probe: dict[str, Any]) -> dict[str, Any]:
    """What a process running as app's workers do finds: probe_worker.py's answer to probe."""
    source = Path(__file__).with_name("probe_worker.py").read_text()
    host.check_output(f"cat > {PROBE_SCRIPT} <<'PY'\n{source}\nPY\nchmod 0644 {PROBE_SCRIPT}")
    name = f"probe-{app.name}-{time.monotonic_ns()}"
    out = f"{app.tmp_dir}/{name}.json"
    ini = f"{VASSALS_DIR}/{name}.ini"
    command = f"python3 {PROBE_SCRIPT} {shlex.quote(json.dumps(probe))} > {out}.partial && mv {out}.partial {out}"
    # The app's own user and group, as its vassal sets them; a socket of its own so that it starts.
    host.check_output(
        f"cat > {ini}.tmp <<'INI'\n[uwsgi]\nstrict = true\nmaster = true\nprocesses = 1\n"
        f"socket = {RUN_DIR}/{name}.sock\nuid = {app.name}\ngid = {app.name}\n"
        f"exec-as-user = {command}\nINI\nmv {ini}.tmp {ini}"
    )
    try:
        wait_until(lambda: host.file(out).exists, 120)
        return json.loads(host.file(out).content_string)
    finally:
        host.run(f"rm -f {ini} {out}")
        wait_until(lambda: not host.socket(f"unix://{RUN_DIR}/{name}.sock").is_listening, 30)
        host.run(f"rm -f {RUN_DIR}/{name}.sock")


def state(host: Any, app: App) -> dict[str, Any]:
    """The app's running release and the PIDs of its uWSGI master and workers."""
    result = host.run(curl_command("/healthz", name=app.server_name, cert=app.certificate))
    stats = vassal_stats(host, app.stats_socket)
    return {
        "release": json.loads(result.stdout).get("release") if result.rc == 0 else None,
        "master": stats.get("pid"),
        "workers": sorted(w["pid"] for w in stats.get("workers", [])),
    }


@contextmanager
def watched(host: Any, app: App) -> Iterator[dict[str, Any]]:
    """Load on app while the block runs: the dict gets its state before and after, and the load's summary.

    One client, not the four of the load on the app under test: both share the host's two cores
    with the playbook run.
    """
    watch: dict[str, Any] = {"before": state(host, app)}
    with load(host, app.load_path, name=app.server_name, threads=1) as summary:
        watch["load"] = summary
        yield watch
    watch["after"] = state(host, app)
