"""The quality gate: run the Great Expectations suites of expectations/ inside DuckDB.

`checks.yml` maps each suite to the rows it validates (a SQL query over the warehouse) and to the
Dagster asset it is a check on. Validations run through GX's SQL execution on a read-only DuckDB
connection with a memory limit: nothing is loaded into pandas. The decision is keyed on each
expectation's severity, never on the suite's overall `success`, and fails closed: an expectation
that errors counts as a critical failure of every period.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from dagster_project.gate import decision
from dagster_project.gate.decision import Failure
from dagster_project.periods import Period
from dagster_project.settings import EXPECTATIONS_DIR

FAILING_ROWS_SAMPLE = 20


@dataclass(frozen=True)
class CheckSpec:
    name: str
    suite: str
    asset: tuple[str, ...]
    query: str
    period_columns: tuple[str, ...]
    row_columns: tuple[str, ...]
    description: str


@dataclass
class ExpectationOutcome:
    check: str
    suite: str
    expectation: str  # type and column(s), e.g. "expect_column_values_to_be_between(quarantine_share)"
    severity: str  # critical | warning
    success: bool
    errored: bool
    observed_value: str | None
    unexpected_count: int | None
    failing_periods: set[Period] | None  # None: the failure names no period (blocks all)
    failing_rows_sample: list[dict[str, Any]] = field(default_factory=list)
    details: str | None = None

    @property
    def blocks(self) -> bool:
        return decision.blocks(self.severity, self.success, self.errored)

    def as_failure(self) -> Failure:
        periods = None if self.failing_periods is None else frozenset(self.failing_periods)
        return Failure(reason=f"{self.check}: {self.expectation}", failing_periods=periods)


@dataclass
class CheckOutcome:
    spec: CheckSpec
    expectations: list[ExpectationOutcome]

    @property
    def passed(self) -> bool:
        return all(e.success for e in self.expectations)

    @property
    def blocks_everything(self) -> bool:
        return any(e.blocks and e.failing_periods is None for e in self.expectations)

    @property
    def blocked_periods(self) -> set[Period]:
        return {p for e in self.expectations if e.blocks and e.failing_periods for p in e.failing_periods}


@dataclass(frozen=True)
class Gate:
    checks: tuple[CheckSpec, ...]
    parameters: dict[str, Any]
    suites: dict[str, dict[str, Any]]


def load_gate(directory: Path = EXPECTATIONS_DIR, overrides: Mapping[str, float] | None = None) -> Gate:
    """checks.yml and the suites it names, with the parameters of `overrides` (settings.gate_parameters,
    from KPI_GATE_<NAME>) in place of checks.yml's; names the gate has no parameter of are ignored."""
    gate = _read_gate(directory)
    chosen = {name: value for name, value in (overrides or {}).items() if name in gate.parameters}
    return replace(gate, parameters={**gate.parameters, **chosen})


@cache
def _read_gate(directory: Path) -> Gate:
    config = yaml.safe_load((directory / "checks.yml").read_text(encoding="utf-8"))
    parameters = dict(config.get("parameters") or {})
    checks = tuple(
        CheckSpec(
            name=entry["name"],
            suite=entry["suite"],
            asset=tuple(entry["asset"].split("/")),
            query=entry["query"],
            period_columns=tuple(entry.get("period_columns") or ()),
            row_columns=tuple(entry.get("row_columns") or ()),
            description=entry.get("description", ""),
        )
        for entry in config["checks"]
    )
    suites = {}
    for check in checks:
        path = directory / "suites" / f"{check.suite}.json"
        if not path.exists():
            raise FileNotFoundError(
                f"{directory / 'checks.yml'}: check {check.name!r} names suite {path}, which does not exist"
            )
        suites[check.suite] = json.loads(path.read_text(encoding="utf-8"))
    return Gate(checks=checks, parameters=parameters, suites=suites)


def run_check(
    spec: CheckSpec, warehouse: Path, gate: Gate, connection_config: dict[str, Any] | None = None
) -> CheckOutcome:
    """Validate the check's rows with its suite, inside DuckDB (read-only).

    `connection_config`: DuckDB settings of the read-only connection, normally the warehouse's own
    (memory limit, spill folder; `settings.duckdb_config`), so a check at scale spills instead of
    failing. The suite runs first at GX's BASIC result format: counts and a few values, one query
    per metric. Only an expectation that failed runs again at COMPLETE, for the periods its failing
    rows name; a passing gate never asks for row lists.
    """
    from dagster_project.gate.gx_duckdb import enable_duckdb_persisted_connection, release_database

    enable_duckdb_persisted_connection()
    context = ephemeral_gx_context()
    datasource = context.data_sources.add_sql(
        name="warehouse",
        connection_string=f"duckdb:///{warehouse}",
        kwargs={"connect_args": {"read_only": True, "config": dict(connection_config or {})}},
    )
    try:
        asset = datasource.add_query_asset(name=spec.name, query=spec.query)
        batch = asset.add_batch_definition_whole_table("all rows").get_batch()
        outcomes = validate_batch(spec, batch, gate)
    except Exception as error:  # the gate fails closed: a check that cannot run blocks everything
        outcomes = could_not_run(spec, error)
    finally:
        release_database(datasource)  # the next step opens the file for writing
    return CheckOutcome(spec=spec, expectations=outcomes)


