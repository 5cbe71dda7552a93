"""`kpi audit verify`: an untouched store verifies; a direct edit of any audited row is named.

Built on the publisher's tiny staged warehouse (tests/test_publish.py): two months and a quarter,
published, then January restated, so the store has a chain of four records.
"""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from dagster_project.audit.hashing import GENESIS_HASH, record_hash
from dagster_project.audit.verify import verify_published
from dagster_project.cli.app import app
from dagster_project.publish.audit_trail import publication_hash_values
from dagster_project.publish.files import published_path
from dagster_project.publish.writer import publish_scorecards
from tests.test_publish import JAN, STAGED_SQL, T0, passing_gate, provenance


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A published store with versions: Jan, Feb, Q1 at version 1, then Jan and Q1 restated."""
    warehouse = tmp_path / "warehouse.duckdb"
    data_dir = tmp_path / "data"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(STAGED_SQL)
    publish_scorecards(
        warehouse, data_dir, passing_gate(), "run-1", published_at=T0, provenance=provenance("run-1")
    )
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update scorecard.scorecard set actual = actual + 1 where period_start = ? and kpi_id = 'nps'",
            [JAN],
        )
    publish_scorecards(
        warehouse,
        data_dir,
        passing_gate(),
        "run-2",
        published_at=T0.replace(hour=7),
        provenance=provenance("run-2"),
    )
    return published_path(data_dir)


def edit(store: Path, sql: str, parameters: list | None = None) -> None:
    """What an auditor fears: someone changes the published file directly."""
    with duckdb.connect(str(store)) as con:
        con.execute(sql, parameters or [])


def findings(store: Path) -> list[str]:
    return [str(finding) for finding in verify_published(store).findings]


def test_an_untouched_store_verifies_and_its_chain_links_every_record(store: Path) -> None:
    report = verify_published(store)
    assert report.ok, report.findings
    assert report.publications == 5  # Jan, Feb, Q1; then Jan and Q1 restated
    with duckdb.connect(str(store), read_only=True) as con:
        rows = con.execute(
            "select * exclude (inputs_changed), inputs_changed from publications order by publication_id"
        ).fetchall()
    assert [row[11] for row in rows] == [1, 2, 3, 4, 5]
    assert rows[0][-3] == GENESIS_HASH
    for before, after in itertools.pairwise(rows):
        assert after[-3] == before[-2]
    assert all(record_hash(publication_hash_values(row[:-2], row[-1])) == row[-2] for row in rows)
    # January and Q1 were restated from the same input batches: flagged as such
    assert [row[-1] for row in rows] == [None, None, None, False, False]
    assert report.head_hash == rows[-1][-2]


def test_an_edited_history_value_is_named_with_its_period_version_and_row(store: Path) -> None:
    edit(
        store,
        "update scorecard_history set actual = 1 where period_grain = 'month' and period_start = ? "
        "and publication_version = 1 and org_unit_id = 'S1' and kpi_id = 'net_revenue'",
        [JAN],
    )
    found = findings(store)
    assert (
        "scorecard_history (month 2025-01-01, version 1): the version's rows no longer match its published content_hash"
        in found
    )
    assert (
        "scorecard_history (month 2025-01-01, version 1) S1/net_revenue: "
        "the row was edited: it no longer matches its recorded row hash" in found
    )
    assert len(found) == 2


def test_an_edited_publication_record_breaks_its_own_hash(store: Path) -> None:
    edit(store, "update publications set reason = 'initial' where publication_id = 4")
    assert findings(store) == [
        "publications publication_id=4 (month 2025-01-01, version 2): "
        "the row was edited: its columns no longer match its record_hash"
    ]


def test_a_deleted_publication_record_breaks_the_chain_at_the_next_one(store: Path) -> None:
    edit(store, "delete from publications where publication_id = 2")
    found = findings(store)
    assert (
        "publications publication_id=3 (quarter 2025-01-01, version 1): previous_record_hash does not match "
        "the record before it: a publication record was deleted, inserted or reordered"
    ) in found
    # February's rows are still in the history, but no publication vouches for them any more
    assert all(not f.startswith("publications") or "publication_id=3" in f for f in found), found


def test_an_edited_current_scorecard_row_is_named(store: Path) -> None:
    edit(
        store,
        "update scorecard set actual = actual + 0.5 where period_start = ? and period_grain = 'month' "
        "and org_unit_id = 'HQ' and kpi_id = 'return_rate'",
        [date(2025, 2, 1)],
    )
    assert findings(store) == [
        "scorecard (month 2025-02-01, version 1) HQ/return_rate: the row differs from the published version in the history",
        # its change vs January is computed from the (edited) actual
        "scorecard (month 2025-02-01, version 1) HQ/return_rate: change_vs_prior_period: "
        "not the current version of the compared period",
    ]


def test_an_edited_comparison_column_is_named(store: Path) -> None:
    edit(
        store,
        "update scorecard set prior_period_actual = 7 where period_start = ? and period_grain = 'month' "
        "and org_unit_id = 'S1' and kpi_id = 'nps'",
        [date(2025, 2, 1)],
    )
    assert findings(store) == [
        "scorecard (month 2025-02-01, version 1) S1/nps: prior_period_actual: "
        "not the current version of the compared period"
    ]


def test_edited_inputs_and_checks_are_named(store: Path) -> None:
    edit(store, "update value_inputs set row_count = row_count + 1 where publication_version = 2")
    edit(
        store, "update check_results set success = false where run_id = 'run-1' and period_grain = 'quarter'"
    )
    found = findings(store)
    assert any(f.startswith("value_inputs publication_id=4 (month 2025-01-01, version 2)") for f in found), (
        found
    )
    assert any(
        f.startswith("check_results publication_id=3 (quarter 2025-01-01, version 1)") for f in found
    ), found


def test_kpi_audit_verify_exit_codes(store: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--data-dir", str(store.parent)])
    assert ok.exit_code == 0, ok.output
    assert "5 publication record(s)" in ok.output
    edit(store, "update publications set row_count = 0 where publication_id = 1")
    failed = runner.invoke(app, ["audit", "verify", "--data-dir", str(store.parent)])
    assert failed.exit_code == 1
    assert "publications publication_id=1 (month 2025-01-01, version 1)" in failed.output
    missing = runner.invoke(app, ["audit", "verify", "--data-dir", str(store.parent / "nowhere")])
    assert missing.exit_code == 2


def test_kpi_audit_verify_reads_the_data_folder_from_dotenv(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like every kpi command: KPI_DATA_DIR from .env in the current folder; a bad value exits 2."""
    project = tmp_path / "project"
    project.mkdir()
    (project / ".env").write_text(f"KPI_DATA_DIR={store.parent}\n", encoding="utf-8")
    monkeypatch.chdir(project)
    monkeypatch.delenv("KPI_DATA_DIR", raising=False)
    ok = CliRunner().invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "5 publication record(s)" in ok.output

    monkeypatch.setenv("KPI_DUCKDB_THREADS", "many")
    bad = CliRunner().invoke(app, ["audit", "verify"])
    assert bad.exit_code == 2
    assert "KPI_DUCKDB_THREADS" in bad.output


