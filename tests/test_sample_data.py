"""The sample-data generator: deterministic, realistic, valid under the contract except the planted rows.

The data is checked through the real extractor: it must quarantine exactly the rows the summary
reports as planted, and nothing else.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from pathlib import Path

import duckdb
import pytest

from dagster_project.contract import load_contract
from dagster_project.extract.loader import load_entity
from dagster_project.sample_data.generator import ENTITIES, SampleDataSummary, generate_sample_data

SALES_LINES = 3000


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleDataSummary:
    return generate_sample_data(tmp_path_factory.mktemp("gen") / "landing", sales_lines=SALES_LINES)


@pytest.fixture(scope="module")
def con(sample: SampleDataSummary, tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    return _load(sample, tmp_path_factory.mktemp("warehouse"))


def _load(sample: SampleDataSummary, folder: Path) -> duckdb.DuckDBPyConnection:
    """The sample loaded by the real extractor; `clean_<entity>` views show the loaded rows as text."""
    connection = duckdb.connect(str(folder / "warehouse.duckdb"))
    contract = load_contract()
    for entity in ENTITIES:  # contract order is dependency order
        load_entity(connection, contract, entity, sample.landing_dir)
        columns = ", ".join(f"cast({c} as varchar) as {c}" for c in contract.entity(entity).column_names)
        connection.execute(f"create view clean_{entity} as select {columns} from raw.{entity}")
    return connection


def _flagged(con: duckdb.DuckDBPyConnection) -> set[tuple[str, int]]:
    """(file, line) of every row the extractor quarantined."""
    return {
        row
        for entity in ENTITIES
        for row in con.execute(f"select _source_file, _source_row from quarantine.{entity}").fetchall()
    }


def _planted_row(sample: SampleDataSummary, rel: str, line: int):
    with (sample.landing_dir / rel).open(encoding="utf-8", newline="") as f:
        records = list(csv.reader(f))
    header, fields = records[0], records[line - 1]
    assert len(fields) == len(header), f"{rel}:{line} does not have {len(header)} fields"
    row = {name: (value if value != "" else None) for name, value in zip(header, fields, strict=True)}
    return (rel, line), row


def _one(con: duckdb.DuckDBPyConnection, sql: str):
    return con.execute(sql).fetchone()[0]


def _sha256_tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# --------------------------------------------------------------------------------------------------


def test_same_arguments_give_identical_files(sample: SampleDataSummary, tmp_path: Path) -> None:
    again = generate_sample_data(tmp_path / "landing", sales_lines=SALES_LINES)
    first, second = _sha256_tree(sample.landing_dir), _sha256_tree(again.landing_dir)
    assert first == second
    assert sorted(first) == sorted(f for files in sample.files.values() for f in files)
    assert (again.rows, again.bad_rows, again.files) == (sample.rows, sample.bad_rows, sample.files)


def test_refuses_a_folder_that_holds_a_file(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    (landing / "sales_lines").mkdir(parents=True)
    (landing / "sales_lines" / "mine.csv").write_text("precious\n", encoding="utf-8")
    with pytest.raises(FileExistsError, match=str(landing)):
        generate_sample_data(landing, sales_lines=1000, months=2)
    assert [p.name for p in landing.rglob("*")] == ["sales_lines", "mine.csv"]
    assert (landing / "sales_lines" / "mine.csv").read_text(encoding="utf-8") == "precious\n"


def test_writes_into_an_existing_empty_folder_and_other_ranges(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    summary = generate_sample_data(landing, sales_lines=1000, end_month="2025-02", months=3, seed=7)
    assert (summary.first_month, summary.last_month) == ("2024-12", "2025-02")
    assert summary.files["sales_lines"] == [
        "sales_lines/sales_lines_2024-12.csv",
        "sales_lines/sales_lines_2025-01.parquet",
        "sales_lines/sales_lines_2025-02.parquet",
        "sales_lines/sales_lines_2024-12_extra.csv",  # the one planted line naming no employee
    ]
    assert summary.files["complaints"] == [
        "complaints/complaints_2024-Q4.csv",
        "complaints/complaints_2025-Q1.parquet",
        "complaints/complaints_2024-Q4_extra.csv",
    ]
    returns = duckdb.execute(
        f"select max(return_date) from read_parquet('{landing}/returns/*.parquet')"
    ).fetchone()[0]
    assert returns <= dt.date(2025, 2, 28)
    with pytest.raises(ValueError, match="YYYY-MM"):
        generate_sample_data(tmp_path / "other", end_month="2025-13")


def test_file_layout_mixes_csv_and_parquet(sample: SampleDataSummary) -> None:
    assert (sample.first_month, sample.last_month) == ("2024-01", "2025-12")
    assert sample.files["org_units"] == ["org_units/org_units.csv"]
    assert sample.files["products"] == ["products/products.csv"]
    assert sample.files["employees"] == ["employees/employees.csv"]
    # One extra file with one planted row naming no employee (the regular files stay as without people).
    assert sample.files["sales_lines"][-1] == "sales_lines/sales_lines_2024-06_extra.csv"
    assert sample.files["complaints"][-1] == "complaints/complaints_2024-Q4_extra.csv"
    regular = {
        entity: [f for f in files if not f.endswith("_extra.csv")] for entity, files in sample.files.items()
    }
    for entity in ("sales_lines", "returns", "inventory_snapshots"):
        assert len(regular[entity]) == 24
        assert regular[entity][0] == f"{entity}/{entity}_2024-01.csv"
        assert regular[entity][-1] == f"{entity}/{entity}_2025-12.parquet"
    for entity in ("survey_responses", "complaints", "training_records", "engagement_surveys"):
        assert regular[entity][0] == f"{entity}/{entity}_2024-Q1.csv"
        assert regular[entity][-1] == f"{entity}/{entity}_2025-Q4.parquet"
        assert len(regular[entity]) == 8
    for entity, files in sample.files.items():
        for rel in files:
            assert (sample.landing_dir / rel).is_file(), rel
            assert rel.startswith(f"{entity}/")


def test_hierarchy_and_catalogue(con: duckdb.DuckDBPyConnection) -> None:
    counts = dict(con.execute("select unit_type, count(*) from clean_org_units group by 1").fetchall())
    assert counts["company"] == 1
    assert counts["region"] >= 3
    assert counts["store"] >= 12
    assert counts["warehouse"] >= 2
    roots = con.execute("select org_unit_id from clean_org_units where parent_id is null").fetchall()
    assert roots == [("HQ",)]
    assert _one(con, "select count(*) from clean_org_units where name_zh is null") == 0
    parents = con.execute(
        "select distinct p.unit_type from clean_org_units u "
        "join clean_org_units p on u.parent_id = p.org_unit_id where u.unit_type in ('store', 'warehouse')"
    ).fetchall()
    assert parents == [("region",)]
    skus, categories = con.execute("select count(*), count(distinct category) from clean_products").fetchone()
    assert skus >= 200
    assert categories >= 8


def test_sales_volume_and_shape(sample: SampleDataSummary, con: duckdb.DuckDBPyConnection) -> None:
    good = sample.rows["sales_lines"] - sample.bad_rows_by_entity()["sales_lines"]
    assert abs(good - SALES_LINES) <= 0.05 * SALES_LINES
    assert _one(con, "select count(*) from clean_sales_lines") == good
    months = con.execute("select count(distinct strftime(order_date::date, '%Y-%m')) from clean_sales_lines")
    assert months.fetchone()[0] == 24
    sellers = con.execute(
        "select distinct o.unit_type from clean_sales_lines s join clean_org_units o using (org_unit_id)"
    ).fetchall()
    assert sellers == [("store",)]
    max_line, anonymous, discounted, channels = con.execute(
        """
        select max(line_no::int),
               avg((customer_id is null)::int) filter (where line_no = '1'),
               avg((discount_amount::decimal(18,4) > 0)::int),
               list(distinct channel order by channel)
        from clean_sales_lines
        """
    ).fetchone()
    assert max_line <= 5
    assert 0.08 <= anonymous <= 0.22
    assert 0.18 <= discounted <= 0.32
    assert channels == ["online", "store"]
    # Discounts are below the line's gross; later year sells more than the first (growth).
    assert (
        _one(
            con,
            "select count(*) from clean_sales_lines "
            "where discount_amount::decimal(18,2) >= quantity::int * unit_price::decimal(18,2)",
        )
        == 0
    )
    by_year = dict(
        con.execute("select left(order_date, 4), count(*) from clean_sales_lines group by 1").fetchall()
    )
    assert by_year["2025"] > by_year["2024"]


def test_returns_and_stockout_shares(con: duckdb.DuckDBPyConnection) -> None:
    returns = _one(con, "select count(*) from clean_returns")
    lines = _one(con, "select count(*) from clean_sales_lines")
    assert 0.02 <= returns / lines <= 0.05
    late = _one(
        con,
        "select count(*) from clean_returns r join clean_sales_lines s using (order_id, line_no) "
        "where r.return_date::date > s.order_date::date + 40",
    )
    assert late == 0
    zeros = _one(con, "select avg((on_hand_qty::int = 0)::int) from clean_inventory_snapshots")
    assert 0.02 <= zeros <= 0.04
    per_store = _one(
        con,
        "select min(n) from (select org_unit_id, count(distinct sku) n from clean_inventory_snapshots "
        "where org_unit_id like 'ST-%' group by 1)",
    )
    assert per_store >= 20


def test_satisfaction_data(con: duckdb.DuckDBPyConnection) -> None:
    both_missing = _one(
        con, "select count(*) from clean_survey_responses where nps_score is null and csat_score is null"
    )
    assert both_missing == 0
    nps = _one(
        con,
        "select 100 * (avg((nps_score::int >= 9)::int) - avg((nps_score::int <= 6)::int)) "
        "from clean_survey_responses",
    )
    assert 10 <= nps <= 55
    open_share = _one(con, "select avg((resolved_at is null)::int) from clean_complaints")
    assert open_share < 0.15
    before_end = _one(
        con, "select count(*) from clean_survey_responses where response_date::date > date '2025-12-31'"
    )
    assert before_end == 0


def test_planted_rows_are_where_the_summary_says(sample: SampleDataSummary) -> None:
    by_entity = sample.bad_rows_by_entity()
    assert by_entity == {
        "org_units": 1,
        "products": 1,
        "employees": 9,
        "sales_lines": 10,
        "returns": 3,
        "inventory_snapshots": 2,
        "survey_responses": 3,
        "complaints": 3,
        "training_records": 3,
        "engagement_surveys": 3,
    }
    with (sample.landing_dir / "org_units/org_units.csv").open(encoding="utf-8", newline="") as f:
        units = {row["org_unit_id"] for row in csv.DictReader(f) if row["parent_id"] != "R-XX"}
    with (sample.landing_dir / "products/products.csv").open(encoding="utf-8", newline="") as f:
        skus = {row["sku"] for row in csv.DictReader(f) if row["category"]}
    with (sample.landing_dir / "employees/employees.csv").open(encoding="utf-8", newline="") as f:
        employees = {
            row["employee_id"] for row in csv.DictReader(f) if row["name"] not in ("", "Planted Row")
        }
    checks = {
        "quantity is not an integer": lambda r: r["quantity"] == "abc",
        "quantity is 0": lambda r: r["quantity"] == "0",
        "unit_price is negative": lambda r: r["unit_price"].startswith("-"),
        "order_date is not a date": lambda r: _not_a_date(r["order_date"]),
        "unknown org_unit_id": lambda r: r["org_unit_id"] not in units,
        "unknown sku": lambda r: r["sku"] not in skus,
        "order_id is missing": lambda r: r["order_id"] is None,
        "duplicate key": lambda r: r["order_id"].startswith("SO-"),
        "orphan return": lambda r: r["return_id"].startswith("RT-"),
        "return_date before": lambda r: r["return_id"].startswith("RT-"),
        "returns of the line exceed": lambda r: int(r["quantity"]) >= 1,
        "on_hand_qty is negative": lambda r: int(r["on_hand_qty"]) < 0,
        "nps_score is 11": lambda r: r["nps_score"] == "11",
        "csat_score is 0": lambda r: r["csat_score"] == "0",
        "neither nps_score nor csat_score": lambda r: r["nps_score"] is None and r["csat_score"] is None,
        "resolved_at before opened_at": lambda r: r["resolved_at"] < r["opened_at"],
        "unknown parent_id": lambda r: r["parent_id"] == "R-XX",
        "category is missing": lambda r: r["category"] is None,
        "fte is 0": lambda r: r["fte"] == "0",
        "fte is above 1": lambda r: float(r["fte"]) > 1,
        "leave_date before hire_date": lambda r: r["leave_date"] < r["hire_date"],
        "unknown manager_id": lambda r: r["manager_id"] not in employees,
        "name is missing": lambda r: r["name"] is None,
        "hire_date contradicts": lambda r: r["employee_id"] in employees,
        "manager_id cycle": lambda r: r["manager_id"] is not None and r["employee_id"] not in employees,
        "hours is 0": lambda r: r["hours"] == "0",
        "hours is above 200": lambda r: float(r["hours"]) > 200,
        "unknown employee_id": lambda r: r["employee_id"] not in employees,
        "enps_score is 11": lambda r: r["enps_score"] == "11",
        "enps_score is not an integer": lambda r: r["enps_score"] == "7.5",
        "unknown salesperson_id": lambda r: r["salesperson_id"] not in employees,
        "unknown handler_id": lambda r: r["handler_id"] not in employees,
    }
    per_file: dict[str, int] = {}
    for bad in sample.bad_rows:
        assert bad.file.endswith(".csv") and bad.file.startswith(f"{bad.entity}/")
        (_, _), row = _planted_row(sample, bad.file, bad.line)
        matching = [check for prefix, check in checks.items() if bad.reason.startswith(prefix)]
        assert len(matching) == 1, bad.reason
        assert matching[0](row), f"{bad.file}:{bad.line} is not a row with {bad.reason}: {row}"
        per_file[bad.file] = per_file.get(bad.file, 0) + 1
    # At most two per file of a fact; the roster's one file holds a row of each of its kinds.
    assert max(n for file, n in per_file.items() if not file.startswith("employees/")) <= 2
    duplicates = [b for b in sample.bad_rows if b.reason.startswith("duplicate key")]
    assert len(duplicates) == 2 and duplicates[0].file == duplicates[1].file
    assert sum(sample.rows.values()) > len(sample.bad_rows)


def _not_a_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return True
    return False


def test_the_extractor_quarantines_exactly_the_planted_rows(
    sample: SampleDataSummary, con: duckdb.DuckDBPyConnection
) -> None:
    """Everything outside the planted rows is valid (types, ranges, unique keys, resolving references,
    entity rules), and every planted row is caught, no matter where in the file it sits."""
    assert _flagged(con) == {(b.file, b.line) for b in sample.bad_rows}
    # The bad unit and the bad product are referenced by nothing.
    assert _one(con, "select count(*) from clean_sales_lines where org_unit_id = 'ST-099'") == 0
    for entity, column in [("sales_lines", "sku"), ("inventory_snapshots", "sku")]:
        bad_skus = _one(con, f"select count(*) from clean_{entity} where {column} = 'SKU-10999'")
        assert bad_skus == 0


@pytest.mark.parametrize(
    "arguments",
    [
        {"sales_lines": 1200, "end_month": "2025-03", "months": 5, "seed": 3},
        {"sales_lines": 2000, "seed": 11, "bad_rows": False},
    ],
    ids=["five-months", "no-bad-rows"],
)
def test_other_arguments_are_valid_too(arguments: dict, tmp_path: Path) -> None:
    summary = generate_sample_data(tmp_path / "landing", **arguments)
    if arguments.get("bad_rows", True):
        assert summary.bad_rows_by_entity()["sales_lines"] == 10
    else:
        assert summary.bad_rows == []
    assert _flagged(_load(summary, tmp_path)) == {(b.file, b.line) for b in summary.bad_rows}


def test_people_data(con: duckdb.DuckDBPyConnection) -> None:
    """A roster of every role with hires, leavers, transfers and FTE changes; salespeople on most
    store lines, active in that store that day; handlers that are service agents; training and
    pulse answers of active staff."""
    roles = dict(
        con.execute("select role, count(distinct employee_id) from clean_employees group by 1").fetchall()
    )
    assert set(roles) == {
        "regional_manager", "store_manager", "sales_associate", "service_agent", "warehouse_manager",
        "warehouse_staff",
    }  # fmt: skip
    assert roles["store_manager"] == 16
    per_store = con.execute(
        """
        select min(n) from (select org_unit_id, count(distinct employee_id) as n from clean_employees e
                            join clean_org_units using (org_unit_id) where unit_type = 'store' group by 1)
        """
    ).fetchone()[0]
    assert per_store >= 5
    leavers, hires, changed = con.execute(
        """
        select count(distinct employee_id) filter (where leave_date is not null),
               count(distinct employee_id) filter (where hire_date >= '2024-01-01'),
               count(*) - count(distinct employee_id)
        from clean_employees
        """
    ).fetchone()
    assert leavers >= 10 and hires >= 10 and changed >= 3
    assert _one(con, "select count(*) from clean_employees where hire_date > valid_from") == 0
    attributed, in_own_store = con.execute(
        """
        with line as (
            select s.order_date::date as day, s.org_unit_id, s.salesperson_id, s.channel from clean_sales_lines s
        ),
        in_effect as (
            select l.day, l.salesperson_id, e.org_unit_id, e.role, e.hire_date::date as hire_date,
                   e.leave_date::date as leave_date
            from line l join clean_employees e on e.employee_id = l.salesperson_id and e.valid_from::date <= l.day
            qualify row_number() over (partition by l.day, l.salesperson_id, l.org_unit_id
                                       order by e.valid_from desc) = 1
        )
        select avg((salesperson_id is not null)::int) filter (where channel = 'store'),
               (select avg((i.org_unit_id = l.org_unit_id and i.role = 'sales_associate'
                            and l.day between i.hire_date and coalesce(i.leave_date, l.day))::int)
                from line l join in_effect i using (day, salesperson_id))
        from line
        """
    ).fetchone()
    assert attributed > 0.9
    assert 0.95 < in_own_store < 1.0  # a few lines sold by an associate of another store
    assert (
        _one(
            con,
            "select count(*) from clean_sales_lines where channel = 'online' and salesperson_id is not null",
        )
        == 0
    )
    handlers = con.execute(
        "select distinct e.role from clean_complaints c join clean_employees e on e.employee_id = c.handler_id"
    ).fetchall()
    assert handlers == [("service_agent",)]
    assert _one(con, "select avg((handler_id is not null)::int) from clean_complaints") > 0.8
    assert _one(con, "select count(*) from clean_training_records") > 50
    distinct_scores, answers = con.execute(
        "select count(distinct enps_score), count(*) from clean_engagement_surveys"
    ).fetchone()
    assert distinct_scores >= 6 and answers > 100
