"""Unit tests of the loader rules: every quarantine reason, batches, corrections, broken files."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagster_project.contract import Contract
from dagster_project.contract.window import DateWindow
from dagster_project.extract.ddl import ensure_warehouse_schema
from dagster_project.extract.loader import EntityLoadResult, file_sha256, load_entity
from dagster_project.settings import PROJECT_ROOT, Settings, SettingsError, default_date_window
from tests.helpers import ORG_UNITS, sales_line, write_csv

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
            "order_date": pa.array([date(2025, 1, 10)] * 3, pa.date32()),
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
        "2025-01-10",
        Decimal("9.99"),
        Decimal("0"),
        "C1",
        '{"region_code":"E"}',
    )
    assert con.execute(
        "select file_format from audit.load_batches where file_name like '%parquet'"
    ).fetchone() == ("parquet",)


# --------------------------------------------------------------------------------------------
# Plausibility window (issue 13 item 3): one absurd date must not load, nor stretch the calendar
# --------------------------------------------------------------------------------------------

PLAUSIBLE = "(KPI_FIRST_MONTH minus KPI_DATE_HISTORY_MONTHS to today plus KPI_DATE_FUTURE_DAYS)"


@pytest.mark.parametrize("absurd", ["1900-01-01", "2099-01-15", "9999-12-31", "2022-12-31"])
def test_a_sales_line_dated_outside_the_plausible_window_is_quarantined(
    landing: Path, con, load: Loader, absurd: str
) -> None:
    write_csv(landing / "sales_lines" / "s.csv", [sales_line(order_id="GOOD"), sales_line(order_date=absurd)])
    result = load("sales_lines")
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    latest = default_date_window().latest().isoformat()
    assert quarantine(con, "sales_lines") == [
        (3, f"order_date {absurd} is outside the plausible dates 2023-01-01 … {latest} {PLAUSIBLE}")
    ]
    assert con.execute("select _source_file from quarantine.sales_lines").fetchone() == ("sales_lines/s.csv",)


def test_the_window_bounds_every_date_and_timestamp_and_follows_the_settings(
    landing: Path, con, contract: Contract
) -> None:
    """The window comes from the settings (here: first month 2025-01, 0 months of history, 0 days
    ahead); the first plausible day and today are accepted, the day before and tomorrow are not."""
    window = DateWindow.from_first_month("2025-01", history_months=0, future_days=0)
    today = datetime.now(UTC).date()
    complaints = [
        {"complaint_id": "K1", "opened_at": "2025-01-01 00:00:00", "resolved_at": f"{today} 08:00",
         "org_unit_id": "S1", "category": "delay"},
        {"complaint_id": "K2", "opened_at": "2024-12-31 23:59:59", "resolved_at": "",
         "org_unit_id": "S1", "category": "delay"},
        {"complaint_id": "K3", "opened_at": "2025-01-02 10:00", "resolved_at": f"{today + timedelta(days=1)}",
         "org_unit_id": "S1", "category": "delay"},
    ]  # fmt: skip
    write_csv(landing / "complaints" / "c.csv", complaints)
    load_entity(con, contract, "org_units", landing, date_window=window)
    result = load_entity(con, contract, "complaints", landing, date_window=window)
    assert (result.rows_loaded, result.rows_quarantined) == (1, 2)
    reasons = dict(con.execute("select complaint_id, _reason from quarantine.complaints").fetchall())
    assert reasons["K2"].startswith(
        f"opened_at 2024-12-31 23:59:59 is outside the plausible dates 2025-01-01 … {today}"
    )
    assert reasons["K3"].startswith(f"resolved_at {today + timedelta(days=1)} is outside the plausible dates")
    assert Settings(Path(), Path(), Path(), "2GB", None, first_month="2025-01", date_history_months=0,
                    date_future_days=0).date_window == window  # fmt: skip


def test_the_window_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPI_FIRST_MONTH", "2024-03")
    monkeypatch.setenv("KPI_DATE_HISTORY_MONTHS", "14")
    monkeypatch.setenv("KPI_DATE_FUTURE_DAYS", "3")
    settings = Settings.from_env()
    assert settings.date_window == DateWindow(date(2023, 1, 1), 3)
    assert (
        settings.environment().items() >= {"KPI_DATE_FROM": "2023-01-01", "KPI_DATE_FUTURE_DAYS": "3"}.items()
    )
    monkeypatch.setenv("KPI_DATE_FUTURE_DAYS", "-1")
    with pytest.raises(SettingsError, match="KPI_DATE_FUTURE_DAYS='-1' is not a whole number"):
        Settings.from_env()


def test_a_discount_above_the_gross_value_is_quarantined(landing: Path, con, load: Loader) -> None:
    """2 × 10.50 = 21.00 gross: a discount of 21 leaves revenue 0 (allowed), 5000 would make it negative."""
    write_csv(
        landing / "sales_lines" / "s.csv",
        [sales_line(order_id="FREE", discount_amount="21"), sales_line(discount_amount="5000")],
    )
    result = load("sales_lines")
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    assert quarantine(con, "sales_lines") == [
        (3, "discount_amount 5000 is more than the line's gross value quantity × unit_price = 21.0000")
    ]


def test_the_calendar_and_the_periods_stay_inside_the_window_whatever_the_data(
    tmp_path: Path, contract: Contract
) -> None:
    """Rows dated 1900-01-01 and 9999-12-31 in the warehouse (loaded before the rule existed, or
    planted): dbt's calendar spans only the window's whole years (2024 … this year), not 8,100
    years, and the period grid has no period outside it."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        ensure_warehouse_schema(con, contract)
        for n, day in enumerate(["1900-01-01", "2025-03-10", "9999-12-31"], start=1):
            con.execute(
                "insert into raw.sales_lines (order_id, line_no, order_date, org_unit_id, sku, quantity, "
                "unit_price, discount_amount, unit_cost, _load_batch_id, _source_row) "
                f"values ('O{n}', 1, date '{day}', 'S1', 'A', 1, 1, 0, 1, 1, {n})"
            )
    window = DateWindow(date(2024, 1, 1), future_days=7)
    completed = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "run", "--select", "+int_periods",
         "--target-path", str(tmp_path / "target"), "--quiet"],
        cwd=PROJECT_ROOT / "dbt_project",
        env=os.environ | {"KPI_DATA_DIR": str(data_dir), "KPI_ENGINE": "duckdb",
                          "DBT_SEND_ANONYMOUS_USAGE_STATS": "False", **window.environment()},
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        first, last, days = con.execute(
            "select min(date_day), max(date_day), count(*) from intermediate.int_calendar_days"
        ).fetchone()
        periods = con.execute(
            "select min(period_start), max(period_end) from intermediate.int_periods"
        ).fetchone()
    this_year = window.latest().year
    assert (first, last) == (date(2024, 1, 1), date(this_year, 12, 31))
    assert days == (date(this_year + 1, 1, 1) - date(2024, 1, 1)).days
    assert periods == (date(2024, 1, 1), date(this_year, 12, 31))


