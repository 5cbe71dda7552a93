"""`kpi lineage`: everything an auditor needs about one published KPI value, from the published store.

`value_lineage()` returns a plain dict (the JSON of `kpi lineage --format json`, schema documented in
docs/audit.md; `schema_version` changes when a field is removed or changes meaning). Sources: the
published tables (docs/bi_tables.md) and the dbt manifest archived by hash under KPI_DATA_DIR.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import yaml

from dagster_project.audit.artifacts import read_blob
from dagster_project.audit.hashing import canonical
from dagster_project.publish.files import published_path

SCHEMA_VERSION = 1


class LineageError(Exception):
    """Bad input for `kpi lineage`: the message says what was wrong and what exists."""


@dataclass(frozen=True)
class ValueKey:
    kpi_id: str
    period_grain: str
    period_start: date
    period_label: str
    org_unit_id: str | None = None  # None: the top of the hierarchy
    version: int | None = None  # None: the current version


def value_lineage(data_dir: Path, key: ValueKey) -> dict[str, Any]:
    path = published_path(data_dir)
    if not path.is_file():
        raise LineageError(f"{path} does not exist: nothing has been published yet (run `kpi run`).")
    with duckdb.connect(str(path), read_only=True) as con:
        org_unit_id = key.org_unit_id or _top_org_unit(con, key)
        versions = _versions(con, key, org_unit_id)
        version = key.version or versions[-1]["version"]
        if version not in {v["version"] for v in versions}:
            raise LineageError(
                f"{key.kpi_id} for {org_unit_id} in {key.period_label} has version(s) "
                f"{', '.join(str(v['version']) for v in versions)}, not {version}."
            )
        publication = _publication(con, key, version)
        value = _value(con, key, org_unit_id, version)
        definition = _definition(con, key.kpi_id, publication["run_id"])
        inputs = _inputs(con, key, org_unit_id, version, publication["run_id"])
        checks = _checks(con, key, publication["run_id"])
        history = [
            {**v, "inputs": [i["sha256"] for i in _inputs(con, key, org_unit_id, v["version"], v["run_id"])]}
            for v in versions
        ]
        manifest_hash = publication.get("manifest_sha256")
    return {
        "schema_version": SCHEMA_VERSION,
        "kpi_id": key.kpi_id,
        "period": {
            "grain": key.period_grain,
            "start": key.period_start.isoformat(),
            "label": key.period_label,
        },
        "org_unit_id": org_unit_id,
        "version": version,
        "current_version": versions[-1]["version"],
        "value": value,
        "definition": definition,
        "dbt_lineage": _dbt_lineage(data_dir, manifest_hash, definition),
        "inputs": inputs,
        "checks": checks,
        "publication": publication,
        "history": history,
    }


def _rows(con: duckdb.DuckDBPyConnection, sql: str, parameters: list[Any]) -> list[dict[str, Any]]:
    cursor = con.execute(sql, parameters)
    names = [column[0] for column in cursor.description]
    return [
        {name: canonical(value) for name, value in zip(names, row, strict=True)} for row in cursor.fetchall()
    ]


def _top_org_unit(con: duckdb.DuckDBPyConnection, key: ValueKey) -> str:
    row = con.execute(
        "select org_unit_id from scorecard_history where period_grain = ? and period_start = ? "
        "and parent_org_unit_id is null order by org_unit_id limit 1",
        [key.period_grain, key.period_start],
    ).fetchone()
    if row is None:
        raise LineageError(
            f"{key.period_label} ({key.period_grain}) has never been published; see `kpi status`."
        )
    return row[0]


def _versions(con: duckdb.DuckDBPyConnection, key: ValueKey, org_unit_id: str) -> list[dict[str, Any]]:
    versions = _rows(
        con,
        """
        select h.publication_version as version, p.published_at, p.reason, p.run_id, h.actual, h.target, h.status
        from scorecard_history as h
        join publications as p
            on p.period_grain = h.period_grain and p.period_start = h.period_start and p.version = h.publication_version
        where h.period_grain = ? and h.period_start = ? and h.org_unit_id = ? and h.kpi_id = ?
        order by h.publication_version
        """,
        [key.period_grain, key.period_start, org_unit_id, key.kpi_id],
    )
    if versions:
        return versions
    known_kpis = [
        r[0] for r in con.execute("select distinct kpi_id from scorecard_history order by 1").fetchall()
    ]
    if key.kpi_id not in known_kpis:
        raise LineageError(f"KPI {key.kpi_id!r} is not published; published KPIs: {', '.join(known_kpis)}.")
    units = [
        r[0]
        for r in con.execute(
            "select distinct org_unit_id from scorecard_history where period_grain = ? and period_start = ? order by 1",
            [key.period_grain, key.period_start],
        ).fetchall()
    ]
    if not units:
        raise LineageError(
            f"{key.period_label} ({key.period_grain}) has never been published; see `kpi status`."
        )
    raise LineageError(
        f"org unit {org_unit_id!r} is not in {key.period_label}'s scorecard; org units: {', '.join(units)}."
    )


def _publication(con: duckdb.DuckDBPyConnection, key: ValueKey, version: int) -> dict[str, Any]:
    rows = _rows(
        con,
        """
        select p.publication_id, p.version, p.published_at, p.reason, p.run_id, p.content_hash,
               p.previous_record_hash, p.record_hash, p.dbt_invocation_id, p.git_commit,
               r.git_dirty, r.versions, r.manifest_sha256, r.run_results_sha256, r.recorded_at
        from publications as p
        left join publication_runs as r on r.run_id = p.run_id
        where p.period_grain = ? and p.period_start = ? and p.version = ?
        """,
        [key.period_grain, key.period_start, version],
    )
    publication = rows[0]
    publication["versions"] = json.loads(publication["versions"]) if publication["versions"] else None
    return publication


def _value(con: duckdb.DuckDBPyConnection, key: ValueKey, org_unit_id: str, version: int) -> dict[str, Any]:
    return _rows(
        con,
        """
        select org_unit_name, kpi_label, kpi_label_zh, perspective, unit, decimals, actual, numerator,
               denominator, sample_size, value_status, target, target_effective_from, target_set_by,
               attainment, status, points, period_end
        from scorecard_history
        where period_grain = ? and period_start = ? and org_unit_id = ? and kpi_id = ? and publication_version = ?
        """,
        [key.period_grain, key.period_start, org_unit_id, key.kpi_id, version],
    )[0]


def _definition(con: duckdb.DuckDBPyConnection, kpi_id: str, run_id: str) -> dict[str, Any]:
    """The definition as the dictionary published it, with the file's text as that run used it."""
    found = _rows(
        con,
        """
        select metric_name, definition_file as file, definition_version as version, definition_hash,
               owner, formula, description, label, label_zh
        from kpi_dictionary where kpi_id = ?
        """,
        [kpi_id],
    )
    definition = found[0] if found else {"metric_name": None, "file": None}
    text = con.execute(
        "select f.sha256, t.text from publication_files as f join audit_texts as t on t.sha256 = f.sha256 "
        "where f.run_id = ? and f.path = ?",
        [run_id, definition.get("file")],
    ).fetchone()
    definition["file_sha256"] = text[0] if text else None
    definition["metric_yaml"] = _metric_yaml(text[1], definition["metric_name"]) if text else None
    definition["inputs"] = _rows(
        con,
        "select semantic_model, model, source_entities, offset_months from kpi_inputs "
        "where run_id = ? and kpi_id = ? order by offset_months, semantic_model",
        [run_id, kpi_id],
    )
    return definition


