"""MetricFlow (`mf query`) reads the same KPI definitions as the KPI compiler and gets the same numbers.

Every KPI is queried by month through the `mf` CLI against a copy of the built sample warehouse, and
each month must equal `kpi.kpi_values.value` of the root org unit: MetricFlow has no org-unit filter
here, so it adds up every fact row, which is the root's whole subtree. A month with no value in
kpi_values must have none in MetricFlow's output either.

`mf` takes no project options: it reads the dbt project and profiles from DBT_PROJECT_DIR and
DBT_PROFILES_DIR (else the working directory) and always loads `<project>/target/semantic_manifest.json`,
which `run_pipeline` (via `prepare_dbt`) has just parsed there.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_project.kpis.catalog import load_catalog
from dagster_project.settings import DBT_PROJECT_DIR
from tests.conftest import BuiltWarehouse

pytestmark = pytest.mark.e2e

ROOT_UNIT = "HQ"
MONTH = "metric_time__month"
REL_TOL = 1e-9
ABS_TOL = 1e-12  # only so that an exact 0 and a float-rounding 0 compare equal
KPI_METRICS = sorted(kpi.metric for kpi in load_catalog().kpis)
# Any HTTP client that honours the proxy variables fails at once on this closed local port. `mf` asks
# PyPI for a newer version on every call (update_checker; no setting turns it off), dbt's usage
# statistics are off as well: nothing reaches the network.
NETWORK_SINK = "http://127.0.0.1:9"
# KPIs per `mf` call: MetricFlow joins every metric of one query into one statement, which DuckDB takes
# minutes to plan beyond a dozen metrics over many semantic models; a few calls take seconds each.
MF_BATCH = 5

# kpi_values counts a sum or count measure as 0 in a period without fact rows (the compiler coalesces over
# its org-unit × period spine); MetricFlow leaves it NULL, and so every metric built on it, unless the simple
# metric over that measure says `fill_nulls_with: 0`.
NO_ROWS_HINT = (
    "a measure with no fact rows in the month is 0 in kpi_values but NULL in MetricFlow; "
    "give its simple metric `measure: {name: ..., fill_nulls_with: 0}`"
)

Months = dict[str, float | None]  # 'YYYY-MM-01' → value (None: no value)


def mf_environment(data_dir: Path, scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("NO_PROXY", "no_proxy"):
        env.pop(name, None)
    env.update(
        {
            "KPI_DATA_DIR": str(data_dir),  # profiles.yml: <KPI_DATA_DIR>/warehouse.duckdb
            "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
            "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
            "DBT_LOG_PATH": str(scratch / "logs"),  # dbt.log and metricflow.log, not in the project
            "TMPDIR": str(scratch),  # update_checker's cache file
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
            "DO_NOT_TRACK": "1",
            "HTTP_PROXY": NETWORK_SINK,
            "HTTPS_PROXY": NETWORK_SINK,
            "ALL_PROXY": NETWORK_SINK,
            "http_proxy": NETWORK_SINK,
            "https_proxy": NETWORK_SINK,
            "all_proxy": NETWORK_SINK,
        }
    )
    return env


def run_mf_query(metrics: list[str], data_dir: Path, scratch: Path) -> dict[str, Months]:
    """`mf query --metrics a,b,… --group-by metric_time__month` as {metric: {month: value}}."""
    output = scratch / "mf_query.csv"
    command = [
        str(Path(sys.executable).with_name("mf")),
        "query",
        "--metrics",
        ",".join(metrics),
        "--group-by",
        MONTH,
        "--order",
        MONTH,
        "--csv",
        str(output),
        "--quiet",
    ]
    result = subprocess.run(
        command,
        cwd=DBT_PROJECT_DIR,
        env=mf_environment(data_dir, scratch),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0 and output.exists(), (
        f"`{' '.join(command)}` failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    with output.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    values: dict[str, Months] = {metric: {} for metric in metrics}
    for row in rows:
        month = row.pop(MONTH)[:10]  # '2024-01-01 00:00:00'
        assert set(row) == set(metrics), f"unexpected mf columns: {sorted(row)}"
        for metric, text in row.items():
            values[metric][month] = float(text) if text != "" else None  # NULL is written as ''
    return values


@pytest.fixture(scope="module")
def metricflow_values(
    built_warehouse: BuiltWarehouse, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Months]:
    """Every KPI by month from MetricFlow, a few `mf` calls (MF_BATCH) on a private copy of the warehouse
    (dbt-duckdb opens the file, and DuckDB's lock must not meet any other reader or writer)."""
    manifest = DBT_PROJECT_DIR / "target" / "semantic_manifest.json"
    assert manifest.exists(), f"{manifest} is missing: `cd dbt_project && dbt parse` writes it"
    scratch = tmp_path_factory.mktemp("metricflow")
    data_dir = scratch / "data"
    data_dir.mkdir()
    source = built_warehouse.settings.warehouse_path
    for path in (source, source.with_name(source.name + ".wal")):
        if path.exists():
            shutil.copy2(path, data_dir / path.name)
    values: dict[str, Months] = {}
    for start in range(0, len(KPI_METRICS), MF_BATCH):
        values |= run_mf_query(KPI_METRICS[start : start + MF_BATCH], data_dir, scratch)
    return values


@pytest.fixture(scope="module")
def kpi_values(built_warehouse: BuiltWarehouse) -> dict[str, Months]:
    """The root unit's monthly values of every KPI from kpi.kpi_values, by metric name."""
    rows = built_warehouse.query(
        """
        select d.metric_name, cast(v.period_start as varchar), v.value
        from kpi.kpi_values as v
        inner join kpi.kpi_dictionary as d on d.kpi_id = v.kpi_id
        where v.org_unit_id = ? and v.period_grain = 'month'
        order by 1, 2
        """,
        [ROOT_UNIT],
    )
    values: dict[str, Months] = {}
    for metric, month, value in rows:
        values.setdefault(metric, {})[month] = value
    return values


def test_every_kpi_is_compared(built_warehouse: BuiltWarehouse, kpi_values: dict[str, Months]) -> None:
    """The KPIs compared here are exactly the published ones, and HQ is the one root of the hierarchy."""
    dictionary = built_warehouse.query("select metric_name from kpi.kpi_dictionary order by 1")
    assert [name for (name,) in dictionary] == KPI_METRICS
    assert sorted(kpi_values) == KPI_METRICS
    roots = built_warehouse.query(
        "select org_unit_id from staging.stg_org_units where parent_org_unit_id is null"
    )
    assert roots == [(ROOT_UNIT,)]


def shown(values: Months, month: str) -> str:
    return repr(values[month]) if month in values else "absent"


@pytest.mark.parametrize("metric", KPI_METRICS)
def test_metricflow_matches_kpi_values(
    metric: str, metricflow_values: dict[str, Months], kpi_values: dict[str, Months]
) -> None:
    expected = kpi_values.get(metric, {})
    actual = metricflow_values[metric]
    assert any(value is not None for value in expected.values()), f"{metric}: no value in kpi_values at all"
    mismatches = []
    zero_vs_null = False
    for month in sorted(set(expected) | set(actual)):
        want, got = expected.get(month), actual.get(month)  # absent or NULL: no value
        if want is None and got is None:
            continue
        if want is not None and got is not None and math.isclose(want, got, rel_tol=REL_TOL, abs_tol=ABS_TOL):
            continue
        mismatches.append(f"{month}: kpi_values {shown(expected, month)}, MetricFlow {shown(actual, month)}")
        zero_vs_null = zero_vs_null or (want == 0 and got is None)
    hint = f"\n0 against None: {NO_ROWS_HINT}" if zero_vs_null else ""
    assert not mismatches, f"{metric} (org unit {ROOT_UNIT}, by month):\n" + "\n".join(mismatches) + hint
