"""What happens to each staged period: blocked, unchanged or published as version n + 1 (initial or
restatement), decided from the gate's results and the content hashes of the current versions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import duckdb

from dagster_project.audit.hashing import period_content_sql
from dagster_project.publish.contract import SCORECARD_CONTENT_COLUMNS, SCORES_COLUMNS
from dagster_project.publish.gate_results import CheckResult, GateResult, PeriodKey

Outcome = Literal["published", "unchanged", "blocked"]


@dataclass(frozen=True)
class PeriodOutcome:
    """What happened to one staged period in this publication."""

    period_grain: str
    period_start: date
    period_label: str
    outcome: Outcome
    version: int | None  # the new version when published, else the current one (None: never published)
    reason: str  # readable explanation, as in publication_attempts.reason
    publication_reason: str | None = None  # initial | restatement, when published
    row_count: int = 0
    content_hash: str | None = None
    failing_checks: tuple[CheckResult, ...] = ()
    # a restatement: whether its input batches differ from the previous version's (None: unknown)
    inputs_changed: bool | None = None

    @property
    def key(self) -> PeriodKey:
        return (self.period_grain, self.period_start)


def decide_periods(
    con: duckdb.DuckDBPyConnection, gate: GateResult, reason_context: str | None
) -> list[PeriodOutcome]:
    """One outcome per staged period (a handful of rows of metadata: decided here, copied in SQL)."""
    staged = con.execute(
        "select period_grain, period_start, period_label, row_count, content_hash "
        "from staged_periods order by period_grain, period_start"
    ).fetchall()
    current = {
        (grain, start): (version, content_hash)
        for grain, start, version, content_hash in con.execute(
            "select period_grain, period_start, version, content_hash from pub.publications "
            "qualify row_number() over (partition by period_grain, period_start order by version desc) = 1"
        ).fetchall()
    }
    # The current versions' own figures, recomputed from the history: a version recorded before the
    # content hash left the comparison columns out has a stored hash over every column, and must not
    # be restated only because the hash now covers fewer columns.
    own = {
        (grain, start): content_hash
        for grain, start, content_hash in con.execute(
            f"""
            with current_versions as (
                select period_grain, period_start, max(version) as version from pub.publications group by all
            ), {_current_rows_sql("scorecard_history", "current_scorecard")},
               {_current_rows_sql("scorecard_scores_history", "current_scores")},
            content as ({
                period_content_sql(
                    "current_scorecard", "current_scores", SCORECARD_CONTENT_COLUMNS, SCORES_COLUMNS
                )
            })
            select period_grain, period_start, content_hash from content
            """
        ).fetchall()
    }
    suffix = f"; context: {reason_context}" if reason_context else ""
    outcomes: list[PeriodOutcome] = []
    for grain, start, label, row_count, content_hash in staged:
        key: PeriodKey = (grain, start)
        current_version, current_hash = current.get(key, (None, None))
        common = {
            "period_grain": grain,
            "period_start": start,
            "period_label": label,
            "row_count": row_count,
            "content_hash": content_hash,
        }
        if gate.is_blocked(key):
            failures = tuple(gate.critical_failures(key))
            causes = [
                *([f"{len(failures)} critical check(s) failed: {'; '.join(c.describe() for c in failures)}"]
                  if failures else []),
                *gate.reasons.get(key, ()),
            ]  # fmt: skip
            because = "; ".join(causes) or "the gate blocked the period"
            kept = f"version {current_version} stays published" if current_version else "never published"
            outcomes.append(
                PeriodOutcome(
                    **common,
                    outcome="blocked",
                    version=current_version,
                    reason=f"blocked: {because}; {kept}{suffix}",
                    failing_checks=failures,
                )
            )
        elif content_hash in (current_hash, own.get(key)):
            outcomes.append(
                PeriodOutcome(
                    **common,
                    outcome="unchanged",
                    version=current_version,
                    reason=f"unchanged: content identical to version {current_version}{suffix}",
                )
            )
        elif current_version is None:
            outcomes.append(
                PeriodOutcome(
                    **common,
                    outcome="published",
                    version=1,
                    publication_reason="initial",
                    reason=f"initial: first publication of the period, {row_count} row(s){suffix}",
                )
            )
        else:
            outcomes.append(
                PeriodOutcome(
                    **common,
                    outcome="published",
                    version=current_version + 1,
                    publication_reason="restatement",
                    reason=(
                        f"restatement: content changed since version {current_version} "
                        f"(hash {str(current_hash)[:12]} → {content_hash[:12]}){suffix}"
                    ),
                )
            )
    return outcomes


def _current_rows_sql(history: str, name: str) -> str:
    """A CTE `name`: the rows of `history` of the current versions (CTE current_versions)."""
    return (
        f"{name} as (select h.* from pub.main.{history} as h join current_versions as v "
        "on v.period_grain = h.period_grain and v.period_start = h.period_start "
        "and v.version = h.publication_version)"
    )
