"""The BI contract: every published table, its columns and their types, declared once (docs/bi_tables.md).

Also where the publisher reads the staged tables in the warehouse, and which columns of the scorecard
compare with other periods (left out of the content hash).
"""

from __future__ import annotations

from dagster_project.audit.seal import SEALED_ROW_HASHES_COLUMNS, SEALS_COLUMNS
from dagster_project.periods import GRAIN_MONTHS

# The BI contract: table columns and their types, declared once here (see STAGED_CONTRACTS). Names
# and types are stable; docs/bi_tables.md documents every column, the dbt models' contracts and
# casts repeat them: tests/test_publish.py keeps all of them in step with these tuples.
SCORECARD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("period_grain", "varchar"),
    ("period_start", "date"),
    ("period_end", "date"),
    ("period_label", "varchar"),
    ("org_unit_id", "varchar"),
    ("org_unit_name", "varchar"),
    ("org_unit_name_zh", "varchar"),
    ("unit_type", "varchar"),
    ("parent_org_unit_id", "varchar"),
    ("kpi_id", "varchar"),
    ("kpi_label", "varchar"),
    ("kpi_label_zh", "varchar"),
    ("perspective", "varchar"),
    ("unit", "varchar"),
    ("polarity", "varchar"),
    ("decimals", "integer"),
    ("actual", "double"),
    ("numerator", "double"),
    ("denominator", "double"),
    ("sample_size", "bigint"),
    ("value_status", "varchar"),
    ("target", "double"),
    ("target_effective_from", "date"),
    ("target_set_by", "varchar"),
    ("attainment", "double"),
    ("status", "varchar"),
    ("points", "integer"),
    ("prior_period_actual", "double"),
    ("change_vs_prior_period", "double"),
    ("prior_year_actual", "double"),
    ("change_vs_prior_year", "double"),
    ("weight", "double"),
)
SCORECARD_KEY = ("period_grain", "period_start", "org_unit_id", "kpi_id")
# The comparison columns: another period's actual (and the difference to it), not the period's own
# figures. They are left out of the content hash, so they never make a version by themselves, and
# the current `scorecard` rows always show the current versions of the compared periods: refreshed
# in place when a compared period is restated (the history keeps them as published). docs/bi_tables.md.
# (comparison column, its change column, months back: None = one period of the row's grain)
COMPARISONS: tuple[tuple[str, str, int | None], ...] = (
    ("prior_period_actual", "change_vs_prior_period", None),
    ("prior_year_actual", "change_vs_prior_year", GRAIN_MONTHS["year"]),
)
COMPARISON_COLUMNS = tuple(name for pair in COMPARISONS for name in pair[:2])
# What a period's version is: its own figures (the content hash covers these columns).
SCORECARD_CONTENT_COLUMNS = tuple(c for c in SCORECARD_COLUMNS if c[0] not in COMPARISON_COLUMNS)

SCORES_COLUMNS: tuple[tuple[str, str], ...] = (
    ("period_grain", "varchar"),
    ("period_start", "date"),
    ("org_unit_id", "varchar"),
    ("perspective", "varchar"),
    ("score", "double"),
    ("kpis_scored", "integer"),
)
SCORES_KEY = ("period_grain", "period_start", "org_unit_id", "perspective")

VERSION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("publication_version", "integer"),
    ("published_at", "timestamp"),
)

PUBLICATIONS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("period_grain", "varchar"),
    ("period_start", "date"),
    ("period_label", "varchar"),
    ("version", "integer"),
    ("published_at", "timestamp"),
    ("run_id", "varchar"),
    ("reason", "varchar"),
    ("row_count", "bigint"),
    ("content_hash", "varchar"),
    ("checks_passed", "integer"),
    ("checks_warned", "integer"),
    # The audit trail (docs/audit.md): a global sequence, what produced the version, and the hash
    # chain: record_hash covers every column before it, previous_record_hash included.
    ("publication_id", "bigint"),
    ("dbt_invocation_id", "varchar"),
    ("git_commit", "varchar"),
    ("provenance_hash", "varchar"),
    ("inputs_hash", "varchar"),
    ("checks_hash", "varchar"),
    ("previous_record_hash", "varchar"),
    ("record_hash", "varchar"),
    # A restatement: did its input batches change (new or changed files), or not (the change came
    # from definitions, targets, code, or an edit of the warehouse)? NULL for initial versions and
    # when unknown. Added after record_hash (additive), and covered by it when not NULL.
    ("inputs_changed", "boolean"),
)

ATTEMPTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("attempt_id", "bigint"),
    ("period_grain", "varchar"),
    ("period_start", "date"),
    ("period_label", "varchar"),
    ("run_id", "varchar"),
    ("attempted_at", "timestamp"),
    ("outcome", "varchar"),
    ("version", "integer"),
    ("content_hash", "varchar"),
    ("reason", "varchar"),
    ("failing_checks", "varchar"),
)

CHECK_RESULTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "varchar"),
    ("checked_at", "timestamp"),
    ("suite", "varchar"),
    ("expectation", "varchar"),
    ("table_name", "varchar"),
    ("period_grain", "varchar"),
    ("period_start", "date"),
    ("severity", "varchar"),
    ("success", "boolean"),
    ("observed_value", "varchar"),
    ("failing_rows_sample", "varchar"),
    ("details", "varchar"),
)

