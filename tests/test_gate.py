"""The quality gate: the GX workaround canary, fail-closed decisions, and gated publication end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import great_expectations as gx
import pytest

from dagster_project.audit.verify import verify_published
from dagster_project.defs.publish import PUBLISHED_KEY
from dagster_project.gate.runner import CheckSpec, blocked_periods, load_gate, run_check
from dagster_project.run.summary import RunSummary
from dagster_project.sample_data.generator import generate_sample_data
from dagster_project.settings import PROJECT_ROOT, Settings
from tests.conftest import BuiltWarehouse
from tests.helpers import run_dbt, run_pipeline_on, write_csv

CANARY = textwrap.dedent(
    """
    import json, sys, warnings
    warnings.filterwarnings("ignore")
    import duckdb, great_expectations as gx
    path, patched = sys.argv[1], sys.argv[2] == "patched"
    duckdb.connect(path).execute(
        "create or replace table t as select i, case when i % 10 = 0 then null else i end as v from range(100) r(i)"
    ).close()
    if patched:
        from dagster_project.gate.gx_duckdb import enable_duckdb_persisted_connection
        enable_duckdb_persisted_connection()
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_sql(name="w", connection_string=f"duckdb:///{path}")
    batch = source.add_query_asset(name="t", query="select * from t").add_batch_definition_whole_table("a").get_batch()
    result = batch.validate(gx.expectations.ExpectColumnValuesToNotBeNull(column="v"))
    print(json.dumps({"success": result.success, "unexpected_count": result.result.get("unexpected_count"),
                      "errors": json.dumps(result.exception_info, default=str)}))
    """
)


def _canary(tmp_path: Path, mode: str) -> dict:
    # A script file, not `python -c`: with pyspark installed (KPI_ENGINE=spark), importing GX under
    # `-c` reaches pyspark.sql.connect, which takes a main module without a file for a doctest run
    # and exits the process silently.
    script = tmp_path / "canary.py"
    script.write_text(CANARY, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / f"{mode}.duckdb"), mode],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_gx_duckdb_workaround_canary(tmp_path: Path) -> None:
    """Fails loudly when a GX upgrade fixes the defect (remove the workaround) or breaks the workaround."""
    assert gx.__version__ == "1.24.1", "the workaround in dagster_project/gate/gx_duckdb.py is for GX 1.24.1"
    unpatched = _canary(tmp_path, "unpatched")
    assert unpatched["unexpected_count"] is None and "list index out of range" in unpatched["errors"], (
        "GX now validates DuckDB without the workaround: remove dagster_project/gate/gx_duckdb.py"
    )
    patched = _canary(tmp_path, "patched")
    assert (patched["success"], patched["unexpected_count"]) == (False, 10)


def test_a_check_that_cannot_run_blocks_every_period(built_warehouse: BuiltWarehouse) -> None:
    gate = load_gate()
    broken = CheckSpec(
        name="broken", suite="kpi_bounds", asset=("kpi", "kpi_values"), query="select * from no_such_table",
        period_columns=("period_grain", "period_start"), row_columns=(), description="",
    )  # fmt: skip
    outcome = run_check(broken, built_warehouse.settings.warehouse_path, gate)
    assert not outcome.passed and outcome.blocks_everything
    assert outcome.expectations[0].errored
    periods = [("month", date(2025, 1, 1)), ("year", date(2024, 1, 1))]
    assert set(blocked_periods([outcome], periods)) == set(periods)


def test_a_failing_month_blocks_its_quarter_and_year_only(built_warehouse: BuiltWarehouse) -> None:
    gate = load_gate()
    spec = next(c for c in gate.checks if c.name == "kpi_bounds")
    # NPS over 100 in one month, as a broken computation would give.
    spec = CheckSpec(**{**spec.__dict__, "query": spec.query + " union all select 'month', date '2025-03-01', "
                        "'HQ', 'nps', 140.0, -100, 100, true"})  # fmt: skip
    outcome = run_check(spec, built_warehouse.settings.warehouse_path, gate)
    assert not outcome.blocks_everything
    assert outcome.blocked_periods == {("month", date(2025, 3, 1))}
    periods = [(g, date.fromisoformat(s)) for g, s in [
        ("month", "2025-03-01"), ("month", "2025-04-01"), ("quarter", "2025-01-01"),
        ("quarter", "2025-04-01"), ("year", "2025-01-01"), ("year", "2024-01-01")]]  # fmt: skip
    assert set(blocked_periods([outcome], periods)) == {
        ("month", date(2025, 3, 1)),
        ("quarter", date(2025, 1, 1)),
        ("year", date(2025, 1, 1)),
    }


def test_staging_integrity_blocks_the_months_of_a_repeated_key_and_an_unknown_org_unit(
    built_warehouse: BuiltWarehouse, tmp_path: Path
) -> None:
    """Plant a sales line delivered twice (2025-03) and one for an org unit that does not exist
    (2025-05) in a copy of the warehouse, rebuild the gate's staging table with dbt, and run the
    check: it blocks those two months (so their quarters and years), names the table, the repeated
    key and the counts, and passes the untouched months."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    warehouse = data_dir / "warehouse.duckdb"
    shutil.copyfile(built_warehouse.settings.warehouse_path, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        repeated_key = con.execute(
            """select order_id, line_no from raw.sales_lines
               where _superseded_by_batch_id is null and order_date >= date '2025-03-01' and order_date < date '2025-04-01'
               order by order_id, line_no limit 1"""
        ).fetchone()
        con.execute(
            "insert into raw.sales_lines select * from raw.sales_lines "
            "where order_id = ? and line_no = ? and _superseded_by_batch_id is null",
            list(repeated_key),
        )
        con.execute(
            """insert into raw.sales_lines
               select * replace ('ZZ-404' as org_unit_id, order_id || '-orphan' as order_id) from raw.sales_lines
               where _superseded_by_batch_id is null and order_date >= date '2025-05-01' and order_date < date '2025-06-01'
               limit 1"""
        )
    run_dbt("run", "--select", "gate_staging_integrity", "--target-path", str(tmp_path / "target"), "--quiet",
            data_dir=data_dir)  # fmt: skip

    gate = load_gate()
    spec = next(c for c in gate.checks if c.name == "staging_integrity")
    outcome = run_check(spec, warehouse, gate)
    assert not outcome.passed and not outcome.blocks_everything
    assert outcome.blocked_periods == {("month", date(2025, 3, 1)), ("month", date(2025, 5, 1))}
    failed = {e.expectation: e for e in outcome.expectations if not e.success}
    assert set(failed) == {
        "expect_column_values_to_be_in_set(duplicate_keys)",
        "expect_column_values_to_be_in_set(unknown_org_unit_rows)",
    }
    (duplicate,) = failed["expect_column_values_to_be_in_set(duplicate_keys)"].failing_rows_sample
    assert duplicate["table_name"] == "stg_sales_lines" and duplicate["period_start"] == "2025-03-01"
    assert duplicate["duplicate_keys"] == 1
    assert duplicate["duplicate_key_example"] == f"{repeated_key[0]}#{repeated_key[1]}"
    (orphan,) = failed["expect_column_values_to_be_in_set(unknown_org_unit_rows)"].failing_rows_sample
    assert orphan["table_name"] == "stg_sales_lines" and orphan["period_start"] == "2025-05-01"
    assert orphan["unknown_org_unit_rows"] == 1


def test_sample_data_publishes_every_complete_period(built_warehouse: BuiltWarehouse) -> None:
    summary = built_warehouse.summary
    assert [p.outcome for p in summary.publications] == ["published"] * 34
    assert {p.period_grain for p in summary.publications} == {"month", "quarter", "year"}
    with duckdb.connect(str(summary.published_path), read_only=True) as con:
        assert con.execute("select count(*), min(version), max(version) from publications").fetchone() == (
            34,
            1,
            1,
        )
        results = con.execute(
            "select count(*), count(*) filter (where not success) from check_results"
        ).fetchone()
    assert results[0] > 0
    assert summary.checks_failed == []


# --- write, audit, publish over several runs -------------------------------------------------------


@pytest.fixture(scope="module")
def landing_and_data(
    built_warehouse: BuiltWarehouse, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The built sample (every complete period published once), copied: the tests below change it."""
    return built_warehouse.copy_to(tmp_path_factory.mktemp("gated"))


def _versions(summary: RunSummary) -> dict[str, tuple[str, int | None]]:
    return {p.period_label: (p.outcome, p.version) for p in summary.publications}


def test_reruns_restatements_and_blocked_months(
    built_warehouse: BuiltWarehouse, landing_and_data: tuple[Path, Path]
) -> None:
    landing, data = landing_and_data
    first = built_warehouse.summary
    assert first.success and all(v == ("published", 1) for v in _versions(first).values())

    # The same data again: nothing new is published.
    settings, second = run_pipeline_on(landing, data)
    assert {outcome for outcome, _ in _versions(second).values()} == {"unchanged"}

    # Late returns for May sales, returned in June: June, Q2 and 2025 are restated as version 2.
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        lines = con.execute(
            """select order_id, line_no, quantity from raw.sales_lines
               where _superseded_by_batch_id is null and order_date between '2025-05-01' and '2025-05-31'
                 and (order_id, line_no) not in (select (order_id, line_no) from raw.returns)
               order by order_id, line_no limit 5"""
        ).fetchall()
    write_csv(
        landing / "returns" / "late_returns_2025-06.csv",
        [{"return_id": f"LATE-{i}", "order_id": o, "line_no": str(n), "return_date": "2025-06-15",
          "quantity": str(q), "refund_amount": "50"} for i, (o, n, q) in enumerate(lines)],
    )  # fmt: skip
    _, third = run_pipeline_on(landing, data)
    versions = _versions(third)
    for label in ("2025-06", "2025-Q2", "2025"):
        assert versions[label] == ("published", 2), label
    assert versions["2024-06"] == ("unchanged", 1)
    with duckdb.connect(str(third.published_path), read_only=True) as con:
        history = con.execute(
            """select publication_version, count(*) from scorecard_history
               where period_grain = 'month' and period_start = '2025-06-01' group by 1 order by 1"""
        ).fetchall()
        reason = con.execute(
            "select reason from publications where period_label = '2025-06' and version = 2"
        ).fetchone()
    assert [version for version, _ in history] == [1, 2] and history[0][1] == history[1][1]
    assert reason == ("restatement",)

    # A corrupted month: many bad sales lines in 2025-03 block March, Q1 and 2025; the rest publish
    # (or stay unchanged) and the blocked periods keep their last good version.
    bad = [
        {"order_id": f"BAD-{i}", "line_no": "1", "order_date": "2025-03-10", "customer_id": "", "org_unit_id": "ST-001",
         "sku": "NO-SUCH-SKU", "quantity": "1", "unit_price": "10", "discount_amount": "0", "unit_cost": "5",
         "channel": "store"}
        for i in range(40)
    ]  # fmt: skip
    write_csv(landing / "sales_lines" / "corrupted_2025-03.csv", bad)
    _, fourth = run_pipeline_on(landing, data)
    versions = _versions(fourth)
    assert {label for label, (outcome, _) in versions.items() if outcome == "blocked"} == {
        "2025-03",
        "2025-Q1",
        "2025",
    }
    assert versions["2025-02"][0] == "unchanged"
    with duckdb.connect(str(fourth.published_path), read_only=True) as con:
        current = con.execute(
            "select distinct publication_version from scorecard where period_label = '2025'"
        ).fetchall()
        failing = con.execute(
            """select failing_checks from publication_attempts
               where run_id = ? and period_label = '2025-03' and outcome = 'blocked'""",
            [fourth.run_id],
        ).fetchone()[0]
    assert current == [(2,)]  # the restated year stays, not the blocked attempt
    assert "quarantine_share" in failing


def test_kpi_run_exits_1_and_names_blocked_periods(landing_and_data: tuple[Path, Path]) -> None:
    """After the corrupted file above, `kpi run` reports the blocked periods and exits 1."""
    from typer.testing import CliRunner

    from dagster_project.cli.app import app
    from dagster_project.cli.common import EXIT_FAILED

    landing, data = landing_and_data
    if not (landing / "sales_lines" / "corrupted_2025-03.csv").exists():
        pytest.skip("runs after test_reruns_restatements_and_blocked_months")
    result = CliRunner().invoke(app, ["run", "--landing-dir", str(landing), "--data-dir", str(data)])
    output = " ".join(result.output.split())
    assert result.exit_code == EXIT_FAILED, output
    assert "blocked 2025-03" in output and "quarantine_share" in output


def test_expectation_suites_are_valid_gx_suites() -> None:
    gate = load_gate()
    for name, suite in gate.suites.items():
        built = gx.ExpectationSuite(name=suite["name"], expectations=suite["expectations"])
        assert built.name == name
        assert all(e["severity"] in ("critical", "warning") for e in suite["expectations"]), name


def test_as_of_publishes_only_periods_complete_by_then(
    built_warehouse: BuiltWarehouse, tmp_path: Path
) -> None:
    from dagster_project.run.pipeline import run_pipeline
    from dagster_project.settings import Settings

    settings = Settings.from_env()
    settings = Settings(
        landing_dir=built_warehouse.settings.landing_dir, data_dir=tmp_path / "data",
        dagster_home=tmp_path / "data" / "dagster_home", duckdb_memory_limit="2GB", duckdb_threads=None,
    )  # fmt: skip
    summary = run_pipeline(settings, as_of=date(2025, 6, 30))
    labels = {p.period_label for p in summary.publications}
    assert {"2025-06", "2025-Q2", "2024"} <= labels
    assert not labels & {"2025-07", "2025-Q3", "2025"}


# --- the gate across runs: results count while they cover the staged content (issue 13 item 2) ----


def publish_only(settings: Settings) -> RunSummary:
    """A new run that materializes only the publish asset, as the UI's Materialize or a re-execution
    from the publish step does: no check runs in it."""
    return _run_selected(settings, assets=[PUBLISHED_KEY], checks=[])


def _run_selected(settings: Settings, assets: list, checks: list | None) -> RunSummary:
    """A run of `assets` and `checks` (None: every check of the gate) only."""
    from dagster_project.definitions import PIPELINE_JOB, build_definitions
    from dagster_project.defs.partitions import partition_range_tags
    from dagster_project.periods import MonthWindow, parse_month
    from dagster_project.run.summary import summarise_run
    from dagster_project.settings import environment_overrides

    with environment_overrides(settings.environment()):
        definitions = build_definitions(settings)
        job = definitions.resolve_job_def(PIPELINE_JOB)
        keys = job.partitions_def.get_partition_keys()
        gate = {dg.AssetCheckKey(dg.AssetKey(list(c.asset)), c.name) for c in load_gate().checks}
        selected = gate if checks is None else set(checks)
        subset = job.get_subset(asset_selection=set(assets), asset_check_selection=selected)
        result = subset.execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            tags=partition_range_tags(MonthWindow(parse_month(keys[0]), parse_month(keys[-1]))),
            raise_on_error=False,
        )
    return summarise_run(result, settings)


@pytest.fixture
def warehouse_copy(built_warehouse: BuiltWarehouse, tmp_path: Path) -> Settings:
    """The built warehouse (its checks all passed) in a new data folder with nothing published."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(built_warehouse.settings.warehouse_path, data_dir / "warehouse.duckdb")
    return replace(built_warehouse.settings, data_dir=data_dir, dagster_home=data_dir / "dagster_home")


def test_a_publish_only_run_uses_the_gate_results_that_cover_the_staged_content(
    built_warehouse: BuiltWarehouse, warehouse_copy: Settings
) -> None:
    """Before, a run of the publish asset alone saw no check results (it read its own run's) and
    published every period with checks_passed = 0, which `kpi audit verify` accepted."""
    settings = warehouse_copy
    first = publish_only(settings)
    assert [p.outcome for p in first.publications] == ["published"] * 34, first.errors
    with duckdb.connect(str(first.published_path), read_only=True) as con:
        assert con.execute("select min(checks_passed) from publications").fetchone()[0] > 0
        reasons = {r for (r,) in con.execute("select reason from publication_attempts").fetchall()}
    assert all(f"gate results of run(s) {built_warehouse.summary.run_id}" in r for r in reasons), reasons
    assert verify_published(first.published_path).ok

    # The rows the checks validated change after they ran: their results no longer cover them.
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("delete from kpi.kpi_values where rowid = (select min(rowid) from kpi.kpi_values)")
    stale = publish_only(settings)
    assert {p.outcome for p in stale.publications} == {"blocked"}
    for period in stale.publications:
        assert "no gate results for the current staged content; run the checks (check(s) " in period.reason
        assert "kpi_bounds" in period.reason and "quarantine_share" not in period.reason


def test_a_publish_only_run_keeps_what_a_failed_check_blocked(warehouse_copy: Settings) -> None:
    """A run whose check fails for 2025-03 blocks March, Q1 and 2025; a later run of the publish
    asset alone keeps them blocked with the same reason (before: it published them)."""
    settings = warehouse_copy
    with duckdb.connect(str(settings.warehouse_path)) as con:  # an NPS of 140 in one store's March
        con.execute(
            "update kpi.kpi_values set value = 140 where rowid = (select min(rowid) from kpi.kpi_values "
            "where period_grain = 'month' and period_start = date '2025-03-01' and kpi_id = 'nps')"
        )
    checked = _run_selected(settings, assets=[], checks=None)  # the gate, and nothing else
    assert "gate/gate_kpi_bounds:kpi_bounds" in checked.checks_warned, checked
    for summary in (publish_only(settings), publish_only(settings)):
        blocked = {p.period_label: p.reason for p in summary.publications if p.outcome == "blocked"}
        assert set(blocked) == {"2025-03", "2025-Q1", "2025"}, summary.errors
        assert all("kpi_bounds" in reason for reason in blocked.values()), blocked


def test_audit_verify_names_a_version_published_without_passing_checks(tmp_path: Path) -> None:
    from dagster_project.publish.files import published_path
    from dagster_project.publish.gate_results import GateResult
    from dagster_project.publish.writer import publish_scorecards
    from tests.test_publish import STAGED_SQL, T0, provenance

    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(STAGED_SQL)
    publish_scorecards(
        warehouse, tmp_path / "data", GateResult(), "run-1", published_at=T0, provenance=provenance("run-1")
    )
    findings = [str(f) for f in verify_published(published_path(tmp_path / "data")).findings]
    assert findings and all("checks_passed = 0" in f for f in findings), findings


# --- undated quarantined rows count against their file (issue 13 item 5) ---------------------------


def _plant_file(con: duckdb.DuckDBPyConnection, batch_id: int, months: list[str], undated: int) -> None:
    """A sales file (batch) with 100 loaded lines in each of `months` and `undated` quarantined lines
    whose date does not parse."""
    for month in months:
        con.execute(
            """insert into raw.sales_lines
               select * replace (order_id || '-' || ? as order_id, cast(? as date) as order_date,
                                 ? as _load_batch_id)
               from raw.sales_lines where _superseded_by_batch_id is null order by order_id, line_no limit 100""",
            [f"{batch_id}-{month}", f"{month}-15", batch_id],
        )
    con.execute(
        """insert into quarantine.sales_lines (_load_batch_id, _source_file, _source_row, _reason, order_id, order_date)
           select ?, ?, i + 2, 'order_date: not a date', 'UNDATED-' || i, 'n/a' from range(?) as t(i)""",
        [batch_id, f"sales_lines/file_{batch_id}.csv", undated],
    )


def test_undated_quarantined_rows_count_against_their_file_not_one_month(
    built_warehouse: BuiltWarehouse, tmp_path: Path
) -> None:
    """Before, every undated bad row counted in the first month its file fed: a two-year file with
    0.5 % undated rows blocked its first month (~3 % there) and questioned no other month."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built_warehouse.settings.warehouse_path, warehouse)
    gate = load_gate()
    spec = next(c for c in gate.checks if c.name == "quarantine_share")
    two_years = [f"{year}-{month:02d}" for year in (2024, 2025) for month in range(1, 13)]
    with duckdb.connect(str(warehouse)) as con:
        _plant_file(con, 9001, two_years, undated=12)  # 12 of 2,412 rows: 0.5 %
    outcome = run_check(spec, warehouse, gate)
    assert outcome.blocked_periods == set() and not outcome.blocks_everything

    late = ["2025-10", "2025-11", "2025-12"]
    with duckdb.connect(str(warehouse)) as con:
        _plant_file(con, 9002, late, undated=16)  # 16 of 316 rows: 5 %
        file_rows = con.execute(
            "select load_batch_id, count(*), min(rows_read), min(gated_share) from gate.gate_quarantine_shares "
            "where scope = 'file' and load_batch_id > 9000 group by 1 order by 1"
        ).fetchall()
    assert [row[:3] for row in file_rows] == [(9001, 24, 2412), (9002, 3, 316)]
    outcome = run_check(spec, warehouse, gate)
    assert outcome.blocked_periods == {("month", date.fromisoformat(f"{m}-01")) for m in late}


# --- the second data set: every fact file spans two years (issue 13, "Done when") ----------------

SALES_FILES = 4  # the second data set's four sales files, each holding the two years


def rewrite_as_two_year_files(landing: Path, undated_share: float = 0.005) -> None:
    """Rewrite generated sample data into the second data set's shape: each fact entity's monthly or
    quarterly files merged into files that each span the whole two years (sales lines: four files,
    split by order), plus `undated_share` more sales lines whose order_date does not parse."""
    with duckdb.connect() as con:
        for entity in ("sales_lines", "returns", "inventory_snapshots", "survey_responses", "complaints"):
            files = sorted((landing / entity).glob("*.csv"))
            parquet = sorted((landing / entity).glob("*.parquet"))
            con.execute(
                "create or replace table rows as select * from read_csv(?, header = true, all_varchar = true)",
                [[str(f) for f in files]],
            )
            if parquet:  # the generated 2025 files: as text, as the CSV files have it
                names = [
                    c[0]
                    for c in con.execute(
                        "describe select * from read_parquet(?)", [str(parquet[0])]
                    ).fetchall()
                ]
                con.execute(
                    f"insert into rows by name select {', '.join(f'cast({n} as varchar) as {n}' for n in names)} "
                    "from read_parquet(?)",
                    [[str(f) for f in parquet]],
                )
            files += parquet
            parts = 1
            if entity == "sales_lines":
                parts = SALES_FILES
                count = con.execute("select count(*) from rows").fetchone()[0]
                con.execute(
                    """insert into rows select * replace ('UNDATED-' || order_id as order_id, 'unknown' as order_date)
                       from rows order by order_id, line_no limit ?""",
                    [round(count * undated_share)],
                )
            for path in files:
                path.unlink()
            for part in range(parts):
                target = landing / entity / f"{entity}_full_extract_{part + 1}.csv"
                con.execute(
                    f"""copy (select * exclude (part) from (
                            select *, row_number() over (order by md5(to_json(t)::varchar)) % {parts} as part from rows as t)
                        where part = {part}) to '{target}' (header, delimiter ',')"""
                )


@pytest.mark.e2e
def test_the_second_data_set_publishes_and_a_late_undated_file_blocks_its_months(tmp_path: Path) -> None:
    landing, data = tmp_path / "landing", tmp_path / "data"
    generate_sample_data(landing, sales_lines=10_000)
    rewrite_as_two_year_files(landing)
    _, clean = run_pipeline_on(landing, data)
    assert clean.success, clean.errors
    assert [p.outcome for p in clean.publications] == ["published"] * 34, [
        (p.period_label, p.reason) for p in clean.publications if p.outcome != "published"
    ]

    late_months = ["2025-10", "2025-11", "2025-12"]
    with duckdb.connect() as con:
        sales = f"read_csv('{landing / 'sales_lines'}/*.csv', header = true, all_varchar = true)"
        con.execute(
            f"""create table late as
                select * replace ('LATE-' || order_id as order_id) from {sales}
                where substr(order_date, 1, 7) in ('2025-10', '2025-11', '2025-12')
                qualify row_number() over (partition by substr(order_date, 1, 7) order by order_id, line_no) <= 100"""
        )
        con.execute(  # 16 of 316 rows (5 %) without a usable date
            "insert into late select * replace ('LATE-UNDATED-' || order_id as order_id, 'unknown' as order_date) "
            "from late order by order_id, line_no limit 16"
        )
        con.execute(
            f"copy late to '{landing / 'sales_lines' / 'late_sales_2025-Q4.csv'}' (header, delimiter ',')"
        )
    _, late = run_pipeline_on(landing, data)
    blocked = {p.period_label for p in late.publications if p.outcome == "blocked"}
    assert blocked == {*late_months, "2025-Q4", "2025"}, [
        (p.period_label, p.reason) for p in late.publications
    ]


def test_the_applies_rule_in_sql_is_the_one_in_python() -> None:
    """CHECK_APPLIES_SQL (publish, audit verify) is generated from gate/decision.py and agrees with it."""
    from dagster_project.gate import decision
    from dagster_project.publish.gate_results import CHECK_APPLIES_SQL

    jan, apr = date(2025, 1, 1), date(2025, 4, 1)
    checks = [(None, None), ("month", None), ("quarter", None), ("month", jan), ("quarter", apr)]
    periods = [("month", jan), ("month", apr), ("quarter", jan), ("quarter", apr), ("year", jan)]
    with duckdb.connect() as con:
        for grain, start in checks:
            for period in periods:
                in_sql = con.execute(
                    "select "
                    + CHECK_APPLIES_SQL.format(check="c", period="p")
                    + " from (select ?::varchar as period_grain, ?::date as period_start) as c,"
                    " (select ?::varchar as period_grain, ?::date as period_start) as p",
                    [grain, start, *period],
                ).fetchone()[0]
                assert bool(in_sql) == decision.applies_to(grain, start, period), (grain, start, period)


def test_two_settings_with_different_gate_thresholds_give_different_results_in_one_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """KPI_GATE_<NAME> reaches the gate through Settings, not through a cache of the first call: a
    share of 1.5 % fails the default threshold (1 %) and passes KPI_GATE_QUARANTINE_SHARE_MAX=0.02."""
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema gate")
        con.execute(
            "create table gate.gate_quarantine_shares as select 'sales_lines' as entity, 'month' as scope, "
            "1 as load_batch_id, 1000 as rows_read, 15 as rows_quarantined, 'month' as period_grain, "
            "date '2025-03-01' as period_start, 0.015 as gated_share, 0.015 as quarantine_share"
        )
    outcomes = []
    for threshold in (None, "0.02"):
        if threshold is None:
            monkeypatch.delenv("KPI_GATE_QUARANTINE_SHARE_MAX", raising=False)
        else:
            monkeypatch.setenv("KPI_GATE_QUARANTINE_SHARE_MAX", threshold)
        gate = load_gate(overrides=Settings.from_env().gate_parameters)
        spec = next(c for c in gate.checks if c.name == "quarantine_share")
        outcomes.append(run_check(spec, warehouse, gate))
    default, relaxed = outcomes
    assert not default.passed and default.blocked_periods == {("month", date(2025, 3, 1))}
    assert relaxed.passed and not relaxed.blocked_periods


def test_a_gate_parameter_that_is_no_number_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster_project.settings import SettingsError

    monkeypatch.setenv("KPI_GATE_QUARANTINE_SHARE_MAX", "two percent")
    with pytest.raises(SettingsError, match="KPI_GATE_QUARANTINE_SHARE_MAX='two percent' is not a number"):
        Settings.from_env()
    monkeypatch.setenv("KPI_GATE_QUARANTINE_SHARE_MAX", "0.02")
    gate = load_gate(overrides={**Settings.from_env().gate_parameters, "no_such_parameter": 1.0})
    assert gate.parameters["quarantine_share_max"] == 0.02 and "no_such_parameter" not in gate.parameters
    assert load_gate().parameters["quarantine_share_max"] == 0.01  # checks.yml's, unchanged
