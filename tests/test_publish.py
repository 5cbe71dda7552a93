"""The publisher: versions, restatements, the gate, atomic replacement and old readers (no dbt).

Each test builds a tiny staged warehouse with DuckDB SQL: three KPIs, two org units, two months
and a quarter. Set KPI_OLD_DUCKDB_PYTHON to a Python interpreter with an older DuckDB installed
(e.g. `python3 -m venv /tmp/duck1 && /tmp/duck1/bin/pip install 'duckdb==1.1.3'`) to check that
it opens the published file.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from dagster_project.audit.provenance import KpiInput, RunProvenance, SourceText
from dagster_project.audit.verify import verify_published
from dagster_project.publish import writer as publisher
from dagster_project.publish.contract import CONTRACT_TABLES, PUBLISHED_TABLES, STAGED_CONTRACTS
from dagster_project.publish.files import STORAGE_VERSION, parquet_dir, published_path
from dagster_project.publish.gate_results import CheckResult, GateResult
from dagster_project.publish.writer import PublicationReport, PublishError, publish_scorecards
from dagster_project.settings import PROJECT_ROOT
from tests.helpers import warehouse_from_sql

JAN = date(2025, 1, 1)
FEB = date(2025, 2, 1)
Q1 = date(2025, 1, 1)
PERIODS = [("month", JAN), ("month", FEB), ("quarter", Q1)]
T0 = datetime(2025, 3, 5, 6, 0, tzinfo=UTC)

STAGED_SQL = """
create schema scorecard;
create schema kpi;
create table scorecard.scorecard as
with periods(period_grain, period_start, period_end, period_label) as (
    values ('month', date '2025-01-01', date '2025-01-31', '2025-01'),
           ('month', date '2025-02-01', date '2025-02-28', '2025-02'),
           ('quarter', date '2025-01-01', date '2025-03-31', '2025-Q1')
), units(org_unit_id, org_unit_name, org_unit_name_zh, unit_type, parent_org_unit_id) as (
    values ('HQ', 'Company', '公司', 'company', null), ('S1', 'Store 1', '一店', 'store', 'HQ')
), kpis(kpi_id, kpi_label, kpi_label_zh, perspective, unit, polarity, decimals, weight) as (
    values ('net_revenue', 'Net revenue', '净收入', 'financial', 'currency', 'higher_is_better', 0, 2.0),
           ('nps', 'NPS', '净推荐值', 'customer', 'score', 'higher_is_better', 0, 1.0),
           ('return_rate', 'Return rate', '退货率', 'internal_process', 'percent', 'lower_is_better', 1, 1.0)
), base as (
    select p.*, u.*, k.*,
           -- a double that needs all 17 digits, so a hash that rounds would miss a change
           100.0 / 3 + length(u.org_unit_id) + length(k.kpi_id) * 1.5 + day(p.period_end) as actual
    from periods as p cross join units as u cross join kpis as k
)
select
    period_grain, period_start, period_end, period_label,
    org_unit_id, org_unit_name, org_unit_name_zh, unit_type, parent_org_unit_id,
    kpi_id, kpi_label, kpi_label_zh, perspective, unit, polarity, decimals::integer as decimals,
    actual, actual * 10 as numerator, 10.0 as denominator, 40::bigint as sample_size, 'ok' as value_status,
    50.0 as target, date '2024-01-01' as target_effective_from, 'cfo' as target_set_by,
    actual / 50.0 as attainment, case when actual >= 50 then 'green' else 'amber' end as status,
    case when actual >= 50 then 2 else 1 end::integer as points,
    actual - 1 as prior_period_actual, 1.0 as change_vs_prior_period,
    null::double as prior_year_actual, null::double as change_vs_prior_year, weight,
    'ignored by the publisher' as extra_staging_column
from base;
create table scorecard.scorecard_scores as
select period_grain, period_start, org_unit_id, perspective,
       avg(points)::double as score, count(*)::integer as kpis_scored
from scorecard.scorecard
group by all
union all
select period_grain, period_start, org_unit_id, 'overall', avg(points)::double, count(*)::integer
from scorecard.scorecard
group by all;
-- What the lineage needs: the batch log, the org hierarchy and which batch fed which unit and month.
create schema audit;
create schema intermediate;
create schema lineage;
create table audit.load_batches as
select * from (values
    (1, 'sales_lines', 'sales_lines/2025-01.csv', '/landing/sales_lines/2025-01.csv', 'csv', 1200, 'a1', 'loaded', 10, 9, 1, timestamp '2025-02-01 05:00', 'extract-0'),
    (2, 'sales_lines', 'sales_lines/2025-02.csv', '/landing/sales_lines/2025-02.csv', 'csv', 1100, 'b2', 'loaded', 8, 8, 0, timestamp '2025-03-01 05:00', 'extract-1'),
    (3, 'sales_lines', 'sales_lines/broken.csv', '/landing/sales_lines/broken.csv', 'csv', 10, 'c3', 'failed', null, null, null, timestamp '2025-03-01 05:00', 'extract-1')
) as b(batch_id, entity, file_name, file_path, file_format, file_size_bytes, sha256, status, rows_read,
       rows_loaded, rows_quarantined, loaded_at, dagster_run_id);
