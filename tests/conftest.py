"""Shared fixtures: a tiny landing folder written by hand, and a warehouse connection."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from dagster_project.contract import Contract, load_contract
from dagster_project.extract.loader import EntityLoadResult, load_entity
from dagster_project.run.summary import RunSummary
from dagster_project.sample_data.generator import SampleDataSummary, generate_sample_data
from dagster_project.settings import Settings, disable_telemetry
from tests import helpers
from tests.helpers import ORG_UNITS, PRODUCTS, run_pipeline_on, write_csv

# Importing the package leaves the environment alone; the tests run offline, as `kpi` does.
disable_telemetry()

# Fixtures that run the whole pipeline (or a whole Dagster job): a test using one is end-to-end.
PIPELINE_FIXTURES = frozenset(
    {"built_warehouse", "built_copy", "planted", "landing_and_data", "small", "pipeline", "sample_run"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a pipeline fixture e2e, so the fast lane's -m "not e2e" skips it."""
    for item in items:
        if PIPELINE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


def pytest_runtest_setup(item: pytest.Item) -> None:
    helpers.PIPELINE_RUNS_ALLOWED = any(item.iter_markers("e2e")) or any(item.iter_markers("spark"))


@pytest.fixture
def contract() -> Contract:
    return load_contract()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    write_csv(root / "org_units" / "org_units.csv", ORG_UNITS)
    write_csv(root / "products" / "products.csv", PRODUCTS)
    return root


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield connection
    connection.close()


@pytest.fixture
def load(
    con: duckdb.DuckDBPyConnection, contract: Contract, landing: Path
) -> Callable[[str], EntityLoadResult]:
    """Load one entity from the test landing folder (reference entities first, as Dagster does)."""

    def _load(entity: str) -> EntityLoadResult:
        for upstream in contract.entity(entity).upstream_entities:
            for grand in contract.entity(upstream).upstream_entities:
                load_entity(con, contract, grand, landing, run_id="test")
            load_entity(con, contract, upstream, landing, run_id="test")
        return load_entity(con, contract, entity, landing, run_id="test")

    return _load


@dataclass(frozen=True)
class BuiltWarehouse:
    """Sample data taken through the whole pipeline once; tests only read it."""

    settings: Settings
    sample: SampleDataSummary
    summary: RunSummary

    def query(self, sql: str, parameters: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.settings.warehouse_path), read_only=True) as connection:
            return connection.execute(sql, parameters or []).fetchall()

    def copy_to(self, root: Path) -> tuple[Path, Path]:
        """A private copy of the landing folder, the warehouse and the publications under `root`
        (a new Dagster home): for a test that goes on from the built state and changes it.
        Returns (landing, data)."""
        landing, data = root / "landing", root / "data"
        shutil.copytree(self.settings.landing_dir, landing)
        self.copy_warehouse(data)
        shutil.copy2(self.settings.data_dir / "published.duckdb", data / "published.duckdb")
        shutil.copytree(self.settings.data_dir / "published", data / "published")
        return landing, data

    def copy_warehouse(self, data_dir: Path) -> Path:
        """The warehouse file alone, copied into `data_dir` (made if missing): to run dbt against."""
        data_dir.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(self.settings.warehouse_path, data_dir / "warehouse.duckdb"))


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> BuiltWarehouse:
    """Generated sample data (10,000 sales lines, 2024-01..2025-12) run through `run_pipeline`.

    Big enough that the few planted bad rows stay under the gate's 1 % quarantine share per month."""
    root = tmp_path_factory.mktemp("built")
    sample = generate_sample_data(root / "landing", sales_lines=10_000)
    settings, summary = run_pipeline_on(root / "landing", root / "data")
    assert summary.success, summary.errors
    return BuiltWarehouse(settings=settings, sample=sample, summary=summary)


@pytest.fixture
def built_copy(built_warehouse: BuiltWarehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A private copy of the built warehouse (`BuiltWarehouse.copy_to`), configured as the
    environment, so that a test can run the pipeline on from there without building its own."""
    landing, data = built_warehouse.copy_to(tmp_path / "copy")
    monkeypatch.setenv("KPI_LANDING_DIR", str(landing))
    monkeypatch.setenv("KPI_DATA_DIR", str(data))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return Settings.from_env()
