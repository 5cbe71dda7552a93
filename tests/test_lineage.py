"""`kpi lineage` end to end: a value names exactly the landing files that fed it; a restatement keeps
both versions with their inputs; the audit trail verifies after every run.

The expected files are computed from the landing folder itself (DuckDB reading each file, hashlib for
the checksum), not from the warehouse, so the test does not trust the code it checks.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import jsonschema
import pytest
from typer.testing import CliRunner

from dagster_project.audit.openlineage import deliver_lineage, emit_run_lineage, events_path
from dagster_project.audit.value import ValueKey, value_lineage
from dagster_project.audit.verify import verify_published
from dagster_project.cli import lineage as lineage_cli
from dagster_project.cli.app import app
from dagster_project.definitions import build_definitions
from dagster_project.outbound import Outbox
from dagster_project.publish.files import published_path
from dagster_project.sample_data.generator import generate_sample_data
from dagster_project.settings import DBT_PROJECT_DIR, OutboundSettings, Settings
from tests.helpers import run_pipeline_on, write_csv

pytestmark = pytest.mark.e2e

OCT = date(2025, 10, 1)
STORE = "ST-001"


def files_with_rows(folder: Path, date_column: str, months: list[str], org_units: list[str]) -> set[str]:
    """SHA-256 of every landing file in `folder` with a row of those org units in those months."""
    found = set()
    for path in sorted(folder.iterdir()):
        reader = "read_parquet" if path.suffix == ".parquet" else "read_csv"
        options = "" if path.suffix == ".parquet" else ", all_varchar = true"
        rows = duckdb.execute(
            f"select count(*) from {reader}('{path}'{options}) "
            f"where org_unit_id in ({', '.join(repr(o) for o in org_units)}) "
            f"and substr(cast({date_column} as varchar), 1, 7) in ({', '.join(repr(m) for m in months)})"
        ).fetchone()[0]
        if rows:
            found.add(hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def input_files(lineage: dict, semantic_model: str, offset_months: int = 0) -> set[str]:
    return {
        i["sha256"]
        for i in lineage["inputs"]
        if i["semantic_model"] == semantic_model and i["offset_months"] == offset_months
    }


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("lineage")
    landing, data = root / "landing", root / "data"
    generate_sample_data(landing, sales_lines=4_000, bad_rows=False)
    _, summary = run_pipeline_on(landing, data)
    assert summary.success, summary.errors
    return landing, data


def test_a_value_names_exactly_the_files_that_fed_it(pipeline: tuple[Path, Path]) -> None:
    landing, data = pipeline
    nps = value_lineage(data, ValueKey("nps", "month", OCT, "2025-10", STORE))
    expected = files_with_rows(landing / "survey_responses", "response_date", ["2025-10"], [STORE])
    assert len(expected) == 1
    assert {i["sha256"] for i in nps["inputs"]} == expected
    assert {i["entity"] for i in nps["inputs"]} == {"survey_responses"}
    # The batch's counts come from the batch log: every row of the file loaded, none quarantined.
    (batch,) = nps["inputs"]
    assert batch["rows_read"] == batch["rows_loaded"] and batch["rows_quarantined"] == 0
    assert 0 < batch["rows_used"] < batch["rows_loaded"]

    # A region's value is fed by its whole subtree; a growth KPI also by the same month a year earlier.
    stores = ["ST-001", "ST-002", "ST-003", "ST-004", "WH-01"]
    growth = value_lineage(data, ValueKey("revenue_growth_yoy_pct", "month", OCT, "2025-10", "R-EAST"))
    assert input_files(growth, "sales_lines") == files_with_rows(
        landing / "sales_lines", "order_date", ["2025-10"], stores
    )
    assert input_files(growth, "sales_lines", offset_months=12) == files_with_rows(
        landing / "sales_lines", "order_date", ["2024-10"], stores
    )
    assert input_files(growth, "sales_lines").isdisjoint(input_files(growth, "sales_lines", 12))
    assert {i["semantic_model"] for i in growth["inputs"]} == {"sales_lines", "returns"}

    # The definition, its file as used, the dbt lineage and the run that published it.
    definition = nps["definition"]
    assert definition["file"] == "kpi_definitions/metrics/customer.yml"
    text = (Path(__file__).parents[1] / definition["file"]).read_bytes()
    assert definition["file_sha256"] == hashlib.sha256(text).hexdigest()
    assert "kpi_id: nps" in definition["metric_yaml"]
    relations = [node["relation"] for node in nps["dbt_lineage"]["nodes"]]
    assert relations[0] == "scorecard.scorecard" and "kpi.kpi_values" in relations
    assert "marts.fct_survey_responses" in relations and "raw.survey_responses" in relations
    assert "marts.fct_sales_lines" not in relations  # other KPIs' facts are not this value's lineage
    publication = nps["publication"]
    assert publication["dbt_invocation_id"] and publication["manifest_sha256"]
    assert publication["versions"]["dbt-core"].startswith("1.11")
    assert {c["severity"] for c in nps["checks"]} == {"critical", "warning"}


def test_kpi_lineage_command_prints_text_and_stable_json(pipeline: tuple[Path, Path]) -> None:
    _, data = pipeline
    runner = CliRunner()
    base = ["lineage", "nps", "--period", "2025-10", "--org", STORE, "--data-dir", str(data)]
    text = runner.invoke(app, base)
    assert text.exit_code == 0, text.output
    (batch,) = json.loads(runner.invoke(app, [*base, "--format", "json"]).output)["inputs"]
    assert "Source batches" in text.output and batch["sha256"][:12] in text.output
    as_json = runner.invoke(app, [*base, "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.output)
    assert document["schema_version"] == 1
    assert sorted(document) == sorted(
        ["schema_version", "kpi_id", "period", "org_unit_id", "version", "current_version", "value",
         "definition", "dbt_lineage", "inputs", "checks", "publication", "history"]
    )  # fmt: skip
    unknown = runner.invoke(app, ["lineage", "no_such_kpi", "--period", "2025-10", "--data-dir", str(data)])
    assert unknown.exit_code == 2 and "not published" in unknown.output


def test_kpi_lineage_shows_control_characters_in_data_escaped(
    pipeline: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ESC or NUL in an org unit name or a file name reaches neither the text nor the JSON raw."""
    _, data = pipeline
    real = value_lineage(data, ValueKey("nps", "month", OCT, "2025-10", STORE))
    hostile = json.loads(json.dumps(real))
    hostile["value"]["org_unit_name"] = "Shop\x1b[2J\x1b]0;owned\x07\x00"
    hostile["inputs"][0]["file_name"] = "evil\x1b[31m\x9b.csv"
    monkeypatch.setattr(lineage_cli, "value_lineage", lambda *args: hostile)
    runner = CliRunner()
    base = ["lineage", "nps", "--period", "2025-10", "--org", STORE, "--data-dir", str(data)]
    for args in (base, [*base, "--format", "json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert not any(ch in result.output for ch in "\x1b\x00\x07\x9b"), args
    assert "Shop\\x1b[2J" in runner.invoke(app, base).output
    assert json.loads(runner.invoke(app, [*base, "--format", "json"]).output) == hostile


def test_a_late_file_restates_the_value_and_both_versions_keep_their_inputs(
    pipeline: tuple[Path, Path], tmp_path: Path
) -> None:
    # On a copy (a new Dagster home), so that the module's other tests see the first run whatever
    # their order.
    landing, data = tmp_path / "landing", tmp_path / "data"
    shutil.copytree(pipeline[0], landing)
    shutil.copytree(pipeline[1], data, ignore=shutil.ignore_patterns("dagster_home"))
    before = value_lineage(data, ValueKey("nps", "month", OCT, "2025-10", STORE))
    late = write_csv(
        landing / "survey_responses" / "survey_responses_2025-10_late.csv",
        [{
            "response_id": "SR-LATE-001", "response_date": "2025-10-30", "org_unit_id": STORE, "customer_id": "",
            "order_id": "", "nps_score": "0", "csat_score": "1", "comment": "late answer",
        }],
        header=["response_id", "response_date", "org_unit_id", "customer_id", "order_id", "nps_score", "csat_score", "comment"],
    )  # fmt: skip
    _, summary = run_pipeline_on(landing, data)
    assert summary.success, summary.errors
    after = value_lineage(data, ValueKey("nps", "month", OCT, "2025-10", STORE))
    late_sha = hashlib.sha256(late.read_bytes()).hexdigest()
    assert after["version"] == before["version"] + 1 == after["current_version"]
    assert after["publication"]["reason"] == "restatement"
    assert {i["sha256"] for i in after["inputs"]} == {i["sha256"] for i in before["inputs"]} | {late_sha}
    first, second = after["history"][-2:]
    assert late_sha not in first["inputs"] and late_sha in second["inputs"]
    assert after["value"]["sample_size"] == before["value"]["sample_size"] + 1  # the late detractor
    # The old version stays queryable, with its own inputs.
    old = value_lineage(data, ValueKey("nps", "month", OCT, "2025-10", STORE, version=before["version"]))
    assert old["value"]["actual"] == before["value"]["actual"]
    assert late_sha not in {i["sha256"] for i in old["inputs"]}
    # Another store's value for the month did not change, so it was not restated.
    other = value_lineage(data, ValueKey("nps", "month", OCT, "2025-10", "ST-009"))
    assert len(other["history"]) == 1 or other["history"][-1]["actual"] == other["history"][-2]["actual"]

    # Only the periods holding October were restated (not November through its prior-period
    # columns, nor October a year later), each from a new input batch (issue 13 items 6 and 7).
    with duckdb.connect(str(published_path(data)), read_only=True) as con:
        restated = con.execute(
            "select period_grain, period_start, inputs_changed from publications "
            "where run_id = (select run_id from publications order by publication_id desc limit 1) order by all"
        ).fetchall()
    assert restated == [
        ("month", OCT, True),
        ("quarter", date(2025, 10, 1), True),
        ("year", date(2025, 1, 1), True),
    ]

    report = verify_published(published_path(data))
    assert report.ok, report.findings
    assert report.publications >= 3


# --- OpenLineage ---------------------------------------------------------------------------------

SCHEMA = json.loads(
    (Path(__file__).parent / "schemas" / "openlineage_run_event.schema.json").read_text("utf-8")
)


def read_events(data: Path) -> list[dict]:
    return [json.loads(line) for line in events_path(data).read_text("utf-8").splitlines() if line.strip()]


def test_every_run_emits_openlineage_events_that_validate(pipeline: tuple[Path, Path]) -> None:
    landing, data = pipeline
    events = read_events(data)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for event in events:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(event)]
        assert not errors, (event["job"]["name"], errors)
        assert event["schemaURL"].startswith("https://openlineage.io/spec/2-0-2/")

    runs = [e for e in events if e["job"]["name"] == "kpi_pipeline"]
    assert [e["eventType"] for e in runs][:2] == ["START", "COMPLETE"]
    dagster_run_id = runs[0]["run"]["runId"]
    first_run = [
        e for e in events
        if e["run"]["runId"] == dagster_run_id
        or e["run"].get("facets", {}).get("parent", {}).get("root", {}).get("run", {}).get("runId") == dagster_run_id
    ]  # fmt: skip
    by_job = defaultdict(list)
    for event in first_run:
        by_job[event["job"]["name"]].append(event)
    # Every step START → COMPLETE, child of the run; the extraction reads the landing files by checksum.
    extract = by_job["kpi_pipeline.raw__sales_lines"]
    assert [e["eventType"] for e in extract] == ["START", "COMPLETE"]
    assert extract[0]["run"]["facets"]["parent"]["run"]["runId"] == dagster_run_id
    files = {i["name"]: i["facets"]["version"]["datasetVersion"] for i in extract[-1]["inputs"]}
    assert files == {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in (landing / "sales_lines").iterdir()
    }
    (raw,) = extract[-1]["outputs"]
    assert raw["name"] == "raw.sales_lines" and raw["outputFacets"]["outputStatistics"]["rowCount"] > 0
    assert {"order_id", "_load_batch_id"} <= {f["name"] for f in raw["facets"]["schema"]["fields"]}
    # dbt models are children of the dbt step, with their inputs and tests.
    kpi_values = by_job["kpi_pipeline.dbt.kpi.kpi_values"]
    assert [e["eventType"] for e in kpi_values] == ["START", "COMPLETE"]
    assert kpi_values[0]["run"]["facets"]["parent"]["job"]["name"] == "kpi_pipeline.kpi_dbt_monthly_models"
    staging = by_job["kpi_pipeline.dbt.staging.stg_sales_lines"]  # the unpartitioned dbt step's
    assert staging[0]["run"]["facets"]["parent"]["job"]["name"] == "kpi_pipeline.kpi_dbt_models"
    assert "marts.fct_sales_lines" in {i["name"] for i in kpi_values[-1]["inputs"]}
    assertions = [
        a
        for step in ("kpi_pipeline.kpi_dbt_models", "kpi_pipeline.kpi_dbt_monthly_models")
        for i in by_job[step][-1]["inputs"]
        for a in i["inputFacets"]["dataQualityAssertions"]["assertions"]
    ]
    assert len(assertions) > 20 and all(a["success"] for a in assertions)
    # The gate: the checked table with the Great Expectations results as assertions.
    gate_inputs = [
        i for name, evs in by_job.items() if name.startswith("kpi_pipeline.") for i in evs[-1]["inputs"]
        if "dataQualityAssertions" in i.get("inputFacets", {}) and "_dbt_" not in name
    ]  # fmt: skip
    assert {i["name"] for i in gate_inputs} >= {"kpi.kpi_values", "scorecard.scorecard"}
    # Publication: the staged scorecards → every published table, with its row count.
    publish = by_job["kpi_pipeline.published__scorecard"][-1]
    published = {o["name"]: o for o in publish["outputs"]}
    assert published["main.scorecard"]["outputFacets"]["outputStatistics"]["rowCount"] > 0
    assert "main.value_inputs" in published


def test_openlineage_events_reach_an_http_endpoint(pipeline: tuple[Path, Path]) -> None:
    """With OPENLINEAGE_URL set, the same events are posted to it (a local Marquez stand-in here)."""
    _, data = pipeline
    received: list[dict] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    instance = dg.DagsterInstance.from_config(str(data / "dagster_home"))
    run_id = read_events(data)[0]["run"]["runId"]
    (data / "lineage" / "emitted" / run_id).unlink()  # emit that run again

    class Hangs(Collector):
        def do_POST(self) -> None:
            time.sleep(30)

    hanging = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hangs)
    hanging.daemon_threads = True
    threading.Thread(target=hanging.serve_forever, daemon=True).start()
    # First an endpoint that hangs: bounded by the budget, nothing marked sent, the run goes on.
    stalled = OutboundSettings(openlineage_url=f"http://127.0.0.1:{hanging.server_port}", timeout_seconds=1.5)
    started = time.monotonic()
    events = emit_run_lineage(instance, run_id, data, stalled)
    delivery = deliver_lineage(data, stalled)
    assert time.monotonic() - started < 1.5 + 5  # + building the events from the run's log
    hanging.shutdown()
    assert delivery is not None and not delivery.ok and delivery.pending == len(events) > 10
    assert Outbox(data).count("openlineage") == len(events)
    # The next run with a working endpoint delivers the kept events, and the outbox empties.
    outbound = OutboundSettings(openlineage_url=f"http://127.0.0.1:{server.server_port}", timeout_seconds=30)
    try:
        delivery = deliver_lineage(data, outbound)
    finally:
        server.shutdown()
    assert delivery is not None and delivery.ok and delivery.sent == len(events)
    assert Outbox(data).count("openlineage") == 0
    assert len(received) == len(events) > 10
    assert {e["run"]["runId"] for e in received} >= {run_id}
    assert emit_run_lineage(instance, run_id, data, outbound) == []  # once per run