create table intermediate.int_org_unit_closure as
select * from (values ('HQ', 'HQ'), ('HQ', 'S1'), ('S1', 'S1')) as c(ancestor_org_unit_id, org_unit_id);
create table lineage.batch_contributions as
select * from (values
    ('sales_lines', 1::bigint, 'S1', date '2025-01-01', 9::bigint),
    ('sales_lines', 2::bigint, 'S1', date '2025-02-01', 8::bigint)
) as c(semantic_model, load_batch_id, org_unit_id, month_start, row_count);
-- the early-warning model's output (dbt model kpi_alerts): one alert per period for S1's NPS
create table scorecard.kpi_alerts as
select kpi_id, kpi_label, kpi_label_zh, org_unit_id, org_unit_name, org_unit_name_zh,
       period_grain, period_start, period_label, unit, polarity, decimals, actual as value,
       60.0 as expected_low, 90.0 as expected_high, 75.0 as history_median, 12 as history_periods,
       -4.2 as robust_z, 'green' as prior_status, status, 'robust_z' as detected_rule,
       'warning' as severity, 'below the expected range 60 to 90' as reason, 'Customer experience' as owner
from scorecard.scorecard where kpi_id = 'nps' and org_unit_id = 'S1';
create table kpi.kpi_dictionary as
select * from (values
    ('net_revenue', 'Net revenue', 'sum(net_amount)', 1),
    ('nps', 'NPS', 'promoters - detractors', 1),
    ('return_rate', 'Return rate', 'returned / sold', 2)
) as d(kpi_id, label, formula, definition_version);
"""


# --- fixtures and helpers --------------------------------------------------------------------------


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return warehouse_from_sql(tmp_path / "warehouse.duckdb", STAGED_SQL)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def publish(warehouse: Path, data_dir: Path) -> Callable[..., PublicationReport]:
    """Publish with a passing gate unless told otherwise; each call one minute later."""
    calls = iter(range(1000))

    def _publish(
        gate: GateResult | None = None, run_id: str | None = None, **kwargs: object
    ) -> PublicationReport:
        n = next(calls)
        run = run_id or f"run-{n}"
        return publish_scorecards(
            warehouse,
            data_dir,
            gate or passing_gate(),
            run_id=run,
            published_at=T0.replace(minute=n),
            **{"provenance": provenance(run), **kwargs},  # type: ignore[arg-type]
        )

    return _publish


def provenance(run_id: str) -> RunProvenance:
    """A run's provenance as the pipeline records it, without dbt: a definition file and the KPIs' inputs."""
    return RunProvenance(
        run_id=run_id,
        recorded_at=T0.replace(tzinfo=None),
        git_commit="0123abc",
        git_dirty=False,
        versions={"dbt-core": "1.11.16"},
        dbt=None,
        files=(SourceText(kind="metrics", path="kpi_definitions/metrics/x.yml", text="metrics: []\n"),),
        kpi_inputs=tuple(
            KpiInput(kpi, kpi, "sales_lines", "fct_sales_lines", ("sales_lines",), 0)
            for kpi in ("net_revenue", "nps", "return_rate")
        ),
    )


def check(
    period: tuple[str, date] | None, *, success: bool = True, severity: str = "critical"
) -> CheckResult:
    grain, start = period or (None, None)
    return CheckResult(
        suite="scorecard",
        expectation="expect_column_values_to_not_be_null"
        if success
        else "expect_column_values_to_be_between",
        table="scorecard.scorecard",
        severity=severity,
        success=success,
        period_grain=grain,
        period_start=start,
        observed_value="0" if success else "2 rows",
        failing_rows_sample=None if success else json.dumps([{"kpi_id": "nps", "actual": -250.0}]),
        details=None if success else "nps out of [-100, 100]",
    )


def passing_gate() -> GateResult:
    return GateResult.from_checks([check(period) for period in PERIODS] + [check(None)])


def query(data_dir: Path, sql: str, parameters: list | None = None) -> list[tuple]:
    with duckdb.connect(str(published_path(data_dir)), read_only=True) as con:
        return con.execute(sql, parameters or []).fetchall()


def scalar(data_dir: Path, sql: str, parameters: list | None = None) -> object:
    return query(data_dir, sql, parameters)[0][0]


def query_warehouse(warehouse: Path, sql: str, parameters: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, parameters or []).fetchall()


def set_actual(
    warehouse: Path, grain: str, start: date, kpi_id: str, org_unit_id: str, actual: float
) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update scorecard.scorecard set actual = ? "
            "where period_grain = ? and period_start = ? and kpi_id = ? and org_unit_id = ?",
            [actual, grain, start, kpi_id, org_unit_id],
        )


def staged_count(warehouse: Path, table: str, grain: str | None = None, start: date | None = None) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        if grain is None:
            return con.execute(f"select count(*) from scorecard.{table}").fetchone()[0]  # type: ignore[index]
        return con.execute(  # type: ignore[index]
            f"select count(*) from scorecard.{table} where period_grain = ? and period_start = ?",
            [grain, start],
        ).fetchone()[0]


# --- versions ----------------------------------------------------------------------------------------


def test_first_publication_publishes_every_period_as_version_1(
    publish: Callable[..., PublicationReport], warehouse: Path, data_dir: Path
) -> None:
    report = publish(reason_context="first close")

    assert report.published_path == data_dir / "published.duckdb"
    assert [(p.period_grain, p.period_start) for p in report.periods] == sorted(PERIODS)
    assert {(p.outcome, p.version, p.publication_reason) for p in report.periods} == {
        ("published", 1, "initial")
    }
    assert all("first close" in p.reason for p in report.periods)
    assert not (data_dir / "published.duckdb.next").exists()

    assert scalar(data_dir, "select count(*) from scorecard") == staged_count(warehouse, "scorecard")
    assert scalar(data_dir, "select count(*) from scorecard_scores") == staged_count(
        warehouse, "scorecard_scores"
    )
    assert scalar(data_dir, "select count(*) from scorecard_history") == staged_count(warehouse, "scorecard")
    assert query(data_dir, "select distinct publication_version, published_at from scorecard") == [
        (1, datetime(2025, 3, 5, 6, 0))  # UTC, stored without a zone
    ]
    publications = query(
        data_dir,
        "select period_grain, period_start, period_label, version, reason, row_count, run_id, "
        "checks_passed, checks_warned, content_hash from publications order by all",
    )
    assert [row[:8] for row in publications] == [
        ("month", JAN, "2025-01", 1, "initial", 6, "run-0", 2),
        ("month", FEB, "2025-02", 1, "initial", 6, "run-0", 2),
        ("quarter", Q1, "2025-Q1", 1, "initial", 6, "run-0", 2),
    ]
    assert all(re.fullmatch("[0-9a-f]{64}", row[9]) for row in publications)
    assert len({row[9] for row in publications}) == 3
    assert scalar(data_dir, "select count(*) from publication_attempts where outcome = 'published'") == 3
    assert scalar(data_dir, "select count(*) from check_results where run_id = 'run-0'") == 4
    assert scalar(data_dir, "select count(*) from kpi_dictionary") == 3
    # the staging model's extra column stays out of the BI contract
    assert "extra_staging_column" not in [r[0] for r in query(data_dir, "describe scorecard")]


def test_published_tables_have_the_contract_columns_and_types(
    publish: Callable[..., PublicationReport], data_dir: Path
) -> None:
    publish()
    for table, columns in CONTRACT_TABLES.items():
        described = [(name, sql_type.lower()) for name, sql_type, *_ in query(data_dir, f"describe {table}")]
        assert described == list(columns), table


def test_parquet_copies_are_readable_and_match_the_tables(
    publish: Callable[..., PublicationReport], data_dir: Path
) -> None:
    publish()
    publish(gate=GateResult.from_checks([check(("month", FEB), success=False)]))  # attempts and checks grow
    folder = parquet_dir(data_dir)
    assert folder == data_dir / "published" / "parquet"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{t}.parquet" for t in PUBLISHED_TABLES)
    with duckdb.connect(str(published_path(data_dir)), read_only=True) as con:
        for table in PUBLISHED_TABLES:
            in_file = con.execute(f"select count(*) from {table}").fetchone()
            in_parquet = con.execute(
                "select count(*) from read_parquet(?)", [str(folder / f"{table}.parquet")]
            ).fetchone()
            assert in_file == in_parquet, table
            assert in_file and in_file[0] > 0, table
        assert (
            con.execute(
                "select * from read_parquet(?) except select * from scorecard",
                [str(folder / "scorecard.parquet")],
            ).fetchall()
            == []
        )


def test_identical_rerun_creates_nothing_new(
    publish: Callable[..., PublicationReport], warehouse: Path, data_dir: Path
) -> None:
    publish()
    before = query(data_dir, "select * from publications order by all")
    history = scalar(data_dir, "select count(*) from scorecard_history")

    report = publish()

    assert {(p.outcome, p.version) for p in report.periods} == {("unchanged", 1)}
    assert all(p.reason.startswith("unchanged: content identical to version 1") for p in report.periods)
    assert query(data_dir, "select * from publications order by all") == before
    assert scalar(data_dir, "select count(*) from scorecard_history") == history
    assert query(data_dir, "select distinct publication_version from scorecard") == [(1,)]
    attempts = query(
        data_dir, "select attempt_id, run_id, outcome, version from publication_attempts order by 1"
    )
    assert [a[0] for a in attempts] == [1, 2, 3, 4, 5, 6]
    assert [(a[1], a[2], a[3]) for a in attempts[3:]] == [("run-1", "unchanged", 1)] * 3


def test_row_order_in_the_warehouse_does_not_change_the_hash(
    publish: Callable[..., PublicationReport], warehouse: Path
) -> None:
    publish()
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "create table scorecard.shuffled as select * from scorecard.scorecard order by kpi_id desc, actual"
        )
        con.execute("drop table scorecard.scorecard")
        con.execute("alter table scorecard.shuffled rename to scorecard")
    assert {p.outcome for p in publish().periods} == {"unchanged"}


def test_changed_value_restates_only_that_month(
    publish: Callable[..., PublicationReport], warehouse: Path, data_dir: Path
) -> None:
    first = publish()
    original = {
        unit: query_warehouse(
            warehouse,
            "select actual from scorecard.scorecard where period_grain = 'month' "
            "and period_start = ? and kpi_id = 'nps' and org_unit_id = ?",
            [FEB, unit],
        )[0][0]
        for unit in ("HQ", "S1")
    }
    # the smallest change a double can make: a hash over rounded text would miss it
    set_actual(warehouse, "month", FEB, "nps", "S1", math.nextafter(original["S1"], math.inf))
    set_actual(warehouse, "month", FEB, "nps", "HQ", 32.0)
    report = publish(run_id="late-survey-file", reason_context="late survey file")

    feb = report.outcome("month", FEB)
    assert (feb.outcome, feb.version, feb.publication_reason) == ("published", 2, "restatement")
    assert feb.content_hash != first.outcome("month", FEB).content_hash
    assert "content changed since version 1" in feb.reason and "late survey file" in feb.reason
    assert {(p.outcome, p.version) for p in report.periods if p.key != ("month", FEB)} == {("unchanged", 1)}

    assert query(
        data_dir,
        "select period_grain, period_start, version, reason, run_id from publications where version = 2",
    ) == [("month", FEB, 2, "restatement", "late-survey-file")]
    # history keeps version 1 beside version 2; the current table shows version 2 only
    assert query(
        data_dir,
        "select publication_version, actual from scorecard_history "
        "where period_start = ? and period_grain = 'month' and kpi_id = 'nps' and org_unit_id = 'HQ' order by 1",
        [FEB],
    ) == [(1, original["HQ"]), (2, 32.0)]
    assert query(
        data_dir,
        "select publication_version, actual, published_at from scorecard "
        "where period_start = ? and period_grain = 'month' and kpi_id = 'nps' and org_unit_id = 'HQ'",
        [FEB],
    ) == [(2, 32.0, datetime(2025, 3, 5, 6, 1))]
    assert query(
        data_dir,
        "select period_grain, period_start, publication_version, count(*) from scorecard group by all order by all",
    ) == [("month", JAN, 1, 6), ("month", FEB, 2, 6), ("quarter", Q1, 1, 6)]
    assert query(
        data_dir,
        "select distinct publication_version from scorecard_scores where period_start = ? and period_grain = 'month'",
        [FEB],
    ) == [(2,)]
    assert scalar(data_dir, "select count(*) from scorecard_history") == 18 + 6
    assert (
        scalar(data_dir, "select count(*) from scorecard_scores_history where publication_version = 2") == 8
    )

    # restating back to the old content is a new version too: versions are never reused
    for unit, actual in original.items():
        set_actual(warehouse, "month", FEB, "nps", unit, actual)
    third = publish().outcome("month", FEB)
    assert (third.outcome, third.version, third.publication_reason) == ("published", 3, "restatement")
    assert third.content_hash == first.outcome("month", FEB).content_hash


def test_a_restated_period_does_not_re_version_the_periods_compared_with_it(
    publish: Callable[..., PublicationReport], warehouse: Path, data_dir: Path
) -> None:
    """Issue 13 item 6: late January returns restate January; February (prior period January) and
    January a year later (prior year) are not restated: only their comparison columns change, and the
    current rows show January's new version while the history keeps what was published."""
    jan_next = date(2026, 1, 1)
    with duckdb.connect(str(warehouse)) as con:  # January 2026, prior year January 2025, as dbt would
        con.execute(
            "insert into scorecard.scorecard select * replace (date '2026-01-01' as period_start, "
            "date '2026-01-31' as period_end, '2026-01' as period_label, actual + 5 as actual, "
            "null as prior_period_actual, null as change_vs_prior_period) "
            "from scorecard.scorecard where period_grain = 'month' and period_start = ?",
            [JAN],
        )
        con.execute(
            "insert into scorecard.scorecard_scores select * replace (date '2026-01-01' as period_start) "
            "from scorecard.scorecard_scores where period_grain = 'month' and period_start = ?",
            [JAN],
        )
        link_comparisons(con)
    gate = GateResult.from_checks([*passing_gate().checks, check(("month", jan_next))])
    first = publish(gate=gate)
    assert {p.outcome for p in first.periods} == {"published"}

    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update scorecard.scorecard set actual = actual + 100 "
            "where period_grain = 'month' and period_start = ? and kpi_id = 'nps' and org_unit_id = 'S1'",
            [JAN],
        )
        link_comparisons(con)  # dbt recomputes the dependants' comparison columns
    report = publish(gate=gate, reason_context="late January returns")

    assert report.outcome("month", JAN).outcome == "published"
    assert report.outcome("month", JAN).version == 2
    for period in (("month", FEB), ("month", jan_next), ("quarter", Q1)):
        assert (report.outcome(*period).outcome, report.outcome(*period).version) == ("unchanged", 1), period
    jan_actual = scalar(
        data_dir,
        "select actual from scorecard where period_grain = 'month' and period_start = ? "
        "and kpi_id = 'nps' and org_unit_id = 'S1'",
        [JAN],
    )
    current = query(
        data_dir,
        "select period_start, publication_version, actual, prior_period_actual, change_vs_prior_period, "
        "prior_year_actual, change_vs_prior_year from scorecard "
        "where period_grain = 'month' and kpi_id = 'nps' and org_unit_id = 'S1' and period_start in (?, ?)",
        [FEB, jan_next],
    )
    by_start = {row[0]: row[1:] for row in current}
    feb_version, feb_actual, feb_prior, feb_change = by_start[FEB][:4]
    assert (feb_version, feb_prior, feb_change) == (1, jan_actual, feb_actual - jan_actual)
    next_version, next_actual, *_, next_prior_year, next_change_year = by_start[jan_next]
    assert (next_version, next_prior_year, next_change_year) == (1, jan_actual, next_actual - jan_actual)
    # the history keeps February as version 1 published it (January's version 1 actual)
    assert scalar(
        data_dir,
        "select prior_period_actual from scorecard_history where period_grain = 'month' and period_start = ? "
        "and kpi_id = 'nps' and org_unit_id = 'S1' and publication_version = 1",
        [FEB],
    ) == pytest.approx(jan_actual - 100)
    assert query(data_dir, "select count(*) from publications where version > 1") == [(1,)]
    assert scalar(data_dir, "select count(*) from scorecard_history where period_start = ?", [FEB]) == 12 // 2
    report = verify_published(published_path(data_dir))
    assert report.ok, report.findings


