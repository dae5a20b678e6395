"""bench/failover_routing.py: the figures made of the writers' ledgers (the writer itself runs on a host)."""

from __future__ import annotations

import json

import pytest

from conftest import load

fr = load("bench/failover_routing.py")

LEDGER = [
    "ok\t1\t100.0\t100.010",
    "ok\t2\t100.5\t100.520",
    "err\t3\t101.0\t103.0\tOperationalError: connection lost",
    "err\t4\t103.1\t105.1\tOperationalError: timeout",
    "ok\t5\t105.2\t105.3",
    "ok\t6\t106.0\t106.05",
    "",
]


def test_parse_ledger_reads_every_attempt():
    attempts = fr.parse_ledger(LEDGER)
    assert [a.seq for a in attempts] == [1, 2, 3, 4, 5, 6]
    assert attempts[2] == fr.Attempt(False, 3, 101.0, 103.0, "OperationalError: connection lost")


def test_percentile_is_nearest_rank():
    assert fr.percentile([float(x) for x in range(1, 101)], 0.99) == 99.0
    assert fr.percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert fr.percentile([5.0], 0.99) == 5.0


def test_first_write_counts_only_writes_sent_after_the_fault():
    attempts = fr.parse_ledger(LEDGER)
    # Write 2 was sent before the fault at 100.8: the first sent after it is 5, acknowledged at 105.3.
    assert fr.first_write_after(attempts, 100.8) == pytest.approx(4.5)
    assert fr.first_write_after(attempts[4:], 107.0) is None


def test_first_write_waits_for_the_outage_a_fault_brings():
    # Writes 1 and 2 were still acknowledged after the fault at 99.9 (a killed postmaster's orphaned
    # backends): the client recovered with write 5, after its first failure.
    attempts = fr.parse_ledger(LEDGER)
    assert fr.first_write_after(attempts, 99.9) == pytest.approx(5.4)
    assert fr.first_write_after(attempts[:2], 99.9) == pytest.approx(0.11)


def test_fault_figures_count_errors_and_missing_writes():
    attempts = fr.parse_ledger(LEDGER)
    row = fr.figures(attempts, {"case": "kill", "start": 99.8, "end": 110.0, "fault": 100.8}, {1, 2, 5})
    assert row["acknowledged"] == 4 and row["errors"] == 2
    assert row["missing"] == 1  # write 6 was acknowledged, the table lacks it
    assert row["first_write_s"] == 4.5
    assert row["longest_gap_s"] == 4.5
    assert row["error_kinds"] == {"OperationalError: connection lost": 1, "OperationalError: timeout": 1}


def test_steady_figures_give_latency():
    attempts = fr.parse_ledger(LEDGER[:2])
    row = fr.figures(attempts, {"case": "steady", "start": 100.0, "end": 101.0}, {1, 2})
    assert (row["p50_ms"], row["p99_ms"]) == (10.0, 20.0)
    assert row["writes_per_s"] == 2.0 and row["missing"] == 0


def test_summarise_one_row_per_client_and_window_then_totals(tmp_path):
    (tmp_path / "a.tsv").write_text("\n".join(LEDGER))
    (tmp_path / "b.tsv").write_text("ok\t1\t100.0\t100.1\n")
    (tmp_path / "table.txt").write_text("a 1\na 2\na 5\na 6\nb 1\n")
    (tmp_path / "rounds.jsonl").write_text(
        json.dumps({"case": "steady", "round": 1, "start": 99.0, "end": 100.9}) + "\n"
        + json.dumps({"case": "kill", "round": 1, "start": 100.8, "end": 110.0, "fault": 100.8,
                      "leader": "db1", "new_leader": "db2"}) + "\n")
    rows = fr.summarise(str(tmp_path / "rounds.jsonl"), {"a": str(tmp_path / "a.tsv"), "b": str(tmp_path / "b.tsv")},
                        str(tmp_path / "table.txt"))
    assert [(r["case"], r["client"]) for r in rows] == [
        ("steady", "a"), ("steady", "b"), ("kill", "a"), ("kill", "b"), ("total", "a"), ("total", "b")]
    assert rows[2]["leader"] == "db1" and rows[3]["first_write_s"] is None
    assert rows[4] == {"case": "total", "client": "a", "acknowledged": 4, "missing": 0, "errors": 2}


def test_read_environment_keeps_values_whole():
    env = fr.read_environment(["NOTES_DATABASE_URL=postgresql://a@h:5432/n?x=1&y=2", "PGPASSWORD=a=b", "# no", ""])
    assert env == {"NOTES_DATABASE_URL": "postgresql://a@h:5432/n?x=1&y=2", "PGPASSWORD": "a=b"}
