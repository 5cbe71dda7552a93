"""End to end: the sample data extracted through Dagster, as `kpi run` does it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from dagster_project.cli.app import app
from dagster_project.cli.common import EXIT_BAD_INPUT
from dagster_project.contract import load_contract
from dagster_project.defs.transform import prepare_dbt
from dagster_project.extract.loader import file_sha256
from dagster_project.run.pipeline import run_pipeline
from dagster_project.sample_data.generator import SampleDataSummary, generate_sample_data
from dagster_project.settings import PROJECT_ROOT, Settings
from tests.conftest import BuiltWarehouse
from tests.helpers import write_csv

pytestmark = pytest.mark.e2e

SALES_LINES = 10_000  # big enough that the planted bad rows stay under the gate's 1 % per month


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleDataSummary]:
    """One generated landing folder, shared read-only by the tests of this module."""
    landing = tmp_path_factory.mktemp("sample") / "landing"
    return landing, generate_sample_data(landing, sales_lines=SALES_LINES)


@pytest.fixture
def settings(
    tmp_path: Path, sample: tuple[Path, SampleDataSummary], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """A private copy of the sample landing folder and an empty data folder."""
    landing = tmp_path / "landing"
    shutil.copytree(sample[0], landing)
    monkeypatch.setenv("KPI_LANDING_DIR", str(landing))
    monkeypatch.setenv("KPI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return Settings.from_env()


def flat(output: str) -> str:
    """CLI output with Rich's line wrapping undone."""
    return " ".join(output.split())