def test_a_restatement_records_whether_its_input_batches_changed(
    publish: Callable[..., PublicationReport], warehouse: Path, data_dir: Path
) -> None:
    """Issue 13 item 7: a warehouse row edited and re-run is not a plain restatement."""
    publish()
    set_actual(warehouse, "month", FEB, "nps", "HQ", 12.0)  # an edit of the warehouse, no new file
    edited = publish(reason_context="rerun").outcome("month", FEB)
    assert (edited.version, edited.inputs_changed) == (2, False)
    assert "inputs unchanged: the same source batches and row counts as version 1" in edited.reason
    assert edited.reason.endswith("; context: rerun")

    with duckdb.connect(str(warehouse)) as con:  # a late file: a new batch feeds February
        con.execute(
            "insert into audit.load_batches select * replace (4 as batch_id, 'd4' as sha256, "
            "'sales_lines/2025-02-late.csv' as file_name) from audit.load_batches where batch_id = 2"
        )
        con.execute(
            "insert into lineage.batch_contributions values ('sales_lines', 4, 'S1', date '2025-02-01', 3)"
        )
    set_actual(warehouse, "month", FEB, "nps", "HQ", 13.0)
    late = publish().outcome("month", FEB)
    assert (late.version, late.inputs_changed) == (3, True)
    assert "inputs unchanged" not in late.reason
    assert query(
        data_dir,
        "select version, reason, inputs_changed from publications where period_grain = 'month' "
        "and period_start = ? order by version",
        [FEB],
    ) == [(1, "initial", None), (2, "restatement", False), (3, "restatement", True)]
    assert scalar(
        data_dir, "select reason from publication_attempts where outcome = 'published' and version = 2"
    ).startswith("restatement: content changed since version 1")


