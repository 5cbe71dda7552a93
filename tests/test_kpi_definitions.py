"""The KPI definitions in kpi_definitions/: the real ones are valid, and each kind of breakage is reported."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dagster_project.cli.app import app
from dagster_project.kpis.catalog import (
    DefinitionProblem,
    KpiDefinitionError,
    StatusRule,
    check_definitions,
    load_catalog,
    sorted_for_listing,
)
from dagster_project.settings import KPI_DEFINITIONS_DIR

KPI_IDS = {
    "financial": {
        "net_revenue",
        "gross_margin_pct",
        "average_order_value",
        "revenue_growth_yoy_pct",
        "revenue_per_fte",
    },
    "customer": {"nps", "csat_pct", "complaints_per_1k_orders", "new_customers", "repeat_customer_rate_pct"},
    "internal_process": {
        "inventory_turnover",
        "days_of_inventory",
        "stockout_rate_pct",
        "return_rate_pct",
        "complaint_resolution_48h_pct",
    },
    "learning_growth": {"training_hours_per_fte", "staff_turnover_pct", "trained_staff_pct", "enps"},
}
FINANCIAL = "kpi_definitions/metrics/financial.yml"
CUSTOMER = "kpi_definitions/metrics/customer.yml"
INTERNAL = "kpi_definitions/metrics/internal_process.yml"
BLOCKS = "kpi_definitions/metrics/building_blocks.yml"
SEMANTIC = "kpi_definitions/semantic_models/semantic_models.yml"


def flat(text: str) -> str:
    """CLI output without Rich's line wrapping."""
    return " ".join(text.split())


@pytest.fixture
def definitions(tmp_path: Path) -> Path:
    """A copy of the real definitions, under the same folder name so problem paths read the same."""
    copy = tmp_path / "kpi_definitions"
    shutil.copytree(KPI_DEFINITIONS_DIR, copy)
    return copy


def edit(root: Path, file: str, old: str, new: str, after: str = "") -> None:
    """Replace the first `old` after the line `after` (e.g. a metric's `- name:` line) in one file."""
    path = root.parent / file
    text = path.read_text(encoding="utf-8")
    start = text.index(after) if after else 0
    at = text.index(old, start)
    path.write_text(text[:at] + new + text[at + len(old) :], encoding="utf-8")


def metric_block(root: Path, file: str, name: str) -> str:
    """The YAML text of one block-style metric, up to the next metric."""
    text = (root.parent / file).read_text(encoding="utf-8")
    start = text.index(f"  - name: {name}\n")
    end = text.find("\n  - name:", start + 1)
    return text[start : end + 1 if end != -1 else len(text)]


def append(root: Path, file: str, text: str) -> None:
    path = root.parent / file
    path.write_text(path.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + text, encoding="utf-8")


# --- the real definitions ---------------------------------------------------------------------------


def test_real_definitions_are_valid() -> None:
    assert check_definitions() == []


def test_real_catalogue_has_the_19_kpis_across_four_perspectives() -> None:
    catalog = load_catalog()
    by_perspective: dict[str, set[str]] = {}
    for kpi in catalog.kpis:
        by_perspective.setdefault(kpi.perspective, set()).add(kpi.kpi_id)
    assert by_perspective == KPI_IDS
    assert len(catalog.kpis) == 19
    # Building blocks are metrics, not KPIs.
    assert "gross_margin_ratio" in catalog.metrics
    assert "gross_sales" in catalog.measures


