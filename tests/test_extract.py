"""Unit tests of the loader rules: every quarantine reason, batches, corrections, broken files."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagster_project.contract import Contract
from dagster_project.extract import EntityLoadResult, file_sha256, load_entity
from tests.helpers import sales_line, write_csv

Loader = Callable[[str], EntityLoadResult]


def quarantine(con: duckdb.DuckDBPyConnection, entity: str) -> list[tuple[int, str]]:
    return con.execute(
        f"select _source_row, _reason from quarantine.{entity} order by _source_row"
    ).fetchall()


def test_good_rows_are_typed_and_keep_extra_columns(landing: Path, con, load: Loader) -> None:
    row = sales_line(discount_amount="") | {"promo_code": "SPRING"}
    write_csv(landing / "sales_lines" / "s.csv", [row])
    result = load("sales_lines")
    assert (result.rows_loaded, result.rows_quarantined) == (1, 0)
    loaded = con.execute(
        "select order_id, line_no, order_date, quantity, unit_price, discount_amount, extra_columns, "
        "_source_row from raw.sales_lines"
    ).fetchone()
    assert loaded[0:2] == ("O1", 1)
    assert str(loaded[2]) == "2025-01-10"
    assert loaded[3] == 2 and loaded[4] == Decimal("10.5")
    assert loaded[5] == Decimal("0")  # optional discount defaults to 0
    assert loaded[6] == '{"promo_code":"SPRING"}'
    assert loaded[7] == 2  # CSV line number: the header is line 1


def test_ids_stay_text(landing: Path, con, load: Loader) -> None:
    write_csv(landing / "sales_lines" / "s.csv", [sales_line(order_id="007", customer_id="0042")])
    load("sales_lines")
    assert con.execute("select order_id, customer_id from raw.sales_lines").fetchone() == ("007", "0042")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"order_id": ""}, "missing required field order_id"),
        ({"quantity": "abc"}, "quantity is not a whole number: 'abc'"),
        ({"quantity": "3.5"}, "quantity is not a whole number: '3.5'"),
        ({"unit_price": "12,5"}, "unit_price is not a number: '12,5'"),
        ({"order_date": "2025-02-30"}, "order_date is not a date (YYYY-MM-DD): '2025-02-30'"),
        ({"order_date": "01/02/2025"}, "order_date is not a date (YYYY-MM-DD): '01/02/2025'"),
        ({"quantity": "0"}, "quantity must be greater than 0: 0"),
        ({"unit_price": "-1"}, "unit_price must be at least 0: -1"),
        ({"discount_amount": "-0.5"}, "discount_amount must be at least 0: -0.5"),
        ({"org_unit_id": "S9"}, "unknown org_unit_id 'S9' (not in org_units)"),
        ({"sku": "Z"}, "unknown sku 'Z' (not in products)"),
        ({"line_no": "0"}, "line_no must be at least 1: 0"),
    ],
)
def test_sales_line_rules(landing: Path, con, load: Loader, overrides: dict, reason: str) -> None:
    good = sales_line(order_id="GOOD")
    write_csv(landing / "sales_lines" / "s.csv", [good, sales_line(**overrides)])
    result = load("sales_lines")
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    assert quarantine(con, "sales_lines") == [(3, reason)]
    original = con.execute("select order_id, quantity, _source_file from quarantine.sales_lines").fetchone()
    assert original[1] == (overrides.get("quantity") or "2")  # the original text is kept
    assert original[2] == "sales_lines/s.csv"


def test_several_reasons_are_all_reported(landing: Path, con, load: Loader) -> None:
    write_csv(landing / "sales_lines" / "s.csv", [sales_line(sku="Z", quantity="0")])
    load("sales_lines")
    [(_, reason)] = quarantine(con, "sales_lines")
    assert reason == "unknown sku 'Z' (not in products); quantity must be greater than 0: 0"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"nps_score": "11"}, "nps_score must be at most 10: 11"),
        ({"csat_score": "0"}, "csat_score must be at least 1: 0"),
        ({"nps_score": "", "csat_score": ""}, "at least one of nps_score and csat_score is required"),
        ({"response_date": "yesterday"}, "response_date is not a date (YYYY-MM-DD): 'yesterday'"),
    ],
)
def test_survey_rules(landing: Path, con, load: Loader, overrides: dict, reason: str) -> None:
    base = {
        "response_id": "V1",
        "response_date": "2025-01-03",
        "org_unit_id": "S1",
        "customer_id": "",
        "order_id": "",
        "nps_score": "9",
        "csat_score": "",
        "comment": "很好",
    }
    write_csv(landing / "survey_responses" / "v.csv", [base | {"response_id": "V0"}, base | overrides])
    load("survey_responses")
    assert quarantine(con, "survey_responses") == [(3, reason)]
    assert con.execute("select comment from raw.survey_responses").fetchone() == ("很好",)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        (
            {"resolved_at": "2025-01-01 09:00:00"},
            "resolved_at 2025-01-01 09:00:00 is before opened_at 2025-01-02 10:00:00",
        ),
        (
            {"opened_at": "2025-01-02 25:00"},
            "opened_at is not a timestamp (YYYY-MM-DD HH:MM:SS): '2025-01-02 25:00'",
        ),
    ],
)
def test_complaint_rules(landing: Path, con, load: Loader, overrides: dict, reason: str) -> None:
    base = {
        "complaint_id": "K1",
        "opened_at": "2025-01-02 10:00:00",
        "resolved_at": "2025-01-03T08:30",
        "org_unit_id": "S1",
        "customer_id": "",
        "order_id": "",
        "category": "delivery",
    }
    write_csv(landing / "complaints" / "k.csv", [base | {"complaint_id": "K0"}, base | overrides])
    load("complaints")
    assert quarantine(con, "complaints") == [(3, reason)]
    assert str(con.execute("select resolved_at from raw.complaints").fetchone()[0]) == "2025-01-03 08:30:00"


def test_inventory_rules(landing: Path, con, load: Loader) -> None:
    base = {
        "snapshot_date": "2025-01-06",
        "org_unit_id": "S1",
        "sku": "A",
        "on_hand_qty": "5",
        "unit_cost": "6",
    }
    write_csv(
        landing / "inventory_snapshots" / "i.csv",
        [base, base | {"sku": "B", "on_hand_qty": "-2"}, base | {"org_unit_id": "S2", "on_hand_qty": "0"}],
    )
    result = load("inventory_snapshots")
    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    assert quarantine(con, "inventory_snapshots") == [(3, "on_hand_qty must be at least 0: -2")]


def test_duplicate_key_within_a_file_quarantines_both(landing: Path, con, load: Loader) -> None:
    write_csv(
        landing / "sales_lines" / "s.csv",
        [
            sales_line(),
            sales_line(order_id="O2"),
            sales_line(quantity="5"),
            sales_line(line_no="01", sku="B"),
        ],
    )
    result = load("sales_lines")
    assert (result.rows_loaded, result.rows_quarantined) == (1, 3)  # '01' is the same line_no as '1'
    reasons = {row: reason for row, reason in quarantine(con, "sales_lines")}
    assert set(reasons) == {2, 4, 5}
    assert (
        reasons[2]
        == "duplicate key (order_id, line_no) = (O1, 1) appears 3 times in this file (rows 2, 4, 5)"
    )


def test_org_unit_rules(tmp_path: Path, con, contract: Contract) -> None:
    landing = tmp_path / "own"
    rows = [
        {"org_unit_id": "HQ", "name": "Co", "parent_id": "", "unit_type": "company"},
        {"org_unit_id": "R1", "name": "East", "parent_id": "HQ", "unit_type": "region"},
        {"org_unit_id": "X", "name": "Other root", "parent_id": "", "unit_type": "company"},
        {"org_unit_id": "S1", "name": "S1", "parent_id": "R9", "unit_type": "store"},
        {"org_unit_id": "S2", "name": "S2", "parent_id": "S2", "unit_type": "store"},
        {"org_unit_id": "S3", "name": "S3", "parent_id": "R1", "unit_type": "shop"},
        {"org_unit_id": "S4", "name": "S4", "parent_id": "S1", "unit_type": "store"},  # under a rejected unit
        {"org_unit_id": "S5", "name": "S5", "parent_id": "R2", "unit_type": "store"},  # parent defined below
        {"org_unit_id": "R2", "name": "West", "parent_id": "HQ", "unit_type": "region"},
    ]
    write_csv(landing / "org_units" / "o.csv", rows)
    result = load_entity(con, contract, "org_units", landing)
    assert result.rows_loaded == 4
    assert quarantine(con, "org_units") == [
        (4, "a second root unit (only one unit may have no parent_id)"),
        (5, "unknown parent_id 'R9' (not in org_units)"),
        (6, "parent_id is the unit itself"),
        (7, "unit_type must be one of company, region, store, warehouse, department, other: 'shop'"),
        (8, "parent_id 'S1' is rejected in this file"),
    ]
    # A later file cannot add a second root either.
    write_csv(
        landing / "org_units" / "p.csv",
        [{"org_unit_id": "Y", "name": "Y", "parent_id": "", "unit_type": "company"}],
    )
    assert load_entity(con, contract, "org_units", landing).rows_quarantined == 1


def test_return_rules(landing: Path, con, load: Loader) -> None:
    write_csv(landing / "sales_lines" / "s.csv", [sales_line(quantity="3"), sales_line(order_id="O2")])
    base = {
        "return_id": "RT1",
        "order_id": "O1",
        "line_no": "1",
        "return_date": "2025-01-20",
        "quantity": "1",
        "refund_amount": "9.5",
    }
    write_csv(
        landing / "returns" / "r1.csv",
        [
            base,
            base | {"return_id": "RT2", "return_date": "2025-02-03", "quantity": "2"},
            base | {"return_id": "RT3", "order_id": "O9"},
            base | {"return_id": "RT4", "order_id": "O2", "return_date": "2025-01-09"},
            base | {"return_id": "RT5", "return_date": "2025-02-04"},
        ],
    )
    result = load("returns")
    assert (result.rows_loaded, result.rows_quarantined) == (2, 3)
    assert quarantine(con, "returns") == [
        (4, "no sales line for order_id O9 line_no 1 (orphan return)"),
        (5, "return_date 2025-01-09 is before the order_date 2025-01-10"),
        (6, "returns of order_id O1 line_no 1 would total 4, more than the 3 sold"),
    ]
    # In a later batch the loaded returns count first: the line is fully returned already.
    write_csv(landing / "returns" / "r2.csv", [base | {"return_id": "RT6", "return_date": "2025-01-15"}])
    assert load("returns").batches[-1].rows_quarantined == 1
    # Correcting a loaded return replaces its quantity instead of adding to it.
    write_csv(landing / "returns" / "r3.csv", [base | {"quantity": "1", "refund_amount": "5"}])
    last = load("returns").batches[-1]
    assert (last.rows_loaded, last.rows_superseded) == (1, 1)


def test_correction_supersedes_the_earlier_row(landing: Path, con, load: Loader) -> None:
    write_csv(landing / "sales_lines" / "a.csv", [sales_line(), sales_line(order_id="O2")])
    first = load("sales_lines").batches[0]
    write_csv(landing / "sales_lines" / "b.csv", [sales_line(quantity="7")])
    second = load("sales_lines").batches[-1]
    assert (second.rows_loaded, second.rows_superseded) == (1, 1)
    rows = con.execute(
        "select quantity, _load_batch_id, _superseded_by_batch_id from raw.sales_lines "
        "where order_id = 'O1' order by _load_batch_id"
    ).fetchall()
    assert rows == [(2, first.batch_id, second.batch_id), (7, second.batch_id, None)]
    current = con.execute("select count(*) from raw.sales_lines where _superseded_by_batch_id is null")
    assert current.fetchone()[0] == 2


def test_bad_correction_keeps_the_loaded_row(landing: Path, con, load: Loader) -> None:
    write_csv(landing / "sales_lines" / "a.csv", [sales_line()])
    load("sales_lines")
    write_csv(landing / "sales_lines" / "b.csv", [sales_line(quantity="-1")])
    last = load("sales_lines").batches[-1]
    assert (last.rows_loaded, last.rows_quarantined, last.rows_superseded) == (0, 1, 0)
    assert con.execute(
        "select quantity from raw.sales_lines where _superseded_by_batch_id is null"
    ).fetchall() == [(2,)]


def test_batches_are_logged_and_reruns_load_nothing(landing: Path, con, load: Loader) -> None:
    path = write_csv(landing / "sales_lines" / "s.csv", [sales_line(), sales_line(order_id="O2", sku="Z")])
    load("sales_lines")
    log = con.execute(
        "select entity, file_name, sha256, status, rows_read, rows_loaded, rows_quarantined, file_size_bytes, "
        "dagster_run_id from audit.load_batches where entity = 'sales_lines'"
    ).fetchall()
    assert log == [
        (
            "sales_lines",
            "sales_lines/s.csv",
            file_sha256(path),
            "loaded",
            2,
            1,
            1,
            path.stat().st_size,
            "test",
        )
    ]
    again = load("sales_lines")
    assert [b.status for b in again.batches] == ["skipped"]
    assert con.execute("select count(*) from raw.sales_lines").fetchone()[0] == 1
    assert con.execute("select count(*) from audit.load_batches").fetchone()[0] == 3  # org, products, sales

    # The same content under another name is skipped too; new content under the old name is a new batch.
    (landing / "sales_lines" / "copy.csv").write_bytes(path.read_bytes())
    assert [b.status for b in load("sales_lines").batches] == ["skipped", "skipped"]
    write_csv(path, [sales_line(quantity="4")])
    assert [b.status for b in load("sales_lines").batches] == ["skipped", "loaded"]
    names = con.execute(
        "select file_name from audit.load_batches where entity = 'sales_lines' order by batch_id"
    ).fetchall()
    assert names == [("sales_lines/s.csv",), ("sales_lines/s.csv",)]


def test_rows_read_reconcile_in_every_batch(landing: Path, con, load: Loader) -> None:
    rows = [sales_line(order_id=f"O{i}", quantity=str(i % 4)) for i in range(50)]
    write_csv(landing / "sales_lines" / "s.csv", rows)
    load("sales_lines")
    read, loaded, quarantined = con.execute(
        "select rows_read, rows_loaded, rows_quarantined from audit.load_batches where entity = 'sales_lines'"
    ).fetchone()
    assert (read, loaded, quarantined) == (50, 37, 13)
    assert con.execute("select count(*) from raw.sales_lines").fetchone()[0] == loaded
    assert con.execute("select count(*) from quarantine.sales_lines").fetchone()[0] == quarantined


def test_malformed_csv_lines_are_quarantined_with_their_text(landing: Path, con, load: Loader) -> None:
    path = landing / "sales_lines" / "s.csv"
    write_csv(path, [sales_line(), sales_line(order_id="O2"), sales_line(order_id="O3", quantity="0")])
    lines = path.read_text().splitlines()
    lines.insert(2, "O9,1,2025-01-10,C1,S1")  # too few fields, becomes line 3
    path.write_text("\n".join(lines) + "\n")
    result = load("sales_lines")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 2, 2)
    rows = con.execute(
        "select _source_row, _reason, _raw_record from quarantine.sales_lines order by _source_row"
    ).fetchall()
    assert rows[0][0] == 3 and rows[0][1].startswith("malformed CSV line:") and rows[0][2] == lines[2]
    assert rows[1][:2] == (5, "quantity must be greater than 0: 0")  # later lines keep their numbers
    assert con.execute("select _source_row from raw.sales_lines order by 1").fetchall() == [(2,), (4,)]


def test_unreadable_files_fail_alone(landing: Path, con, load: Loader) -> None:
    folder = landing / "sales_lines"
    write_csv(folder / "a_good.csv", [sales_line()])
    write_csv(folder / "b_missing.csv", [{"order_id": "O5", "line_no": "1"}])
    (folder / "c_empty.csv").write_text("")
    (folder / "d_notes.xlsx").write_bytes(b"PK\x03\x04")
    write_csv(folder / "e_good.csv", [sales_line(order_id="O6")])
    result = load("sales_lines")
    assert [b.status for b in result.batches] == ["loaded", "failed", "failed", "failed", "loaded"]
    errors = {b.file_name: b.error for b in result.failed_files}
    assert errors["sales_lines/b_missing.csv"].startswith(
        "missing required column(s) order_date, org_unit_id, sku, quantity, unit_price, unit_cost"
    )
    assert (
        "cannot be read as CSV" in errors["sales_lines/c_empty.csv"]
        or "missing required" in errors["sales_lines/c_empty.csv"]
    )
    assert "unsupported file type '.xlsx'" in errors["sales_lines/d_notes.xlsx"]
    assert con.execute("select count(*) from raw.sales_lines").fetchone()[0] == 2
    logged = con.execute(
        "select file_name, error from audit.load_batches where status = 'failed' order by file_name"
    ).fetchall()
    assert [name for name, _ in logged] == [
        "sales_lines/b_missing.csv",
        "sales_lines/c_empty.csv",
        "sales_lines/d_notes.xlsx",
    ]
    assert logged[0][1].startswith("sales_lines/b_missing.csv: missing required column(s)")


def test_parquet_and_csv_mix(landing: Path, con, load: Loader) -> None:
    table = pa.table(
        {
            "order_id": ["P1", "P2", "P3"],
            "line_no": pa.array([1, 1, 1], pa.int32()),
            "order_date": pa.array([pa.scalar(0, pa.date32()).as_py()] * 3, pa.date32()),
            "customer_id": ["C1", None, "C2"],
            "org_unit_id": ["S1", "S2", "S1"],
            "sku": ["A", "B", "A"],
            "quantity": [1, 2, 0],
            "unit_price": [9.99, 5.0, 1.0],
            "unit_cost": [4.5, 2.0, 0.5],
            "region_code": ["E", "E", "E"],
        }
    )
    (landing / "sales_lines").mkdir()
    pq.write_table(table, landing / "sales_lines" / "p.parquet")
    write_csv(landing / "sales_lines" / "q.csv", [sales_line()])
    result = load("sales_lines")
    assert [(b.file_name, b.rows_loaded, b.rows_quarantined) for b in result.batches] == [
        ("sales_lines/p.parquet", 2, 1),
        ("sales_lines/q.csv", 1, 0),
    ]
    assert quarantine(con, "sales_lines") == [(3, "quantity must be greater than 0: 0")]  # Parquet row 3
    row = con.execute(
        "select order_date, unit_price, discount_amount, customer_id, extra_columns from raw.sales_lines "
        "where order_id = 'P1'"
    ).fetchone()
    assert (str(row[0]), row[1], row[2], row[3], row[4]) == (
        "1970-01-01",
        Decimal("9.99"),
        Decimal("0"),
        "C1",
        '{"region_code":"E"}',
    )
    assert con.execute(
        "select file_format from audit.load_batches where file_name like '%parquet'"
    ).fetchone() == ("parquet",)