def link_comparisons(con: duckdb.DuckDBPyConnection) -> None:
    """What dbt does: each staged row's prior-period and prior-year columns from the staged actuals."""
    con.execute("alter table scorecard.scorecard alter change_vs_prior_period type double")
    for column, change, months in (
        (
            "prior_period_actual",
            "change_vs_prior_period",
            "case c.period_grain when 'month' then 1 else 3 end",
        ),
        ("prior_year_actual", "change_vs_prior_year", "12"),
    ):
        con.execute(
            f"""
            update scorecard.scorecard as c set {column} = p.actual, {change} = c.actual - p.actual
            from scorecard.scorecard as p
            where p.kpi_id = c.kpi_id and p.org_unit_id = c.org_unit_id and p.period_grain = c.period_grain
              and p.period_start = cast(c.period_start - to_months({months}) as date)
            """
        )


def test_blocked_month_keeps_its_previous_version(
    publish: Callable[..., PublicationReport], warehouse: Path, data_dir: Path
) -> None:
    publish()
    published_feb = query(
        data_dir, "select * from scorecard where period_start = ? and period_grain = 'month'", [FEB]
    )
    set_actual(warehouse, "month", FEB, "nps", "HQ", -250.0)
    gate = GateResult.from_checks(
        [
            check(("month", JAN)),
            check(("month", FEB), success=False),
            check(("month", JAN), success=False, severity="warning"),
        ],
        checked_at=datetime(2025, 3, 5, 5, 59, tzinfo=UTC),
    )

    report = publish(gate=gate, run_id="bad-run")

    feb = report.outcome("month", FEB)
    assert (feb.outcome, feb.version) == ("blocked", 1)
    assert "1 critical check(s) failed: scorecard.expect_column_values_to_be_between" in feb.reason
    assert "version 1 stays published" in feb.reason
    assert [c.expectation for c in feb.failing_checks] == ["expect_column_values_to_be_between"]
    assert report.outcome("month", JAN).outcome == "unchanged"  # a warning does not block
    assert [p.key for p in report.blocked] == [("month", FEB)]

    assert (
        query(data_dir, "select * from scorecard where period_start = ? and period_grain = 'month'", [FEB])
        == published_feb
    )
    assert scalar(data_dir, "select max(publication_version) from scorecard_history") == 1
    assert scalar(data_dir, "select count(*) from publications") == 3
    attempt = query(
        data_dir,
        "select outcome, version, failing_checks, reason from publication_attempts where run_id = 'bad-run' "
        "and period_start = ? and period_grain = 'month'",
        [FEB],
    )[0]
    assert attempt[:2] == ("blocked", 1)
    failing = json.loads(attempt[2])
    assert [(f["expectation"], f["table_name"], f["severity"], f["period_start"]) for f in failing] == [
        ("expect_column_values_to_be_between", "scorecard.scorecard", "critical", "2025-02-01")
    ]
    assert json.loads(failing[0]["failing_rows_sample"]) == [{"kpi_id": "nps", "actual": -250.0}]
    assert query(
        data_dir,
        "select outcome, failing_checks from publication_attempts where run_id = 'bad-run' and outcome <> 'blocked'",
    ) == [
        ("unchanged", None),
        ("unchanged", None),
    ]
    checks = query(
        data_dir,
        "select checked_at, suite, expectation, table_name, period_grain, period_start, severity, success, "
        "observed_value, details from check_results where run_id = 'bad-run' order by period_start, success, severity",
    )
    assert len(checks) == 3
    assert checks[0][0] == datetime(2025, 3, 5, 5, 59)
    assert ("month", FEB, "critical", False, "2 rows", "nps out of [-100, 100]") in [c[4:] for c in checks]

    # the gate passes again: the held-back change is published as version 2
    assert publish().outcome("month", FEB).version == 2