def _metric_yaml(text: str, metric_name: str | None) -> str | None:
    for metric in (yaml.safe_load(text) or {}).get("metrics", []) or []:
        if metric.get("name") == metric_name:
            return yaml.safe_dump(metric, sort_keys=False, allow_unicode=True)
    return None


def _inputs(
    con: duckdb.DuckDBPyConnection, key: ValueKey, org_unit_id: str, version: int, run_id: str
) -> list[dict[str, Any]]:
    """The batches that fed the value: for each semantic model (and offset) the KPI reads."""
    return _rows(
        con,
        """
        select b.batch_id, b.entity, b.file_name, b.file_path, b.sha256, b.file_size_bytes, b.rows_read,
               b.rows_loaded, b.rows_quarantined, b.loaded_at, b.dagster_run_id as extract_run_id,
               v.semantic_model, v.offset_months, v.row_count as rows_used
        from value_inputs as v
        join source_batches as b on b.batch_id = v.load_batch_id
        where v.period_grain = ? and v.period_start = ? and v.publication_version = ? and v.org_unit_id = ?
          and exists (select 1 from kpi_inputs as k
                      where k.run_id = ? and k.kpi_id = ? and k.semantic_model = v.semantic_model
                        and k.offset_months = v.offset_months)
        order by v.offset_months, v.semantic_model, b.batch_id
        """,
        [key.period_grain, key.period_start, version, org_unit_id, run_id, key.kpi_id],
    )