def test_dbt_docs_show_metrics_semantic_models_models_and_sources_as_one_graph(
    pipeline: tuple[Path, Path], tmp_path: Path
) -> None:
    _, data = pipeline
    target = tmp_path / "docs_target"
    env = {**os.environ, "KPI_DATA_DIR": str(data), "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "docs", "generate", "--target-path", str(target), "--quiet"],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (target / "index.html").exists()
    manifest = json.loads((target / "manifest.json").read_text("utf-8"))
    catalog = json.loads((target / "catalog.json").read_text("utf-8"))
    assert "model.kpi_pipeline.kpi_values" in catalog["nodes"]
    # metric → metrics → semantic model → fact model → staging → source: one connected graph
    nodes = {**manifest["nodes"], **manifest["sources"], **manifest["metrics"], **manifest["semantic_models"]}
    reachable, stack = set(), ["metric.kpi_pipeline.nps"]
    while stack:
        node = stack.pop()
        if node not in reachable:
            reachable.add(node)
            stack.extend(nodes[node].get("depends_on", {}).get("nodes", []))
    assert {
        "semantic_model.kpi_pipeline.survey_responses",
        "model.kpi_pipeline.fct_survey_responses",
        "model.kpi_pipeline.stg_survey_responses",
        "source.kpi_pipeline.raw.survey_responses",
    } <= reachable
    assert "source.kpi_pipeline.raw.sales_lines" not in reachable


def test_the_dagster_asset_graph_runs_from_landing_files_to_the_published_scorecard() -> None:
    graph = build_definitions(Settings.from_env()).resolve_asset_graph()
    reached, frontier = set(), [dg.AssetKey(["landing", "survey_responses"])]
    while frontier:
        key = frontier.pop()
        if key not in reached:
            reached.add(key)
            frontier.extend(graph.get(key).child_keys)
    assert {
        dg.AssetKey(["raw", "survey_responses"]),
        dg.AssetKey(["marts", "fct_survey_responses"]),
        dg.AssetKey(["kpi", "kpi_values"]),
        dg.AssetKey(["lineage", "batch_contributions"]),
        dg.AssetKey(["scorecard", "scorecard"]),
        dg.AssetKey(["published", "scorecard"]),
    } <= reached