def test_checks_passed_and_warned_are_counted_per_period(
    publish: Callable[..., PublicationReport], data_dir: Path
) -> None:
    gate = GateResult.from_checks(
        [
            check(("month", JAN)),
            check(("month", JAN), success=False, severity="warning"),
            check(None),  # global: counts for every period
            CheckResult(
                "scorecard",
                "expect_row_count",
                "scorecard.scorecard",
                "critical",
                True,
                period_grain="quarter",
            ),
        ]
    )
    publish(gate=gate)
    assert query(
        data_dir,
        "select period_grain, period_start, checks_passed, checks_warned from publications order by all",
    ) == [
        ("month", JAN, 2, 1),
        ("month", FEB, 1, 0),
        ("quarter", Q1, 2, 0),
    ]


def test_global_critical_failure_blocks_every_period_of_its_grain(
    publish: Callable[..., PublicationReport], data_dir: Path
) -> None:
    failed_for_months = CheckResult(
        "scorecard",
        "expect_table_row_count_to_be_between",
        "scorecard.scorecard",
        "critical",
        False,
        period_grain="month",
    )
    report = publish(gate=GateResult.from_checks([failed_for_months]))
    assert {p.key: (p.outcome, p.version) for p in report.periods} == {
        ("month", JAN): ("blocked", None),
        ("month", FEB): ("blocked", None),
        ("quarter", Q1): ("published", 1),
    }
    assert "never published" in report.outcome("month", JAN).reason
    assert query(data_dir, "select distinct period_grain from scorecard") == [("quarter",)]

    everything = CheckResult("scorecard", "expect_table_to_exist", "kpi.kpi_dictionary", "critical", False)
    assert {p.outcome for p in publish(gate=GateResult.from_checks([everything])).periods} == {"blocked"}


