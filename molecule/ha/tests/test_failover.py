"""The database cluster under write load, through faults: every write the app acknowledged is in the
database afterwards, no two members take writes at once, writes come back by themselves (503 with
Retry-After meanwhile, never 500), reads go on, and the member that failed comes back as a standby.

Each drill is a module fixture that starts from a healthy cluster (it waits for one), puts its fault
on the leader of that moment under load, heals it, and returns what the clients saw; the tests read
it. A drill's figures go to .cache/ha-report.md.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from testlib import cluster as db
from testlib.database import notes_in, psql
from testlib.hosts import address, node
from testlib.layout import ENV_FILE
from testlib.load import Report, load
from testlib.notes import acknowledged
from testlib.run import INVENTORY, PROJECT, run_playbook
from testlib.wait import wait_until

APP = "ha-app"
MEMBERS = ["ha-db1", "ha-db2", "ha-db3"]
# Shipped timings: ttl 20 s, loop_wait 5 s, retry_timeout 5 s (postgresql_server's defaults).
FAILOVER_TARGET = 30


@pytest.fixture(scope="module")
def report() -> Report:
    return Report("ha")


@contextmanager
def under_load() -> Iterator[dict[str, Any]]:
    """Writes (each acknowledged one in a ledger) and reads through the app while the block runs."""
    app = node(APP, sudo=True)
    with load(app, post_notes=True, accept=(503,)) as writes, load(app, "/api/notes?limit=20") as reads:
        wait_until(lambda: app.file(writes["acks"]).exists and app.file(writes["acks"]).size > 0, 30)
        yield {"writes": writes, "reads": reads}


def drill(name: str, fault: Callable[[str], Any], heal: Callable[[str], Any], report: Report,
          recovered: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """The fault on the leader under load; once writes are acknowledged again (or recovered(leader) is
    true), the heal, and the cluster healthy again before the load stops."""
    db.wait_healthy(MEMBERS)
    app = node(APP, sudo=True)
    old = db.leader(MEMBERS)
    seen_primaries: list[list[str]] = []
    with under_load() as traffic:
        at = db.clock(app)
        outcome = fault(old)

        def writes_resumed() -> bool:
            seen_primaries.append(db.primaries(MEMBERS))
            acks = acknowledged(app, traffic["writes"])
            return sum(a["at"] > at + 1 for a in acks) >= 20 and (recovered is None or recovered(old))

        wait_until(writes_resumed, 120, every=1)
        new = db.leader(MEMBERS)
        heal(old)
        db.wait_healthy(MEMBERS, 180)
    writes, reads = traffic["writes"], traffic["reads"]
    acks = acknowledged(app, writes)
    stored = notes_in(node(db.leader(MEMBERS), sudo=True))
    missing = [a for a in acks if stored.get(str(a["id"])) != a["text"]]
    paused, resumed = db.pause(acks, at)
    result = {"old": old, "new": new, "writes": writes, "reads": reads, "acks": acks, "missing": missing,
              "pause": paused, "outage": resumed, "primaries": seen_primaries, "outcome": outcome,
              "roles": db.roles(MEMBERS)}
    report.add(f"{name}: writes (POST)", writes,
               f"{len(acks)} acknowledged, {len(missing)} missing; writes paused {paused:.1f} s, acknowledged again "
               f"{resumed:.1f} s after the fault; 503: {writes['by_status'].get('503', 0)}, "
               f"500: {writes['by_status'].get('500', 0)}")
    report.add(f"{name}: reads (GET)", reads)
    return result


def one_primary_at_most(result: dict[str, Any]) -> bool:
    return all(len(found) <= 1 for found in result["primaries"])


# kill -9 of the leader's postgres --------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_killed(report) -> dict[str, Any]:
    return drill("kill -9 of the leader's postgres", db.kill_postgres, lambda _: None, report)


def test_no_acknowledged_write_is_lost_when_the_leaders_postgres_is_killed(postgres_killed) -> None:
    assert len(postgres_killed["acks"]) > 50
    assert postgres_killed["missing"] == []


def test_writes_get_2xx_or_503_with_retry_after_when_the_leaders_postgres_is_killed(postgres_killed) -> None:
    assert postgres_killed["writes"]["failed"] == 0, postgres_killed["writes"]
    assert "500" not in postgres_killed["writes"]["by_status"]


def test_writes_resume_within_the_target_when_the_leaders_postgres_is_killed(postgres_killed) -> None:
    assert postgres_killed["outage"] < FAILOVER_TARGET


# The leader's host powered off -----------------------------------------------------------------


@pytest.fixture(scope="module")
def powered_off(postgres_killed, report) -> dict[str, Any]:
    return drill("leader's host powered off", db.power_off, db.power_on, report,
                 recovered=lambda old: db.leader(MEMBERS) not in ("", old))


def test_no_acknowledged_write_is_lost_when_the_leaders_host_is_powered_off(powered_off) -> None:
    assert len(powered_off["acks"]) > 50
    assert powered_off["missing"] == []


def test_the_synchronous_standby_takes_over_when_the_leaders_host_is_powered_off(powered_off) -> None:
    assert powered_off["new"] not in ("", powered_off["old"])
    assert powered_off["outage"] < FAILOVER_TARGET
    assert one_primary_at_most(powered_off)


def test_writes_get_2xx_or_503_and_reads_go_on_when_the_leaders_host_is_powered_off(powered_off) -> None:
    assert powered_off["writes"]["failed"] == 0, powered_off["writes"]
    assert powered_off["reads"]["failed"] == 0, powered_off["reads"]


def test_the_powered_off_leader_rejoins_as_a_standby_when_it_boots(powered_off) -> None:
    assert powered_off["roles"][powered_off["old"]] in ("sync_standby", "replica")


# The leader cut off from the other members while it runs ---------------------------------------


@pytest.fixture(scope="module")
def partitioned(powered_off, report) -> dict[str, Any]:
    app = node(APP, sudo=True)
    fenced: dict[str, str] = {}

    def cut(old: str) -> None:
        db.partition(old, [m for m in MEMBERS if m != old])

    def others_lead(old: str) -> bool:
        if db.leader([m for m in MEMBERS if m != old]) in ("", old):
            return False
        if not fenced:  # a write sent straight to the old leader, cut off from the others
            fenced["answer"] = db.write_directly(app, old, "written to the fenced leader")
        return True

    result = drill("leader cut off from the other members", cut, db.heal, report, recovered=others_lead)
    result["fenced"] = fenced
    return result


def test_no_acknowledged_write_is_lost_when_the_leader_is_cut_off(partitioned) -> None:
    assert len(partitioned["acks"]) > 50
    assert partitioned["missing"] == []


def test_the_cut_off_leader_takes_no_write_once_the_others_have_a_leader(partitioned) -> None:
    assert not partitioned["fenced"]["answer"].startswith("written"), partitioned["fenced"]
    stored = notes_in(node(db.leader(MEMBERS), sudo=True))
    assert "written to the fenced leader" not in stored.values()


def test_writes_resume_within_the_target_and_reads_go_on_when_the_leader_is_cut_off(partitioned) -> None:
    assert partitioned["writes"]["failed"] == 0, partitioned["writes"]
    assert partitioned["reads"]["failed"] == 0, partitioned["reads"]
    assert partitioned["outage"] < FAILOVER_TARGET


def test_the_cut_off_leader_rejoins_as_a_standby_once_it_reaches_the_others(partitioned) -> None:
    assert partitioned["roles"][partitioned["old"]] in ("sync_standby", "replica")
    timelines = {m["timeline"] for m in db.cluster(MEMBERS)["members"]}
    assert len(timelines) == 1, db.cluster(MEMBERS)


# etcd loses its quorum ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quorum_lost(partitioned, report) -> dict[str, Any]:
    stopped: list[str] = []

    def stop_two(old: str) -> None:
        started.append(db.clock(node(APP)))
        stopped.extend(m for m in MEMBERS if m != old)
        for name in stopped:
            node(name, sudo=True).check_output("systemctl stop etcd")

    def start_again(_: str) -> None:
        for name in stopped:
            node(name, sudo=True).check_output("systemctl start etcd")

    def a_ttl_passed(old: str) -> bool:
        return db.clock(node(APP)) > started[0] + 30

    started: list[float] = []
    result = drill("etcd without quorum (two of three members stopped)", stop_two, start_again, report,
                   recovered=a_ttl_passed)
    return result


def test_the_leader_keeps_taking_writes_while_etcd_has_no_quorum(quorum_lost) -> None:
    # Patroni's failsafe mode: the leader still reaches every member, so it keeps its role.
    assert quorum_lost["writes"]["failed"] == 0, quorum_lost["writes"]
    assert quorum_lost["reads"]["failed"] == 0, quorum_lost["reads"]
    assert quorum_lost["new"] == quorum_lost["old"]
    assert quorum_lost["pause"] < 5


def test_no_second_primary_appears_while_etcd_has_no_quorum(quorum_lost) -> None:
    assert one_primary_at_most(quorum_lost)
    assert quorum_lost["missing"] == []


# A planned switchover -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def switched(quorum_lost, report) -> dict[str, Any]:
    runs = []

    def switch(_: str) -> None:
        runs.append(run_playbook(PROJECT / "playbooks" / "switchover.yml"))

    result = drill("planned switchover (playbooks/switchover.yml)", switch, lambda _: None, report)
    result["run"] = runs[0]
    return result


def test_the_switchover_playbook_makes_the_synchronous_standby_the_leader(switched) -> None:
    assert switched["run"].rc == 0, switched["run"]
    assert switched["new"] != switched["old"]


def test_a_switchover_fails_no_read_and_no_write_gets_500(switched) -> None:
    assert switched["reads"]["failed"] == 0, switched["reads"]
    assert switched["writes"]["failed"] == 0, switched["writes"]
    assert switched["missing"] == []


def test_a_switchover_pauses_writes_a_few_seconds_at_most(switched) -> None:
    assert switched["pause"] < 10


# A backup under load, taken on a replica ------------------------------------------------------------


@pytest.fixture(scope="module")
def replica_backup(report, tmp_path_factory) -> dict[str, Any]:
    """playbooks/backup.yml under write load: every member's backup service starts, one backs up and its
    dump comes to the controller; then the dump is restored into a new database on the leader."""
    db.wait_healthy(MEMBERS)
    app = node(APP, sudo=True)
    roles_before = db.roles(MEMBERS)
    dest = tmp_path_factory.mktemp("ha-backups")
    with under_load() as traffic:
        began = db.clock(app)
        run = run_playbook(PROJECT / "playbooks" / "backup.yml", "-e", f"backup_dest={dest}")
        done = db.clock(app)
        wait_until(lambda: sum(a["at"] > done for a in acknowledged(app, traffic["writes"])) >= 5, 30)
    dumps = sorted(dest.glob("*/notes/notes-*.dump"))
    leader_name = db.leader(MEMBERS)
    leader = node(leader_name, sudo=True)
    restored: dict[str, str] = {}
    if len(dumps) == 1:  # restored as an operator would look into it, beside the app's database
        subprocess.run(["docker", "cp", str(dumps[0]), f"{leader_name}:/var/tmp/notes-check.dump"], check=True)
        leader.check_output("chown postgres /var/tmp/notes-check.dump && runuser -u postgres -- createdb notes_check"
                            " && runuser -u postgres -- pg_restore --exit-on-error --no-owner -d notes_check"
                            " /var/tmp/notes-check.dump")
        restored = notes_in(leader, "notes_check")
        leader.check_output("runuser -u postgres -- dropdb notes_check && rm /var/tmp/notes-check.dump")
    # What each member's service said since this run began (the hosts share one clock), and nothing
    # of an earlier run: its two programs' lines. By unit, not by invocation: journald may not learn
    # a short-lived process's invocation (the second program's line went missing that way).
    def journal(name: str) -> str:
        return node(name, sudo=True).check_output(f"journalctl -o cat -u postgresql-backup.service --since @{int(began)}")

    for name in MEMBERS:
        wait_until(lambda name=name: '"base_backup_by"' in journal(name), 30)
    journals = {name: journal(name) for name in MEMBERS}
    writes = traffic["writes"]
    acks = acknowledged(app, writes)
    report.add("backup under load (playbooks/backup.yml)", writes,
               f"{len(acks)} acknowledged, {sum(a['at'] < began for a in acks)} before the backup began, "
               f"{done - began:.1f} s for playbooks/backup.yml, taken on "
               f"{[d.parts[-3] for d in dumps]} ({[roles_before.get(d.parts[-3]) for d in dumps]}); 503: "
               f"{writes['by_status'].get('503', 0)}, 500: {writes['by_status'].get('500', 0)}")
    return {"run": run, "dumps": dumps, "roles": roles_before, "restored": restored, "acks": acks, "began": began,
            "stored": notes_in(leader), "writes": writes, "reads": traffic["reads"], "journals": journals}


def test_exactly_one_member_backs_up_the_synchronous_standby(replica_backup) -> None:
    assert replica_backup["run"].rc == 0, replica_backup["run"]
    assert [d.parts[-3] for d in replica_backup["dumps"]] == [
        name for name, role in replica_backup["roles"].items() if role == "sync_standby"][:1]


def test_the_members_that_do_not_back_up_say_which_one_did(replica_backup) -> None:
    backer = replica_backup["dumps"][0].parts[-3]
    for name in MEMBERS:
        if name != backer:
            assert f'"skipped": "{backer} backs up (the synchronous standby)"' in replica_backup["journals"][name]
    assert '"chosen_as": "the synchronous standby"' in replica_backup["journals"][backer]


def test_the_member_that_backs_up_also_takes_a_base_backup_and_every_member_prunes_its_archive(replica_backup):
    backer = replica_backup["dumps"][0].parts[-3]
    for name in MEMBERS:
        journal = replica_backup["journals"][name]
        said = [json.loads(line) for line in journal.splitlines() if '"base_backup_by"' in line]
        assert [each["base_backup_by"] for each in said] == [backer], journal
        assert said[0]["ok"] and "archive_pruned" in said[0], journal
        assert ("base_backup" in said[0]) == (name == backer), journal
        if name == backer:
            assert said[0]["base_backup"]["start_wal"], journal


def test_a_replicas_backup_restores_with_every_note_acknowledged_before_it_began(replica_backup) -> None:
    before = [a for a in replica_backup["acks"] if a["at"] < replica_backup["began"]]
    assert len(before) > 20
    assert [a for a in before if replica_backup["restored"].get(str(a["id"])) != a["text"]] == []
    assert all(replica_backup["stored"].get(i) == text for i, text in replica_backup["restored"].items())


def test_a_backup_on_a_replica_fails_no_read_and_no_write(replica_backup) -> None:
    assert replica_backup["writes"]["failed"] == 0, replica_backup["writes"]
    assert replica_backup["reads"]["failed"] == 0, replica_backup["reads"]
    assert "503" not in replica_backup["writes"]["by_status"], replica_backup["writes"]


# A point-in-time restore to just before a mistaken DELETE ---------------------------------------------


@pytest.fixture(scope="module")
def point_in_time(replica_backup, report, tmp_path_factory) -> dict[str, Any]:
    """After the backup (whose service also took a base backup on its member): under write load, the
    moment, a mistaken DELETE of every note on the leader, more notes, then playbooks/db-pitr.yml to the
    moment, still under load. Once the load has stopped, playbooks/restore.yml puts the dump in place."""
    db.wait_healthy(MEMBERS)
    app = node(APP, sudo=True)
    dest = tmp_path_factory.mktemp("ha-pitr")
    with under_load() as traffic:
        wait_until(lambda: len(acknowledged(app, traffic["writes"])) >= 50, 60)
        moment = db.clock(app)
        wait_until(lambda: db.clock(app) > moment + 0.5, 5, every=0.1)  # commits after the moment, before the DELETE
        psql(node(db.leader(MEMBERS), sudo=True), "DELETE FROM notes", "notes")
        deleted = db.clock(app)
        writes_after(app, traffic["writes"], deleted)
        target = datetime.fromtimestamp(moment, timezone.utc).isoformat()
        began = db.clock(app)
        pitr = run_playbook(PROJECT / "playbooks" / "db-pitr.yml", "-e", "pitr_database=notes",
                            "-e", f"pitr_target={target}", "-e", f"backup_dest={dest}")
        took = db.clock(app) - began
    dumps = sorted(dest.glob("*/notes/notes-at-*.dump"))
    restore = run_playbook(PROJECT / "playbooks" / "restore.yml", "-e", "restore_app=notes",
                           "-e", f"python_app_restore_from={dumps[0] if dumps else dest}")
    acks = acknowledged(app, traffic["writes"])
    stored = notes_in(node(db.leader(MEMBERS), sudo=True))
    before = [a for a in acks if a["at"] < moment]
    after = [a for a in acks if a["at"] > deleted + 1]
    writes, reads = traffic["writes"], traffic["reads"]
    report.add("point-in-time restore (db-pitr.yml, then restore.yml)", writes,
               f"{len(before)} notes acknowledged before the moment, {len(after)} after the DELETE; db-pitr.yml "
               f"{took:.1f} s under load (reads failed {reads['failed']} of {reads['sent']}); after restore.yml "
               f"{sum(stored.get(str(a['id'])) == a['text'] for a in before)} of the {len(before)} are back")
    return {"pitr": pitr, "restore": restore, "dumps": dumps, "stored": stored, "before": before, "after": after,
            "writes": writes, "reads": reads, "seconds": took}


def test_db_pitr_brings_one_dump_of_the_database_at_the_moment_to_the_controller(point_in_time) -> None:
    assert point_in_time["pitr"].rc == 0, point_in_time["pitr"]
    assert len(point_in_time["dumps"]) == 1
    assert point_in_time["dumps"][0].stat().st_mode & 0o077 == 0


def test_restoring_the_dump_brings_back_every_note_acknowledged_before_the_moment(point_in_time) -> None:
    assert point_in_time["restore"].rc == 0, point_in_time["restore"]
    assert len(point_in_time["before"]) >= 50
    assert [a for a in point_in_time["before"] if point_in_time["stored"].get(str(a["id"])) != a["text"]] == []


def test_the_restored_database_holds_no_note_written_after_the_delete(point_in_time) -> None:
    assert len(point_in_time["after"]) >= 20
    assert [a for a in point_in_time["after"] if str(a["id"]) in point_in_time["stored"]] == []


def test_a_point_in_time_dump_fails_no_read_and_no_write(point_in_time) -> None:
    assert point_in_time["writes"]["failed"] == 0, point_in_time["writes"]
    assert point_in_time["reads"]["failed"] == 0, point_in_time["reads"]


def test_db_pitr_to_a_moment_before_every_base_backup_fails_naming_the_target(tmp_path) -> None:
    run = run_playbook(PROJECT / "playbooks" / "db-pitr.yml", "-e", "pitr_database=notes",
                       "-e", "pitr_target=2000-01-01T00:00:00+00:00", "-e", f"backup_dest={tmp_path}")
    assert run.rc != 0
    assert "postgresql_server_pitr_target: no member" in str(run.report)
    assert list(tmp_path.iterdir()) == []


# A rolling upgrade of the database packages ------------------------------------------------------


@pytest.fixture(scope="module")
def rolling_upgrade(report) -> dict[str, Any]:
    """playbooks/db-upgrade.yml under write load, reinstalling the installed versions (the test hosts'
    sources hold nothing newer): each member in turn, the leader last after a switchover. The members
    that answer as a primary are counted every second while it runs."""
    db.wait_healthy(MEMBERS)
    app = node(APP, sudo=True)
    roles_before = db.roles(MEMBERS)
    runs: list[Any] = []
    seen_primaries: list[list[str]] = []
    with under_load() as traffic:
        at = db.clock(app)
        upgrade = threading.Thread(target=lambda: runs.append(
            run_playbook(PROJECT / "playbooks" / "db-upgrade.yml", "-e", "db_upgrade_reinstall=true")))
        upgrade.start()
        while upgrade.is_alive():
            seen_primaries.append(db.primaries(MEMBERS))
            upgrade.join(1)
        db.wait_healthy(MEMBERS, 180)
        resumed_at = db.clock(app)
        wait_until(lambda: sum(a["at"] > resumed_at for a in acknowledged(app, traffic["writes"])) >= 20, 60)
    writes, reads = traffic["writes"], traffic["reads"]
    acks = acknowledged(app, writes)
    stored = notes_in(node(db.leader(MEMBERS), sudo=True))
    missing = [a for a in acks if stored.get(str(a["id"])) != a["text"]]
    paused, _ = db.pause(acks, at)
    run = runs[0]
    stopped = [host for play in run.report.get("plays", []) for task in play.get("tasks", [])
               if task["task"]["name"].endswith("Member's Patroni and PostgreSQL are stopped") for host in task["hosts"]]
    report.add("rolling upgrade (playbooks/db-upgrade.yml, same versions reinstalled): writes (POST)", writes,
               f"{len(acks)} acknowledged, {len(missing)} missing; writes paused {paused:.1f} s at most; "
               f"503: {writes['by_status'].get('503', 0)}, 500: {writes['by_status'].get('500', 0)}; "
               f"order {stopped}")
    report.add("rolling upgrade: reads (GET)", reads)
    return {"run": run, "roles": roles_before, "after": db.roles(MEMBERS), "stopped": stopped, "acks": acks,
            "missing": missing, "writes": writes, "reads": reads, "pause": paused, "primaries": seen_primaries}


def test_a_rolling_upgrade_takes_each_member_in_turn_replicas_first_the_leader_last(rolling_upgrade) -> None:
    assert rolling_upgrade["run"].rc == 0, rolling_upgrade["run"]
    roles = rolling_upgrade["roles"]
    assert rolling_upgrade["stopped"] == (
        sorted(n for n, r in roles.items() if r == "replica") + sorted(n for n, r in roles.items() if r == "sync_standby")
        + [n for n, r in roles.items() if r == "leader"])


def test_a_rolling_upgrade_switches_the_leader_over_before_its_packages(rolling_upgrade) -> None:
    old = next(n for n, r in rolling_upgrade["roles"].items() if r == "leader")
    assert rolling_upgrade["after"][old] in ("sync_standby", "replica")
    assert one_primary_at_most(rolling_upgrade)


def test_a_rolling_upgrade_loses_no_acknowledged_write_and_answers_no_500(rolling_upgrade) -> None:
    assert len(rolling_upgrade["acks"]) > 50
    assert rolling_upgrade["missing"] == []
    assert rolling_upgrade["writes"]["failed"] == 0, rolling_upgrade["writes"]
    assert rolling_upgrade["pause"] < 15


def test_a_rolling_upgrade_answers_reads_200_or_503_with_retry_after_never_500(rolling_upgrade) -> None:
    # The load counts a 503 only with Retry-After (any other answer is its own failure).
    assert set(rolling_upgrade["reads"]["by_status"]) <= {"200", "503"}, rolling_upgrade["reads"]
    assert rolling_upgrade["reads"]["failed"] == rolling_upgrade["reads"]["by_status"].get("503", 0)


# A member taken out of the cluster, then added again -------------------------------------------

DATA_DIR = "/var/lib/postgresql/17/main"


def inventory_without(directory: Path, member: str) -> Path:
    """The scenario's inventory as the user edits it (docs/databases.md): the member out of the db group."""
    hosts = yaml.safe_load((INVENTORY / "hosts").read_text())
    del hosts["all"]["children"]["db"]["hosts"][member]
    (directory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (directory / "group_vars").symlink_to((INVENTORY / "group_vars").resolve())
    return directory


def running_since(members: list[str]) -> dict[str, list[str]]:
    """Each member's etcd and Patroni main PIDs and its postmaster's start: unchanged means none restarted."""
    return {name: [*node(name).check_output("systemctl show -p MainPID --value etcd patroni").split(),
                   psql(node(name, sudo=True), "SELECT pg_postmaster_start_time()")] for name in members}


def etcd_members(member: str) -> list[str]:
    answer = node(member, sudo=True).check_output("etcdctl --endpoints=http://127.0.0.1:2379 member list -w json")
    return sorted(m.get("name", "") for m in yaml.safe_load(answer)["members"])


def missing_on(member: str, acks: list[dict[str, Any]], seconds: float = 60) -> list[dict[str, Any]]:
    """The acknowledged notes a member lacks once it has replayed them (waited for up to seconds)."""
    host, missing = node(member, sudo=True), list(acks)

    def replayed() -> bool:
        stored = notes_in(host)
        missing[:] = [a for a in acks if stored.get(str(a["id"])) != a["text"]]
        return not missing

    with suppress(pytest.fail.Exception):
        wait_until(replayed, seconds, every=1)
    return missing


def writes_after(app: Any, writes: dict[str, Any], since: float, count: int = 20) -> None:
    wait_until(lambda: sum(a["at"] > since for a in acknowledged(app, writes)) >= count, 60)


@pytest.fixture(scope="module")
def removed(report, tmp_path_factory) -> dict[str, Any]:
    """playbooks/db-remove.yml takes the leader out under write load (the harder case: it hands the lead
    over first), then site.yml runs with the host out of the db group, as docs/databases.md says."""
    db.wait_healthy(MEMBERS)
    app = node(APP, sudo=True)
    gone = db.leader(MEMBERS)
    rest = [m for m in MEMBERS if m != gone]
    edited = inventory_without(tmp_path_factory.mktemp("db-removed"), gone)
    not_a_member = run_playbook(PROJECT / "playbooks" / "db-remove.yml", "-e", f"db_remove={APP}")
    with under_load() as traffic:
        at = db.clock(app)
        run = run_playbook(PROJECT / "playbooks" / "db-remove.yml", "-e", f"db_remove={gone}")
        removed_at = db.clock(app)
        before = running_since(rest)
        site = run_playbook(PROJECT / "site.yml", inventory=edited)
        after = running_since(rest)
        site_done = db.clock(app)
        writes_after(app, traffic["writes"], site_done)
    too_few = run_playbook(PROJECT / "playbooks" / "db-remove.yml", "-e", f"db_remove={rest[0]}", inventory=edited)
    writes, reads = traffic["writes"], traffic["reads"]
    acks = acknowledged(app, writes)
    stored = notes_in(node(db.leader(rest), sudo=True))
    missing = [a for a in acks if stored.get(str(a["id"])) != a["text"]]
    paused, _ = db.pause(acks, at)
    report.add("leader taken out (playbooks/db-remove.yml, then site.yml without it): writes (POST)", writes,
               f"{len(acks)} acknowledged, {len(missing)} missing; writes paused {paused:.1f} s at most; "
               f"db-remove.yml {removed_at - at:.0f} s, site.yml {site_done - removed_at:.0f} s; "
               f"503: {writes['by_status'].get('503', 0)}, 500: {writes['by_status'].get('500', 0)}")
    report.add("leader taken out: reads (GET)", reads)
    return {"gone": gone, "rest": rest, "run": run, "site": site, "not_a_member": not_a_member, "too_few": too_few,
            "before": before, "after": after, "acks": acks, "missing": missing, "pause": paused, "writes": writes,
            "reads": reads, "roles": db.roles(rest), "etcd": etcd_members(rest[0]),
            "url": app.check_output(f"grep ^NOTES_DATABASE_URL= {ENV_FILE}"), "address": address(node(gone))}


def test_db_remove_refuses_a_host_that_is_not_a_member_before_any_host_changes(removed) -> None:
    assert removed["not_a_member"].rc != 0, removed["not_a_member"]
    assert "postgresql_server_remove_member (-e db_remove=HOST" in removed["not_a_member"].text
    assert set(removed["not_a_member"].changed.values()) == {0}, removed["not_a_member"].changed


def test_db_remove_takes_the_leader_out_of_patroni_and_etcd_after_a_switchover(removed) -> None:
    assert removed["run"].rc == 0, removed["run"]
    assert sorted(removed["roles"]) == sorted(removed["rest"]), removed["roles"]
    assert sorted(removed["roles"].values()) == ["leader", "sync_standby"], removed["roles"]
    assert removed["etcd"] == sorted(removed["rest"])


def test_a_removed_member_runs_neither_patroni_nor_etcd_and_keeps_its_data(removed) -> None:
    host = node(removed["gone"], sudo=True)
    for service in ("patroni", "etcd"):
        assert not host.service(service).is_running and not host.service(service).is_enabled, service
    assert host.file(f"{DATA_DIR}/PG_VERSION").is_file


def test_taking_a_member_out_loses_no_acknowledged_write_and_answers_no_500(removed) -> None:
    assert len(removed["acks"]) > 50
    assert removed["missing"] == []
    assert removed["writes"]["failed"] == 0, removed["writes"]
    assert removed["reads"]["failed"] == 0, removed["reads"]
    assert removed["pause"] < 10


def test_site_yml_without_the_member_tells_the_app_hosts_and_restarts_no_member(removed) -> None:
    assert removed["site"].rc == 0, removed["site"]
    assert removed["address"] not in removed["url"]
    assert removed["after"] == removed["before"]


def test_taking_out_one_of_the_last_two_members_is_refused(removed) -> None:
    assert removed["too_few"].rc != 0, removed["too_few"]
    assert "would leave 1 member(s)" in removed["too_few"].text, removed["too_few"]
    assert set(removed["too_few"].changed.values()) == {0}, removed["too_few"].changed


@pytest.fixture(scope="module")
def added_back(removed, report) -> dict[str, Any]:
    """The removed host back in the db group (the scenario's inventory) and site.yml, under write load."""
    app = node(APP, sudo=True)
    gone = removed["gone"]
    with under_load() as traffic:
        at = db.clock(app)
        run = run_playbook(PROJECT / "site.yml")
        done = db.clock(app)
        db.wait_healthy(MEMBERS)
        writes_after(app, traffic["writes"], done)
    writes, reads = traffic["writes"], traffic["reads"]
    acks = acknowledged(app, writes)
    stored = notes_in(node(db.leader(MEMBERS), sudo=True))
    missing = [a for a in acks if stored.get(str(a["id"])) != a["text"]]
    paused, _ = db.pause(acks, at)
    on_it = missing_on(gone, removed["acks"] + acks)
    report.add("removed member added back (site.yml with it in the db group): writes (POST)", writes,
               f"{len(acks)} acknowledged, {len(missing)} missing; {len(on_it)} of {len(removed['acks']) + len(acks)} "
               f"missing on it; writes paused {paused:.1f} s at most; site.yml {done - at:.0f} s; "
               f"503: {writes['by_status'].get('503', 0)}, 500: {writes['by_status'].get('500', 0)}")
    report.add("removed member added back: reads (GET)", reads)
    host = node(gone, sudo=True)
    return {"gone": gone, "run": run, "acks": acks, "missing": missing, "pause": paused, "on_it": on_it,
            "writes": writes, "reads": reads, "roles": db.roles(MEMBERS),
            "kept": host.run(f"ls -d {DATA_DIR}.removed-*").stdout.split(),
            "identifiers": {name: psql(node(name, sudo=True), "SELECT system_identifier FROM pg_control_system()")
                            for name in MEMBERS}}


def test_site_yml_adds_the_removed_member_back_as_a_streaming_replica(added_back) -> None:
    assert added_back["run"].rc == 0, added_back["run"]
    assert added_back["roles"][added_back["gone"]] in ("sync_standby", "replica"), added_back["roles"]
    assert db.healthy(MEMBERS)


def test_the_member_added_back_copies_the_leader_afresh_its_old_data_kept_beside(added_back) -> None:
    assert len(added_back["kept"]) == 1, added_back["kept"]
    assert len(set(added_back["identifiers"].values())) == 1, added_back["identifiers"]


def test_every_acknowledged_note_is_on_the_member_added_back(added_back) -> None:
    assert len(added_back["acks"]) > 50
    assert added_back["on_it"] == []


def test_adding_a_member_back_loses_no_acknowledged_write_and_answers_no_500(added_back) -> None:
    assert added_back["missing"] == []
    assert added_back["writes"]["failed"] == 0, added_back["writes"]
    assert added_back["reads"]["failed"] == 0, added_back["reads"]
    assert added_back["pause"] < 10


# The cluster as site.yml leaves it ----------------------------------------------------------------


def test_every_member_has_data_checksums_on() -> None:
    for name in MEMBERS:
        assert psql(node(name, sudo=True), "SHOW data_checksums") == "on"


def test_commits_wait_for_a_synchronous_standby() -> None:
    leader = node(db.leader(MEMBERS), sudo=True)
    assert psql(leader, "SHOW synchronous_standby_names") != ""
    assert psql(leader, "SHOW synchronous_commit") == "on"


def test_a_backup_never_starts_the_patroni_of_a_member_stopped_for_maintenance() -> None:
    db.wait_healthy(MEMBERS)
    name = next(n for n, role in db.roles(MEMBERS).items() if role == "replica")  # no write waits for it
    host = node(name, sudo=True)
    host.check_output("systemctl stop patroni")
    try:
        assert host.run("systemctl start postgresql-backup.service").rc != 0
        assert not host.service("patroni").is_running
    finally:
        host.check_output("systemctl start patroni")
        db.wait_healthy(MEMBERS, 120)


def test_each_member_serves_patronis_and_etcds_metrics_to_the_allowed_sources() -> None:
    app = node(APP)
    for name in MEMBERS:
        member = address(node(name))
        assert "patroni_primary{" in app.check_output(f"curl -sS --max-time 5 http://{member}:8008/metrics")
        assert "etcd_server_has_leader 1" in app.check_output(f"curl -sS --max-time 5 http://{member}:2381/metrics")


def test_a_site_yml_rerun_changes_nothing_on_any_host() -> None:
    run = run_playbook(PROJECT / "site.yml")
    assert run.rc == 0, run
    assert run.changed == dict.fromkeys([APP, *MEMBERS], 0), run.changed
