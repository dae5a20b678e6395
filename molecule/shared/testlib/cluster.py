"""A database cluster (Patroni on each database host), seen through Patroni's REST API and from the
app host, and the faults the drills put on it."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from testlib.database import as_app
from testlib.hosts import address, node
from testlib.wait import wait_until

PATRONI_PORT = 8008


def cluster(members: list[str]) -> dict[str, Any]:
    """Patroni's view of the cluster ({members: [{name, role, state, timeline, ...}]}), from the first
    member that answers; {} when none does."""
    for name in members:
        if not running(name):
            continue
        host = node(name)
        out = host.run(f"curl -sS --max-time 3 http://{address(host)}:{PATRONI_PORT}/cluster")
        if out.rc == 0:
            return json.loads(out.stdout)
    return {}


def roles(members: list[str]) -> dict[str, str]:
    """Each member's role: leader, sync_standby or replica."""
    return {m["name"]: m["role"] for m in cluster(members).get("members", [])}


def leader(members: list[str]) -> str:
    return next((name for name, role in roles(members).items() if role == "leader"), "")


def healthy(members: list[str]) -> bool:
    """Every member in, one leader, a synchronous standby, and every standby streaming."""
    found = cluster(members).get("members", [])
    return (sorted(m["name"] for m in found) == sorted(members)
            and [m["role"] for m in found].count("leader") == 1
            and any(m["role"] == "sync_standby" for m in found)
            and all(m["state"] == "streaming" for m in found if m["role"] != "leader"))


def wait_healthy(members: list[str], seconds: float = 120) -> float:
    return wait_until(lambda: healthy(members), seconds, every=1)


def primaries(members: list[str]) -> list[str]:
    """The members that say they are a primary taking writes (Patroni's GET /primary: 200), each asked
    itself: during a partition each side answers for itself."""
    found = []
    for name in members:
        if not running(name):
            continue
        host = node(name)
        code = host.run(f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 3 "
                        f"http://{address(host)}:{PATRONI_PORT}/primary").stdout
        if code == "200":
            found.append(name)
    return found


def running(name: str) -> bool:
    out = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", name], capture_output=True, text=True,
                         check=False)
    return out.stdout.strip() == "true"


def power_off(name: str) -> None:
    """The host stops at once, as if its power were cut: nothing of it shuts down cleanly."""
    subprocess.run(["docker", "kill", name], check=True, capture_output=True)


def power_on(name: str) -> None:
    """The host boots again (its services start as at boot)."""
    subprocess.run(["docker", "start", name], check=True, capture_output=True)
    wait_until(lambda: node(name).run("systemctl is-system-running").stdout.strip() in ("running", "degraded"),
               120, every=1)


def kill_postgres(name: str) -> None:
    """SIGKILL to the member's postmaster: PostgreSQL dies, Patroni lives."""
    node(name, sudo=True).check_output(
        "kill -9 $(head -1 /var/lib/postgresql/*/main/postmaster.pid)")


PARTITION = """
table inet drill_partition {{
  chain input {{ type filter hook input priority -10; policy accept; ip saddr {{ {peers} }} drop; }}
  chain output {{ type filter hook output priority -10; policy accept; ip daddr {{ {peers} }} drop; }}
}}
"""


def partition(name: str, peers: list[str]) -> None:
    """The member is cut off from the others (every packet dropped both ways) while it runs; the app
    hosts still reach it."""
    addresses = ", ".join(address(node(p)) for p in peers)
    node(name, sudo=True).check_output(f"nft -f - <<'NFT'\n{PARTITION.format(peers=addresses)}\nNFT")


def heal(name: str) -> None:
    node(name, sudo=True).check_output("nft delete table inet drill_partition")


INSERT = """
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
params = conninfo_to_dict(os.environ["NOTES_DATABASE_URL"])
params.update(host=sys.argv[1], target_session_attrs="any", connect_timeout=3)
try:
    with psycopg.connect(make_conninfo(**params), autocommit=True) as conn:
        conn.execute("INSERT INTO notes (text) VALUES (%s)", (sys.argv[2],))
    print("written")
except psycopg.Error as exc:
    print(f"refused: {exc}")
"""


def write_directly(app_host: Any, member: str, text: str, seconds: int = 15) -> str:
    """A note written as the app would, straight to one member (not through the app's URL): "written"
    only if that member took and confirmed the commit within seconds."""
    code = f"import signal\nsignal.alarm({seconds})\n" + INSERT
    try:
        return as_app(app_host, code, address(node(member)), text).strip()
    except AssertionError as exc:  # killed by the alarm: the commit never returned
        return f"no answer: {str(exc)[-200:]}"


def clock(host: Any) -> float:
    """The host's time now: the acknowledged writes' "at" is on the same clock."""
    return float(host.check_output("date +%s.%N"))


def pause(acks: list[dict[str, Any]], since: float) -> tuple[float, float]:
    """The longest time without an acknowledged write from since on, and how long after since writes
    were acknowledged again at its end: (pause, resumed after)."""
    times = sorted(a["at"] for a in acks if a["at"] >= since - 1)
    gaps = [(b - a, b) for a, b in zip(times, times[1:])]
    if not gaps:
        return 0.0, 0.0
    longest, resumed = max(gaps)
    return longest, max(0.0, resumed - since)