@pytest.mark.parametrize("special", ["[v2]", "[", "]", "?", "*", "{a,b}", "{", "}"])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_file_name_with_glob_characters_is_read_as_exactly_itself(
    landing: Path, con, load: Loader, special: str, suffix: str
) -> None:
    """`sales_2025-06[v2].csv` once made DuckDB read sales_2025-062.csv and sales_2025-06v.csv
    instead (a glob pattern): each file must load its own rows under its own name and checksum."""
    folder = landing / "sales_lines"
    # Files the pattern would match: one character for [v2] / ? / [, anything for *, a or b for {a,b}.
    for decoy in ("2", "v", "a", "b", "x", "ab"):
        write_csv(folder / f"sales_2025-06{decoy}.csv", [sales_line(order_id=f"DECOY-{decoy}")])
    special_file = folder / f"sales_2025-06{special}{suffix}"
    if suffix == ".csv":
        write_csv(special_file, [sales_line(order_id="MINE")])
    else:
        pq.write_table(pa.table({k: [v] for k, v in sales_line(order_id="MINE").items()}), special_file)
    result = load("sales_lines")
    batch = next(b for b in result.batches if b.file_name == f"sales_lines/{special_file.name}")
    assert (batch.status, batch.rows_read, batch.rows_loaded) == ("loaded", 1, 1)
    rows = con.execute(
        "select r.order_id, b.sha256 from raw.sales_lines as r join audit.load_batches as b "
        "on b.batch_id = r._load_batch_id where b.file_name = ?",
        [batch.file_name],
    ).fetchall()
    assert rows == [("MINE", file_sha256(special_file))]
    assert result.rows_loaded == 7  # the six decoys once each, and the file itself