# The audit trail's tables (docs/audit.md). All are append-only.
PUBLICATION_RUNS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "varchar"),
    ("recorded_at", "timestamp"),
    ("dbt_invocation_id", "varchar"),
    ("dbt_command", "varchar"),
    ("dbt_generated_at", "varchar"),
    ("git_commit", "varchar"),
    ("git_dirty", "boolean"),
    ("versions", "varchar"),
    ("manifest_sha256", "varchar"),
    ("run_results_sha256", "varchar"),
    ("files_hash", "varchar"),
    ("kpi_inputs_hash", "varchar"),
    ("record_hash", "varchar"),
)
PUBLICATION_FILES_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "varchar"),
    ("kind", "varchar"),
    ("path", "varchar"),
    ("sha256", "varchar"),
)
AUDIT_TEXTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("sha256", "varchar"),
    ("text", "varchar"),
)
KPI_INPUTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "varchar"),
    ("kpi_id", "varchar"),
    ("metric_name", "varchar"),
    ("semantic_model", "varchar"),
    ("model", "varchar"),
    ("source_entities", "varchar"),
    ("offset_months", "integer"),
)
SOURCE_BATCHES_COLUMNS: tuple[tuple[str, str], ...] = (
    ("batch_id", "bigint"),
    ("entity", "varchar"),
    ("file_name", "varchar"),
    ("file_path", "varchar"),
    ("file_format", "varchar"),
    ("file_size_bytes", "bigint"),
    ("sha256", "varchar"),
    ("rows_read", "bigint"),
    ("rows_loaded", "bigint"),
    ("rows_quarantined", "bigint"),
    ("loaded_at", "timestamp"),
    ("dagster_run_id", "varchar"),
)
VALUE_INPUTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("period_grain", "varchar"),
    ("period_start", "date"),
    ("publication_version", "integer"),
    ("org_unit_id", "varchar"),
    ("semantic_model", "varchar"),
    ("offset_months", "integer"),
    ("load_batch_id", "bigint"),
    ("row_count", "bigint"),
)
ROW_HASHES_COLUMNS: tuple[tuple[str, str], ...] = (
    ("table_name", "varchar"),
    ("period_grain", "varchar"),
    ("period_start", "date"),
    ("publication_version", "integer"),
    ("row_key", "varchar"),
    ("row_hash", "varchar"),
)
# Early-warning alerts (dbt model scorecard.kpi_alerts): the current alerts of the published periods.
ALERTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("kpi_id", "varchar"),
    ("kpi_label", "varchar"),
    ("kpi_label_zh", "varchar"),
    ("org_unit_id", "varchar"),
    ("org_unit_name", "varchar"),
    ("org_unit_name_zh", "varchar"),
    ("period_grain", "varchar"),
    ("period_start", "date"),
    ("period_label", "varchar"),
    ("unit", "varchar"),
    ("polarity", "varchar"),
    ("decimals", "integer"),
    ("value", "double"),
    ("expected_low", "double"),
    ("expected_high", "double"),
    ("history_median", "double"),
    ("history_periods", "integer"),
    ("robust_z", "double"),
    ("prior_status", "varchar"),
    ("status", "varchar"),
    ("detected_rule", "varchar"),
    ("severity", "varchar"),
    ("reason", "varchar"),
    ("owner", "varchar"),
)
STAGED_ALERTS = ("scorecard", "kpi_alerts")

# The BI contract's one declaration: the column tuples above. The dbt models that stage the
# published tables carry the same columns as an enforced dbt contract (their YAML) and as the casts
# of their final select; tests/test_publish.py checks both, and docs/bi_tables.md, against these.
STAGED_CONTRACTS: dict[str, tuple[tuple[str, str], ...]] = {
    "scorecard": SCORECARD_COLUMNS,
    "scorecard_scores": SCORES_COLUMNS,
    "kpi_alerts": ALERTS_COLUMNS,
}

# Every published table and its columns; `kpi_dictionary` is copied as is from the warehouse.
CONTRACT_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "scorecard": SCORECARD_COLUMNS + VERSION_COLUMNS,
    "scorecard_scores": SCORES_COLUMNS + VERSION_COLUMNS,
    "scorecard_history": SCORECARD_COLUMNS + VERSION_COLUMNS,
    "scorecard_scores_history": SCORES_COLUMNS + VERSION_COLUMNS,
    "publications": PUBLICATIONS_COLUMNS,
    "publication_attempts": ATTEMPTS_COLUMNS,
    "check_results": CHECK_RESULTS_COLUMNS,
    "publication_runs": PUBLICATION_RUNS_COLUMNS,
    "publication_files": PUBLICATION_FILES_COLUMNS,
    "audit_texts": AUDIT_TEXTS_COLUMNS,
    "kpi_inputs": KPI_INPUTS_COLUMNS,
    "source_batches": SOURCE_BATCHES_COLUMNS,
    "value_inputs": VALUE_INPUTS_COLUMNS,
    "scorecard_row_hashes": ROW_HASHES_COLUMNS,
    "kpi_alerts": ALERTS_COLUMNS,
    # The seal over every published table, per publication (dagster_project/audit/seal.py).
    "publication_seals": SEALS_COLUMNS,
    "sealed_row_hashes": SEALED_ROW_HASHES_COLUMNS,
}
PUBLISHED_TABLES: tuple[str, ...] = (*CONTRACT_TABLES, "kpi_dictionary")

# Where the publisher reads the staged tables in the warehouse.
STAGED_SCORECARD = ("scorecard", "scorecard")
STAGED_SCORES = ("scorecard", "scorecard_scores")
STAGED_DICTIONARY = ("kpi", "kpi_dictionary")
# Where it reads the inputs of every value: batch contributions, the org hierarchy, the batch log.
LINEAGE_SOURCES = (
    ("lineage", "batch_contributions"),
    ("intermediate", "int_org_unit_closure"),
    ("audit", "load_batches"),
)
