"""uWSGI settings that only show when a vassal starts or stops, proven with a probe vassal.

Each test writes a copy of the app's vassal file under another name (its own socket and stats
directory) with one change, lets the emperor start it, and reads what happened; the probe is
removed afterwards. The app itself is never touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from testlib.layout import APP_RUN_DIR, APP_SOCKET, RUN_DIR, VASSAL_INI, VASSALS_DIR
from testlib.uwsgi import journal, now, vassal_stats
from testlib.wait import wait_until

PROBE_INI = f"{VASSALS_DIR}/probe.ini"
PROBE_SOCKET = f"{RUN_DIR}/probe.sock"
PROBE_STATS = f"{RUN_DIR}/probe/stats.sock"


@pytest.fixture
def probe(host) -> Iterator[Callable[[Callable[[str], str]], str]]:
    """Starts a probe vassal from the app's file with one change; yields the journal cursor start."""

    def start(change: Callable[[str], str]) -> str:
        since = now(host)
        ini = host.file(VASSAL_INI).content_string.replace(APP_SOCKET, PROBE_SOCKET)
        ini = ini.replace(APP_RUN_DIR, f"{RUN_DIR}/probe")
        host.check_output(f"cat > {PROBE_INI}.tmp <<'INI'\n{change(ini)}\nINI\nmv {PROBE_INI}.tmp {PROBE_INI}")
        return since

    yield start
    host.run(f"rm -f {PROBE_INI}")
    wait_until(lambda: not host.socket(f"unix://{PROBE_SOCKET}").is_listening, 30)
    host.run(f"rm -rf {PROBE_SOCKET} {RUN_DIR}/probe")


def test_a_vassal_with_an_unknown_option_refuses_to_start(host, probe) -> None:
    # strict = true: a typo in a vassal file is an error, never silently ignored.
    since = probe(lambda ini: ini + "\nno-such-option = 1\n")
    wait_until(lambda: "unknown config directive" in journal(host, since), 30)
    assert not host.socket(f"unix://{PROBE_SOCKET}").is_listening


def test_a_vassal_whose_app_cannot_load_exits_instead_of_serving_errors(host, probe) -> None:
    # need-app = true: no app, no vassal (the emperor logs it), rather than a server answering 500.
    since = probe(lambda ini: ini.replace("module = notes.wsgi:app", "module = notes.no_such_module:app"))
    wait_until(lambda: "GAME OVER" in journal(host, since), 30)
    assert not host.socket(f"unix://{PROBE_SOCKET}").is_listening


def test_a_stopped_vassal_removes_its_stats_socket(host, probe) -> None:
    # vacuum = true: deleting a vassal's file stops it, and it removes what it made as the app
    # user. (Its app socket sits in the emperor's root-owned /run/uwsgi, which the vassal can no
    # longer write once it has dropped privileges: that file stays until a new start replaces it.)
    probe(lambda ini: ini)
    wait_until(lambda: host.socket(f"unix://{PROBE_STATS}").is_listening, 30)
    host.check_output(f"rm {PROBE_INI}")
    wait_until(lambda: not host.file(PROBE_STATS).exists, 30)


def test_a_vassal_sent_sigterm_exits_and_the_emperor_starts_it_anew(host, probe) -> None:
    # die-on-term = true: SIGTERM (what systemd and most tools send) ends a vassal, as it ends any
    # other service, rather than reloading it in place (uWSGI 2.0's own meaning of SIGTERM).
    probe(lambda ini: ini)
    wait_until(lambda: vassal_stats(host, PROBE_STATS).get("pid"), 30)
    master = vassal_stats(host, PROBE_STATS)["pid"]
    host.check_output(f"kill -TERM {master}")
    wait_until(lambda: vassal_stats(host, PROBE_STATS).get("pid", master) != master, 30)
    assert not host.process.filter(pid=master)
