"""A scenario's other hosts, reached as Molecule's inventory says (docker, or SSH with sudo)."""

from __future__ import annotations

import fnmatch
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import testinfra

from testlib.layout import VHOST_FILE
from testlib.run import INVENTORY


def node(name: str, sudo: bool = False, inventory: Path | str = INVENTORY) -> Any:
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory}", sudo=sudo)


def address(host: Any) -> str:
    """The host's first address on its network (not loopback)."""
    return host.check_output("hostname -I").split()[0]


def static_root(host: Any) -> str:
    """The directory nginx serves the site's static files from, as its vhost says."""
    # The alias of the plain location /static/ (the versioned one and the maintenance page have theirs).
    alias = host.check_output(f"sed -n '/^ *location \\/static\\/ {{/,/}}/s/^ *alias \\(.*\\);$/\\1/p' {VHOST_FILE}")
    assert alias, f"no alias in {VHOST_FILE}"
    return alias.rstrip("/")


@contextmanager
def planted_static_files(host: Any, files: dict[str, str]) -> Iterator[str]:
    """Files (name: shell command writing its content to stdout) placed in the static root, world
    readable, and removed afterwards however the test ends; yields the root."""
    root = static_root(host)
    try:
        for name, command in files.items():
            path = shlex.quote(f"{root}/{name}")
            host.check_output(f"mkdir -p \"$(dirname {path})\" && ({command}) > {path} && chmod 0644 {path}")
        yield root
    finally:
        paths = " ".join(shlex.quote(f"{root}/{name}") for name in files)
        host.run(f"rm -f {paths}")


def readable_by_nobody(host: Any, paths: str) -> str:
    """The files under paths (space-separated) that another local user (nobody) can read, one a
    line: where a directory on the way shuts it out, its files are not listed."""
    return host.run(f"runuser -u nobody -- find {paths} -type f -readable 2>/dev/null").stdout.strip()


# Logs Debian itself keeps readable by every user on any host, the stack or not: dpkg's, apt's
# history, debootstrap's, the login records, and the daily copies of dpkg's and apt's state.
DEBIANS_OWN_READABLE_LOGS = (
    "/var/log/dpkg.log*", "/var/log/alternatives.log*", "/var/log/apt/history.log*", "/var/log/apt/eipp.log*",
    "/var/log/bootstrap.log", "/var/log/lastlog", "/var/log/faillog", "/var/log/wtmp*",
    "/var/backups/dpkg.*", "/var/backups/apt.*", "/var/backups/alternatives.tar.*",
)


def world_readable_logs(host: Any) -> list[str]:
    """Every log or backup on the host's root file system whose mode lets any user read it (files
    under /var/log and /var/backups, and *.log files anywhere, but the tests' own under /tmp),
    Debian's own left out: one path an item."""
    found = host.run("find / -xdev -path /tmp -prune -o -type f \\( -path '/var/log/*' -o -path '/var/backups/*' "
                     "-o -name '*.log' -o -name '*.log.*' \\) -perm -o=r -print").stdout.split()
    return [path for path in found if not any(fnmatch.fnmatch(path, own) for own in DEBIANS_OWN_READABLE_LOGS)]