def test_a_period_the_caller_blocks_is_blocked_even_if_its_checks_pass(
    publish: Callable[..., PublicationReport],
) -> None:
    gate = GateResult.from_checks([check(("month", JAN))], blocked_periods=[("month", JAN)])
    january = publish(gate=gate).outcome("month", JAN)
    assert (january.outcome, january.failing_checks) == ("blocked", ())
    assert "the gate blocked the period" in january.reason


def test_check_result_rejects_what_the_publisher_cannot_place() -> None:
    with pytest.raises(ValueError, match="severity 'error' is not one of critical, warning"):
        CheckResult("s", "e", "t", "error", False)
    with pytest.raises(ValueError, match="period_grain 'week' is not one of month, quarter, year"):
        CheckResult("s", "e", "t", "critical", False, period_grain="week")
    with pytest.raises(ValueError, match="period_start 2025-01-01 needs a period_grain"):
        CheckResult("s", "e", "t", "critical", False, period_start=JAN)
    from_a_timestamp = CheckResult("s", "e", "t", "critical", False, "month", datetime(2025, 1, 1))
    assert from_a_timestamp.period_start == JAN
    assert GateResult.from_checks([from_a_timestamp]).is_blocked(("month", JAN))


# --- atomic replacement, failures, readers -------------------------------------------------------