def test_an_org_unit_cycle_is_rejected_in_extraction(tmp_path: Path, con, contract: Contract) -> None:
    """R2 → R3 → R2 in one file: both rows are quarantined with the cycle, and S3 below them is
    taken with them; a later file that closes a cycle over loaded units (R1's parent becomes S1,
    whose parent is R1) is rejected too, so the loaded hierarchy keeps reaching the root."""
    landing = tmp_path / "landing"
    unit = {"name": "n", "name_zh": "", "unit_type": "region"}
    write_csv(
        landing / "org_units" / "a.csv",
        [*ORG_UNITS, unit | {"org_unit_id": "R2", "parent_id": "R3"}, unit | {"org_unit_id": "R3", "parent_id": "R2"},
         unit | {"org_unit_id": "S3", "parent_id": "R3", "unit_type": "store"}],
    )  # fmt: skip
    result = load_entity(con, contract, "org_units", landing)
    assert (result.rows_loaded, result.rows_quarantined) == (4, 3)
    assert con.execute("select _source_file, _source_row, _reason from quarantine.org_units order by 2").fetchall() == [
        ("org_units/a.csv", 6, "parent_id cycle: R2 → R3 → R2 (the chain of parents never reaches the root)"),
        ("org_units/a.csv", 7, "parent_id cycle: R3 → R2 → R3 (the chain of parents never reaches the root)"),
        ("org_units/a.csv", 8, "parent_id 'R3' is rejected in this file"),
    ]  # fmt: skip
    write_csv(landing / "org_units" / "b.csv", [ORG_UNITS[1] | {"parent_id": "S1"}])
    result = load_entity(con, contract, "org_units", landing)
    assert (result.rows_loaded, result.rows_quarantined) == (0, 1)
    assert con.execute("select _reason from quarantine.org_units where _source_file = 'org_units/b.csv'").fetchone() == (
        "parent_id cycle: R1 → S1 → R1 (the chain of parents never reaches the root)",
    )  # fmt: skip


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_header_with_columns_differing_only_in_case_is_rejected(
    landing: Path, con, load: Loader, suffix: str
) -> None:
    path = landing / "sales_lines" / f"s{suffix}"
    row = sales_line() | {"SKU": "B"}
    if suffix == ".csv":
        write_csv(path, [row])
    else:
        path.parent.mkdir(parents=True)
        pq.write_table(pa.table({k: [v] for k, v in row.items()}), path)
    result = load("sales_lines")
    (batch,) = result.batches
    assert batch.status == "failed" and result.rows_loaded == 0
    assert (
        batch.error
        == "ambiguous header: columns 'sku' and 'SKU' differ only in case or spaces (rename or remove one)"
    )
    logged = con.execute("select error from audit.load_batches where entity = 'sales_lines'").fetchone()[0]
    assert logged.startswith(f"sales_lines/s{suffix}: ambiguous header: columns 'sku' and 'SKU'")


def test_a_parquet_column_named_file_row_number_is_an_ordinary_extra_column(
    landing: Path, con, load: Loader
) -> None:
    path = landing / "sales_lines" / "p.parquet"
    path.parent.mkdir(parents=True)
    rows = [
        sales_line(order_id="P1") | {"file_row_number": "7"},
        sales_line(order_id="P2", quantity="0") | {"file_row_number": "8"},
    ]
    pq.write_table(pa.table({k: [r[k] for r in rows] for k in rows[0]}), path)
    result = load("sales_lines")
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    assert con.execute("select _source_row, extra_columns from raw.sales_lines").fetchone() == (
        1,
        '{"file_row_number":"7"}',
    )
    assert quarantine(con, "sales_lines") == [(2, "quantity must be greater than 0: 0")]