def ephemeral_gx_context() -> Any:
    """An in-memory GX context without its "Calculating Metrics" progress bars, which would fill the
    run's log (and `kpi run`'s output) with a bar per check."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def validate_batch(spec: CheckSpec, batch: Any, gate: Gate) -> list[ExpectationOutcome]:
    """Run the check's suite on a GX batch (any execution engine): BASIC first, then COMPLETE only for
    the expectations that failed, so that a passing check fetches no rows."""
    import great_expectations as gx

    suite_json = gate.suites[spec.suite]
    suite = gx.ExpectationSuite(name=suite_json["name"], expectations=suite_json["expectations"])
    complete_format = {
        "result_format": "COMPLETE",
        "unexpected_index_column_names": [*spec.period_columns, *spec.row_columns],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = batch.validate(
            suite, expectation_parameters=gate.parameters, result_format={"result_format": "BASIC"}
        )
        results = [
            r
            if r.success
            else batch.validate(
                r.expectation_config.to_domain_obj(),
                expectation_parameters=gate.parameters,
                result_format=complete_format,
            )
            for r in result.results
        ]
    return [_outcome(spec, r) for r in results]


def could_not_run(spec: CheckSpec, error: Exception) -> list[ExpectationOutcome]:
    """A check that cannot run (bad query, engine error) is one errored critical outcome: it blocks."""
    return [
        ExpectationOutcome(
            check=spec.name, suite=spec.suite, expectation="(suite could not run)", severity="critical",
            success=False, errored=True, observed_value=None, unexpected_count=None,
            failing_periods=None, details=f"{type(error).__name__}: {error}",
        )
    ]  # fmt: skip


def _outcome(spec: CheckSpec, result: Any) -> ExpectationOutcome:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    columns = (
        kwargs.get("column") or kwargs.get("column_list") or [kwargs.get("column_A"), kwargs.get("column_B")]
    )
    columns = ", ".join(columns) if isinstance(columns, list) else columns
    details = result.result or {}
    errors = _errors(result.exception_info)
    failing_periods: set[Period] | None = set()
    sample: list[dict[str, Any]] = []
    if not result.success:
        index_rows = details.get("unexpected_index_list")
        if errors or not spec.period_columns or not index_rows:
            failing_periods = None
        else:
            for row in index_rows:
                grain, start = (row.get(c) for c in spec.period_columns)
                if grain is None or start is None:
                    failing_periods = None
                    break
                failing_periods.add(Period(str(grain), _as_date(start)))
        sample = [
            {k: _jsonable(v) for k, v in row.items()} for row in (index_rows or [])[:FAILING_ROWS_SAMPLE]
        ]
    severity = decision.severity_of(config.severity)
    return ExpectationOutcome(
        check=spec.name,
        suite=spec.suite,
        expectation=f"{config.type}({columns})",
        severity=severity,
        success=bool(result.success) and not errors,
        errored=bool(errors),
        observed_value=_jsonable_text(details.get("observed_value")),
        unexpected_count=details.get("unexpected_count"),
        failing_periods=failing_periods if not result.success or errors else set(),
        failing_rows_sample=sample,
        details="; ".join(errors) or None,
    )


def _errors(exception_info: Any) -> list[str]:
    """Messages of raised exceptions; GX nests them per metric in 1.x."""
    if not exception_info:
        return []
    if "raised_exception" in exception_info:
        infos = [exception_info]
    else:
        infos = [v for v in exception_info.values() if isinstance(v, dict)]
    return [str(i.get("exception_message")) for i in infos if i.get("raised_exception")]


def blocked_periods(outcomes: list[CheckOutcome], periods: list[Period]) -> dict[Period, list[str]]:
    """Every period a blocking failure of the checks blocks, with the reasons (gate/decision.py)."""
    failures = [e.as_failure() for outcome in outcomes for e in outcome.expectations if e.blocks]
    return decision.blocked_periods(failures, periods)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _jsonable(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)


def _jsonable_text(value: Any) -> str | None:
    return None if value is None else json.dumps(_jsonable(value))
