"""KPI values (`kpi.kpi_values`) against numbers worked out by hand and against an independent SQL oracle.

Part 1 runs a tiny hand-made landing folder through the pipeline once and checks values whose expected
numbers are written out below, with their arithmetic, at store, region and company level, for a month,
a quarter and a year, edge cases included.

Part 2 recomputes every KPI on the generated sample (`built_warehouse`) with plain DuckDB SQL over the
raw tables (current rows only; the hierarchy by a recursive CTE over `raw.org_units`), never reading a
dbt model, and compares at company, region and store level for a month, a quarter and a year; the same
oracle also checks every unit of the hand-made folder. The people KPIs follow the issue's words: the
roster row in effect on a day is the one with the latest valid_from on or before it, an employee is
active from hire_date to leave_date (that of their latest row), and average FTE (headcount) is the
mean over the period's calendar days of the FTE (count) of the active employees in the subtree.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from dagster_project.run.summary import RunSummary
from dagster_project.settings import Settings
from tests.conftest import BuiltWarehouse
from tests.helpers import run_pipeline_on, sales_line, write_csv

pytestmark = pytest.mark.e2e

KPI_IDS = (
    "average_order_value",
    "complaint_resolution_48h_pct",
    "complaints_per_1k_orders",
    "csat_pct",
    "days_of_inventory",
    "gross_margin_pct",
    "inventory_turnover",
    "net_revenue",
    "new_customers",
    "enps",
    "nps",
    "repeat_customer_rate_pct",
    "return_rate_pct",
    "revenue_growth_yoy_pct",
    "revenue_per_fte",
    "staff_turnover_pct",
    "stockout_rate_pct",
    "trained_staff_pct",
    "training_hours_per_fte",
)


def period(label: str) -> tuple[str, dt.date]:
    """'2025-01' → month, '2025-Q1' → quarter, '2025' → year; returns (grain, period_start)."""
    if "-Q" in label:
        year, quarter = label.split("-Q")
        return "quarter", dt.date(int(year), 3 * int(quarter) - 2, 1)
    if "-" in label:
        year, month = label.split("-")
        return "month", dt.date(int(year), int(month), 1)
    return "year", dt.date(int(label), 1, 1)


def same(actual: float | None, expected: float | None) -> bool:
    """Equal within 1e-9 relative (exact zero allowed); None only equals None."""
    if actual is None or expected is None:
        return actual is None and expected is None
    return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12)


# =====================================================================================================
# Part 1: a hand-made landing folder
# =====================================================================================================
#
# C (company)
# ├── R1 (region): S1 (store), S2 (store), W1 (warehouse: inventory only)
# └── R2 (region): S3 (store)
#
# Months with sales: 2024-01, 2024-03 (the YoY base), 2025-01 .. 2025-04, so the periods run from
# 2024-01 to 2025-04: 16 months + 6 quarters (2024-Q1 .. 2025-Q2) + 2 years = 24 periods.

ORG_UNITS = [
    {"org_unit_id": "C", "name": "Company", "name_zh": "公司", "parent_id": "", "unit_type": "company"},
    {"org_unit_id": "R1", "name": "Region 1", "name_zh": "", "parent_id": "C", "unit_type": "region"},
    {"org_unit_id": "R2", "name": "Region 2", "name_zh": "", "parent_id": "C", "unit_type": "region"},
    {"org_unit_id": "S1", "name": "Store 1", "name_zh": "", "parent_id": "R1", "unit_type": "store"},
    {"org_unit_id": "S2", "name": "Store 2", "name_zh": "", "parent_id": "R1", "unit_type": "store"},
    {"org_unit_id": "S3", "name": "Store 3", "name_zh": "", "parent_id": "R2", "unit_type": "store"},
    {"org_unit_id": "W1", "name": "Warehouse 1", "name_zh": "", "parent_id": "R1", "unit_type": "warehouse"},
]
UNITS = [u["org_unit_id"] for u in ORG_UNITS]
PRODUCTS = [
    {"sku": "A", "name": "Apple", "category": "fruit"},
    {"sku": "B", "name": "Banana", "category": "fruit"},
]
PERIOD_COUNT = 16 + 6 + 2


LINE_FIELDS = (
    "order_id",
    "line_no",
    "order_date",
    "customer_id",
    "org_unit_id",
    "sku",
    "quantity",
    "unit_price",
    "discount_amount",
    "unit_cost",
)


def line(*values: object) -> dict[str, str]:
    """A sales line from its values in LINE_FIELDS order."""
    return sales_line(**dict(zip(LINE_FIELDS, map(str, values), strict=True)))


# gross = qty × price − discount, cogs = qty × cost (per line, worked out on the right)
SALES = [
    # 2024: the base of the YoY KPI. K1's first order ever is O01 at S1.
    line("O01", 1, "2024-01-15", "K1", "S1", "A", 2, "50", "0", "30"),  # gross 100, cogs 60
    line("O02", 1, "2024-01-20", "", "S3", "B", 1, "80", "0", "40"),  # gross 80, cogs 40 (anonymous)
    line("O03", 1, "2024-03-10", "", "S2", "A", 1, "50", "0", "30"),  # gross 50, cogs 30 (anonymous)
    # 2025-01
    line("O10", 1, "2025-01-05", "K3", "S1", "A", 4, "50", "10", "28"),  # gross 190, cogs 112 (cost 28!)
    line("O10", 2, "2025-01-05", "K3", "S1", "B", 1, "80", "0", "40"),  # gross 80, cogs 40
    line("O11", 1, "2025-01-12", "", "S1", "A", 2, "50", "0", "30"),  # gross 100, cogs 60 (anonymous)
    # K2 orders twice on the same (first) day: O12 at S2 and O13 at S1. The lower order_id (O12, S2)
    # is the first order, although S1 sorts first and O13 comes first in the file.
    line("O13", 1, "2025-01-20", "K2", "S1", "A", 1, "50", "0", "30"),  # gross 50, cogs 30
    line("O12", 1, "2025-01-20", "K2", "S2", "B", 2, "80", "0", "40"),  # gross 160, cogs 80
    line("O14", 1, "2025-01-25", "K1", "S2", "A", 1, "50", "5", "30"),  # gross 45, cogs 30 (K1 repeat)
    line("O15", 1, "2025-01-28", "", "S3", "B", 3, "80", "0", "40"),  # gross 240, cogs 120
    # 2025-02: nothing sold at S1, S2 (S1 only gets a return). K3 (first order at S1) buys at S3.
    line("O20", 1, "2025-02-14", "K3", "S3", "A", 2, "50", "0", "30"),  # gross 100, cogs 60
    line("O21", 1, "2025-02-20", "K4", "S3", "B", 1, "80", "0", "40"),  # gross 80, cogs 40 (K4 new)
    # 2025-03
    line("O30", 1, "2025-03-03", "K2", "S1", "A", 2, "50", "0", "30"),  # gross 100, cogs 60
    line("O31", 1, "2025-03-15", "K5", "S2", "B", 1, "80", "0", "40"),  # gross 80, cogs 40 (K5 new)
    # 2025-04
    line("O40", 1, "2025-04-08", "K1", "S1", "A", 1, "60", "0", "30"),  # gross 60, cogs 30
]


def returned(rid: str, order: str, no: int, day: str, qty: int, refund: str) -> dict[str, str]:
    return {
        "return_id": rid,
        "order_id": order,
        "line_no": str(no),
        "return_date": day,
        "quantity": str(qty),
        "refund_amount": refund,
    }


RETURNS = [
    # Sold at S1 in January at unit_cost 28, returned in February: refunds 45, returned cogs 1 × 28.
    returned("RT1", "O10", 1, "2025-02-10", 1, "45"),
    # Same month as its sale, S3: refunds 80, returned cogs 1 × 40.
    returned("RT2", "O15", 1, "2025-01-30", 1, "80"),
    # Sold at S1 in March (cost 30), returned in April (2025-Q2): refunds 50, returned cogs 1 × 30.
    returned("RT3", "O30", 1, "2025-04-02", 1, "50"),
]


def snapshot(day: str, unit: str, sku: str, qty: int, cost: str) -> dict[str, str]:
    return {"snapshot_date": day, "org_unit_id": unit, "sku": sku, "on_hand_qty": str(qty), "unit_cost": cost}


# Only S1 and W1 count stock; S2, S3 (and so R2) have no snapshots.
SNAPSHOTS = [
    snapshot("2025-01-15", "S1", "A", 20, "30"),  # 600
    snapshot("2025-01-15", "S1", "B", 5, "40"),  # 200
    snapshot("2025-01-31", "S1", "A", 10, "30"),  # 300
    snapshot("2025-01-31", "S1", "B", 0, "40"),  # 0, a stock-out
    snapshot("2025-02-28", "S1", "A", 8, "30"),  # 240
    snapshot("2025-02-28", "S1", "B", 2, "40"),  # 80
    snapshot("2025-01-20", "W1", "A", 100, "30"),  # 3000 (a date S1 did not count on)
    snapshot("2025-01-20", "W1", "B", 50, "40"),  # 2000
    snapshot("2025-01-31", "W1", "A", 10, "30"),  # 300
    snapshot("2025-01-31", "W1", "B", 40, "40"),  # 1600
    snapshot("2025-02-28", "W1", "A", 60, "30"),  # 1800
    snapshot("2025-02-28", "W1", "B", 0, "40"),  # 0, a stock-out
]
# S1 January: 600 + 200 + 300 + 0 = 1100 over 2 dates; February: 320 over 1 date.
# W1 January: 3000 + 2000 + 300 + 1600 = 6900 over 2 dates; February: 1800 over 1 date.


def response(rid: str, day: str, unit: str, nps: int | None, csat: int | None) -> dict[str, str]:
    return {
        "response_id": rid,
        "response_date": day,
        "org_unit_id": unit,
        "customer_id": "",
        "order_id": "",
        "nps_score": "" if nps is None else str(nps),
        "csat_score": "" if csat is None else str(csat),
        "comment": "",
    }


SURVEYS = [
    # S1, January: 4 NPS answers (10, 9 promoters; 7 passive; 3 detractor), 4 CSAT answers (5, 4, 2, 4).
    response("Q1", "2025-01-10", "S1", 10, 5),
    response("Q2", "2025-01-11", "S1", 9, 4),
    response("Q3", "2025-01-12", "S1", 7, 2),
    response("Q4", "2025-01-13", "S1", 3, None),
    response("Q5", "2025-01-14", "S1", None, 4),
    # S3, January: exactly 30 answers: NPS 15 × 10, 9 × 8, 6 × 2; CSAT 24 × 5, 6 × 3.
    *(
        response(
            f"Q{100 + i}",
            f"2025-01-{1 + i:02d}",
            "S3",
            10 if i < 15 else 8 if i < 24 else 2,
            5 if i < 24 else 3,
        )
        for i in range(30)
    ),
]


def complaint(cid: str, opened: str, resolved: str, unit: str) -> dict[str, str]:
    return {
        "complaint_id": cid,
        "opened_at": opened,
        "resolved_at": resolved,
        "org_unit_id": unit,
        "customer_id": "",
        "order_id": "",
        "category": "service",
    }


COMPLAINTS = [
    complaint("CP1", "2025-01-06 10:00:00", "2025-01-08 09:00:00", "S1"),  # resolved in 47 h
    complaint("CP2", "2025-01-30 20:00:00", "2025-02-03 09:00:00", "S1"),  # 85 h; counts in January
    complaint("CP3", "2025-01-31 23:00:00", "", "S1"),  # still open
    complaint("CP4", "2025-02-01 00:30:00", "2025-02-01 12:00:00", "S3"),  # 11.5 h
]


def employee(eid: str, valid_from: str, unit: str, fte: str, hire: str, leave: str = "") -> dict[str, str]:
    return {
        "employee_id": eid,
        "valid_from": valid_from,
        "name": f"Employee {eid}",
        "org_unit_id": unit,
        "manager_id": "",
        "role": "associate",
        "fte": fte,
        "hire_date": hire,
        "leave_date": leave,
    }


# The roster (active: hire_date ≤ day ≤ leave_date; each day at the row with the latest valid_from ≤ day).
EMPLOYEES = [
    employee("E1", "2024-01-02", "S1", "1.0", "2024-01-02"),
    # Hired at S1, transfers to S2 at half time on 2025-01-16: 15 January days at S1, 16 at S2.
    employee("E2", "2025-01-01", "S1", "1.0", "2025-01-01"),
    employee("E2", "2025-01-16", "S2", "0.5", "2025-01-01"),
    # FTE 0.8, then 0.6 from 2025-01-10; leaves on 2025-01-20 (its last day; known on the latest row).
    employee("E3", "2024-11-01", "S2", "0.8", "2024-11-01"),
    employee("E3", "2025-01-10", "S2", "0.6", "2024-11-01", "2025-01-20"),
    employee("E4", "2024-01-01", "W1", "1.0", "2024-01-01", "2025-02-14"),
    employee("E5", "2025-01-01", "S3", "1.0", "2025-01-01"),
    # Employed at the region itself: counted in R1 and C, in no store.
    employee("E6", "2024-07-01", "R1", "1.0", "2024-07-01"),
]
# FTE-days (Σ over the days of the FTE of the employees active that day; average FTE = FTE-days / days):
#   2025-01 (31 days): S1 E1 31 + E2 15 = 46; S2 E2 16 × 0.5 + E3 9 × 0.8 + 11 × 0.6 = 8 + 7.2 + 6.6
#     = 21.8; W1 31; R1 itself (E6) 31; S3 31. R1 = 46 + 21.8 + 31 + 31 = 129.8, C = 160.8.
#     Headcount-days: S1 46, S2 16 + 20 = 36, W1 31, R1 own 31, S3 31; R1 144, C 175.
#   2025-Q1 (90 days): S1 90 + 15 = 105; S2 E2 75 × 0.5 + 13.8 = 51.3; W1 E4 31 + 14 = 45; R1 own 90;
#     S3 90; C 381.3. Headcount-days: S1 105, S2 75 + 20 = 95, W1 45, R1 own 90, S3 90; C 425.
#   2025 (365 days): E1 365, E2 15 + 350 × 0.5 = 190, E3 13.8, E4 45, E5 365, E6 365: C 1343.8;
#     headcount-days E1 365, E2 365, E3 20, E4 45, E5 365, E6 365: C 1525.
#   2024 (366 days): E1 365, E3 61 × 0.8 = 48.8, E4 366, E6 184: C 963.8.


def training(tid: str, eid: str, day: str, hours: str) -> dict[str, str]:
    return {
        "training_id": tid,
        "employee_id": eid,
        "course": "Service basics",
        "completed_on": day,
        "hours": hours,
    }


TRAININGS = [
    training("T1", "E2", "2025-01-10", "8"),  # at S1 (before the transfer)
    training("T2", "E2", "2025-01-20", "4"),  # at S2
    training("T3", "E1", "2024-02-01", "6"),  # 2025-01-31 − 365: outside the 365 days ending then
    training("T4", "E4", "2024-02-02", "3"),  # 2025-01-31 − 364: inside
    training("T5", "E3", "2025-01-05", "2"),  # at S2; E3 has left by the month's end
    training("T6", "E1", "2025-02-20", "5"),  # at S1
]


def pulse(rid: str, day: str, unit: str, score: int) -> dict[str, str]:
    return {"response_id": rid, "response_date": day, "org_unit_id": unit, "enps_score": str(score)}


ENGAGEMENT = [
    # S1, January: 10, 9 promoters, 8 passive, 3 detractor: 4 answers (< 10, low sample).
    *(pulse(f"P{i}", "2025-01-15", "S1", score) for i, score in enumerate((10, 9, 8, 3))),
    # S3, January: exactly 10 answers: 5 promoters, 2 passive, 3 detractors.
    *(pulse(f"P{10 + i}", "2025-01-20", "S3", s) for i, s in enumerate((10, 10, 10, 10, 9, 7, 7, 6, 5, 0))),
]


def write_small_landing(landing: Path) -> None:
    write_csv(landing / "org_units" / "org_units.csv", ORG_UNITS)
    write_csv(landing / "products" / "products.csv", PRODUCTS)
    write_csv(landing / "sales_lines" / "sales_lines.csv", SALES)
    write_csv(landing / "returns" / "returns.csv", RETURNS)
    write_csv(landing / "inventory_snapshots" / "inventory_snapshots.csv", SNAPSHOTS)
    write_csv(landing / "survey_responses" / "survey_responses.csv", SURVEYS)
    write_csv(landing / "complaints" / "complaints.csv", COMPLAINTS)
    write_csv(landing / "employees" / "employees.csv", EMPLOYEES)
    write_csv(landing / "training_records" / "training_records.csv", TRAININGS)
    write_csv(landing / "engagement_surveys" / "engagement_surveys.csv", ENGAGEMENT)


@dataclass(frozen=True)
class KpiRow:
    value: float | None
    numerator: float | None
    denominator: float | None
    sample_size: int | None
    value_status: str


@dataclass(frozen=True)
class SmallRun:
    settings: Settings
    summary: RunSummary
    rows: dict[tuple[str, str, dt.date, str], KpiRow]  # (kpi_id, grain, period_start, org_unit_id)
    row_count: int

    def kpi(self, kpi_id: str, unit: str, label: str) -> KpiRow:
        grain, start = period(label)
        return self.rows[(kpi_id, grain, start, unit)]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SmallRun:
    """The hand-made landing folder run through `run_pipeline` once; tests only read the result."""
    root = tmp_path_factory.mktemp("kpi_small")
    write_small_landing(root / "landing")
    settings, summary = run_pipeline_on(root / "landing", root / "data")
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        fetched = con.execute(
            """select kpi_id, period_grain, period_start, org_unit_id,
                      value, numerator, denominator, sample_size, value_status
               from kpi.kpi_values"""
        ).fetchall()
    rows = {tuple(r[:4]): KpiRow(*r[4:]) for r in fetched}
    return SmallRun(settings=settings, summary=summary, rows=rows, row_count=len(fetched))


def test_every_source_row_is_loaded(small: SmallRun) -> None:
    loaded = {e.entity: (e.rows_loaded, e.rows_quarantined) for e in small.summary.entities}
    assert loaded == {
        "org_units": (7, 0),
        "products": (2, 0),
        "sales_lines": (len(SALES), 0),
        "returns": (3, 0),
        "inventory_snapshots": (12, 0),
        "survey_responses": (35, 0),
        "complaints": (4, 0),
        "employees": (8, 0),
        "training_records": (6, 0),
        "engagement_surveys": (14, 0),
    }
    assert "kpi/kpi_values" in small.summary.models_built


def test_pipeline_succeeds_on_a_hierarchy_of_its_own(small: SmallRun) -> None:
    """A user's own org hierarchy (not the sample's) must run green end to end."""
    assert small.summary.success, small.summary.errors
    assert small.summary.checks_failed == []
    # The shipped sample targets name units this hierarchy lacks: a warning, not a failure.
    assert (
        "staging/stg_kpi_targets:relationships_stg_kpi_targets_org_unit_id__org_unit_id__ref_stg_org_units_"
        in small.summary.checks_warned
    )


def test_one_row_per_kpi_unit_and_period(small: SmallRun) -> None:
    # 19 KPIs × 7 org units × 24 periods (16 months, 6 quarters, 2 years) = 3192 rows, all distinct.
    assert small.row_count == len(KPI_IDS) * len(UNITS) * PERIOD_COUNT == 3192
    assert len(small.rows) == small.row_count
    assert {k[0] for k in small.rows} == set(KPI_IDS)
    assert {k[3] for k in small.rows} == set(UNITS)
    months = {k[2] for k in small.rows if k[1] == "month"}
    assert min(months) == dt.date(2024, 1, 1) and max(months) == dt.date(2025, 4, 1) and len(months) == 16
    assert {k[2] for k in small.rows if k[1] == "quarter"} == {
        dt.date(2024, 1, 1),
        dt.date(2024, 4, 1),
        dt.date(2024, 7, 1),
        dt.date(2024, 10, 1),
        dt.date(2025, 1, 1),
        dt.date(2025, 4, 1),
    }
    assert {k[2] for k in small.rows if k[1] == "year"} == {dt.date(2024, 1, 1), dt.date(2025, 1, 1)}


# (kpi_id, org unit, period, expected value (None: no data), expected value_status)
# Measures used below, worked out from the rows above:
#
# 2025-01      gross  refunds  net   cogs  ret.cogs net.cogs  qty  ret.qty orders  customers (repeat)
#   S1          420     0      420   242     0       242       8     0      3     K3, K2 (none)
#   S2          205     0      205   110     0       110       3     0      2     K2, K1 (K1)
#   S3          240    80      160   120    40        80       3     1      1     -
#   W1            0     0        0     0     0         0       0     0      0     -
#   R1 = S1+S2  625     0      625   352     0       352      11     0      5     K3, K2, K1 (K1)
#   C           865    80      785   472    40       432      14     1      6     K3, K2, K1 (K1)
# 2024-01 (YoY base): S1 100, S2 0, S3 80, R1 100, R2 80, C 180.
#
# 2025-02: S1 sells nothing but refunds RT1 (45, returned cogs 28); S2 and W1 have no sales or returns;
#   S3 gross 180, cogs 100, 2 orders, customers K3 (first order 2025-01-05 at S1: repeat), K4 (new).
#   C gross 180, refunds 45, net 135, cogs 100, returned cogs 28, net cogs 72, 2 orders.
#
# 2025-Q1      gross  refunds  net   cogs  ret.cogs net.cogs  qty  ret.qty orders
#   S1          520    45      475   302    28       274      10     1      4
#   S2          285     0      285   150     0       150       4     0      3
#   S3          420    80      340   220    40       180       6     1      3
#   R1          805    45      760   452    28       424      14     1      7
#   C          1225   125     1100   672    68       604      20     2     10
# 2024-Q1 (YoY base): S1 100, S2 50, S3 80, R1 150, C 230.
#
# 2025 (year): C gross 1285, refunds 175, net 1110, cogs 702, returned cogs 98 (RT3 at 30), net cogs 604,
#   qty 21, returned 3, 11 orders; S1 gross 580, refunds 95, net 485, cogs 332, returned cogs 58,
#   net cogs 274, qty 11, returned 2, 5 orders. 2024: C 230, S1 100.
#
# Inventory (average value = Σ on_hand × cost / distinct snapshot dates):
#   2025-01: S1 1100 / 2 = 550; W1 6900 / 2 = 3450; R1 and C (1100 + 6900) / 3 dates
#            (01-15, 01-20, 01-31) = 8000 / 3; rows: S1 4 (1 stock-out), W1 4 (none), R1 and C 8 (1).
#   2025-02: S1 320 / 1; W1 1800 / 1 (1 stock-out of 2 rows); R1 and C 2120 / 1 (1 of 4).
#   2025-Q1: S1 1420 / 3 dates; R1 and C 10120 / 4 dates (01-15, 01-20, 01-31, 02-28) = 2530;
#            rows: S1 6 (1), R1 and C 12 (2).
EXPECTED: list[tuple[str, str, str, float | None, str]] = [
    # --- store, month ------------------------------------------------------------------------------
    ("net_revenue", "S1", "2025-01", 420.0, "ok"),  # 420 − 0
    ("gross_margin_pct", "S1", "2025-01", 100 * (420 - 242) / 420, "ok"),  # 42.38
    ("average_order_value", "S1", "2025-01", 420 / 3, "ok"),  # 140
    ("revenue_growth_yoy_pct", "S1", "2025-01", 100 * (420 / 100 - 1), "ok"),  # 320
    ("nps", "S1", "2025-01", 100 * (2 - 1) / 4, "low_sample"),  # 25.0 from 4 answers < 30
    ("csat_pct", "S1", "2025-01", 100 * 3 / 4, "low_sample"),  # 75.0 from 4 answers < 30
    ("complaints_per_1k_orders", "S1", "2025-01", 1000 * 3 / 3, "ok"),  # CP1..CP3 / 3 orders
    ("complaint_resolution_48h_pct", "S1", "2025-01", 100 * 1 / 3, "ok"),  # only CP1 within 48 h
    ("new_customers", "S1", "2025-01", 1.0, "ok"),  # K3 (K2's first order is O12 at S2)
    ("repeat_customer_rate_pct", "S1", "2025-01", 0.0, "ok"),  # K3, K2 both first ordered in 2025-01
    ("inventory_turnover", "S1", "2025-01", 242 / 550, "ok"),  # 0.44
    ("days_of_inventory", "S1", "2025-01", 550 / 242 * 31, "ok"),  # 70.45
    ("stockout_rate_pct", "S1", "2025-01", 100 * 1 / 4, "ok"),  # 25.0
    ("return_rate_pct", "S1", "2025-01", 0.0, "ok"),  # 0 returned / 8 sold
    ("new_customers", "S2", "2025-01", 1.0, "ok"),  # K2: O12 (S2) < O13 (S1), same day
    ("repeat_customer_rate_pct", "S2", "2025-01", 100 * 1 / 2, "ok"),  # K1 ordered in 2024 (at S1)
    ("gross_margin_pct", "S2", "2025-01", 100 * (205 - 110) / 205, "ok"),  # 46.34
    ("revenue_growth_yoy_pct", "S2", "2025-01", None, "no_data"),  # S2 had 0 in 2024-01
    ("nps", "S2", "2025-01", None, "no_data"),  # no answers
    ("inventory_turnover", "S2", "2025-01", None, "no_data"),  # no snapshots
    ("days_of_inventory", "S2", "2025-01", None, "no_data"),
    ("stockout_rate_pct", "S2", "2025-01", None, "no_data"),
    ("complaints_per_1k_orders", "S2", "2025-01", 0.0, "ok"),  # 0 complaints / 2 orders
    ("complaint_resolution_48h_pct", "S2", "2025-01", None, "no_data"),  # no complaints
    ("net_revenue", "S3", "2025-01", 160.0, "ok"),  # 240 − 80 refunded (RT2, same month)
    ("gross_margin_pct", "S3", "2025-01", 100 * (160 - 80) / 160, "ok"),  # net cogs 120 − 40
    ("revenue_growth_yoy_pct", "S3", "2025-01", 100 * (160 / 80 - 1), "ok"),  # 100
    ("nps", "S3", "2025-01", 100 * (15 - 6) / 30, "ok"),  # 30.0 from exactly 30 answers
    ("csat_pct", "S3", "2025-01", 100 * 24 / 30, "ok"),  # 80.0
    ("return_rate_pct", "S3", "2025-01", 100 * 1 / 3, "ok"),
    ("repeat_customer_rate_pct", "S3", "2025-01", None, "no_data"),  # only anonymous sales
    ("new_customers", "S3", "2025-01", 0.0, "ok"),
    # A warehouse: stock only.
    ("net_revenue", "W1", "2025-01", 0.0, "ok"),
    ("new_customers", "W1", "2025-01", 0.0, "ok"),
    ("average_order_value", "W1", "2025-01", None, "no_data"),
    ("inventory_turnover", "W1", "2025-01", 0 / 3450, "ok"),  # net cogs 0 / 3450
    ("days_of_inventory", "W1", "2025-01", None, "no_data"),  # net cogs 0
    ("stockout_rate_pct", "W1", "2025-02", 100 * 1 / 2, "ok"),
    # February: S1 only has RT1 (sold in January at unit_cost 28): counted now, at S1, at cost 28.
    ("net_revenue", "S1", "2025-02", -45.0, "ok"),  # 0 − 45
    ("gross_margin_pct", "S1", "2025-02", 100 * (-45 - (-28)) / -45, "ok"),  # net cogs 0 − 28 → 37.78
    ("average_order_value", "S1", "2025-02", None, "no_data"),  # no orders
    ("return_rate_pct", "S1", "2025-02", None, "no_data"),  # 1 returned / 0 sold
    ("inventory_turnover", "S1", "2025-02", -28 / 320, "ok"),  # −0.0875
    ("days_of_inventory", "S1", "2025-02", None, "no_data"),  # net cogs −28 ≤ 0
    ("stockout_rate_pct", "S1", "2025-02", 0.0, "ok"),  # 0 of 2 rows
    ("new_customers", "S1", "2025-02", 0.0, "ok"),
    # S2 has no activity at all in February: additive KPIs are 0, ratios have no data.
    ("net_revenue", "S2", "2025-02", 0.0, "ok"),
    ("new_customers", "S2", "2025-02", 0.0, "ok"),
    ("gross_margin_pct", "S2", "2025-02", None, "no_data"),  # net revenue 0
    ("average_order_value", "S2", "2025-02", None, "no_data"),
    ("repeat_customer_rate_pct", "S2", "2025-02", None, "no_data"),
    ("complaints_per_1k_orders", "S2", "2025-02", None, "no_data"),
    # S3 in February: K3 (first order at S1 in January) is a repeat customer here; K4 is new.
    ("repeat_customer_rate_pct", "S3", "2025-02", 100 * 1 / 2, "ok"),
    ("new_customers", "S3", "2025-02", 1.0, "ok"),
    ("gross_margin_pct", "S3", "2025-02", 100 * (180 - 100) / 180, "ok"),
    ("complaints_per_1k_orders", "S3", "2025-02", 1000 * 1 / 2, "ok"),  # CP4 / 2 orders
    ("complaint_resolution_48h_pct", "S3", "2025-02", 100.0, "ok"),
    # No sales anywhere in 2024-02 (inside the range): still a row, 0 revenue.
    ("net_revenue", "C", "2024-02", 0.0, "ok"),
    ("gross_margin_pct", "C", "2024-02", None, "no_data"),
    # No period one year before 2024-01: YoY has no data.
    ("revenue_growth_yoy_pct", "C", "2024-01", None, "no_data"),
    ("new_customers", "S1", "2024-01", 1.0, "ok"),  # K1
    # --- region, month -----------------------------------------------------------------------------
    ("net_revenue", "R1", "2025-01", 625.0, "ok"),
    # Pooled: 100 × (625 − 352) / 625 = 43.68, not the mean of S1 (42.38) and S2 (46.34) = 44.36.
    ("gross_margin_pct", "R1", "2025-01", 100 * (625 - 352) / 625, "ok"),
    ("average_order_value", "R1", "2025-01", 625 / 5, "ok"),  # 125
    ("revenue_growth_yoy_pct", "R1", "2025-01", 100 * (625 / 100 - 1), "ok"),  # 525
    ("nps", "R1", "2025-01", 25.0, "low_sample"),  # S1's 4 answers
    ("new_customers", "R1", "2025-01", 2.0, "ok"),  # K3 at S1, K2 at S2
    ("repeat_customer_rate_pct", "R1", "2025-01", 100 * 1 / 3, "ok"),  # K3, K2, K1 distinct; K1 repeat
    ("complaints_per_1k_orders", "R1", "2025-01", 1000 * 3 / 5, "ok"),  # 600
    ("inventory_turnover", "R1", "2025-01", 352 / (8000 / 3), "ok"),  # 0.132
    ("days_of_inventory", "R1", "2025-01", (8000 / 3) / 352 * 31, "ok"),  # 234.85
    ("stockout_rate_pct", "R1", "2025-01", 100 * 1 / 8, "ok"),  # 12.5
    ("net_revenue", "R1", "2025-02", -45.0, "ok"),
    ("inventory_turnover", "R1", "2025-02", -28 / 2120, "ok"),
    ("days_of_inventory", "R1", "2025-02", None, "no_data"),  # net cogs −28
    ("stockout_rate_pct", "R1", "2025-02", 100 * 1 / 4, "ok"),
    ("nps", "R2", "2025-01", 30.0, "ok"),
    ("inventory_turnover", "R2", "2025-01", None, "no_data"),  # S3 has no snapshots
    ("days_of_inventory", "R2", "2025-01", None, "no_data"),
    ("revenue_growth_yoy_pct", "R2", "2025-01", 100 * (160 / 80 - 1), "ok"),
    # --- company, month ----------------------------------------------------------------------------
    ("net_revenue", "C", "2025-01", 785.0, "ok"),  # 865 − 80
    ("gross_margin_pct", "C", "2025-01", 100 * (785 - 432) / 785, "ok"),  # 44.97
    ("average_order_value", "C", "2025-01", 865 / 6, "ok"),  # 144.17
    ("revenue_growth_yoy_pct", "C", "2025-01", 100 * (785 / 180 - 1), "ok"),  # 336.11
    ("nps", "C", "2025-01", 100 * (17 - 7) / 34, "ok"),  # 34 answers: 2 + 15 promoters, 1 + 6 detractors
    ("csat_pct", "C", "2025-01", 100 * 27 / 34, "ok"),  # 3 + 24 satisfied of 4 + 30
    ("complaints_per_1k_orders", "C", "2025-01", 1000 * 3 / 6, "ok"),
    ("complaint_resolution_48h_pct", "C", "2025-01", 100 * 1 / 3, "ok"),
    ("new_customers", "C", "2025-01", 2.0, "ok"),
    ("repeat_customer_rate_pct", "C", "2025-01", 100 * 1 / 3, "ok"),
    ("inventory_turnover", "C", "2025-01", 432 / (8000 / 3), "ok"),  # 0.162
    ("days_of_inventory", "C", "2025-01", (8000 / 3) / 432 * 31, "ok"),  # 191.36
    ("stockout_rate_pct", "C", "2025-01", 100 * 1 / 8, "ok"),
    ("return_rate_pct", "C", "2025-01", 100 * 1 / 14, "ok"),  # 7.14
    ("net_revenue", "C", "2025-02", 135.0, "ok"),  # 180 − 45
    ("gross_margin_pct", "C", "2025-02", 100 * (135 - 72) / 135, "ok"),  # 46.67
    ("days_of_inventory", "C", "2025-02", 2120 / 72 * 28, "ok"),  # net cogs 72 > 0 here
    ("new_customers", "C", "2025-03", 1.0, "ok"),  # K5 at S2 (K2's order at S1 is a repeat)
    ("repeat_customer_rate_pct", "S1", "2025-03", 100.0, "ok"),  # K2 first ordered 2025-01-20
    # --- quarter ------------------------------------------------------------------------------------
    ("net_revenue", "S1", "2025-Q1", 475.0, "ok"),  # 520 − 45
    ("gross_margin_pct", "S1", "2025-Q1", 100 * (475 - 274) / 475, "ok"),  # 42.32
    ("average_order_value", "S1", "2025-Q1", 520 / 4, "ok"),  # 130
    ("revenue_growth_yoy_pct", "S1", "2025-Q1", 100 * (475 / 100 - 1), "ok"),  # 375
    ("repeat_customer_rate_pct", "S1", "2025-Q1", 0.0, "ok"),  # K3, K2: no order before 2025-01-01
    ("new_customers", "S1", "2025-Q1", 1.0, "ok"),  # K3
    ("inventory_turnover", "S1", "2025-Q1", 274 / (1420 / 3), "ok"),  # 0.579
    ("days_of_inventory", "S1", "2025-Q1", (1420 / 3) / 274 * 90, "ok"),  # 155.47
    ("stockout_rate_pct", "S1", "2025-Q1", 100 * 1 / 6, "ok"),
    ("return_rate_pct", "S1", "2025-Q1", 100 * 1 / 10, "ok"),
    ("complaints_per_1k_orders", "S1", "2025-Q1", 1000 * 3 / 4, "ok"),
    ("nps", "S1", "2025-Q1", 25.0, "low_sample"),
    ("new_customers", "S2", "2025-Q1", 2.0, "ok"),  # K2, K5
    ("revenue_growth_yoy_pct", "S2", "2025-Q1", 100 * (285 / 50 - 1), "ok"),  # 470
    ("repeat_customer_rate_pct", "S3", "2025-Q1", 0.0, "ok"),  # K3 is a repeat in February, not in Q1
    ("net_revenue", "R1", "2025-Q1", 760.0, "ok"),
    ("gross_margin_pct", "R1", "2025-Q1", 100 * (760 - 424) / 760, "ok"),  # 44.21
    ("average_order_value", "R1", "2025-Q1", 805 / 7, "ok"),  # 115
    ("revenue_growth_yoy_pct", "R1", "2025-Q1", 100 * (760 / 150 - 1), "ok"),  # 406.67
    ("new_customers", "R1", "2025-Q1", 3.0, "ok"),  # K3, K2, K5
    ("repeat_customer_rate_pct", "R1", "2025-Q1", 100 * 1 / 4, "ok"),  # K3, K2, K1, K5; K1
    ("inventory_turnover", "R1", "2025-Q1", 424 / 2530, "ok"),
    ("days_of_inventory", "R1", "2025-Q1", 2530 / 424 * 90, "ok"),
    ("stockout_rate_pct", "R1", "2025-Q1", 100 * 2 / 12, "ok"),
    ("net_revenue", "C", "2025-Q1", 1100.0, "ok"),  # 1225 − 125
    ("gross_margin_pct", "C", "2025-Q1", 100 * (1100 - 604) / 1100, "ok"),  # 45.09
    ("average_order_value", "C", "2025-Q1", 1225 / 10, "ok"),
    ("revenue_growth_yoy_pct", "C", "2025-Q1", 100 * (1100 / 230 - 1), "ok"),  # 378.26
    ("nps", "C", "2025-Q1", 100 * 10 / 34, "ok"),
    ("csat_pct", "C", "2025-Q1", 100 * 27 / 34, "ok"),
    ("complaints_per_1k_orders", "C", "2025-Q1", 1000 * 4 / 10, "ok"),  # CP1..CP4
    ("complaint_resolution_48h_pct", "C", "2025-Q1", 100 * 2 / 4, "ok"),  # CP1, CP4
    ("new_customers", "C", "2025-Q1", 4.0, "ok"),  # K3, K2, K4, K5
    ("repeat_customer_rate_pct", "C", "2025-Q1", 100 * 1 / 5, "ok"),  # K1 of K1..K5
    ("inventory_turnover", "C", "2025-Q1", 604 / 2530, "ok"),
    ("days_of_inventory", "C", "2025-Q1", 2530 / 604 * 90, "ok"),  # 31 + 28 + 31 days
    ("stockout_rate_pct", "C", "2025-Q1", 100 * 2 / 12, "ok"),
    ("return_rate_pct", "C", "2025-Q1", 100 * 2 / 20, "ok"),
    # 2025-Q2 (April): RT3 of a March sale counts here.
    ("net_revenue", "S1", "2025-Q2", 60.0 - 50.0, "ok"),
    ("gross_margin_pct", "S1", "2025-Q2", 100 * (10 - (30 - 30)) / 10, "ok"),  # net cogs 30 − 30 = 0
    ("return_rate_pct", "S1", "2025-Q2", 100 * 1 / 1, "ok"),
    # --- people: learning and growth, revenue per FTE (FTE-days above) -----------------------------
    # The average FTE over a transfer (E2 into S2 on 01-16) and an FTE change and leave (E3, 01-10
    # and 01-20) in the month: S2 (16 × 0.5 + 9 × 0.8 + 11 × 0.6) / 31.
    ("revenue_per_fte", "S2", "2025-01", 205 / (21.8 / 31), "ok"),
    ("revenue_per_fte", "S1", "2025-01", 420 / (46 / 31), "ok"),
    ("revenue_per_fte", "W1", "2025-01", 0.0, "ok"),  # no revenue, one FTE
    ("revenue_per_fte", "R1", "2025-01", 625 / (129.8 / 31), "ok"),  # E6 at R1 itself counts
    ("revenue_per_fte", "C", "2025-01", 785 / (160.8 / 31), "ok"),
    ("revenue_per_fte", "S2", "2024-03", None, "no_data"),  # revenue 50, nobody employed
    ("revenue_per_fte", "C", "2025-Q1", 1100 / (381.3 / 90), "ok"),
    ("revenue_per_fte", "C", "2025", 1110 / (1343.8 / 365), "ok"),
    ("revenue_per_fte", "C", "2024", 230 / (963.8 / 366), "ok"),
    ("training_hours_per_fte", "S1", "2025-01", 8 / (46 / 31), "ok"),  # T1, before E2's transfer
    ("training_hours_per_fte", "S2", "2025-01", (4 + 2) / (21.8 / 31), "ok"),  # T2 and the leaver's T5
    ("training_hours_per_fte", "C", "2025-01", 14 / (160.8 / 31), "ok"),
    ("training_hours_per_fte", "S1", "2025-Q1", (8 + 5) / (105 / 90), "ok"),
    ("training_hours_per_fte", "C", "2025-Q1", 19 / (381.3 / 90), "ok"),
    ("training_hours_per_fte", "S3", "2025-01", 0.0, "ok"),
    ("training_hours_per_fte", "C", "2024", (6 + 3) / (963.8 / 366), "ok"),
    ("staff_turnover_pct", "S2", "2025-01", 100 * 1 / (36 / 31), "ok"),  # E3 leaves at S2
    ("staff_turnover_pct", "S1", "2025-01", 0.0, "ok"),
    ("staff_turnover_pct", "C", "2025-01", 100 * 1 / (175 / 31), "ok"),
    ("staff_turnover_pct", "W1", "2025-02", 100 * 1 / (14 / 28), "ok"),  # E4's 14 days in February
    ("staff_turnover_pct", "C", "2025-Q1", 100 * 2 / (425 / 90), "ok"),
    ("staff_turnover_pct", "C", "2025", 100 * 2 / (1525 / 365), "ok"),
    ("staff_turnover_pct", "S3", "2024-06", None, "no_data"),  # nobody employed
    # Active on 2025-01-31: E1 (S1; T3 is 365 days before: not trained), E2 (S2, trained), E4 (W1;
    # T4 is 364 days before: trained), E5 (S3), E6 (R1). E3 left on 01-20.
    ("trained_staff_pct", "S1", "2025-01", 0.0, "ok"),
    ("trained_staff_pct", "S2", "2025-01", 100.0, "ok"),
    ("trained_staff_pct", "W1", "2025-01", 100.0, "ok"),
    ("trained_staff_pct", "R1", "2025-01", 100 * 2 / 4, "ok"),
    ("trained_staff_pct", "C", "2025-01", 100 * 2 / 5, "ok"),
    # On 2025-03-31: E1 (T6), E2, E5, E6; E4 left on 02-14, so W1 has nobody.
    ("trained_staff_pct", "C", "2025-Q1", 100 * 2 / 4, "ok"),
    ("trained_staff_pct", "R1", "2025-Q1", 100 * 2 / 3, "ok"),
    ("trained_staff_pct", "W1", "2025-Q1", None, "no_data"),
    # On 2025-12-31 (the calendar year's last day): E1 (T6), E2 (T1, T2) of E1, E2, E5, E6.
    ("trained_staff_pct", "C", "2025", 100 * 2 / 4, "ok"),
    # On 2024-12-31: E1 (T3), E4 (T4) of E1, E3, E4, E6.
    ("trained_staff_pct", "C", "2024", 100 * 2 / 4, "ok"),
    ("trained_staff_pct", "S2", "2024", 0.0, "ok"),
    ("enps", "S1", "2025-01", 100 * (2 - 1) / 4, "low_sample"),  # 4 answers < 10
    ("enps", "S3", "2025-01", 100 * (5 - 3) / 10, "ok"),  # exactly 10 answers
    ("enps", "R1", "2025-01", 25.0, "low_sample"),
    ("enps", "C", "2025-01", 100 * (7 - 4) / 14, "ok"),
    ("enps", "C", "2025-Q1", 100 * (7 - 4) / 14, "ok"),
    ("enps", "S2", "2025-01", None, "no_data"),
    # --- year --------------------------------------------------------------------------------------
    ("net_revenue", "S1", "2025", 485.0, "ok"),  # 580 − 95
    ("gross_margin_pct", "S1", "2025", 100 * (485 - 274) / 485, "ok"),  # 43.51
    ("average_order_value", "S1", "2025", 580 / 5, "ok"),  # 116
    ("revenue_growth_yoy_pct", "S1", "2025", 100 * (485 / 100 - 1), "ok"),  # 385
    ("repeat_customer_rate_pct", "S1", "2025", 100 * 1 / 3, "ok"),  # K3, K2, K1; K1
    ("return_rate_pct", "S1", "2025", 100 * 2 / 11, "ok"),
    ("net_revenue", "R1", "2025", 865 - 95.0, "ok"),  # gross S1 580 + S2 285, refunds RT1 + RT3
    ("new_customers", "R1", "2025", 3.0, "ok"),  # K3, K2, K5 (K4 is at S3)
    ("net_revenue", "R2", "2025", 340.0, "ok"),
    ("revenue_growth_yoy_pct", "R2", "2025", 100 * (340 / 80 - 1), "ok"),
    ("net_revenue", "C", "2025", 1110.0, "ok"),  # 1285 − 175
    ("gross_margin_pct", "C", "2025", 100 * (1110 - 604) / 1110, "ok"),  # 45.59
    ("average_order_value", "C", "2025", 1285 / 11, "ok"),
    ("revenue_growth_yoy_pct", "C", "2025", 100 * (1110 / 230 - 1), "ok"),  # 382.61
    ("new_customers", "C", "2025", 4.0, "ok"),
    ("repeat_customer_rate_pct", "C", "2025", 100 * 1 / 5, "ok"),
    ("inventory_turnover", "C", "2025", 604 / 2530, "ok"),
    ("return_rate_pct", "C", "2025", 100 * 3 / 21, "ok"),
    ("complaints_per_1k_orders", "C", "2025", 1000 * 4 / 11, "ok"),
    ("nps", "C", "2025", 100 * 10 / 34, "ok"),
    ("net_revenue", "C", "2024", 230.0, "ok"),  # 100 + 80 + 50
    ("new_customers", "C", "2024", 1.0, "ok"),  # K1
    ("repeat_customer_rate_pct", "C", "2024", 0.0, "ok"),
    ("revenue_growth_yoy_pct", "C", "2024", None, "no_data"),  # no 2023
]


@pytest.mark.parametrize(
    ("kpi_id", "unit", "label", "expected", "status"),
    EXPECTED,
    ids=[f"{unit}-{label}-{kpi}" for kpi, unit, label, *_ in EXPECTED],
)
def test_hand_computed_value(
    small: SmallRun, kpi_id: str, unit: str, label: str, expected: float | None, status: str
) -> None:
    row = small.kpi(kpi_id, unit, label)
    assert same(row.value, expected), f"{kpi_id} {unit} {label}: {row.value} != {expected}"
    assert row.value_status == status


def test_parent_ratio_is_pooled_not_an_average_of_children(small: SmallRun) -> None:
    s1 = small.kpi("gross_margin_pct", "S1", "2025-01").value
    s2 = small.kpi("gross_margin_pct", "S2", "2025-01").value
    r1 = small.kpi("gross_margin_pct", "R1", "2025-01")
    assert s1 is not None and s2 is not None
    # The mean of the stores' margins is 44.36; the pooled margin 100 × (625 − 352) / 625 = 43.68.
    assert not same(r1.value, (s1 + s2) / 2)
    assert same(r1.value, 43.68)
    # It carries its parts: numerator gross profit, denominator net revenue.
    assert same(r1.numerator, 625 - 352) and same(r1.denominator, 625)
    # The quarter is not the mean of its months either: S1 January 42.38, February 37.78, March 40.0.
    q1 = small.kpi("gross_margin_pct", "S1", "2025-Q1")
    assert same(q1.value, 100 * 201 / 475) and same(q1.numerator, 201) and same(q1.denominator, 475)


def test_parts_and_sample_size(small: SmallRun) -> None:
    nps = small.kpi("nps", "S1", "2025-01")
    assert (nps.numerator, nps.denominator, nps.sample_size) == (1.0, 4.0, 4)  # 2 − 1 of 4
    nps = small.kpi("nps", "C", "2025-01")
    assert (nps.numerator, nps.denominator, nps.sample_size) == (10.0, 34.0, 34)
    csat = small.kpi("csat_pct", "S3", "2025-01")
    assert (csat.numerator, csat.denominator, csat.sample_size) == (24.0, 30.0, 30)
    # A growth rate carries this year's value and last year's.
    yoy = small.kpi("revenue_growth_yoy_pct", "C", "2025-Q1")
    assert (yoy.numerator, yoy.denominator) == (1100.0, 230.0)
    # A sum carries itself as numerator and no denominator or sample size.
    revenue = small.kpi("net_revenue", "C", "2025")
    assert (revenue.numerator, revenue.denominator, revenue.sample_size) == (1110.0, None, None)
    aov = small.kpi("average_order_value", "R1", "2025-01")
    assert (aov.numerator, aov.denominator) == (625.0, 5.0)
    turnover = small.kpi("inventory_turnover", "C", "2025-Q1")
    assert same(turnover.numerator, 604) and same(turnover.denominator, 2530)


def test_average_fte_and_headcount_over_a_transfer_and_a_leave_mid_month(small: SmallRun) -> None:
    """The denominators of the FTE KPIs are the mean over every calendar day of the period of the
    day's FTE (count) in the unit's subtree. S2 in January 2025: E2 from 01-16 at 0.5 (transferred
    from S1), E3 at 0.8 until 01-09, at 0.6 from 01-10 to its leave on 01-20 (the last day counted)."""
    average_fte = (16 * 0.5 + 9 * 0.8 + 11 * 0.6) / 31  # 21.8 / 31 = 0.7032
    revenue = small.kpi("revenue_per_fte", "S2", "2025-01")
    assert same(revenue.numerator, 205) and same(revenue.denominator, average_fte)
    training = small.kpi("training_hours_per_fte", "S2", "2025-01")
    assert same(training.numerator, 6) and same(training.denominator, average_fte)
    # S1 keeps E2's first 15 days at 1.0 beside E1's 31.
    assert same(small.kpi("revenue_per_fte", "S1", "2025-01").denominator, (31 + 15) / 31)
    # Headcount: E2's 16 days and E3's 20 (01-01 .. 01-20).
    turnover = small.kpi("staff_turnover_pct", "S2", "2025-01")
    assert same(turnover.numerator, 1) and same(turnover.denominator, (16 + 20) / 31)
    # A quarter averages over its 90 days, not over its months' averages: S2 2025-Q1
    # (E2 75 days × 0.5 + E3 13.8) / 90; W1 (E4 until its leave on 02-14) 45 / 90.
    assert same(small.kpi("revenue_per_fte", "S2", "2025-Q1").denominator, (75 * 0.5 + 13.8) / 90)
    assert same(small.kpi("staff_turnover_pct", "W1", "2025-Q1").denominator, 45 / 90)
    # The region adds its stores, its warehouse and its own staff (E6), day by day.
    assert same(small.kpi("revenue_per_fte", "R1", "2025-01").denominator, (46 + 21.8 + 31 + 31) / 31)


def test_people_kpi_parts(small: SmallRun) -> None:
    trained = small.kpi("trained_staff_pct", "C", "2025-Q1")
    assert (trained.numerator, trained.denominator, trained.sample_size) == (2.0, 4.0, None)
    enps = small.kpi("enps", "S1", "2025-01")
    assert (enps.numerator, enps.denominator, enps.sample_size) == (1.0, 4.0, 4)
    enps = small.kpi("enps", "C", "2025-01")
    assert (enps.numerator, enps.denominator, enps.sample_size) == (3.0, 14.0, 14)


def test_additive_kpis_are_zero_never_missing(small: SmallRun) -> None:
    for (kpi_id, _, _, unit), row in small.rows.items():
        if kpi_id in ("net_revenue", "new_customers"):
            assert row.value is not None and row.value_status == "ok", (kpi_id, unit, row)
    # No data at all in W1 except stock: its revenue and new customers are 0 in every period.
    for kpi_id in ("net_revenue", "new_customers"):
        assert {r.value for k, r in small.rows.items() if k[3] == "W1" and k[0] == kpi_id} == {0.0}


def test_no_data_exactly_when_value_is_missing(small: SmallRun) -> None:
    for key, row in small.rows.items():
        assert (row.value is None) == (row.value_status == "no_data"), (key, row)


def test_days_of_inventory_counts_the_calendar_days_of_a_partial_period(small: SmallRun) -> None:
    """Days in the period are the calendar period's days, also when the data ends inside it.

    The data ends in April 2025, but the period 2025 is the calendar year 2025: 365 days.
    """
    # 2025: average inventory 2530 (only Q1 snapshots), net cogs 604.
    assert same(small.kpi("days_of_inventory", "C", "2025").value, 2530 / 604 * 365)
    # 2024-Q1 for comparison: a complete period inside the data range (no snapshots → no data).
    assert small.kpi("days_of_inventory", "C", "2024-Q1").value_status == "no_data"


# =====================================================================================================
# Part 2: the generated sample against an independent oracle over the raw tables
# =====================================================================================================

ORACLE_SQL = """
with recursive
units as (
    select org_unit_id, parent_id from raw.org_units where _superseded_by_batch_id is null
),
subtree(org_unit_id) as (
    select org_unit_id from units where org_unit_id = $unit
    union all
    select units.org_unit_id from units join subtree on units.parent_id = subtree.org_unit_id
),
lines as (
    select order_id, line_no, order_date, customer_id, org_unit_id, quantity,
           quantity * unit_price - coalesce(discount_amount, 0) as gross, quantity * unit_cost as cost,
           unit_cost
    from raw.sales_lines where _superseded_by_batch_id is null
),
sales as (
    select
        coalesce(sum(gross) filter (where order_date >= $start and order_date < $end), 0) as gross_sales,
        coalesce(sum(cost) filter (where order_date >= $start and order_date < $end), 0) as cogs,
        coalesce(sum(quantity) filter (where order_date >= $start and order_date < $end), 0) as sold_qty,
        count(distinct order_id) filter (where order_date >= $start and order_date < $end) as orders,
        coalesce(sum(gross) filter (where order_date >= $prior_start and order_date < $prior_end), 0)
            as prior_gross_sales
    from lines where org_unit_id in (select org_unit_id from subtree)
),
returned as (
    select
        coalesce(sum(r.refund_amount) filter (where r.return_date >= $start and r.return_date < $end), 0)
            as refunds,
        coalesce(sum(r.quantity * l.unit_cost) filter (where r.return_date >= $start and r.return_date < $end), 0)
            as returned_cogs,
        coalesce(sum(r.quantity) filter (where r.return_date >= $start and r.return_date < $end), 0)
            as returned_qty,
        coalesce(sum(r.refund_amount) filter (where r.return_date >= $prior_start and r.return_date < $prior_end), 0)
            as prior_refunds
    from raw.returns as r
    join lines as l on l.order_id = r.order_id and l.line_no = r.line_no
    where r._superseded_by_batch_id is null and l.org_unit_id in (select org_unit_id from subtree)
),
stock as (
    select
        coalesce(sum(on_hand_qty * unit_cost), 0) as inventory_value,
        count(distinct snapshot_date) as snapshot_dates,
        count(*) as snapshot_rows,
        count(*) filter (where on_hand_qty = 0) as stockout_rows
    from raw.inventory_snapshots
    where _superseded_by_batch_id is null and snapshot_date >= $start and snapshot_date < $end
        and org_unit_id in (select org_unit_id from subtree)
),
surveys as (
    select
        count(nps_score) as nps_n,
        count(*) filter (where nps_score >= 9) as promoters,
        count(*) filter (where nps_score <= 6) as detractors,
        count(csat_score) as csat_n,
        count(*) filter (where csat_score >= 4) as satisfied
    from raw.survey_responses
    where _superseded_by_batch_id is null and response_date >= $start and response_date < $end
        and org_unit_id in (select org_unit_id from subtree)
),
complaints as (
    select
        count(*) as opened,
        count(*) filter (where resolved_at <= opened_at + interval 48 hour) as resolved_48h
    from raw.complaints
    where _superseded_by_batch_id is null and opened_at >= $start and opened_at < $end
        and org_unit_id in (select org_unit_id from subtree)
),
customer_first as (
    -- each identified customer's first day, first order of that day (lowest order_id), and its unit
    select customer_id, min(order_date) as first_date from lines where customer_id is not null group by 1
),
customer_first_order as (
    select f.customer_id, f.first_date, min(l.order_id) as first_order_id
    from customer_first as f
    join lines as l on l.customer_id = f.customer_id and l.order_date = f.first_date
    group by 1, 2
),
customer_first_unit as (
    select distinct o.customer_id, o.first_date, l.org_unit_id
    from customer_first_order as o join lines as l on l.order_id = o.first_order_id
),
new_customers as (
    select count(*) as new_customers from customer_first_unit
    where first_date >= $start and first_date < $end and org_unit_id in (select org_unit_id from subtree)
),
customers as (
    select
        count(distinct l.customer_id) as active,
        count(distinct l.customer_id) filter (where f.first_date < $start) as repeat_customers
    from lines as l join customer_first as f on f.customer_id = l.customer_id
    where l.order_date >= $start and l.order_date < $end and l.org_unit_id in (select org_unit_id from subtree)
),
-- People: an employee's rows as of each day (the row with the latest valid_from on or before it),
-- active from hire_date to leave_date (the leave_date of the employee's latest row).
roster as (
    select employee_id, valid_from, org_unit_id, fte, hire_date, leave_date
    from raw.employees where _superseded_by_batch_id is null
),
employment as (
    select r.employee_id, min(r.hire_date) as hire_date,
           max(r.leave_date) filter (where r.valid_from = latest.valid_from) as leave_date
    from roster as r
    join (select employee_id, max(valid_from) as valid_from from roster group by 1) as latest
        on latest.employee_id = r.employee_id
    group by 1
),
period_days as (
    select cast(unnest(generate_series(cast($start as date), cast($end as date) - 1, interval 1 day)) as date) as day
),
roster_days as (
    -- every day of the period and the trainings' and leaves' days, each with the row in effect
    select d.day, r.employee_id, r.org_unit_id, r.fte
    from (
        select day from period_days
        union select completed_on from raw.training_records where _superseded_by_batch_id is null
        union select leave_date from employment where leave_date is not null
    ) as d
    join roster as r on r.valid_from <= d.day
    qualify row_number() over (partition by d.day, r.employee_id order by r.valid_from desc) = 1
),
active_days as (
    select rd.* from roster_days as rd join employment as e on e.employee_id = rd.employee_id
    where e.hire_date <= rd.day and (e.leave_date is null or rd.day <= e.leave_date)
),
staff as (
    select
        coalesce(sum(fte) filter (where day >= $start and day < $end), 0) as fte_days,
        count(*) filter (where day >= $start and day < $end) as headcount_days,
        count(*) filter (where day = cast($end as date) - 1) as staff_last_day,
        count(*) filter (where day = cast($end as date) - 1 and exists (
            select 1 from raw.training_records as t
            where t._superseded_by_batch_id is null and t.employee_id = active_days.employee_id
                and t.completed_on between cast($end as date) - 1 - 364 and cast($end as date) - 1
        )) as trained_last_day
    from active_days where org_unit_id in (select org_unit_id from subtree)
),
trained_hours as (
    select coalesce(sum(t.hours), 0) as training_hours
    from raw.training_records as t
    join roster_days as rd on rd.employee_id = t.employee_id and rd.day = t.completed_on
    where t._superseded_by_batch_id is null and t.completed_on >= $start and t.completed_on < $end
        and rd.org_unit_id in (select org_unit_id from subtree)
),
leavers as (
    select count(*) as leavers
    from employment as e
    join roster_days as rd on rd.employee_id = e.employee_id and rd.day = e.leave_date
    where e.leave_date >= $start and e.leave_date < $end and rd.org_unit_id in (select org_unit_id from subtree)
),
pulse as (
    select
        count(*) as enps_n,
        count(*) filter (where enps_score >= 9) as enps_promoters,
        count(*) filter (where enps_score <= 6) as enps_detractors
    from raw.engagement_surveys
    where _superseded_by_batch_id is null and response_date >= $start and response_date < $end
        and org_unit_id in (select org_unit_id from subtree)
),
parts as (
    select
        sales.*, returned.*, stock.*, surveys.*, complaints.*, new_customers.*, customers.*,
        staff.*, trained_hours.*, leavers.*, pulse.*,
        cast(staff.fte_days as double) / $days as average_fte,
        cast(staff.headcount_days as double) / $days as average_headcount,
        cast(gross_sales - refunds as double) as net_revenue,
        cast(prior_gross_sales - prior_refunds as double) as prior_net_revenue,
        cast(cogs - returned_cogs as double) as net_cogs,
        cast(inventory_value as double) / nullif(snapshot_dates, 0) as avg_inventory
    from sales, returned, stock, surveys, complaints, new_customers, customers, staff, trained_hours, leavers,
        pulse
)
select
    net_revenue,
    100 * (net_revenue - net_cogs) / nullif(net_revenue, 0) as gross_margin_pct,
    cast(gross_sales as double) / nullif(orders, 0) as average_order_value,
    100 * (net_revenue / nullif(prior_net_revenue, 0) - 1) as revenue_growth_yoy_pct,
    100 * cast(promoters - detractors as double) / nullif(nps_n, 0) as nps,
    100 * cast(satisfied as double) / nullif(csat_n, 0) as csat_pct,
    1000 * cast(opened as double) / nullif(orders, 0) as complaints_per_1k_orders,
    cast(new_customers as double) as new_customers,
    100 * cast(repeat_customers as double) / nullif(active, 0) as repeat_customer_rate_pct,
    net_cogs / nullif(avg_inventory, 0) as inventory_turnover,
    case when net_cogs > 0 then avg_inventory / net_cogs * $days end as days_of_inventory,
    100 * cast(stockout_rows as double) / nullif(snapshot_rows, 0) as stockout_rate_pct,
    100 * cast(returned_qty as double) / nullif(sold_qty, 0) as return_rate_pct,
    100 * cast(resolved_48h as double) / nullif(opened, 0) as complaint_resolution_48h_pct,
    net_revenue / nullif(average_fte, 0) as revenue_per_fte,
    cast(training_hours as double) / nullif(average_fte, 0) as training_hours_per_fte,
    100 * cast(leavers as double) / nullif(average_headcount, 0) as staff_turnover_pct,
    100 * cast(trained_last_day as double) / nullif(staff_last_day, 0) as trained_staff_pct,
    100 * cast(enps_promoters - enps_detractors as double) / nullif(enps_n, 0) as enps,
    nps_n,
    csat_n,
    enps_n
from parts
"""

SAMPLE_UNITS = ("HQ", "R-EAST", "ST-001")
PERIOD_BOUNDS = {
    # label: (start, end (exclusive), days)
    "2025-01": (dt.date(2025, 1, 1), dt.date(2025, 2, 1), 31),
    "2025-02": (dt.date(2025, 2, 1), dt.date(2025, 3, 1), 28),
    "2025-Q1": (dt.date(2025, 1, 1), dt.date(2025, 4, 1), 90),
    "2024": (dt.date(2024, 1, 1), dt.date(2025, 1, 1), 366),
    "2025-11": (dt.date(2025, 11, 1), dt.date(2025, 12, 1), 30),
    "2025-Q3": (dt.date(2025, 7, 1), dt.date(2025, 10, 1), 92),
    "2025": (dt.date(2025, 1, 1), dt.date(2026, 1, 1), 365),
}
SAMPLE_PERIODS = ("2025-11", "2025-Q3", "2025")  # November: a month with pulse surveys (quarterly)
SMALL_PERIODS = ("2025-01", "2025-02", "2025-Q1", "2024", "2025")
# KPI → (the oracle's sample column, the minimum sample of its definition)
MIN_SAMPLE = {"nps": ("nps_n", 30), "csat_pct": ("csat_n", 30), "enps": ("enps_n", 10)}


def oracle(warehouse: Path, unit: str, label: str) -> dict[str, float | None]:
    start, end, days = PERIOD_BOUNDS[label]
    prior_start, prior_end = start.replace(year=start.year - 1), end.replace(year=end.year - 1)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute(
            ORACLE_SQL,
            {
                "unit": unit,
                "start": start,
                "end": end,
                "prior_start": prior_start,
                "prior_end": prior_end,
                "days": days,
            },
        )
        names = [d[0] for d in cursor.description]
        row = cursor.fetchone()
    assert row is not None
    return {name: (float(v) if v is not None else None) for name, v in zip(names, row, strict=True)}


@pytest.mark.parametrize("label", SAMPLE_PERIODS)
@pytest.mark.parametrize("unit", SAMPLE_UNITS)
def test_sample_kpis_match_an_independent_oracle(
    built_warehouse: BuiltWarehouse, unit: str, label: str
) -> None:
    expected = oracle(built_warehouse.settings.warehouse_path, unit, label)
    # The sample has real activity here: the comparison is not of empty values.
    assert expected["net_revenue"] and expected["average_order_value"] and expected["inventory_turnover"]
    assert expected["revenue_per_fte"] and expected["training_hours_per_fte"] and expected["enps_n"]
    assert_matches_oracle(built_warehouse.settings.warehouse_path, unit, label, expected)


@pytest.mark.parametrize("label", SMALL_PERIODS)
@pytest.mark.parametrize("unit", UNITS)
def test_small_kpis_match_the_oracle(small: SmallRun, unit: str, label: str) -> None:
    """The oracle agrees with the hand-made folder too, at every unit (a warehouse, a region's own
    staff, a store without people), where transfers, leaves and the 365-day boundary are planted."""
    warehouse = small.settings.warehouse_path
    assert_matches_oracle(warehouse, unit, label, oracle(warehouse, unit, label))


def assert_matches_oracle(warehouse: Path, unit: str, label: str, expected: dict[str, float | None]) -> None:
    grain, start = period(label)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            """select kpi_id, value, value_status from kpi.kpi_values
               where org_unit_id = ? and period_grain = ? and period_start = ?""",
            [unit, grain, start],
        ).fetchall()
    actual = {kpi_id: (value, status) for kpi_id, value, status in rows}
    unknown, missing = sorted(set(actual) - set(KPI_IDS)), sorted(set(KPI_IDS) - set(actual))
    # Adding a KPI is adding YAML; this oracle is independent of that YAML, so it must be taught.
    assert not unknown, (
        f"KPIs the independent oracle does not compute: {unknown}: add them to ORACLE_SQL and KPI_IDS"
    )
    assert not missing, f"KPIs the oracle expects but kpi_values lacks: {missing}"
    mismatches = []
    for kpi_id in KPI_IDS:
        value, status = actual[kpi_id]
        if not same(value, expected[kpi_id]):
            mismatches.append(f"{kpi_id}: kpi_values {value}, oracle {expected[kpi_id]}")
        if expected[kpi_id] is None:
            expected_status = "no_data"
        elif kpi_id in MIN_SAMPLE and (expected[MIN_SAMPLE[kpi_id][0]] or 0) < MIN_SAMPLE[kpi_id][1]:
            expected_status = "low_sample"
        else:
            expected_status = "ok"
        if status != expected_status:
            mismatches.append(f"{kpi_id}: status {status}, expected {expected_status}")
    assert mismatches == [], f"{unit} {label}:\n" + "\n".join(mismatches)