def test_a_unit_in_a_folder_sorted_before_its_parents_file_loads(
    landing: Path, con, contract: Contract
) -> None:
    """east/stores.csv (S3 under R2) sorts before regions.csv (R2 under HQ): the parents' file loads
    first, so S3 is not quarantined for good as an unknown parent."""
    unit = {"name": "n", "name_zh": "", "unit_type": "store"}
    write_csv(
        landing / "org_units" / "east" / "stores.csv", [unit | {"org_unit_id": "S3", "parent_id": "R2"}]
    )
    write_csv(
        landing / "org_units" / "regions.csv",
        [unit | {"org_unit_id": "R2", "parent_id": "HQ", "unit_type": "region"}],
    )
    result = load_entity(con, contract, "org_units", landing)
    assert [(b.file_name, b.rows_loaded, b.rows_quarantined) for b in result.batches] == [
        ("org_units/org_units.csv", 4, 0),
        ("org_units/regions.csv", 1, 0),
        ("org_units/east/stores.csv", 1, 0),
    ]
    assert con.execute("select count(*) from quarantine.org_units").fetchone() == (0,)


def _csv_lines(rows: list[dict[str, str]]) -> list[str]:
    header = ",".join(rows[0])
    return [header, *(",".join(row.values()) for row in rows)]


def test_an_unterminated_quote_quarantines_its_line_not_the_file(landing: Path, con, load: Loader) -> None:
    """Line 3 opens a quote that the next quote (on line 5) closes, followed by text: lines 3-5 are
    one broken record, quarantined as line 3 with their text; the lines before and after load,
    with their own line numbers."""
    lines = _csv_lines([sales_line(order_id=f"O{n}") for n in range(1, 6)])
    lines[2] = lines[2].replace("C1", '"C1')  # line 3: an unterminated quote …
    lines[4] = lines[4].replace("C1", '"C1')  # … closed on line 5, and text after the closing quote
    path = landing / "sales_lines" / "s.csv"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n")
    result = load("sales_lines")
    (batch,) = result.batches
    assert batch.status == "loaded", batch.error
    assert con.execute("select order_id, _source_row from raw.sales_lines order by 2").fetchall() == [
        ("O1", 2),
        ("O5", 6),
    ]
    quarantined = con.execute(
        "select _source_row, _reason, _raw_record from quarantine.sales_lines order by 1"
    ).fetchall()
    assert [row[0] for row in quarantined] == [3]
    assert quarantined[0][1].startswith("malformed CSV line:") and "quote" in quarantined[0][1]
    assert quarantined[0][2].startswith("\n".join(lines[2:4]))
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 2, 1)


def test_a_quote_never_closed_names_the_lines_it_swallows(landing: Path, con, load: Loader) -> None:
    lines = _csv_lines([sales_line(order_id=f"O{n}") for n in range(1, 7)])
    lines[2] = lines[2].replace("C1", '"C1')  # line 3 of 7: the quote never closes
    path = landing / "sales_lines" / "s.csv"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n")
    load("sales_lines")
    assert con.execute("select order_id, _source_row from raw.sales_lines").fetchall() == [("O1", 2)]
    ((row, reason),) = con.execute("select _source_row, _reason from quarantine.sales_lines").fetchall()
    assert row == 3 and "one record over lines 3 to 7: a quote opened on line 3" in reason


def test_an_unterminated_quote_on_the_last_line_and_a_very_long_field(
    landing: Path, con, load: Loader
) -> None:
    lines = _csv_lines([sales_line(order_id=f"O{n}") for n in range(1, 5)])
    lines[2] = lines[2].replace("store", "x" * 3_000_000)  # line 3: over DuckDB's 2 MB line limit
    lines[4] = lines[4].replace("C1", '"C1')  # line 5, the last: a quote that never closes
    path = landing / "sales_lines" / "s.csv"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n")
    result = load("sales_lines")
    (batch,) = result.batches
    assert batch.status == "loaded", batch.error
    assert con.execute("select order_id, _source_row from raw.sales_lines order by 2").fetchall() == [
        ("O1", 2),
        ("O3", 4),
    ]
    reasons = con.execute("select _source_row, _reason from quarantine.sales_lines order by 1").fetchall()
    assert [row[0] for row in reasons] == [3, 5]
    assert "line size" in reasons[0][1].lower() and "quote" in reasons[1][1]


