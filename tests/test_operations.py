"""Operations: month partitions → dbt vars, schedules, sensors, restatement of late data, exit codes."""

from __future__ import annotations

import re
import shutil
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from typer.testing import CliRunner

from dagster_project.cli.app import app
from dagster_project.definitions import build_definitions
from dagster_project.defs.partitions import (
    DBT_WINDOW_ENV,
    dbt_window_env,
    monthly_partitions,
    window_for_range,
)
from dagster_project.defs.publish import REASON_TAG
from dagster_project.defs.schedules import EXTRACT_SCHEDULE, MONTHLY_JOB, MONTHLY_SCHEDULE
from dagster_project.defs.sensors import LANDING_SENSOR, RESTATEMENT_SENSOR, time_columns
from dagster_project.defs.transform import dbt_vars_args, prepare_dbt
from dagster_project.periods import MonthWindow, contiguous_windows, parse_month
from dagster_project.run.pipeline import prepare_dagster_home, run_pipeline
from dagster_project.settings import PROJECT_ROOT, Settings, SettingsError
from tests.conftest import BuiltWarehouse
from tests.helpers import sales_line, write_csv

# --- partition windows (pure functions) ----------------------------------------------------------


def test_a_window_recomputes_its_months_and_the_quarters_and_years_they_belong_to() -> None:
    window = MonthWindow.from_keys("2024-11", "2025-02")
    assert window.periods() == [
        ("month", date(2024, 11, 1)),
        ("month", date(2024, 12, 1)),
        ("month", date(2025, 1, 1)),
        ("month", date(2025, 2, 1)),
        ("quarter", date(2024, 10, 1)),
        ("quarter", date(2025, 1, 1)),
        ("year", date(2024, 1, 1)),
        ("year", date(2025, 1, 1)),
    ]
    # December completes 2024-Q4 and 2024; February completes nothing.
    assert window.completed_periods() == [("quarter", date(2024, 10, 1)), ("year", date(2024, 1, 1))]
    assert MonthWindow.from_keys("2025-06", "2025-06").completed_periods() == [("quarter", date(2025, 4, 1))]


def test_window_to_dbt_environment() -> None:
    window = MonthWindow.from_keys("2025-01", "2025-06")
    assert dbt_window_env(MonthWindow.from_keys("2024-11", "2025-05")) == {
        "KPI_MONTH_FROM": "2024-11-01",
        "KPI_MONTH_TO": "2025-05-01",
        "KPI_MONTH_END": "2025-06-01",
        "KPI_QUARTER_FIRST": "2024-10-01",
        "KPI_QUARTER_LAST": "2025-04-01",
        "KPI_QUARTER_END": "2025-07-01",
        "KPI_YEAR_FIRST": "2024-01-01",
        "KPI_YEAR_LAST": "2025-01-01",
        "KPI_YEAR_END": "2026-01-01",
    }
    assert dbt_window_env(window)["KPI_MONTH_FROM"] == "2025-01-01"
    assert dbt_window_env(window)["KPI_MONTH_TO"] == "2025-06-01"
    assert set(dbt_window_env(None).values()) == {""}
    assert dbt_vars_args("2025-07-01") == ["--vars", '{"kpi_as_of": "2025-07-01"}']
    assert dbt_vars_args(None) == []


def test_dbt_reads_exactly_the_bounds_the_window_passes() -> None:
    macro = (PROJECT_ROOT / "dbt_project" / "macros" / "partition_window.sql").read_text(encoding="utf-8")
    assert set(re.findall(r"'(KPI_[A-Z_]+)'", macro)) == set(DBT_WINDOW_ENV.values())


def test_a_range_over_every_partition_is_a_full_run() -> None:
    months = monthly_partitions("2024-01")
    keys = months.get_partition_keys()
    assert window_for_range(dg.PartitionKeyRange(keys[0], keys[-1]), months) is None
    assert window_for_range(dg.PartitionKeyRange("2024-02", "2024-03"), months) == MonthWindow(
        date(2024, 2, 1), date(2024, 3, 1)
    )


def test_bad_months_and_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_month("2025-6")
    with pytest.raises(ValueError, match="after it ends"):
        MonthWindow.from_keys("2025-06", "2025-01")


