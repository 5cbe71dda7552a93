"""OpenLineage run events for every pipeline run: extraction, dbt models, checks and publication.

After a Dagster run ends, `emit_run_lineage()` reads the run's event log (and the batch log, the
check results and the archived dbt artifacts) and emits, with the official openlineage-python client:

- the Dagster run as the parent job `kpi_pipeline` (START, then COMPLETE or FAIL);
- each step as a child job `kpi_pipeline.<step>` with a ParentRunFacet: extraction (landing files
  with their checksums and row counts → `raw.<entity>` with schema and row count), the quality gate
  (the checked table with a DataQualityAssertions facet from the Great Expectations results) and the
  publication (staged scorecards → the published tables with schema and row counts);
- each dbt model as a child of the dbt step, `kpi_pipeline.dbt.<schema>.<model>`, with its inputs,
  schema and the dbt tests on it as assertions, timed from run_results.json.

Events go to `$KPI_DATA_DIR/lineage/openlineage.jsonl` (one JSON event per line) and, when
OPENLINEAGE_URL is set, to that OpenLineage HTTP endpoint too (e.g. Marquez), through the outbox of
dagster_project/outbound.py: bounded in time, an event leaves the outbox only after a 2xx reply,
the rest is retried by the next run. A run is emitted once: a marker under `lineage/emitted/`
makes a second call (the sensor after `kpi run`) a no-op.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    data_quality_assertions_dataset,
    data_quality_metrics_input_dataset,
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    schema_dataset,
)
from openlineage.client.serde import Serde

from dagster_project.audit.artifacts import DbtInvocation, dbt_invocations, read_blob
from dagster_project.outbound import Delivery, Outbox, deliver, lineage_destination
from dagster_project.publish.contract import CONTRACT_TABLES, PUBLISHED_TABLES
from dagster_project.publish.files import published_path
from dagster_project.settings import DEFAULT_OPENLINEAGE_NAMESPACE, OutboundSettings

PRODUCER = "https://github.com/kpi-pipeline/kpi-pipeline"
EVENTS_FILE = Path("lineage") / "openlineage.jsonl"


def events_path(data_dir: Path) -> Path:
    return Path(data_dir) / EVENTS_FILE


def _write_events(data_dir: Path, lines: list[str]) -> None:
    path = events_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as file:
        file.write("".join(line + "\n" for line in lines))


@dataclass
class _Step:
    key: str
    started: float | None = None
    ended: float | None = None
    failed: str | None = None  # the error message
    materialized: list[dg.AssetKey] = field(default_factory=list)
    metadata: dict[dg.AssetKey, dict[str, Any]] = field(default_factory=dict)
    checks: list[tuple[dg.AssetKey, str]] = field(default_factory=list)  # (asset, check name)


def emit_run_lineage(
    instance: dg.DagsterInstance,
    run_id: str,
    data_dir: Path,
    outbound: OutboundSettings | None = None,
) -> list[RunEvent]:
    """Emit the OpenLineage events of a finished run once; returns them (none if emitted before).

    The events are appended to the JSON-lines file and, with an endpoint configured in `outbound`,
    queued in the outbox; `deliver_lineage` posts them."""
    marker = Path(data_dir) / "lineage" / "emitted" / run_id
    if marker.exists():
        return []
    run = instance.get_run_by_id(run_id)
    if run is None:
        raise ValueError(f"Dagster run {run_id} not found in {instance.root_directory}")
    namespace = outbound.openlineage_namespace if outbound else DEFAULT_OPENLINEAGE_NAMESPACE
    events = _RunEvents(instance, run, Path(data_dir), namespace).build()
    lines = [Serde.to_json(event) for event in events]
    _write_events(data_dir, lines)
    destination = lineage_destination(outbound)
    if destination is not None:
        Outbox(data_dir).add(destination.name, [line.encode("utf-8") for line in lines])
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return events


def deliver_lineage(data_dir: Path, outbound: OutboundSettings | None) -> Delivery | None:
    """Post the queued OpenLineage events (this run's and any earlier run could not deliver) within
    the outbound time budget; None without an endpoint. Never raises for the endpoint's failures."""
    destination = lineage_destination(outbound)
    if destination is None or outbound is None:
        return None
    return deliver(Outbox(data_dir), destination, outbound.timeout_seconds)


class _RunEvents:
    def __init__(
        self, instance: dg.DagsterInstance, run: dg.DagsterRun, data_dir: Path, namespace: str
    ) -> None:
        self.run = run
        self.data_dir = data_dir
        self.namespace = namespace
        self.warehouse = data_dir / "warehouse.duckdb"
        self.warehouse_ns = f"duckdb://{self.warehouse}"
        self.published_ns = f"duckdb://{published_path(data_dir)}"
        self.logs = instance.all_logs(run.run_id)
        # The dbt steps of the run, with the invocation each archived (audit/artifacts.py).
        self.dbt_steps = {i.step: i for i in dbt_invocations(data_dir, run.run_id) if i.step}

    # --- the whole run -------------------------------------------------------------------------

    def build(self) -> list[RunEvent]:
        steps = self._steps()
        started = min((s.started for s in steps.values() if s.started), default=None)
        ended = max((s.ended for s in steps.values() if s.ended), default=None)
        job = self._job(self.run.job_name)
        parent_run = Run(runId=self.run.run_id)
        failed = [s for s in steps.values() if s.failed]
        events = [self._event(RunState.START, started, parent_run, job)]
        facts = self._warehouse_facts(steps)
        for step in steps.values():
            events += self._step_events(step, facts)
        end_run = Run(
            runId=self.run.run_id,
            facets={
                "errorMessage": _error(f"{len(failed)} step(s) failed: {', '.join(s.key for s in failed)}")
            }
            if failed
            else {},
        )
        events.append(self._event(RunState.FAIL if failed else RunState.COMPLETE, ended, end_run, job))
        return events

    def _steps(self) -> dict[str, _Step]:
        steps: dict[str, _Step] = {}
        for entry in self.logs:
            event = entry.dagster_event
            if event is None or not event.step_key:
                continue
            step = steps.setdefault(event.step_key, _Step(event.step_key))
            kind = event.event_type_value
            if kind == "STEP_START":
                step.started = entry.timestamp
            elif kind == "STEP_SUCCESS":
                step.ended = entry.timestamp
            elif kind == "STEP_FAILURE":
                step.ended = entry.timestamp
                error = event.step_failure_data.error
                step.failed = error.message.strip() if error else "step failed"
            elif kind == "ASSET_MATERIALIZATION":
                materialization = event.step_materialization_data.materialization
                step.materialized.append(materialization.asset_key)
                step.metadata[materialization.asset_key] = {
                    k: v.value for k, v in materialization.metadata.items()
                }
            elif kind == "ASSET_CHECK_EVALUATION":
                evaluation = event.event_specific_data
                step.checks.append((evaluation.asset_key, evaluation.check_name))
        return {key: step for key, step in steps.items() if step.started}

    # --- one step ------------------------------------------------------------------------------

    def _step_events(self, step: _Step, facts: _WarehouseFacts) -> list[RunEvent]:
        job = self._job(f"{self.run.job_name}.{step.key}", integration="DAGSTER")
        run_id = _child_run_id(self.run.run_id, step.key)
        parent = self._parent(self.run.run_id, self.run.job_name)
        inputs: list[InputDataset] = []
        outputs: list[OutputDataset] = []
        children: list[RunEvent] = []
        keys = [tuple(k.path) for k in step.materialized]
        if keys and all(k[0] == "raw" for k in keys):
            for key in step.materialized:
                entity = key.path[-1]
                inputs += [self._landing_file(batch) for batch in facts.batches.get(entity, [])]
                rows = step.metadata[key].get("rows_loaded")
                outputs.append(self._table(f"raw.{entity}", facts.columns.get(("raw", entity), []), rows))
        elif step.key in self.dbt_steps:
            children, inputs, outputs = self._dbt_events(self.dbt_steps[step.key], run_id, job.name, facts)
        elif ("published", "scorecard") in keys:
            inputs = [
                self._input(
                    f"scorecard.{name}",
                    facts.columns.get(("scorecard", name), []),
                    facts.assertions_for(None),
                )
                for name in ("scorecard", "scorecard_scores")
            ]
            outputs = [
                self._published_table(table, facts.published_rows.get(table)) for table in PUBLISHED_TABLES
            ]
        # Gate checks (the dbt step's checks are its dbt tests, already assertions on its models).
        for asset_key, check_name in step.checks if step.key not in self.dbt_steps else []:
            table = ".".join(asset_key.path)
            inputs.append(
                self._input(
                    table, facts.columns.get(tuple(asset_key.path), []), facts.assertions_for(check_name)
                )
            )
        start = self._event(
            RunState.START, step.started, Run(runId=run_id, facets={"parent": parent}), job, inputs
        )
        end_facets: dict[str, Any] = {"parent": parent}
        if step.failed:
            end_facets["errorMessage"] = _error(step.failed)
        end = self._event(
            RunState.FAIL if step.failed else RunState.COMPLETE, step.ended, Run(runId=run_id, facets=end_facets),
            job, inputs, outputs,
        )  # fmt: skip
        return [start, *children, end]

    def _dbt_events(
        self, invocation: DbtInvocation, step_run_id: str, step_job: str, facts: _WarehouseFacts
    ) -> tuple[list[RunEvent], list[InputDataset], list[OutputDataset]]:
        manifest = json.loads(read_blob(self.data_dir, invocation.manifest_sha256))
        results = json.loads(read_blob(self.data_dir, invocation.run_results_sha256))["results"]
        nodes = {**manifest["nodes"], **manifest["sources"]}
        tests_by_model: dict[str, list[data_quality_assertions_dataset.Assertion]] = defaultdict(list)
        for result in results:
            node = manifest["nodes"].get(result["unique_id"], {})
            if node.get("resource_type") == "test" and node.get("attached_node"):
                tests_by_model[node["attached_node"]].append(
                    data_quality_assertions_dataset.Assertion(
                        assertion=(node.get("test_metadata") or {}).get("name", "custom_sql"),
                        success=result["status"] == "pass",
                        column=node.get("column_name"),
                        severity=str(node.get("config", {}).get("severity", "ERROR")).lower(),
                        name=node["name"],
                    )
                )
        parent = self._parent(step_run_id, step_job, root=(self.run.run_id, self.run.job_name))
        events: list[RunEvent] = []
        outputs: list[OutputDataset] = []
        tested: list[InputDataset] = []
        for result in results:
            node = manifest["nodes"].get(result["unique_id"])
            if not node or node["resource_type"] not in ("model", "seed"):
                continue
            relation = _relation(node)
            job = self._job(
                f"{self.run.job_name}.dbt.{relation}",
                integration="DBT",
                job_type=node["resource_type"].upper(),
            )
            run = _child_run_id(self.run.run_id, result["unique_id"])
            inputs = [
                self._input(_relation(nodes[parent_id]), _manifest_columns(nodes[parent_id]))
                for parent_id in node.get("depends_on", {}).get("nodes", [])
                if parent_id in nodes and nodes[parent_id]["resource_type"] in ("model", "seed", "source")
            ]
            output = self._table(
                relation, _manifest_columns(node) or facts.columns.get(tuple(relation.split(".")), [])
            )
            timing = {t["name"]: t for t in result.get("timing", [])}
            started = _epoch((timing.get("compile") or timing.get("execute") or {}).get("started_at"))
            ended = _epoch((timing.get("execute") or {}).get("completed_at"))
            ok = result["status"] in ("success", "pass")
            events.append(
                self._event(RunState.START, started, Run(runId=run, facets={"parent": parent}), job, inputs)
            )
            end_facets: dict[str, Any] = {"parent": parent}
            if not ok:
                end_facets["errorMessage"] = _error(result.get("message") or result["status"])
            events.append(
                self._event(
                    RunState.COMPLETE if ok else RunState.FAIL,
                    ended,
                    Run(runId=run, facets=end_facets),
                    job,
                    inputs,
                    [output],
                )
            )
            outputs.append(output)
            if tests_by_model.get(result["unique_id"]):
                tested.append(self._input(relation, [], tests_by_model[result["unique_id"]]))
        return events, tested, outputs

    # --- datasets ------------------------------------------------------------------------------

    def _landing_file(self, batch: dict[str, Any]) -> InputDataset:
        return InputDataset(
            namespace="file",
            name=batch["file_path"],
            facets={
                "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=batch["sha256"])
            },
            inputFacets={
                "dataQualityMetrics": data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
                    columnMetrics={}, rowCount=batch["rows_read"], bytes=batch["file_size_bytes"]
                )
            },
        )

    def _table(
        self,
        relation: str,
        columns: Iterable[tuple[str, str]],
        rows: int | None = None,
        namespace: str | None = None,
    ) -> OutputDataset:
        statistics = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=rows)
        return OutputDataset(
            namespace=namespace or self.warehouse_ns,
            name=relation,
            facets=_schema(columns),
            outputFacets={"outputStatistics": statistics} if rows is not None else {},
        )

    def _published_table(self, table: str, rows: int | None) -> OutputDataset:
        return self._table(f"main.{table}", CONTRACT_TABLES.get(table, ()), rows, namespace=self.published_ns)

    def _input(
        self,
        relation: str,
        columns: Iterable[tuple[str, str]],
        assertions: list[data_quality_assertions_dataset.Assertion] | None = None,
    ) -> InputDataset:
        return InputDataset(
            namespace=self.warehouse_ns,
            name=relation,
            facets=_schema(columns),
            inputFacets={
                "dataQualityAssertions": data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
                    assertions=assertions
                )
            }
            if assertions
            else {},
        )

    # --- facts from the warehouse and the published store -------------------------------------

    def _warehouse_facts(self, steps: dict[str, _Step]) -> _WarehouseFacts:
        facts = _WarehouseFacts()
        if self.warehouse.exists():
            with duckdb.connect(str(self.warehouse), read_only=True) as con:
                for schema, table, column, data_type in con.execute(
                    "select schema_name, table_name, column_name, data_type from duckdb_columns() "
                    "where database_name = current_database() order by schema_name, table_name, column_index"
                ).fetchall():
                    facts.columns.setdefault((schema, table), []).append((column, data_type))
                if facts.columns.get(("audit", "load_batches")):
                    for row in _dicts(
                        con,
                        "select entity, file_path, sha256, rows_read, file_size_bytes from audit.load_batches "
                        "where dagster_run_id = ? and status = 'loaded' order by batch_id",
                        [self.run.run_id],
                    ):
                        facts.batches.setdefault(row["entity"], []).append(row)
                if facts.columns.get(("audit", "check_results")):
                    facts.check_results = _dicts(
                        con,
                        "select check_name, expectation, severity, success, observed_value from audit.check_results "
                        "where run_id = ? order by check_name, expectation",
                        [self.run.run_id],
                    )
        published = published_path(self.data_dir)
        if published.exists() and any(
            tuple(k.path) == ("published", "scorecard") for s in steps.values() for k in s.materialized
        ):
            with duckdb.connect(str(published), read_only=True) as con:
                for table in PUBLISHED_TABLES:
                    facts.published_rows[table] = con.execute(f"select count(*) from {table}").fetchone()[0]
        return facts

    # --- event plumbing ------------------------------------------------------------------------

    def _job(self, name: str, integration: str = "DAGSTER", job_type: str = "JOB") -> Job:
        return Job(
            namespace=self.namespace,
            name=name,
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH", integration=integration, jobType=job_type
                )
            },
        )

    def _parent(
        self, run_id: str, job_name: str, root: tuple[str, str] | None = None
    ) -> parent_run.ParentRunFacet:
        root_run, root_job = root or (run_id, job_name)
        return parent_run.ParentRunFacet(
            run=parent_run.Run(runId=run_id),
            job=parent_run.Job(namespace=self.namespace, name=job_name),
            root=parent_run.Root(
                run=parent_run.RootRun(runId=root_run),
                job=parent_run.RootJob(namespace=self.namespace, name=root_job),
            ),
        )

    def _event(
        self,
        state: RunState,
        timestamp: float | None,
        run: Run,
        job: Job,
        inputs: list[InputDataset] | None = None,
        outputs: list[OutputDataset] | None = None,
    ) -> RunEvent:
        moment = datetime.fromtimestamp(timestamp, UTC) if timestamp else datetime.now(UTC)
        return RunEvent(
            eventType=state,
            eventTime=moment.isoformat(),
            run=run,
            job=job,
            producer=PRODUCER,
            inputs=inputs or [],
            outputs=outputs or [],
        )