def test_kpi_fields_are_read_with_defaults_and_a_definition_hash() -> None:
    catalog = load_catalog()
    margin = catalog.kpi("gross_margin_pct")
    assert margin.file == FINANCIAL
    assert (margin.label_zh, margin.unit, margin.decimals, margin.metric_type) == (
        "毛利率",
        "percent",
        1,
        "derived",
    )
    assert margin.status_rule == StatusRule("difference", amber_band=2.0)
    assert margin.min_sample is None and margin.denominator_must_be_positive is False
    assert margin.changelog[0].version == 1 and margin.changelog[0].date == "2025-01-01"
    # The raw YAML is the metric's own block, in its file's key order, and hashes to definition_hash.
    assert yaml.safe_load(margin.raw_yaml) == margin.raw
    assert margin.raw_yaml.startswith("name: gross_margin_pct\n")
    assert len(margin.definition_hash) == 64
    assert catalog.kpi("nps").min_sample == 30
    assert catalog.kpi("enps").min_sample == 10
    assert catalog.kpi("days_of_inventory").denominator_must_be_positive is True
    assert catalog.kpi("stockout_rate_pct").status_rule == StatusRule("ratio", green_at=1.0, amber_at=0.80)
    assert catalog.metrics["new_customers"].measure == "first_orders"
    assert catalog.metrics["revenue_growth_yoy_pct"].input_metrics == ("net_revenue", "net_revenue")


def test_definition_hash_changes_with_the_definition(definitions: Path) -> None:
    before = load_catalog(definitions).kpi("net_revenue").definition_hash
    edit(definitions, FINANCIAL, "weight: 0.35", "weight: 0.40", after="- name: net_revenue")
    after = load_catalog(definitions).kpi("net_revenue")
    assert after.definition_hash != before
    assert after.definition_hash == load_catalog(definitions).kpi("net_revenue").definition_hash


def test_people_kpis_as_the_issue_defines_them() -> None:
    """Polarity, the gate's bounds (valid_range → gate_kpi_bounds), the minimum sample and what each
    reads: average FTE / headcount are day sums over the calendar days of the period."""
    catalog = load_catalog()
    expected = {
        # kpi_id: (polarity, valid_range, numerator, denominator)
        "training_hours_per_fte": ("higher_is_better", {"min": 0}, "training_hours", "average_fte"),
        "staff_turnover_pct": ("lower_is_better", {"min": 0}, "leavers", "average_headcount"),
        "trained_staff_pct": (
            "higher_is_better",
            {"min": 0, "max": 100},
            "trained_staff_at_period_end",
            "staff_at_period_end",
        ),
        "enps": (
            "higher_is_better",
            {"min": -100, "max": 100},
            "net_engagement_promoters",
            "engagement_responses",
        ),
        "revenue_per_fte": ("higher_is_better", None, "net_revenue", "average_fte"),
    }
    for kpi_id, (polarity, valid_range, numerator, denominator) in expected.items():
        kpi = catalog.kpi(kpi_id)
        assert kpi.polarity == polarity, kpi_id
        assert kpi.raw["config"]["meta"].get("valid_range") == valid_range, kpi_id
        assert kpi.label_zh and kpi.formula and kpi.owner, kpi_id
        node = catalog.graph.kpi(kpi_id)
        assert (node.numerator.metric, node.denominator and node.denominator.metric) == (
            numerator,
            denominator,
        )
    for average, days in (("average_fte", "fte_days"), ("average_headcount", "headcount_days")):
        assert [i.name for i in catalog.graph.metrics[average].inputs] == [days, "days_in_period"]
    assert catalog.kpi("enps").min_sample == 10
    # The staff on the last day are period-relative: the quarter's and year's last days too.
    assert {"staff_at_period_end_quarter", "trained_staff_at_period_end_year"} <= set(catalog.measures)


def test_listing_is_by_perspective_then_kpi_id() -> None:
    listed = [(k.perspective, k.kpi_id) for k in sorted_for_listing(load_catalog())]
    order = ["financial", "customer", "internal_process", "learning_growth"]
    assert listed == sorted(listed, key=lambda p: (order.index(p[0]), p[1]))


def test_targets_folder_is_not_read(definitions: Path) -> None:
    (definitions / "targets").mkdir(exist_ok=True)
    (definitions / "targets" / "notes.yml").write_text("not: [valid", encoding="utf-8")
    assert check_definitions(definitions) == []


