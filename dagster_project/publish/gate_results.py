"""The quality gate's results as the publisher reads them: one check result, and the gate's decision
over the periods (which ones it blocks and why), applying gate/decision.py's one rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from dagster_project.gate import decision
from dagster_project.gate.decision import SEVERITIES
from dagster_project.periods import GRAINS

PeriodKey = tuple[str, date]


# SQL: check result `{check}` applies to period `{period}` (CheckResult.applies_to, in SQL), a
# format string generated from the gate's one rule (gate/decision.py).
CHECK_APPLIES_SQL = decision.check_applies_sql("{check}", "{period}")


@dataclass(frozen=True)
class CheckResult:
    """One evaluation of one expectation, as the quality gate reports it.

    `period_grain`/`period_start` name the period the check is about; a check with no period_start
    is global: for every period of its grain, or for every period when period_grain is None too.
    """

    suite: str
    expectation: str
    table: str
    severity: str  # critical | warning
    success: bool
    period_grain: str | None = None
    period_start: date | None = None
    observed_value: str | None = None
    failing_rows_sample: str | None = None  # JSON text
    details: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"check {self.suite}.{self.expectation} on {self.table}: severity {self.severity!r} "
                f"is not one of {', '.join(SEVERITIES)}"
            )
        if self.period_grain is not None and self.period_grain not in GRAINS:
            raise ValueError(
                f"check {self.suite}.{self.expectation} on {self.table}: period_grain "
                f"{self.period_grain!r} is not one of {', '.join(GRAINS)}"
            )
        if self.period_start is not None and self.period_grain is None:
            raise ValueError(
                f"check {self.suite}.{self.expectation} on {self.table}: period_start "
                f"{self.period_start} needs a period_grain"
            )
        if isinstance(self.period_start, datetime):  # a timestamp from a query: the day is the key
            object.__setattr__(self, "period_start", self.period_start.date())

    def applies_to(self, period: PeriodKey) -> bool:
        return decision.applies_to(self.period_grain, self.period_start, period)

    @property
    def is_critical_failure(self) -> bool:
        return decision.is_critical_failure(self.severity, self.success)

    @property
    def is_warning(self) -> bool:
        return decision.is_warning(self.severity, self.success)

    def describe(self) -> str:
        return f"{self.suite}.{self.expectation} on {self.table}"

    def as_json_object(self) -> dict[str, object]:
        return {
            "suite": self.suite,
            "expectation": self.expectation,
            "table_name": self.table,
            "period_grain": self.period_grain,
            "period_start": self.period_start.isoformat() if self.period_start else None,
            "severity": self.severity,
            "observed_value": self.observed_value,
            "failing_rows_sample": self.failing_rows_sample,
            "details": self.details,
        }


@dataclass(frozen=True)
class GateResult:
    """The quality gate's decision, passed in by the caller.

    A period is blocked when the caller lists it in `blocked_periods` or when a critical check that
    applies to it failed (fail-safe: a failed critical check always blocks, whatever the list says).
    `reasons` says why for a listed period that no failed check explains (e.g. no gate results).
    """

    checks: tuple[CheckResult, ...] = ()
    blocked_periods: frozenset[PeriodKey] = frozenset()
    checked_at: datetime | None = None
    reasons: Mapping[PeriodKey, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_checks(
        cls,
        checks: Iterable[CheckResult],
        blocked_periods: Iterable[PeriodKey] = (),
        checked_at: datetime | None = None,
        reasons: Mapping[PeriodKey, Iterable[str]] | None = None,
    ) -> GateResult:
        def day(start: date) -> date:
            return start.date() if isinstance(start, datetime) else start

        periods = frozenset((grain, day(start)) for grain, start in blocked_periods)
        why = {(grain, day(start)): tuple(r) for (grain, start), r in (reasons or {}).items()}
        return cls(tuple(checks), periods | frozenset(why), checked_at, why)

    def checks_for(self, period: PeriodKey) -> list[CheckResult]:
        return [check for check in self.checks if check.applies_to(period)]

    def critical_failures(self, period: PeriodKey) -> list[CheckResult]:
        return [check for check in self.checks_for(period) if check.is_critical_failure]

    def is_blocked(self, period: PeriodKey) -> bool:
        return period in self.blocked_periods or bool(self.critical_failures(period))