def _checks(con: duckdb.DuckDBPyConnection, key: ValueKey, run_id: str) -> list[dict[str, Any]]:
    return _rows(
        con,
        """
        select suite, expectation, table_name, severity, success, period_grain, period_start, observed_value,
               details, checked_at
        from check_results
        where run_id = ?
          and ((period_start = ? and period_grain = ?)
               or (period_start is null and (period_grain is null or period_grain = ?)))
        order by severity, suite, expectation
        """,
        [run_id, key.period_start, key.period_grain, key.period_grain],
    )


def _dbt_lineage(data_dir: Path, manifest_hash: str | None, definition: dict[str, Any]) -> dict[str, Any]:
    """The dbt nodes from the scorecard back to the landing sources, for the KPI's fact models."""
    if not manifest_hash:
        return {"manifest_sha256": None, "nodes": []}
    try:
        manifest = json.loads(read_blob(data_dir, manifest_hash))
    except (FileNotFoundError, ValueError) as error:
        return {"manifest_sha256": manifest_hash, "nodes": [], "error": str(error)}
    nodes = {**manifest["nodes"], **manifest["sources"]}
    by_name = {
        node["name"]: uid for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"
    }
    starts = [by_name[name] for name in ("scorecard", "kpi_values") if name in by_name]
    starts += [by_name[i["model"]] for i in definition.get("inputs", []) if i["model"] in by_name]
    fact_models = {by_name[i["model"]] for i in definition.get("inputs", []) if i["model"] in by_name}
    wanted: list[str] = []
    stack = list(reversed(starts))
    while stack:
        uid = stack.pop()
        if uid in wanted or uid not in nodes:
            continue
        wanted.append(uid)
        parents = nodes[uid].get("depends_on", {}).get("nodes", [])
        if nodes[uid].get("name") == "kpi_values":  # it reads every fact model: keep this KPI's
            parents = [
                p
                for p in parents
                if p in fact_models or not nodes.get(p, {}).get("name", "").startswith("fct_")
            ]
        stack.extend(parents)
    result = []
    for uid in wanted:
        node = nodes[uid]
        result.append(
            {
                "unique_id": uid,
                "resource_type": node["resource_type"],
                "relation": f"{node['schema']}.{node.get('alias') or node['name']}"
                if node["resource_type"] != "source"
                else f"{node['source_name']}.{node['name']}",
                "file": os.path.normpath(f"dbt_project/{node['original_file_path']}"),
                "depends_on": [p for p in node.get("depends_on", {}).get("nodes", []) if p in wanted],
            }
        )
    return {"manifest_sha256": manifest_hash, "nodes": result}