def test_late_months_are_grouped_into_consecutive_windows() -> None:
    months = [date(2025, 3, 1), date(2025, 1, 1), date(2025, 2, 1), date(2025, 7, 1)]
    assert contiguous_windows(months) == [
        MonthWindow(date(2025, 1, 1), date(2025, 3, 1)),
        MonthWindow(date(2025, 7, 1), date(2025, 7, 1)),
    ]


# --- configuration and exit codes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("KPI_PUBLISH_DAY", "31", "KPI_PUBLISH_DAY='31' is not a whole number from 1 to 28"),
        ("KPI_FIRST_MONTH", "2024/01", "KPI_FIRST_MONTH='2024/01' is not a month"),
        ("KPI_EXTRACT_CRON", "daily", "KPI_EXTRACT_CRON='daily' is not a cron expression"),
        ("KPI_SCHEDULE_TIMEZONE", "Mars/Olympus", "is not a time zone name"),
        ("KPI_DUCKDB_THREADS", "many", "KPI_DUCKDB_THREADS='many' is not a whole number"),
    ],
)
def test_a_bad_variable_is_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace("?", r"\?")):
        Settings.from_env()


def test_exit_code_2_for_bad_configuration_and_unknown_months(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "landing").mkdir()
    monkeypatch.setenv("KPI_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("KPI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    runner = CliRunner()

    monkeypatch.setenv("KPI_PUBLISH_DAY", "0")
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 2
    assert "KPI_PUBLISH_DAY" in result.output

    monkeypatch.delenv("KPI_PUBLISH_DAY")
    prepare_dbt()
    result = runner.invoke(app, ["run", "--from", "2023-05", "--to", "2024-02"])
    assert result.exit_code == 2
    assert "2023-05 is not a month partition" in result.output
    result = runner.invoke(app, ["run", "--from", "May"])
    assert result.exit_code == 2
    assert "YYYY-MM" in result.output


def test_every_command_has_help() -> None:
    runner = CliRunner()
    commands = [[]] + [[name] for name in ("run", "dev", "sample-data", "scorecard", "status")]
    commands += [["contract", "show"], ["definitions", "list"], ["definitions", "check"]]
    for command in commands:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, command
        assert "Usage" in result.output


# --- schedules and sensors (Dagster's test utilities) --------------------------------------------


@pytest.fixture
def operations_defs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[dg.Definitions, Settings]:
    monkeypatch.setenv("KPI_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("KPI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KPI_PUBLISH_DAY", "5")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    prepare_dbt()
    settings = Settings.from_env()
    return build_definitions(settings), settings


def test_the_month_just_closed_is_published_on_the_configured_day(operations_defs) -> None:
    defs, _ = operations_defs
    schedule = defs.resolve_schedule_def(MONTHLY_SCHEDULE)
    assert schedule.cron_schedule == "0 6 5 * *"
    assert schedule.job_name == MONTHLY_JOB
    with dg.build_schedule_context(scheduled_execution_time=datetime(2025, 7, 5, 6, tzinfo=UTC)) as context:
        requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == ["2025-06"]  # June completes 2025-Q2 as well

    extract = defs.resolve_schedule_def(EXTRACT_SCHEDULE)
    assert extract.cron_schedule == "0 2 * * *"
    with dg.build_schedule_context(scheduled_execution_time=datetime(2025, 7, 6, 2, tzinfo=UTC)) as context:
        requests = extract.evaluate_tick(context).run_requests
    assert len(requests) == 1


def test_new_landing_files_start_an_extraction(operations_defs) -> None:
    defs, settings = operations_defs
    sensor = defs.resolve_sensor_def(LANDING_SENSOR)
    with dg.build_sensor_context() as context:
        assert not sensor.evaluate_tick(context).run_requests  # no landing folder yet

    write_csv(settings.landing_dir / "sales_lines" / "2025-01.csv", [sales_line()])
    with dg.build_sensor_context() as context:
        first = sensor.evaluate_tick(context)
    assert len(first.run_requests) == 1
    assert "sales_lines/2025-01.csv" in first.run_requests[0].tags["kpi/new_files"]

    with dg.build_sensor_context(cursor=first.cursor) as context:
        assert not sensor.evaluate_tick(context).run_requests  # nothing new

    write_csv(settings.landing_dir / "sales_lines" / "2025-02.csv", [sales_line(order_id="O2")])
    with dg.build_sensor_context(cursor=first.cursor) as context:
        second = sensor.evaluate_tick(context)
    assert [r.tags["kpi/new_files"] for r in second.run_requests] == ["sales_lines/2025-02.csv"]


def test_fact_entities_have_a_month_column(contract) -> None:
    assert time_columns(contract) == {
        "employees": "valid_from",
        "sales_lines": "order_date",
        "returns": "return_date",
        "inventory_snapshots": "snapshot_date",
        "survey_responses": "response_date",
        "complaints": "opened_at",
        "training_records": "completed_on",
        "engagement_surveys": "response_date",
    }


# --- a late file for a published month leads to a restatement -------------------------------------


@pytest.fixture
def warehouse_copy(
    built_warehouse: BuiltWarehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """A copy of the built warehouse, its publications and its landing folder, configured as the
    environment (so the Dagster definitions and dbt see it)."""
    source = built_warehouse.settings
    landing, data = tmp_path / "landing", tmp_path / "data"
    shutil.copytree(source.landing_dir, landing)
    data.mkdir()
    for name in ("warehouse.duckdb", "published.duckdb"):
        shutil.copy2(source.data_dir / name, data / name)
    shutil.copytree(source.data_dir / "published", data / "published")
    monkeypatch.setenv("KPI_LANDING_DIR", str(landing))
    monkeypatch.setenv("KPI_DATA_DIR", str(data))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    settings = Settings.from_env()
    for name, value in settings.environment().items():
        monkeypatch.setenv(name, value)
    return settings


def test_a_late_file_for_a_published_month_is_restated(warehouse_copy: Settings) -> None:
    settings = warehouse_copy
    landing, data = settings.landing_dir, settings.data_dir

    def revenue(period_grain: str, period_start: str) -> float:
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            return con.execute(
                """select numerator from kpi.kpi_values v join raw.org_units o using (org_unit_id)
                   where kpi_id = 'net_revenue' and period_grain = ? and period_start = ?
                     and o.parent_id is null and o._superseded_by_batch_id is null""",
                [period_grain, period_start],
            ).fetchone()[0]

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        store, sku = con.execute(
            """select (select org_unit_id from raw.org_units where unit_type = 'store' order by 1 limit 1),
                      (select sku from raw.products order by 1 limit 1)"""
        ).fetchone()
    march_before, june_before = revenue("month", "2025-03-01"), revenue("month", "2025-06-01")

    # Extraction (as the landing sensor would start it) loads a late March file.
    late = sales_line(
        order_id="LATE-1", order_date="2025-03-15", org_unit_id=store, sku=sku, customer_id="C-LATE",
        quantity="10", unit_price="100", discount_amount="0", unit_cost="60",
    )  # fmt: skip
    write_csv(landing / "sales_lines" / "late_2025-03.csv", [late])
    extraction = run_pipeline(settings, extract_only=True)
    assert extraction.entity("sales_lines").files_loaded == 1

    # The restatement sensor finds March, already published, touched by the new batch.
    defs = build_definitions(settings)
    instance = prepare_dagster_home(settings)
    sensor = defs.resolve_sensor_def(RESTATEMENT_SENSOR)
    with dg.build_sensor_context(instance=instance, definitions=defs) as context:
        result = sensor.evaluate_tick(context)
    assert [r.partition_key for r in result.run_requests] == ["2025-03"]
    request = result.run_requests[0]
    assert "late data: sales_lines" in request.tags[REASON_TAG]
    with dg.build_sensor_context(instance=instance, cursor=result.cursor, definitions=defs) as context:
        assert not sensor.evaluate_tick(context).run_requests  # the cursor moved past the batch

    # The requested run recomputes March (and 2025-Q1, 2025) only, and publishes a new version.
    run = defs.resolve_job_def(MONTHLY_JOB).execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=request.tags, raise_on_error=False
    )
    assert run.success
    assert revenue("month", "2025-03-01") == pytest.approx(march_before + 1000)
    assert revenue("month", "2025-06-01") == pytest.approx(june_before)
    with duckdb.connect(str(data / "published.duckdb"), read_only=True) as con:
        attempts = dict(
            con.execute(
                "select period_label, outcome || ' v' || coalesce(cast(version as varchar), '') from "
                "publication_attempts where run_id = ?",
                [run.run_id],
            ).fetchall()
        )
        restated = con.execute(
            "select reason from publication_attempts where run_id = ? and period_label = '2025-03'",
            [run.run_id],
        ).fetchone()
        history = con.execute(
            "select version, reason from publications where period_label = '2025-03' order by 1"
        )
        versions = history.fetchall()
    assert attempts["2025-03"] == "published v2"
    assert attempts["2025-Q1"] == "published v2"
    assert attempts["2025"] == "published v2"
    assert attempts["2025-06"] == "unchanged v1"
    assert restated[0].startswith("restatement") and "late data: sales_lines" in restated[0]
    assert versions == [(1, "initial"), (2, "restatement")]  # the old version stays beside the new one


def _monthly_job() -> dg.JobDefinition:
    """The monthly job, reconstructable (execute_job re-executes a run from a job it can rebuild)."""
    return build_definitions(Settings.from_env()).resolve_job_def(MONTHLY_JOB)


def test_a_failed_run_is_re_executed_from_failure_without_redoing_what_succeeded(
    warehouse_copy: Settings,
) -> None:
    instance = prepare_dagster_home(warehouse_copy)
    # Publication cannot start while its work file is in the way (a directory): the run fails there.
    blocker = warehouse_copy.data_dir / "published.duckdb.next"
    blocker.mkdir()
    (blocker / "in-the-way").write_text("x")
    job = dg.reconstructable(_monthly_job)
    with dg.execute_job(job, instance, tags={"dagster/partition": "2025-05"}, raise_on_error=False) as failed:
        assert not failed.success
        succeeded_before = {e.step_key for e in failed.all_events if e.is_step_success}
        failed_steps = {e.step_key for e in failed.all_events if e.is_step_failure}
    assert failed_steps == {"published__scorecard"}
    assert "kpi_dbt_monthly_models" in succeeded_before

    shutil.rmtree(blocker)
    options = dg.ReexecutionOptions.from_failure(failed.run_id, instance)
    # The UI's "Re-execute from failure" keeps the run's tags, its partition among them.
    parent_tags = {"dagster/partition": instance.get_run_by_id(failed.run_id).tags["dagster/partition"]}
    with dg.execute_job(
        job, instance, reexecution_options=options, tags=parent_tags, raise_on_error=False
    ) as retried:
        assert retried.success
        ran = {e.step_key for e in retried.all_events if e.is_step_start}
    assert ran == {"published__scorecard"}  # dbt and the checks are not run again


def test_the_command_line_folders_override_the_environment_and_what_derives_from_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """--landing-dir/--data-dir take the place of KPI_LANDING_DIR/KPI_DATA_DIR without touching the
    environment; DAGSTER_HOME follows the data folder unless it is set."""
    import os

    monkeypatch.setenv("KPI_LANDING_DIR", str(tmp_path / "env-landing"))
    monkeypatch.setenv("KPI_DATA_DIR", str(tmp_path / "env-data"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    before = dict(os.environ)
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env(landing_dir=Path("landing"), data_dir=Path("data"))
    assert os.environ == before
    assert (settings.landing_dir, settings.data_dir) == (tmp_path / "landing", tmp_path / "data")
    assert settings.dagster_home == tmp_path / "data" / "dagster_home"
    assert settings.warehouse_path == tmp_path / "data" / "warehouse.duckdb"
    assert settings.environment()["KPI_DATA_DIR"] == str(tmp_path / "data")
    assert Settings.from_env().data_dir == tmp_path / "env-data"
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    assert Settings.from_env(data_dir=Path("data")).dagster_home == tmp_path / "home"


def test_kpi_dev_hands_its_dagster_the_settings_in_its_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`kpi dev --data-dir` starts Dagster with an environment built from the settings (its code
    server builds the definitions from it) and leaves its own environment as it was."""
    import os

    import dagster_project.cli.dev as dev_cli

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("KPI_DATA_DIR", str(tmp_path / "elsewhere"))
    started: dict[str, object] = {}

    def run_process_group(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> int:
        started.update(command=command, env=env)
        return 0

    monkeypatch.setattr(dev_cli, "run_process_group", run_process_group)
    before = dict(os.environ)
    umask = os.umask(0o022)  # `kpi dev` sets the process's umask (KPI_UMASK): restored below
    try:
        result = CliRunner().invoke(app, ["dev", "--port", "3999", "--data-dir", str(tmp_path / "data")])
    finally:
        os.umask(umask)
    assert result.exit_code == 0, result.output
    assert dict(os.environ) == before
    env = started["env"]
    assert env["KPI_DATA_DIR"] == str(tmp_path / "data")
    assert env["DAGSTER_HOME"] == str(tmp_path / "data" / "dagster_home")
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert "3999" in started["command"]