def test_crlf_and_bom_files_load_with_the_header_named_by_the_loader(
    landing: Path, con, load: Loader
) -> None:
    """The loader names the CSV columns from the header itself (no sniffing): Windows line ends and
    a UTF-8 byte order mark still give clean values and line numbers."""
    lines = _csv_lines([sales_line(order_id="O1"), sales_line(order_id="O2", quantity="0")])
    path = landing / "sales_lines" / "s.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n").encode())
    result = load("sales_lines")
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    assert con.execute("select order_id, channel, _source_row from raw.sales_lines").fetchall() == [
        ("O1", "store", 2)
    ]
    assert quarantine(con, "sales_lines") == [(3, "quantity must be greater than 0: 0")]


# --- people (contract v2): the roster, training records, engagement surveys -------------------------


def employee(**overrides: str) -> dict[str, str]:
    row = {
        "employee_id": "E1",
        "valid_from": "2024-01-01",
        "name": "Wang Fang",
        "org_unit_id": "S1",
        "manager_id": "",
        "role": "store_manager",
        "fte": "1",
        "hire_date": "2024-01-01",
        "leave_date": "",
    }
    return row | overrides


def quarantined_rows(con: duckdb.DuckDBPyConnection, entity: str) -> list[tuple[str, int, str]]:
    """(file, line, reason) of every quarantined row; the reason names the field."""
    return con.execute(
        f"select _source_file, _source_row, _reason from quarantine.{entity} order by _source_file, _source_row"
    ).fetchall()


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"name": ""}, "name", "missing required field name"),
        ({"role": ""}, "role", "missing required field role"),
        ({"valid_from": ""}, "valid_from", "missing required field valid_from"),
        ({"fte": "half"}, "fte", "fte is not a number: 'half'"),
        ({"fte": "0"}, "fte", "fte must be greater than 0: 0"),
        ({"fte": "1.2"}, "fte", "fte must be at most 1: 1.2"),
        ({"hire_date": "2024-13-01"}, "hire_date", "hire_date is not a date (YYYY-MM-DD): '2024-13-01'"),
        ({"leave_date": "2023-12-31"}, "leave_date", "leave_date 2023-12-31 is before hire_date 2024-01-01"),
        ({"org_unit_id": "S9"}, "org_unit_id", "unknown org_unit_id 'S9' (not in org_units)"),
        ({"manager_id": "E9"}, "manager_id", "unknown manager_id 'E9' (not in employees)"),
    ],
)
def test_employee_rules(landing: Path, con, load: Loader, overrides: dict, field: str, reason: str) -> None:
    write_csv(
        landing / "employees" / "e.csv",
        [
            employee(),
            employee(employee_id="E2", role="sales_associate", manager_id="E1", fte="0.5") | overrides,
        ],
    )
    result = load("employees")
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    assert quarantined_rows(con, "employees") == [("employees/e.csv", 3, reason)]
    assert field in reason
    assert con.execute("select employee_id, fte from raw.employees").fetchall() == [("E1", Decimal("1"))]


def test_a_leave_on_the_hire_date_and_fte_changes_as_new_rows_load(landing: Path, con, load: Loader) -> None:
    write_csv(
        landing / "employees" / "e.csv",
        [employee(), employee(valid_from="2024-07-01", fte="0.6", org_unit_id="S2", leave_date="2024-12-31"),
         employee(employee_id="E2", hire_date="2024-03-01", valid_from="2024-03-01", leave_date="2024-03-01")],
    )  # fmt: skip
    assert (
        load("employees").rows_loaded,
        con.execute("select count(*) from quarantine.employees").fetchone(),
    ) == (
        3,
        (0,),
    )


def test_a_hire_years_back_is_plausible_a_future_one_is_not(landing: Path, con, load: Loader) -> None:
    write_csv(
        landing / "employees" / "e.csv",
        [employee(hire_date="2009-03-01", valid_from="2009-03-01"),
         employee(employee_id="E2", hire_date="2099-01-01", valid_from="2009-03-01")],
    )  # fmt: skip
    load("employees")
    [(file, line, reason)] = quarantined_rows(con, "employees")
    assert (file, line) == ("employees/e.csv", 3)
    assert reason.startswith("hire_date 2099-01-01 is outside the plausible dates")


