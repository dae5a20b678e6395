"""From one host to several, as a user grows: SQLite on one host, then a database host and the live
move of the notes into PostgreSQL under load, the way back and a second move, then a second app
host, and every acknowledged note in every later read.

The converge left grow-one in both tiers, its notes in SQLite. Each step edits the inventory as
docs/databases.md says (a `db` host, the app's database and its password; then a second app
host) and runs the playbook the docs name. The steps depend on each other: module fixtures, in
this order.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from testlib.cluster import roles as cluster_roles
from testlib.database import notes_in
from testlib.hosts import node
from testlib.http import http
from testlib.layout import DATABASE, ENV_FILE
from testlib.load import Report, install_loadgen, load
from testlib.notes import acknowledged, listed_notes, read_database
from testlib.run import PROJECT, PlaybookRun, run_playbook
from testlib.wait import wait_until

ONE, DB, TWO = "grow-one", "grow-db", "grow-two"
# The database host's two new peers: with it, a cluster of three.
PEERS = ("grow-db2", "grow-db3")
SITE = PROJECT / "site.yml"
MOVE = PROJECT / "playbooks" / "move-to-postgresql.yml"
CONSISTENCY = "/usr/local/bin/flask-deploy-consistency"
SEEDED = 30


@pytest.fixture(scope="module")
def report() -> Report:
    return Report("growth")


@pytest.fixture(scope="module")
def password() -> str:
    return secrets.token_urlsafe(24)


def inventory(directory: Path, app_hosts: list[str], database: str | None, db_hosts: tuple[str, ...] = (DB,)) -> Path:
    """The scenario's hosts as the user's inventory says them at one step: grow-one in both tiers,
    the app hosts given, and the database hosts with the app's database (password), if any."""
    directory.mkdir(parents=True, exist_ok=True)
    children: dict[str, Any] = {"web": {"hosts": {ONE: None}}, "app": {"hosts": dict.fromkeys(app_hosts)}}
    variables: dict[str, Any] = {"ansible_connection": "docker"}
    if database:
        children["db"] = {"hosts": dict.fromkeys(db_hosts)}
        variables["notes_database"] = {"password": database}
    (directory / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": children, "vars": variables}}))
    (directory / "hosts.yml").chmod(0o600)
    if not (directory / "group_vars").exists():
        (directory / "group_vars").symlink_to(PROJECT / "inventory" / "sandbox" / "group_vars")
    return directory / "hosts.yml"


def health(host: Any) -> dict[str, Any]:
    return json.loads(http(host, "/healthz").body)


def post_note(host: Any, text: str) -> dict[str, Any]:
    response = http(host, "/api/notes", "-X", "POST", "-H", "Content-Type: application/json",
                    "--data", json.dumps({"text": text}))
    assert response.status == 201, response
    return json.loads(response.body)


def pause_seen(acks: list[dict[str, Any]]) -> float:
    """The longest time between two acknowledged writes: the pause as the clients saw it."""
    times = sorted(a["at"] for a in acks)
    return max((b - a for a, b in zip(times, times[1:])), default=0.0)


@pytest.fixture(scope="module")
def seeded() -> dict[str, str]:
    one = node(ONE, sudo=True)
    assert health(one)["database"] == "sqlite"
    return {str(n["id"]): n["text"] for n in (post_note(one, f"before the move {i}") for i in range(SEEDED))}


@pytest.fixture(scope="module")
def refused(seeded, tmp_path_factory, password) -> PlaybookRun:
    """site.yml once the inventory gives the app its database, before any move."""
    return run_playbook(SITE, inventory=inventory(tmp_path_factory.mktemp("refused"), [ONE], password))


@pytest.fixture(scope="module")
def moved(refused, tmp_path_factory, password, report) -> dict[str, Any]:
    one = node(ONE, sudo=True)
    hosts = inventory(tmp_path_factory.mktemp("moved"), [ONE], password)
    with load(one, name="localhost", post_notes=True, accept=(503,)) as writes, \
            load(one, "/api/notes?limit=20", name="localhost") as reads:
        wait_until(lambda: one.file(writes["acks"]).exists and one.file(writes["acks"]).size > 0, 30)
        run = run_playbook(MOVE, "-e", "move_app=notes", inventory=hosts)
    acks = acknowledged(one, writes)
    # What the app's SQLite database held when it was switched (the move never writes to it).
    in_sqlite = read_database(one, DATABASE)["notes"]
    report.add("writes (POST) during the move into PostgreSQL", writes,
               f"writes paused {pause_seen(acks):.1f} s as the clients saw it")
    report.add("reads (GET) during the move", reads, "reads went on")
    return {"run": run, "writes": writes, "reads": reads, "acked": acks, "hosts": hosts, "in_sqlite": in_sqlite}


def test_site_yml_refuses_to_leave_the_sqlite_notes_behind_before_any_host_changes(refused) -> None:
    assert refused.rc != 0, refused
    assert "notes keeps its data in SQLite on grow-one" in refused.text, refused
    assert "Run playbooks/move-to-postgresql.yml" in refused.text
    assert set(refused.changed.values()) == {0}, refused.changed


def test_the_move_succeeds_and_reports_its_pause(moved) -> None:
    assert moved["run"].rc == 0, moved["run"]
    assert "Writes to notes were paused for" in moved["run"].text


def test_writes_during_the_move_get_2xx_or_503_with_retry_after_only(moved) -> None:
    writes = moved["writes"]
    assert writes["failed"] == 0, writes
    assert writes["by_status"].get("503", 0) > 0, "no write met the pause"
    assert set(writes["by_status"]) <= {"201", "503"}, writes


def test_reads_never_fail_during_the_move(moved) -> None:
    assert moved["reads"]["sent"] > 50
    assert moved["reads"]["failed"] == 0, moved["reads"]


def test_every_note_acknowledged_before_or_during_the_move_is_in_postgresql_byte_for_byte(seeded, moved) -> None:
    stored = notes_in(node(DB, sudo=True))
    expected = {**seeded, **{str(a["id"]): a["text"] for a in moved["acked"]}}
    assert len(expected) > SEEDED
    assert {k: stored.get(k) for k in expected} == expected


def test_the_app_runs_on_postgresql_its_sqlite_database_kept(moved) -> None:
    one = node(ONE, sudo=True)
    assert health(one)["database"] == "postgresql"
    assert one.file(DATABASE).is_file
    stored = notes_in(node(DB, sudo=True))
    assert len(moved["in_sqlite"]) > SEEDED
    assert {k: stored.get(k) for k in moved["in_sqlite"]} == moved["in_sqlite"]
    assert one.run(f"grep -q '^NOTES_DATABASE_URL=postgresql://' {ENV_FILE}").rc == 0


@pytest.fixture(scope="module")
def went_back(moved, tmp_path_factory) -> dict[str, Any]:
    """The way back: the app's database taken out of the inventory again, and site.yml."""
    one = node(ONE, sudo=True)
    after = post_note(one, "written in PostgreSQL after the move")
    run = run_playbook(SITE, inventory=inventory(tmp_path_factory.mktemp("back"), [ONE], None))
    return {"run": run, "after": after}


def test_the_way_back_runs_the_app_on_its_sqlite_database_as_it_was_at_the_move(seeded, moved, went_back) -> None:
    assert went_back["run"].rc == 0, went_back["run"]
    one = node(ONE, sudo=True)
    assert health(one)["database"] == "sqlite"
    listed = {str(n["id"]): n["text"] for n in listed_notes(one)}
    assert listed == moved["in_sqlite"]
    assert {k: listed.get(k) for k in seeded} == seeded
    # What was written in PostgreSQL after the move stays there only (docs/databases.md says so).
    assert listed.get(str(went_back["after"]["id"])) != went_back["after"]["text"]


@pytest.fixture(scope="module")
def moved_again(went_back, tmp_path_factory, password) -> PlaybookRun:
    hosts = inventory(tmp_path_factory.mktemp("again"), [ONE], password)
    return run_playbook(MOVE, "-e", "move_app=notes", "-e", "move_replace=true", inventory=hosts)


def test_a_second_move_replaces_what_postgresql_had(moved_again) -> None:
    assert moved_again.rc == 0, moved_again
    one, db = node(ONE, sudo=True), node(DB, sudo=True)
    assert health(one)["database"] == "postgresql"
    assert notes_in(db) == read_database(one, DATABASE)["notes"]


@pytest.fixture(scope="module")
def grown(moved_again, tmp_path_factory, password, report) -> dict[str, Any]:
    """A second app host in the inventory, behind grow-one's nginx, and site.yml."""
    hosts = inventory(tmp_path_factory.mktemp("grown"), [ONE, TWO], password)
    run = run_playbook(SITE, inventory=hosts)
    one = node(ONE, sudo=True)
    install_loadgen(one)
    source = (Path(__file__).resolve().parents[2] / "shared" / "testlib" / "consistency.py").read_text()
    one.check_output(f"cat > {CONSISTENCY} <<'PY'\n{source}\nPY\nchmod 0755 {CONSISTENCY}")
    summary = json.loads(one.check_output(f"{CONSISTENCY} --host localhost --writes 200"))
    report.add("200 writes through grow-one, each read back (2 app hosts, 1 PostgreSQL)",
               {"sent": summary["acknowledged"] + summary["reads"], "failed": summary["misses"]},
               f"{summary['misses']} acknowledged notes missing from a later read")
    return {"run": run, "consistency": summary, "hosts": hosts}


def test_a_second_app_host_joins(grown) -> None:
    assert grown["run"].rc == 0, grown["run"]


def test_every_acknowledged_note_is_in_every_later_read_on_either_app_host(grown) -> None:
    summary = grown["consistency"]
    assert summary["acknowledged"] == 200, summary
    assert summary["misses"] == 0, summary
    assert set(summary["app_hosts"]) == {ONE, TWO}, summary


def test_the_grown_site_converges_idempotently(grown) -> None:
    run = run_playbook(SITE, inventory=grown["hosts"])
    assert run.rc == 0, run
    assert run.changed == {ONE: 0, DB: 0, TWO: 0}, run.changed


@pytest.fixture(scope="module")
def clustered(grown, tmp_path_factory, password, report) -> dict[str, Any]:
    """Two more database hosts in the inventory, after grow-db, and site.yml under load: the single
    server becomes the first member of a cluster of three, its data kept."""
    one = node(ONE, sudo=True)
    before = notes_in(node(DB, sudo=True))
    hosts = inventory(tmp_path_factory.mktemp("cluster"), [ONE, TWO], password, (DB, *PEERS))
    # The server stops for the seconds between Debian's unit and Patroni: 503 with Retry-After then.
    with load(one, name="localhost", post_notes=True, accept=(503,)) as writes, \
            load(one, "/api/notes?limit=20", name="localhost", accept=(503,)) as reads:
        wait_until(lambda: one.file(writes["acks"]).exists and one.file(writes["acks"]).size > 0, 30)
        run = run_playbook(SITE, inventory=hosts)
    acks = acknowledged(one, writes)
    report.add("writes (POST) while the database host grows into a cluster of three", writes,
               f"writes paused {pause_seen(acks):.1f} s as the clients saw it")
    report.add("reads (GET) while the database host grows into a cluster of three", reads,
               f"503: {reads['by_status'].get('503', 0)}")
    return {"run": run, "writes": writes, "reads": reads, "acked": acks, "before": before}


def test_the_database_host_grows_into_a_cluster_of_three_by_site_yml(clustered) -> None:
    assert clustered["run"].rc == 0, clustered["run"]
    roles = cluster_roles([DB, *PEERS])
    assert sorted(roles.values()) == ["leader", "replica", "sync_standby"], roles


def test_no_note_is_lost_when_the_database_grows_into_a_cluster(clustered) -> None:
    assert clustered["writes"]["failed"] == 0, clustered["writes"]
    expected = {**clustered["before"], **{str(a["id"]): a["text"] for a in clustered["acked"]}}
    leader = next(name for name, role in cluster_roles([DB, *PEERS]).items() if role == "leader")
    stored = notes_in(node(leader, sudo=True))
    assert {k: stored.get(k) for k in expected} == expected


# While the database is down for those seconds, both app hosts answer a GET 503: nginx passes it on
# (it once retried it, left every app host out and answered 502 to some GETs).
def test_reads_get_2xx_or_503_with_retry_after_while_the_database_grows_into_a_cluster(clustered) -> None:
    assert clustered["reads"]["failed"] == 0, clustered["reads"]
    assert set(clustered["reads"]["by_status"]) <= {"200", "503"}, clustered["reads"]
