"""The hashes of the audit trail, one definition each, shared by the publisher and `kpi audit verify`.

- A row's canonical text is the JSON of its contract columns (DuckDB `to_json(struct_pack(...))`),
  doubles written with 12 significant digits: a parallel aggregation may add in another order from
  run to run and change the last bit, which is not a restatement.
- A set of rows hashes to the SHA-256 of their canonical texts, sorted, one per line.
- A publication record hashes to the SHA-256 of the JSON list of its fields in column order, the
  previous record's hash included: the hash chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime

GENESIS_HASH = "0" * 64  # the previous_record_hash of the first publication


def row_json_sql(
    columns: Sequence[tuple[str, str]], alias: str | None = None, double_format: str = "%.12g"
) -> str:
    """SQL of a row's canonical text over `columns` (name, type) of table alias `alias`."""
    prefix = f"{alias}." if alias else ""
    fields = ", ".join(
        f"{name} := printf('{double_format}', {prefix}{name})"
        if sql_type.upper() == "DOUBLE"
        else f"{name} := {prefix}{name}"
        for name, sql_type in columns
    )
    return f"to_json(struct_pack({fields}))"


def digest_sql(row_text_sql: str) -> str:
    """SQL aggregate: the hash of a group of rows, from their canonical texts (order-independent)."""
    return f"sha256(coalesce(string_agg({row_text_sql}, chr(10) order by {row_text_sql}), ''))"


def period_content_sql(
    scorecard: str,
    scores: str,
    scorecard_columns: Sequence[tuple[str, str]],
    scores_columns: Sequence[tuple[str, str]],
    group_by: Sequence[str] = ("period_grain", "period_start"),
) -> str:
    """SQL: one row per period (per `group_by`) with period_label, row_count and content_hash.

    The content hash covers the scorecard rows, in key order, then the scores rows: the published
    `publications.content_hash`, recomputed by `kpi audit verify` from the history tables.
    """
    keys = ", ".join(group_by)
    join = " and ".join(f"c.{key} = s.{key}" for key in group_by)
    return f"""
        with scorecard_rows as (
            select {keys}, period_label, org_unit_id, kpi_id, {row_json_sql(scorecard_columns)} as row_json
            from {scorecard}
        ), score_rows as (
            select {keys}, org_unit_id, perspective, {row_json_sql(scores_columns)} as row_json
            from {scores}
        ), scorecard_content as (
            select {keys},
                   min(period_label) as period_label,
                   count(*) as row_count,
                   string_agg(row_json, chr(10) order by org_unit_id, kpi_id, row_json) as content
            from scorecard_rows
            group by {keys}
        ), score_content as (
            select {keys},
                   string_agg(row_json, chr(10) order by org_unit_id, perspective, row_json) as content
            from score_rows
            group by {keys}
        )
        select
            {", ".join(f"s.{key}" for key in group_by)},
            s.period_label,
            s.row_count,
            sha256(s.content || chr(10) || '--scores--' || chr(10) || coalesce(c.content, '')) as content_hash
        from scorecard_content as s
        left join score_content as c on {join}
    """


def canonical(value: object) -> object:
    """A field as it enters a record hash: text for dates and times, the value itself otherwise."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def record_hash(values: Sequence[object]) -> str:
    text = json.dumps([canonical(value) for value in values], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