def test_an_employee_has_one_hire_date(landing: Path, con, load: Loader) -> None:
    """In one file the earliest row's hire_date holds; a later file may not contradict the loaded rows,
    but may correct them (same key)."""
    write_csv(
        landing / "employees" / "a.csv",
        [employee(), employee(valid_from="2024-06-01", hire_date="2024-02-01", role="area_manager")],
    )
    load("employees")
    write_csv(landing / "employees" / "b.csv", [employee(valid_from="2025-01-01", hire_date="2023-01-01")])
    load("employees")
    assert quarantined_rows(con, "employees") == [
        ("employees/a.csv", 3, "hire_date 2024-02-01 contradicts hire_date 2024-01-01 of the earliest row of "
         "employee E1 (valid from 2024-01-01): an employee has one hire_date"),
        ("employees/b.csv", 2, "hire_date 2023-01-01 contradicts hire_date 2024-01-01 of the loaded row of "
         "employee E1 (valid from 2024-01-01): an employee has one hire_date"),
    ]  # fmt: skip
    write_csv(landing / "employees" / "c.csv", [employee(hire_date="2023-06-01")])  # corrects the one row
    assert load("employees").rows_superseded == 1
    assert con.execute(
        "select hire_date from raw.employees where _superseded_by_batch_id is null"
    ).fetchall() == [(date(2023, 6, 1),)]


def test_a_manager_chain_has_no_cycle(landing: Path, con, load: Loader) -> None:
    """E2 → E3 → E2 in one file: both rows are quarantined with the cycle, E4 under them is taken with
    them and E5, their own manager, too; a later file that closes a cycle over loaded rows (E1's
    manager becomes E6, whose manager is E1) is rejected; a manager and a report swapping places on
    a date (E7 manages E8 until E8 manages E7) is no cycle."""
    write_csv(
        landing / "employees" / "a.csv",
        [employee(), employee(employee_id="E6", manager_id="E1"),
         employee(employee_id="E2", manager_id="E3"), employee(employee_id="E3", manager_id="E2"),
         employee(employee_id="E4", manager_id="E3"), employee(employee_id="E5", manager_id="E5"),
         employee(employee_id="E7", manager_id=""), employee(employee_id="E8", manager_id="E7"),
         employee(employee_id="E7", valid_from="2025-01-01", manager_id="E8"),
         employee(employee_id="E8", valid_from="2025-01-01", manager_id="")],
    )  # fmt: skip
    result = load("employees")
    assert (result.rows_loaded, result.rows_quarantined) == (6, 4)
    assert quarantined_rows(con, "employees") == [
        ("employees/a.csv", 4, "manager_id cycle on 2024-01-01: E2 → E3 → E2 (the chain of managers never ends)"),
        ("employees/a.csv", 5, "manager_id cycle on 2024-01-01: E3 → E2 → E3 (the chain of managers never ends)"),
        ("employees/a.csv", 6, "manager_id 'E3' is rejected in this file"),
        ("employees/a.csv", 7, "manager_id cycle on 2024-01-01: E5 → E5 (the chain of managers never ends)"),
    ]  # fmt: skip
    write_csv(landing / "employees" / "b.csv", [employee(valid_from="2024-09-01", manager_id="E6")])
    result = load("employees")
    assert (result.rows_loaded, result.rows_quarantined) == (0, 1)
    assert quarantined_rows(con, "employees")[-1] == (
        "employees/b.csv", 2, "manager_id cycle on 2024-09-01: E1 → E6 → E1 (the chain of managers never ends)",
    )  # fmt: skip