@dataclass
class _WarehouseFacts:
    columns: dict[tuple[str, ...], list[tuple[str, str]]] = field(default_factory=dict)
    batches: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    check_results: list[dict[str, Any]] = field(default_factory=list)
    published_rows: dict[str, int] = field(default_factory=dict)

    def assertions_for(self, check_name: str | None) -> list[data_quality_assertions_dataset.Assertion]:
        """The Great Expectations results of one check (or of every check), as OpenLineage assertions."""
        return [
            data_quality_assertions_dataset.Assertion(
                assertion=row["expectation"],
                success=bool(row["success"]),
                severity="error" if row["severity"] == "critical" else "warn",
                name=row["check_name"],
                actual=row["observed_value"],
            )
            for row in self.check_results
            if check_name is None or row["check_name"] == check_name
        ]


def _schema(columns: Iterable[tuple[str, str]]) -> dict[str, Any]:
    fields = [
        schema_dataset.SchemaDatasetFacetFields(name=name, type=data_type) for name, data_type in columns
    ]
    return {"schema": schema_dataset.SchemaDatasetFacet(fields=fields)} if fields else {}


def _manifest_columns(node: dict[str, Any]) -> list[tuple[str, str]]:
    return [(name, column.get("data_type") or "") for name, column in (node.get("columns") or {}).items()]


def _relation(node: dict[str, Any]) -> str:
    if node["resource_type"] == "source":
        return f"{node['schema']}.{node['name']}"
    return f"{node['schema']}.{node.get('alias') or node['name']}"


def _dicts(con: duckdb.DuckDBPyConnection, sql: str, parameters: list[Any]) -> list[dict[str, Any]]:
    cursor = con.execute(sql, parameters)
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _child_run_id(run_id: str, name: str) -> str:
    """A stable run id per step or dbt node of a Dagster run (re-emitting gives the same ids)."""
    return str(uuid.uuid5(uuid.UUID(run_id), name))


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _error(message: str) -> error_message_run.ErrorMessageRunFacet:
    return error_message_run.ErrorMessageRunFacet(message=message, programmingLanguage="python")