def query(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_sample_data_is_extracted_and_reconciled(built_warehouse: BuiltWarehouse) -> None:
    # The shared build extracted the same generated sample: read what its extraction recorded.
    settings, planted, summary = built_warehouse.settings, built_warehouse.sample, built_warehouse.summary
    assert summary.success, summary.errors

    # Every file is one loaded batch, logged with its checksum and size.
    logged = {
        name: (sha, size, status)
        for name, sha, size, status in query(
            settings, "select file_name, sha256, file_size_bytes, status from audit.load_batches"
        )
    }
    files = [p for p in settings.landing_dir.rglob("*") if p.is_file()]
    assert len(logged) == len(files) == sum(len(f) for f in planted.files.values())
    for path in files:
        name = path.relative_to(settings.landing_dir).as_posix()
        assert logged[name] == (file_sha256(path), path.stat().st_size, "loaded")

    # Exactly the planted bad rows are quarantined, at the planted lines.
    quarantined = dict(
        query(
            settings,
            """
        select entity, sum(rows_quarantined) from audit.load_batches group by entity""",
        )
    )
    expected = planted.bad_rows_by_entity()
    for entity in load_contract().entities:
        assert quarantined.get(entity, 0) == expected.get(entity, 0), entity
        assert summary.entity(entity).rows_quarantined == expected.get(entity, 0)
    for bad in planted.bad_rows:
        hits = query(
            settings,
            f"""
            select count(*) from quarantine.{bad.entity}
            where _source_file = '{bad.file}' and _source_row = {bad.line}""",
        )
        assert hits == [(1,)], bad

    # Rows read = loaded + quarantined, per file and against the files themselves.
    for entity in load_contract().entities:
        read, loaded, rejected = query(
            settings,
            f"""
            select sum(rows_read), sum(rows_loaded), sum(rows_quarantined)
            from audit.load_batches where entity = '{entity}'""",
        )[0]
        assert read == loaded + rejected == planted.rows[entity], entity
        assert query(settings, f"select count(*) from raw.{entity}") == [(loaded,)]
        assert query(settings, f"select count(*) from quarantine.{entity}") == [(rejected,)]
        assert summary.entity(entity).rows_loaded == loaded
    unreconciled = query(
        settings,
        """
        select file_name from audit.load_batches where rows_read <> rows_loaded + rows_quarantined""",
    )
    assert unreconciled == []

    # The run is recorded in the persistent Dagster home, with per-asset metadata.
    from dagster import AssetKey, DagsterInstance

    instance = DagsterInstance.from_config(str(settings.dagster_home))
    assert instance.get_run_by_id(summary.run_id).is_success
    event = instance.get_latest_materialization_event(AssetKey(["raw", "sales_lines"]))
    metadata = event.asset_materialization.metadata
    assert metadata["rows_loaded"].value == summary.entity("sales_lines").rows_loaded
    assert metadata["files_loaded"].value == len(planted.files["sales_lines"])


def test_second_run_loads_nothing(built_warehouse: BuiltWarehouse, built_copy: Settings) -> None:
    settings, first = built_copy, built_warehouse.summary
    batches = query(settings, "select count(*) from audit.load_batches")
    rows = query(settings, "select count(*) from raw.sales_lines")
    second = run_pipeline(settings, extract_only=True)
    assert first.success and second.success
    assert query(settings, "select count(*) from audit.load_batches") == batches
    assert query(settings, "select count(*) from raw.sales_lines") == rows
    for entity in second.entities:
        assert (entity.files_loaded, entity.rows_loaded) == (0, 0)
        assert entity.files_skipped == first.entity(entity.entity).files_loaded


def test_correction_batch_and_broken_file(built_copy: Settings) -> None:
    settings = built_copy
    order_id, line_no, quantity = query(
        settings,
        """
        select order_id, line_no, quantity from raw.sales_lines order by order_id, line_no limit 1""",
    )[0]
    current = query(
        settings,
        """
        select order_date, customer_id, org_unit_id, sku, unit_price, discount_amount, unit_cost, channel
        from raw.sales_lines where order_id = (select min(order_id) from raw.sales_lines) and line_no = 1""",
    )[0]
    correction = {
        "order_id": order_id,
        "line_no": str(line_no),
        "order_date": str(current[0]),
        "customer_id": current[1] or "",
        "org_unit_id": current[2],
        "sku": current[3],
        "quantity": str(quantity + 1),
        "unit_price": str(current[4]),
        "discount_amount": str(current[5]),
        "unit_cost": str(current[6]),
        "channel": current[7] or "",
    }
    write_csv(settings.landing_dir / "sales_lines" / "zz_correction.csv", [correction])
    write_csv(settings.landing_dir / "complaints" / "zz_broken.csv", [{"complaint_id": "K1", "note": "x"}])

    summary = run_pipeline(settings, extract_only=True)
    assert not summary.success
    assert len(summary.errors) == 1
    assert (
        "complaints/zz_broken.csv: missing required column(s) opened_at, org_unit_id, category"
        in (summary.errors[0])
    )
    assert summary.entity("complaints").files_failed == 1
    # The correction in the same run still loaded and superseded the earlier row.
    assert (summary.entity("sales_lines").files_loaded, summary.entity("sales_lines").rows_superseded) == (
        1,
        1,
    )
    versions = query(
        settings,
        f"""
        select quantity, _superseded_by_batch_id is null from raw.sales_lines
        where order_id = '{order_id}' and line_no = {line_no} order by _load_batch_id""",
    )
    assert versions == [(quantity, False), (quantity + 1, True)]
    failed = query(settings, "select file_name, rows_loaded from audit.load_batches where status = 'failed'")
    assert failed == [("complaints/zz_broken.csv", None)]


def test_cli_run_and_exit_codes(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    # --landing-dir/--data-dir win over the environment down to dbt and every step: nothing is
    # written to the environment's folders.
    monkeypatch.setenv("KPI_LANDING_DIR", str(tmp_path / "env-landing"))
    monkeypatch.setenv("KPI_DATA_DIR", str(tmp_path / "env-data"))
    folders = ["--landing-dir", str(settings.landing_dir), "--data-dir", str(settings.data_dir)]
    result = runner.invoke(app, ["run", *folders])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "env-data").exists() and not (tmp_path / "env-landing").exists()
    assert "sales_lines" in result.output and str(settings.warehouse_path) in flat(result.output)
    assert ", 0 failed" in flat(result.output) and "tests passed" in flat(result.output)
    # dbt's own log lines go to a file the summary names, not between the progress bars and it.
    assert "Running with dbt" not in result.output
    (dbt_log,) = (settings.data_dir / "logs").glob("kpi-run-*.log")
    assert str(dbt_log) in flat(result.output)
    assert "Running with dbt" in dbt_log.read_text(encoding="utf-8")

    missing = runner.invoke(app, ["run", "--landing-dir", str(tmp_path / "nowhere")])
    assert missing.exit_code == EXIT_BAD_INPUT
    assert "does not exist" in flat(missing.output)

    write_csv(settings.landing_dir / "products" / "broken.csv", [{"sku": "X"}])
    broken = runner.invoke(app, ["run", "--extract-only", *folders])
    assert broken.exit_code == EXIT_BAD_INPUT
    assert "products/broken.csv: missing required column(s) name, category" in flat(broken.output)


def test_sample_data_command_never_overwrites(tmp_path: Path) -> None:
    runner = CliRunner()
    landing = tmp_path / "landing"
    made = runner.invoke(app, ["sample-data", "--landing-dir", str(landing), "--sales-lines", "1000"])
    assert made.exit_code == 0, made.output
    assert (landing / "sales_lines").is_dir()
    again = runner.invoke(app, ["sample-data", "--landing-dir", str(landing)])
    assert again.exit_code == EXIT_BAD_INPUT
    skipped = runner.invoke(app, ["sample-data", "--landing-dir", str(landing), "--skip-if-present"])
    assert skipped.exit_code == 0 and "already holds files" in flat(skipped.output)


def test_dagster_definitions_load_with_dg(tmp_path: Path) -> None:
    """`dg check defs` finds the code location from pyproject.toml alone, as `dagster dev` does."""
    prepare_dbt()  # the dbt assets load from the parsed manifest
    dg = Path(PROJECT_ROOT / ".venv" / "bin" / "dg")
    if not dg.exists():
        dg = Path(shutil.which("dg") or "dg")
    env = {
        "KPI_DATA_DIR": str(tmp_path),
        "KPI_LANDING_DIR": str(tmp_path / "landing"),
        "PATH": str(dg.parent),
    }
    done = subprocess.run(
        [str(dg), "check", "defs"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All definitions loaded successfully" in done.stdout + done.stderr