def test_a_report_in_a_file_sorted_before_its_managers_file_loads(landing: Path, con, load: Loader) -> None:
    write_csv(landing / "employees" / "1-team.csv", [employee(employee_id="E2", manager_id="E1")])
    write_csv(landing / "employees" / "2-managers.csv", [employee()])
    result = load("employees")
    assert (result.rows_loaded, result.rows_quarantined) == (2, 0)


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"course": ""}, "course", "missing required field course"),
        (
            {"completed_on": "2025-02-30"},
            "completed_on",
            "completed_on is not a date (YYYY-MM-DD): '2025-02-30'",
        ),
        ({"hours": "two"}, "hours", "hours is not a number: 'two'"),
        ({"hours": "0"}, "hours", "hours must be greater than 0: 0"),
        ({"hours": "200.5"}, "hours", "hours must be at most 200: 200.5"),
        ({"employee_id": "E9"}, "employee_id", "unknown employee_id 'E9' (not in employees)"),
    ],
)
def test_training_record_rules(
    landing: Path, con, load: Loader, overrides: dict, field: str, reason: str
) -> None:
    write_csv(landing / "employees" / "e.csv", [employee()])
    base = {"training_id": "T1", "employee_id": "E1", "course": "Food safety", "completed_on": "2025-01-15",
            "hours": "200"}  # fmt: skip
    write_csv(landing / "training_records" / "t.csv", [base, base | {"training_id": "T2"} | overrides])
    result = load("training_records")
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    assert quarantined_rows(con, "training_records") == [("training_records/t.csv", 3, reason)]
    assert field in reason


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"enps_score": ""}, "enps_score", "missing required field enps_score"),
        ({"enps_score": "7.5"}, "enps_score", "enps_score is not a whole number: '7.5'"),
        ({"enps_score": "11"}, "enps_score", "enps_score must be at most 10: 11"),
        ({"enps_score": "-1"}, "enps_score", "enps_score must be at least 0: -1"),
        ({"org_unit_id": "S9"}, "org_unit_id", "unknown org_unit_id 'S9' (not in org_units)"),
        ({"response_date": ""}, "response_date", "missing required field response_date"),
    ],
)
def test_engagement_survey_rules(
    landing: Path, con, load: Loader, overrides: dict, field: str, reason: str
) -> None:
    base = {"response_id": "P1", "response_date": "2025-01-20", "org_unit_id": "S1", "enps_score": "0"}
    write_csv(landing / "engagement_surveys" / "p.csv", [base, base | {"response_id": "P2"} | overrides])
    result = load("engagement_surveys")
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    assert quarantined_rows(con, "engagement_surveys") == [("engagement_surveys/p.csv", 3, reason)]
    assert field in reason


def test_salesperson_and_handler_must_be_employees(landing: Path, con, load: Loader) -> None:
    write_csv(landing / "employees" / "e.csv", [employee()])
    write_csv(
        landing / "sales_lines" / "s.csv",
        [
            sales_line(salesperson_id="E1"),
            sales_line(line_no="2", salesperson_id="E9"),
            sales_line(line_no="3"),
        ],
    )
    complaint = {"complaint_id": "K1", "opened_at": "2025-01-02 10:00:00", "resolved_at": "", "org_unit_id": "S1",
                 "customer_id": "", "order_id": "", "category": "delivery", "handler_id": "E1"}  # fmt: skip
    write_csv(
        landing / "complaints" / "k.csv", [complaint, complaint | {"complaint_id": "K2", "handler_id": "X"}]
    )
    load("sales_lines")
    load("complaints")
    assert quarantined_rows(con, "sales_lines") == [
        ("sales_lines/s.csv", 3, "unknown salesperson_id 'E9' (not in employees)")
    ]
    assert quarantined_rows(con, "complaints") == [
        ("complaints/k.csv", 3, "unknown handler_id 'X' (not in employees)")
    ]
    assert con.execute("select line_no, salesperson_id from raw.sales_lines order by 1").fetchall() == [
        (1, "E1"),
        (3, None),
    ]


def test_v1_files_without_the_people_columns_load_unchanged(
    tmp_path: Path, landing: Path, contract: Contract
) -> None:
    """A warehouse created before contract v2 gains the new columns (empty); a v1 file loads as before."""
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as old:
        old.execute("create schema raw")
        old.execute(
            "create table raw.sales_lines (order_id varchar, line_no bigint, order_date date, customer_id varchar, "
            "org_unit_id varchar, sku varchar, quantity bigint, unit_price decimal(18, 4), "
            "discount_amount decimal(18, 4), unit_cost decimal(18, 4), channel varchar, extra_columns varchar, "
            "_load_batch_id bigint not null, _source_row bigint not null, _superseded_by_batch_id bigint)"
        )
        old.execute(
            "insert into raw.sales_lines (order_id, _load_batch_id, _source_row) values ('OLD', 0, 2)"
        )
    write_csv(landing / "sales_lines" / "s.csv", [sales_line()])
    with duckdb.connect(str(path)) as con:
        for entity in ("org_units", "products", "employees", "sales_lines"):
            load_entity(con, contract, entity, landing)
        rows = con.execute(
            "select order_id, quantity, salesperson_id from raw.sales_lines order by 1"
        ).fetchall()
        assert rows == [("O1", 2, None), ("OLD", None, None)]
        assert con.execute("select count(*) from quarantine.sales_lines").fetchone() == (0,)
