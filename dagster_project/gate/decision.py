"""The gate's decision, in one place: which expectation result blocks which periods, the default
severity, how a check's result is shown in Dagster, and which check results a publication may use.

Every caller uses this module: the checks (gate/runner.py, defs/gate.py), the publish asset
(defs/publish.py), the publisher's GateResult (publish.py) and `kpi audit verify` (lineage/verify.py,
through `check_applies_sql`). See docs/quality_gate.md.

- An expectation result *blocks* when it failed and is critical, or when it errored (fail closed);
  an errored result is shown as critical whatever its declared severity.
- A failure that names periods blocks each of them and every period containing one (a month blocks
  its quarter and year, a quarter its year: the calendar's `periods.contains`); a failure that names
  no period blocks every period.
- A check result *applies to* a period when it names that period, or names none (for one grain or
  for all of them): `applies_to` in Python and `check_applies_sql` in SQL, from the same rule.
- A check's results count for a publication only while their *fingerprint* (the hash of the check's
  definition and of the rows it validated, `fingerprint_sql`) equals the fingerprint of those rows
  now; a check without such results blocks every period (`MISSING_RESULTS_REASON`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb

from dagster_project.periods import Period, contains

SEVERITIES = ("critical", "warning")
DEFAULT_SEVERITY = "critical"  # an expectation without a severity blocks

MISSING_RESULTS_REASON = "no gate results for the current staged content; run the checks"


def severity_of(declared: object) -> str:
    """The severity of an expectation as declared in its suite (GX enum or text); default critical."""
    value = getattr(declared, "value", declared) or DEFAULT_SEVERITY
    return str(value).lower()


def suite_blocks(suite: Mapping[str, Any]) -> bool:
    """Does a suite have an expectation that can block (one of critical severity)?"""
    return any(severity_of(e.get("severity")) == "critical" for e in suite.get("expectations", []))


def blocks(severity: str, success: bool, errored: bool) -> bool:
    """Does this expectation result block the periods it names?"""
    return not success and (severity == "critical" or errored)


def shown_severity(severity: str, errored: bool) -> str:
    """The severity recorded with a published check result: an errored expectation is critical."""
    return "critical" if errored else severity


def is_critical_failure(severity: str, success: bool) -> bool:
    """A recorded (shown) check result that blocks the periods it applies to."""
    return blocks(severity, success, errored=False)


def is_warning(severity: str, success: bool) -> bool:
    return severity == "warning" and not success


def dagster_severity(blocks_every_period: bool) -> Any:
    """How a check's result is shown in Dagster: ERROR (which holds the publish asset back in the
    run) only when a blocking failure names no period; a failure of some periods is a WARN, so that
    the other periods still publish and the publish asset leaves those out."""
    import dagster as dg

    return dg.AssetCheckSeverity.ERROR if blocks_every_period else dg.AssetCheckSeverity.WARN


@dataclass(frozen=True)
class Failure:
    """A blocking expectation result: why, and the periods it names (None: it names none)."""

    reason: str
    failing_periods: frozenset[Period] | None


def blocked_periods(failures: Iterable[Failure], periods: Iterable[Period]) -> dict[Period, list[str]]:
    """Every period the blocking failures block, with the reasons (in order, without repeats)."""
    periods = list(periods)
    blocked: dict[Period, list[str]] = {}

    def block(period: Period, reason: str) -> None:
        reasons = blocked.setdefault(period, [])
        if reason not in reasons:
            reasons.append(reason)

    for failure in failures:
        for period in periods:
            if failure.failing_periods is None or any(
                contains(period, named) for named in failure.failing_periods
            ):
                block(period, failure.reason)
    return blocked


def applies_to(check_grain: str | None, check_start: date | None, period: Period) -> bool:
    """Does a check result about (check_grain, check_start) apply to `period`? A result without a
    start is about every period of its grain, or of every grain when it has no grain either."""
    grain, start = period
    if check_start is not None:
        return (check_grain, check_start) == (grain, start)
    return check_grain is None or check_grain == grain


def check_applies_sql(check: str, period: str) -> str:
    """`applies_to` in SQL: check result row alias `check` applies to period row alias `period`."""
    return (
        f"(({check}.period_start = {period}.period_start and {check}.period_grain = {period}.period_grain) "
        f"or ({check}.period_start is null and ({check}.period_grain is null "
        f"or {check}.period_grain = {period}.period_grain)))"
    )


# --- fingerprints: which check results cover the current staged content -----------------------------


def definition_hash(suite: Mapping[str, Any], query: str, parameters: Mapping[str, Any]) -> str:
    """The hash of what a check is: its suite, its query and the gate's parameters."""
    text = json.dumps({"suite": suite, "query": query, "parameters": parameters}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fingerprint_sql(query: str, definition: str) -> str:
    """SQL of a check's fingerprint over the rows of its `query`: the sha256 of its definition hash
    and of the rows' JSON texts in order (so the same rows give the same fingerprint)."""
    return (
        "select sha256("
        f"'{definition}' || chr(10) || coalesce(string_agg(r.row_text, chr(10) order by r.row_text), '')) "
        f"from (select to_json(q)::varchar as row_text from ({query}) as q) as r"
    )


def current_fingerprint(
    con: duckdb.DuckDBPyConnection, query: str, suite: Mapping[str, Any], parameters: Mapping[str, Any]
) -> str:
    """The fingerprint of a check's rows as they are now in the warehouse. A query that cannot run
    gives a fingerprint of its error, so an errored check's results match while the error lasts."""
    definition = definition_hash(suite, query, parameters)
    try:
        return str(con.execute(fingerprint_sql(query, definition)).fetchone()[0])
    except duckdb.Error as error:
        text = f"error\n{definition}\n{type(error).__name__}: {error}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
