"""The warehouse tables extraction writes: `raw.<entity>` and `quarantine.<entity>` for every
entity of the contract, and the batch log `audit.load_batches` (idempotent DDL)."""

from __future__ import annotations

import duckdb

from dagster_project.contract import Contract

LOAD_BATCHES_DDL = """
create table if not exists audit.load_batches (
    batch_id bigint primary key,
    entity varchar not null,
    file_name varchar not null,       -- path relative to the landing folder
    file_path varchar not null,       -- absolute path at load time
    file_format varchar not null,
    file_size_bytes bigint not null,
    file_modified_at timestamp,
    sha256 varchar not null,
    status varchar not null,          -- loaded | failed
    rows_read bigint,
    rows_loaded bigint,
    rows_quarantined bigint,
    rows_superseded bigint,
    error varchar,
    loaded_at timestamp not null,     -- UTC
    dagster_run_id varchar
)
"""


def ensure_warehouse_schema(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """Create the raw, quarantine and audit tables the contract implies (idempotent)."""
    for schema in ("raw", "quarantine", "audit"):
        con.execute(f"create schema if not exists {schema}")
    con.execute("create sequence if not exists audit.load_batch_id_seq start 1")
    con.execute(LOAD_BATCHES_DDL)
    for entity in contract.entities.values():
        typed_columns = ",\n    ".join(f"{c.name} {c.sql_type}" for c in entity.columns)
        con.execute(
            f"""
            create table if not exists raw.{entity.name} (
                {typed_columns},
                extra_columns varchar,          -- columns beyond the contract, as a JSON object
                _load_batch_id bigint not null,
                _source_row bigint not null,
                _superseded_by_batch_id bigint  -- set when a later batch corrects this row
            )"""
        )
        text_columns = ",\n    ".join(f"{c.name} varchar" for c in entity.columns)
        con.execute(
            f"""
            create table if not exists quarantine.{entity.name} (
                _load_batch_id bigint not null,
                _source_file varchar not null,
                _source_row bigint,             -- CSV: line number (header = 1); Parquet: row number
                _reason varchar not null,
                {text_columns},
                extra_columns varchar,
                _raw_record varchar             -- the raw text of a line that could not be parsed
            )"""
        )
    _add_new_columns(con, contract)


def _add_new_columns(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """A warehouse created under an earlier contract version gains the columns added since
    (e.g. sales_lines.salesperson_id): empty in the rows already loaded."""
    existing = {
        (schema, table, column)
        for schema, table, column in con.execute(
            "select schema_name, table_name, column_name from duckdb_columns() "
            "where database_name = current_database() and schema_name in ('raw', 'quarantine')"
        ).fetchall()
    }
    for entity in contract.entities.values():
        for column in entity.columns:
            for schema, sql_type in (("raw", column.sql_type), ("quarantine", "varchar")):
                if (schema, entity.name, column.name) not in existing:
                    con.execute(f"alter table {schema}.{entity.name} add column {column.name} {sql_type}")