def test_failed_publication_leaves_the_published_file_untouched(
    publish: Callable[..., PublicationReport],
    warehouse: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publish()
    before = published_path(data_dir).read_bytes()
    parquet_before = (parquet_dir(data_dir) / "scorecard.parquet").read_bytes()
    set_actual(warehouse, "month", FEB, "nps", "HQ", 1.0)

    write_parquet = publisher.write_parquet

    def broken(con: duckdb.DuckDBPyConnection, temporary_files: dict[str, Path]) -> None:
        write_parquet(con, dict(list(temporary_files.items())[:2]))  # two written, then the disk fills
        raise RuntimeError("disk full")

    monkeypatch.setattr(publisher, "write_parquet", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        publish()
    assert published_path(data_dir).read_bytes() == before
    assert (parquet_dir(data_dir) / "scorecard.parquet").read_bytes() == parquet_before
    assert sorted(p.name for p in data_dir.iterdir()) == [
        "published",
        "published.duckdb",
        "published.duckdb.lock",
    ]
    assert sorted(p.name for p in parquet_dir(data_dir).iterdir()) == sorted(
        f"{t}.parquet" for t in PUBLISHED_TABLES
    )


def test_missing_staged_table_is_a_clear_error(
    publish: Callable[..., PublicationReport], warehouse: Path, data_dir: Path
) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("drop table scorecard.scorecard_scores")
    with pytest.raises(
        PublishError, match=r"scorecard\.scorecard_scores not found in the warehouse .*build the scorecard"
    ):
        publish()
    assert not published_path(data_dir).exists()


def test_missing_staged_column_is_a_clear_error(
    publish: Callable[..., PublicationReport], warehouse: Path
) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("alter table scorecard.scorecard drop column target_set_by")
    with pytest.raises(PublishError, match=r"scorecard\.scorecard in .* lacks column\(s\) target_set_by"):
        publish()


def test_a_second_publisher_fails_at_once(publish: Callable[..., PublicationReport], data_dir: Path) -> None:
    fcntl = pytest.importorskip("fcntl")
    data_dir.mkdir(parents=True)
    with (data_dir / "published.duckdb.lock").open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(PublishError, match="another publication is running"):
            publish()
    assert publish().published


def test_a_wal_beside_the_published_file_stops_the_publisher(
    publish: Callable[..., PublicationReport], data_dir: Path
) -> None:
    publish()
    (data_dir / "published.duckdb.wal").write_bytes(b"")
    with pytest.raises(PublishError, match="opened the published file for writing"):
        publish()


HOLDER = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    def state():
        return con.execute(
            "select (select count(*) from scorecard_history), (select max(publication_version) from scorecard), "
            "(select count(*) from publications), (select count(*) from publication_attempts)"
        ).fetchone()
    print("before", *state(), flush=True)
    sys.stdin.readline()  # hold the file open until the test has published
    print("after", *state(), flush=True)
    """
)


def hold_and_publish(
    python: str, publish: Callable[..., PublicationReport], warehouse: Path, data_dir: Path
) -> tuple[list[str], list[str], float, PublicationReport]:
    """A reader in another process holds the published file open while a restatement is published."""
    reader = subprocess.Popen(
        [python, "-c", HOLDER, str(published_path(data_dir))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None and reader.stdin is not None
        before = reader.stdout.readline().split()
        assert before and before[0] == "before", reader.stderr.read() if reader.stderr else ""
        set_actual(warehouse, "month", FEB, "nps", "HQ", 32.0)
        started = time.monotonic()
        report = publish()
        elapsed = time.monotonic() - started
        reader.stdin.write("go\n")
        reader.stdin.flush()
        after = reader.stdout.readline().split()
        assert reader.wait(timeout=30) == 0, reader.stderr.read() if reader.stderr else ""
    finally:
        if reader.poll() is None:
            reader.kill()
    return before, after, elapsed, report


def test_a_reader_holding_the_file_never_blocks_the_publisher(
    publish: Callable[..., PublicationReport], warehouse: Path, data_dir: Path
) -> None:
    publish()
    before, after, elapsed, report = hold_and_publish(sys.executable, publish, warehouse, data_dir)

    assert report.outcome("month", FEB).version == 2
    assert elapsed < 20  # DuckDB never waits for a lock: a conflict would have raised at once
    # the held connection still sees the old publication, whole and consistent
    assert before == ["before", "18", "1", "3", "3"]
    assert after == ["after", "18", "1", "3", "3"]
    # a new connection sees the new one
    assert query(
        data_dir,
        "select (select count(*) from scorecard_history), (select max(publication_version) from scorecard), "
        "(select count(*) from publications), (select count(*) from publication_attempts)",
    ) == [(24, 2, 4, 6)]


# --- older readers ---------------------------------------------------------------------------------


def old_duckdb_python() -> str:
    python = os.environ.get("KPI_OLD_DUCKDB_PYTHON", "").strip()
    if not python:
        pytest.skip(
            "set KPI_OLD_DUCKDB_PYTHON to a Python with an older DuckDB to check old readers, e.g. "
            "python3 -m venv /tmp/duck1 && /tmp/duck1/bin/pip install 'duckdb==1.1.3' && "
            "KPI_OLD_DUCKDB_PYTHON=/tmp/duck1/bin/python"
        )
    return python


OLD_READER = textwrap.dedent(
    """
    import json, sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    tables = {}
    for table in sys.argv[2:]:
        columns = [(r[0], r[1].lower()) for r in con.execute(f"describe {table}").fetchall()]
        rows = con.execute(f"select * from {table}").fetchall()  # every value decodes
        tables[table] = {"columns": columns, "rows": len(rows)}
    sums = con.execute("select sum(actual), min(published_at)::varchar from scorecard_history").fetchone()
    print(json.dumps({"version": duckdb.__version__, "tables": tables, "sums": [sums[0], sums[1]]}))
    """
)


def test_the_published_file_opens_in_an_older_duckdb(
    publish: Callable[..., PublicationReport], warehouse: Path, data_dir: Path
) -> None:
    python = old_duckdb_python()
    publish()
    set_actual(warehouse, "month", FEB, "nps", "HQ", 32.0)
    publish()  # a file copied and written again keeps the old storage format
    with duckdb.connect(str(published_path(data_dir)), read_only=True) as con:
        tags = con.execute(
            "select tags from duckdb_databases() where not internal and database_name not in ('memory', 'temp')"
        ).fetchall()
        expected = {
            table: {
                "columns": [[n, t.lower()] for n, t, *_ in con.execute(f"describe {table}").fetchall()],
                "rows": con.execute(f"select count(*) from {table}").fetchone()[0],
            }  # type: ignore[index]
            for table in PUBLISHED_TABLES
        }
        sums = con.execute("select sum(actual), min(published_at)::varchar from scorecard_history").fetchone()
    assert [t[0]["storage_version"] for t in tags] == [f"{STORAGE_VERSION}+"]

    result = subprocess.run(
        [python, "-c", OLD_READER, str(published_path(data_dir)), *PUBLISHED_TABLES],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert not seen["version"].startswith("2."), f"KPI_OLD_DUCKDB_PYTHON has DuckDB {seen['version']}"
    assert seen["tables"] == expected
    assert seen["sums"][0] == pytest.approx(sums[0]) and seen["sums"][1] == sums[1]  # type: ignore[index]


def test_an_older_reader_holding_the_file_never_blocks_the_publisher(
    publish: Callable[..., PublicationReport], warehouse: Path, data_dir: Path
) -> None:
    python = old_duckdb_python()
    publish()
    before, after, _, report = hold_and_publish(python, publish, warehouse, data_dir)
    assert report.outcome("month", FEB).version == 2
    assert before[1:] == after[1:] == ["18", "1", "3", "3"]
    assert scalar(data_dir, "select max(publication_version) from scorecard") == 2


# --- documentation -------------------------------------------------------------------------------


def test_docs_describe_every_published_column() -> None:
    """docs/bi_tables.md has a section per table with one row per column, name and type as published."""
    text = (PROJECT_ROOT / "docs" / "bi_tables.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^### `(\w+)`\n(.*?)(?=^##)", text + "\n##", flags=re.M | re.S))
    assert sorted(sections) == sorted(PUBLISHED_TABLES)
    for table, columns in CONTRACT_TABLES.items():
        documented = re.findall(r"^\| `(\w+)` \| (\w+) \|", sections[table], flags=re.M)
        assert documented == [(name, sql_type) for name, sql_type in columns], table
    assert f"STORAGE_VERSION '{STORAGE_VERSION}'" in text


# The dbt names of the contract's types, and the Jinja/SQL type expressions of the models' casts.
DBT_TYPES = {
    "string": "varchar",
    "date": "date",
    "integer": "integer",
    "bigint": "bigint",
    "double": "double",
}
SQL_CAST_TYPES = {
    "{{ text }}": "varchar",
    "{{ dbt.type_string() }}": "varchar",
    "{{ double }}": "double",
    "{{ type_double() }}": "double",
    "{{ dbt.type_int() }}": "integer",
    "integer": "integer",
    "{{ dbt.type_bigint() }}": "bigint",
    "date": "date",
}


def test_the_dbt_contracts_and_casts_match_the_one_declaration() -> None:
    """Issue 21: the BI contract is declared once (publish/contract.py: STAGED_CONTRACTS); each staging model's
    enforced dbt contract (its YAML) and the casts of its final select name the same columns, in
    the same order, with the same types."""
    import yaml

    models_dir = PROJECT_ROOT / "dbt_project" / "models"
    declared_models: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(models_dir.rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models", []) or []:
            if model.get("name") in STAGED_CONTRACTS:
                assert (model.get("config") or {}).get("contract", {}).get("enforced") is True, (
                    f"{path}: model {model['name']} must enforce its dbt contract"
                )
                declared_models[model["name"]] = [
                    (c["name"], DBT_TYPES.get(c.get("data_type"), f"unknown dbt type {c.get('data_type')!r}"))
                    for c in model.get("columns", [])
                ]
    assert sorted(declared_models) == sorted(STAGED_CONTRACTS)
    cast = re.compile(r"\bas\s+(\{\{[^}]*\}\}|\w+)\)\s+as\s+(\w+)\s*,?\s*$", flags=re.M)
    for model, columns in STAGED_CONTRACTS.items():
        assert declared_models[model] == list(columns), (
            f"dbt contract of {model} differs from publish/contract.py"
        )
        (sql_path,) = models_dir.rglob(f"{model}.sql")
        casts: dict[str, tuple[int, str]] = {}
        for match in cast.finditer(sql_path.read_text(encoding="utf-8")):
            casts[match.group(2)] = (match.start(), SQL_CAST_TYPES.get(match.group(1), match.group(1)))
        missing = [name for name, _ in columns if name not in casts]
        assert not missing, f"{sql_path.name}: no final cast for {missing}"
        final = sorted((casts[name][0], name, casts[name][1]) for name, _ in columns)
        assert [(name, sql_type) for _, name, sql_type in final] == list(columns), (
            f"{sql_path.name}: the final select's casts differ from publish/contract.py's declaration"
        )