# --- issue 13 item 7: every published table, the Parquet copies, the anchor ------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "update source_batches set sha256 = 'ff' || sha256, file_path = '/elsewhere.csv' where batch_id = 1",
            "source_batches batch_id=1: the row was edited: it no longer matches its sealed row hash",
        ),
        (
            "update publication_attempts set outcome = 'blocked' where attempt_id = 2",
            "publication_attempts attempt_id=2: the row was edited: it no longer matches its sealed row hash",
        ),
        (
            "update kpi_alerts set value = value + 1 where period_start = date '2025-01-01' "
            "and period_grain = 'month'",
            "kpi_alerts period_grain=month period_start=2025-01-01 org_unit_id=S1 kpi_id=nps "
            "detected_rule=robust_z: the row was edited: it no longer matches its sealed row hash",
        ),
        (
            "update kpi_dictionary set formula = 'promoters' where kpi_id = 'nps'",
            "kpi_dictionary kpi_id=nps: the row was edited: it no longer matches its sealed row hash",
        ),
        (
            "delete from source_batches where batch_id = 2",
            "source_batches batch_id=2: the row is missing (deleted after publication)",
        ),
        (
            "insert into publication_runs select * replace ('run-9' as run_id) from publication_runs "
            "where run_id = 'run-1'",
            "publication_runs run_id=run-9: the row is not in the sealed record (inserted after publication)",
        ),
    ],
)
def test_an_edit_of_any_published_table_is_named(store: Path, sql: str, expected: str) -> None:
    edit(store, sql)
    found = findings(store)
    assert expected in found, found