# --- each kind of breakage ---------------------------------------------------------------------------


def _duplicate_kpi_id(root: Path) -> None:
    block = metric_block(root, FINANCIAL, "gross_margin_pct")
    append(root, INTERNAL, block.replace("- name: gross_margin_pct", "- name: gross_margin_pct_v2", 1))


def _yaml_syntax_error(root: Path) -> None:
    edit(root, CUSTOMER, "    label: Net Promoter Score\n", "    label: [Net Promoter Score\n")


# (id, breakage, expected file, KPI id, metric name for non-KPI metrics, field)
BREAKAGES: list[tuple[str, Callable[[Path], None], str, str | None, str | None, str | None]] = [
    (
        "unknown perspective",
        lambda r: edit(r, FINANCIAL, "perspective: financial", "perspective: growth", "- name: gross_margin_pct"),
        FINANCIAL, "gross_margin_pct", None, "perspective",
    ),
    (
        "bad polarity",
        lambda r: edit(r, FINANCIAL, "polarity: higher_is_better", "polarity: upwards", "- name: gross_margin_pct"),
        FINANCIAL, "gross_margin_pct", None, "polarity",
    ),
    (
        "missing owner",
        lambda r: edit(r, CUSTOMER, "        owner: Customer experience\n", "", "- name: nps"),
        CUSTOMER, "nps", None, "owner",
    ),
    ("duplicate kpi_id in another file", _duplicate_kpi_id, INTERNAL, "gross_margin_pct", None, "kpi_id"),
    (
        "duplicate metric name in another file",
        lambda r: append(r, INTERNAL, metric_block(r, FINANCIAL, "gross_margin_pct")),
        INTERNAL, "gross_margin_pct", None, "name",
    ),
    (
        "measure that does not exist",
        lambda r: edit(r, BLOCKS, "{measure: {name: orders,", "{measure: {name: order_count,"),
        BLOCKS, None, "orders", "type_params.measure",
    ),
    (
        "ratio input metric that does not exist",
        lambda r: edit(r, INTERNAL, "numerator: net_cogs", "numerator: net_cost", "- name: inventory_turnover"),
        INTERNAL, "inventory_turnover", None, "type_params.numerator",
    ),
    (
        "derived input missing from expr",
        lambda r: edit(r, FINANCIAL, "expr: gross_sales - refunds", "expr: gross_sales", "- name: net_revenue"),
        FINANCIAL, "net_revenue", None, "type_params.expr",
    ),
    (
        "bad status_rule type",
        lambda r: edit(r, FINANCIAL, "{type: difference,", "{type: percent,", "- name: gross_margin_pct"),
        FINANCIAL, "gross_margin_pct", None, "status_rule",
    ),
    (
        "status_rule key of another type",
        lambda r: edit(r, FINANCIAL, "amber_band: 2.0}", "amber_band: 2.0, amber_at: 0.9}", "- name: gross_margin_pct"),
        FINANCIAL, "gross_margin_pct", None, "status_rule",
    ),
    (
        "amber_at above green_at",
        lambda r: edit(r, CUSTOMER, "amber_at: 0.95}", "amber_at: 1.05}", "- name: csat_pct"),
        CUSTOMER, "csat_pct", None, "status_rule",
    ),
    (
        "changelog without the current version",
        lambda r: edit(r, CUSTOMER, "version: 1\n", "version: 2\n", "- name: nps"),
        CUSTOMER, "nps", None, "changelog",
    ),
    (
        "decimals out of range",
        lambda r: edit(r, CUSTOMER, "decimals: 1", "decimals: 7", "- name: nps"),
        CUSTOMER, "nps", None, "decimals",
    ),
    (
        "kpi_id not the metric name",
        lambda r: edit(r, CUSTOMER, "kpi_id: nps", "kpi_id: net_promoter_score", "- name: nps"),
        CUSTOMER, "net_promoter_score", None, "kpi_id",
    ),
    (
        "unsupported metric type",
        lambda r: edit(r, CUSTOMER, "type: simple", "type: cumulative", "- name: new_customers"),
        CUSTOMER, "new_customers", None, "type",
    ),
    (
        "duplicate measure name",
        lambda r: edit(r, SEMANTIC, "{name: cogs, agg: sum", "{name: gross_sales, agg: sum"),
        SEMANTIC, None, None, "measures",
    ),
    (
        "circular reference",
        lambda r: edit(r, BLOCKS, "metrics: [cogs, returned_cogs]", "metrics: [cogs, returned_cogs, gross_profit]"),
        BLOCKS, None, "net_cogs", "type_params",
    ),
    ("YAML syntax error", _yaml_syntax_error, CUSTOMER, None, None, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("breakage", "file", "kpi_id", "metric", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in BREAKAGES],
)
def test_breakage_is_reported_where_it_is(
    definitions: Path,
    breakage: Callable[[Path], None],
    file: str,
    kpi_id: str | None,
    metric: str | None,
    field: str | None,
) -> None:
    breakage(definitions)
    problems = check_definitions(definitions)
    found = [(p.file, p.kpi_id, p.metric, p.field) for p in problems]
    assert (file, kpi_id, metric, field) in found, "\n".join(map(str, problems))
    with pytest.raises(KpiDefinitionError) as raised:
        load_catalog(definitions)
    assert raised.value.problems == problems


def test_problem_text_names_file_kpi_and_field(definitions: Path) -> None:
    edit(
        definitions, FINANCIAL, "polarity: higher_is_better", "polarity: upwards", "- name: gross_margin_pct"
    )
    assert [str(p) for p in check_definitions(definitions)] == [
        f"{FINANCIAL}: KPI gross_margin_pct: polarity: 'upwards' is not one of higher_is_better, lower_is_better"
    ]


def test_yaml_syntax_error_names_the_line(definitions: Path) -> None:
    _yaml_syntax_error(definitions)
    [problem] = check_definitions(definitions)
    assert problem == DefinitionProblem(CUSTOMER, problem.message)
    assert problem.message.startswith("YAML syntax error at line ")


# --- the CLI -----------------------------------------------------------------------------------------


def test_cli_check_passes_on_the_real_definitions() -> None:
    result = CliRunner().invoke(app, ["definitions", "check"])
    assert result.exit_code == 0, result.output
    assert "✓ 19 KPI definitions are valid" in result.output


def test_cli_check_reports_problems_and_exits_2(definitions: Path) -> None:
    edit(
        definitions, FINANCIAL, "polarity: higher_is_better", "polarity: upwards", "- name: gross_margin_pct"
    )
    _yaml_syntax_error(definitions)
    result = CliRunner().invoke(app, ["definitions", "check", "--definitions-dir", str(definitions)])
    assert result.exit_code == 2
    output = flat(result.output)
    assert f"{FINANCIAL}: KPI gross_margin_pct: polarity: 'upwards' is not one of" in output
    assert f"{CUSTOMER}: YAML syntax error at line" in output
    assert "2 problem(s) in the KPI definitions" in output


def test_cli_list_in_english_and_chinese() -> None:
    english = CliRunner().invoke(app, ["definitions", "list"])
    assert english.exit_code == 0, english.output
    assert "gross_margin_pct" in english.output
    assert "higher_is_better" in english.output and "Marketing" in english.output
    chinese = CliRunner().invoke(app, ["definitions", "list", "--lang", "zh"])
    assert chinese.exit_code == 0, chinese.output
    assert "毛利率" in chinese.output


def test_cli_list_rejects_an_unknown_language() -> None:
    result = CliRunner().invoke(app, ["definitions", "list", "--lang", "fr"])
    assert result.exit_code == 2
    assert "--lang en or --lang zh" in flat(result.output)