def test_nulling_the_newest_records_chain_fields_is_not_predating(store: Path) -> None:
    edit(
        store,
        "update publications set publication_id = null, record_hash = null, row_count = 99 "
        "where publication_id = 5",
    )
    report = verify_published(store)
    assert report.unchained == 0
    found = [str(f) for f in report.findings]
    assert any(
        f.startswith("publications (quarter 2025-01-01, version 2)") and "its chain fields were removed" in f
        for f in found
    ), found


def test_a_parquet_copy_that_differs_from_the_store_is_named(store: Path) -> None:
    copy = store.parent / "published" / "parquet" / "source_batches.parquet"
    with duckdb.connect() as con:
        con.execute(
            f"copy (select * replace (case when batch_id = 1 then 'x.csv' else file_path end as file_path) "
            f"from read_parquet('{copy}')) to '{copy}.new' (format parquet)"
        )
    copy.with_name(copy.name + ".new").replace(copy)
    (store.parent / "published" / "parquet" / "kpi_alerts.parquet").unlink()
    found = findings(store)
    assert (
        "parquet published/parquet/source_batches.parquet batch_id=1: the row differs from the store or is not in it"
        in found
    )
    assert (
        "parquet published/parquet/source_batches.parquet batch_id=1: the store's row is missing from the Parquet copy"
        in found
    )
    assert "parquet published/parquet/kpi_alerts.parquet the file: is missing" in found


def test_kpi_audit_anchor_and_verify_anchor(store: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(store.parent)]
    anchored = runner.invoke(app, ["audit", "anchor", *data, "--out", str(tmp_path / "anchors" / "head.txt")])
    assert anchored.exit_code == 0, anchored.output
    head = (tmp_path / "anchors" / "head.txt").read_text(encoding="utf-8").strip()
    assert len(head) == 64 and head in anchored.output
    assert head == verify_published(store).anchor
    inside = runner.invoke(app, ["audit", "anchor", *data, "--out", str(store.parent / "head.txt")])
    assert inside.exit_code == 2 and "inside the data folder" in inside.output
    assert not (store.parent / "head.txt").exists()

    assert runner.invoke(app, ["audit", "verify", *data, "--anchor", head]).exit_code == 0
    unknown = runner.invoke(app, ["audit", "verify", *data, "--anchor", "ab" * 32])
    assert unknown.exit_code == 1 and "not in the seal chain" in unknown.output

    # whoever can write the file can drop the seals and have them rebuilt: only the anchor shows it
    edit(store, "update source_batches set rows_quarantined = 0")
    edit(store, "delete from sealed_row_hashes; delete from publication_seals")
    warehouse = store.parent.parent / "warehouse.duckdb"
    publish_scorecards(
        warehouse,
        store.parent,
        passing_gate(),
        "run-3",
        published_at=T0.replace(hour=8),
        provenance=provenance("run-3"),
    )
    assert verify_published(store).ok
    rewritten = runner.invoke(app, ["audit", "verify", *data, "--anchor", head])
    assert rewritten.exit_code == 1 and f"anchor {head}: not in the seal chain" in rewritten.output


def test_kpi_audit_anchor_posts_with_a_timeout_and_redacts_the_url(store: Path) -> None:
    import http.server
    import json
    import threading

    received: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        runner = CliRunner()
        data = ["--data-dir", str(store.parent)]
        posted = runner.invoke(app, ["audit", "anchor", *data, "--post", f"http://127.0.0.1:{port}/anchors"])
        assert posted.exit_code == 0, posted.output
        assert received and received[0]["anchor"] == verify_published(store).anchor
    finally:
        server.shutdown()
        server.server_close()
    failed = runner.invoke(
        app, ["audit", "anchor", *data, "--post", f"http://user:s3cret@127.0.0.1:{port}/a?token=t0ken"]
    )
    assert failed.exit_code == 1
    assert "s3cret" not in failed.output and "t0ken" not in failed.output
    assert f"http://***@127.0.0.1:{port}/a?***" in failed.output
