"""The calendar, in one place: the grains of a period (month, quarter, year), their order and length
in months, the labels periods are published with, which period contains which, month offsets, and
the month windows of partitioned runs with their bounds.

Every caller uses this module: the month partitions and the window handed to dbt (defs/partitions.py;
dbt_project/macros/partition_window.sql only reads the bounds computed here), the periods of the
reports (render/), the gate's containment (gate/decision.py), the publisher (publish/writer.py), the
order of alerts and of run summaries (insights/alerts.py, run/pipeline.py), the metric graph's offsets
(audit/provenance.py), the contract's first plausible month (contract/window.py) and the sample
data's months. Where SQL needs a rule, `grain_months_sql` and `grain_rank_sql` generate it from the
same tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

GRAINS = ("month", "quarter", "year")  # finest first: containment and the order of every listing
GRAIN_RANK = {grain: rank for rank, grain in enumerate(GRAINS)}
GRAIN_MONTHS = {"month": 1, "quarter": 3, "year": 12}

MONTH_FORMAT = "%Y-%m"  # a month's label and partition key, e.g. 2025-06
LABEL_EXAMPLES = "a month (2025-10), a quarter (2025-Q4) or a year (2025)"
_MONTH_LABEL = re.compile(r"(\d{4})-(\d{1,2})")
_QUARTER_LABEL = re.compile(r"(\d{4})-?[Qq]([1-4])")
_YEAR_LABEL = re.compile(r"(\d{4})")


class PeriodLabelError(ValueError):
    """Text that is not a period label; the message names it and says what a label looks like."""


def add_months(day: date, months: int) -> date:
    """The first day of the month `months` months after the month of `day` (before, when negative)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


class Period(NamedTuple):
    """A period: its grain and its first day. A tuple, so it equals the (grain, start) pairs that SQL
    rows and the gate use."""

    grain: str  # month | quarter | year
    start: date

    @property
    def label(self) -> str:
        """The label the publisher gives it: 2025-10, 2025-Q4, 2025."""
        if self.grain == "month":
            return self.start.strftime(MONTH_FORMAT)
        if self.grain == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return f"{self.start.year}"

    @property
    def last_month(self) -> date:
        return add_months(self.start, GRAIN_MONTHS[self.grain] - 1)

    @property
    def end(self) -> date:
        """The first day after the period."""
        return add_months(self.start, GRAIN_MONTHS[self.grain])


def period_of(grain: str, day: date) -> Period:
    """The period of `grain` that contains `day`."""
    if grain not in GRAIN_MONTHS:
        raise ValueError(f"unknown grain {grain!r}")
    months = GRAIN_MONTHS[grain]
    return Period(grain, date(day.year, months * ((day.month - 1) // months) + 1, 1))


def shift(period: Period, count: int, grain: str | None = None) -> Period:
    """The period `count` periods of `grain` (default: its own) later, earlier when negative:
    `shift(p, -1)` is the prior period, `shift(p, -1, "year")` the same period a year before."""
    return Period(period.grain, add_months(period.start, count * GRAIN_MONTHS[grain or period.grain]))


def contains(outer: tuple[str, date], inner: tuple[str, date]) -> bool:
    """Does period `outer` contain (or equal) period `inner`? A month is in its quarter and year, a
    quarter in its year; a finer period contains no coarser one."""
    (outer_grain, outer_start), (inner_grain, inner_start) = outer, inner
    if GRAIN_RANK.get(outer_grain, -1) < GRAIN_RANK.get(inner_grain, -1):
        return False
    if outer_grain not in GRAIN_MONTHS:
        return (outer_grain, outer_start) == (inner_grain, inner_start)
    return period_of(outer_grain, inner_start).start == outer_start


def parse_label(text: str) -> Period:
    """`2025-10` → month, `2025-Q4` (or 2025Q4, 2025-q4) → quarter, `2025` → year; PeriodLabelError
    otherwise."""
    value = text.strip()
    if match := _MONTH_LABEL.fullmatch(value):
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12:
            raise PeriodLabelError(f"{text!r}: month {month} does not exist; write {LABEL_EXAMPLES}")
        return Period("month", date(year, month, 1))
    if match := _QUARTER_LABEL.fullmatch(value):
        return Period("quarter", date(int(match[1]), 3 * int(match[2]) - 2, 1))
    if match := _YEAR_LABEL.fullmatch(value):
        return Period("year", date(int(match[1]), 1, 1))
    raise PeriodLabelError(f"{text!r} is not a period: write {LABEL_EXAMPLES}")


def parse_month(text: str) -> date:
    """A month key, strictly YYYY-MM: '2025-06' → date(2025, 6, 1); ValueError saying what was expected."""
    try:
        year, month = text.strip().split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError
        return date(int(year), int(month), 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a month: write it as YYYY-MM, e.g. 2025-06") from None


def month_key(month: date) -> str:
    return month.strftime(MONTH_FORMAT)


def months_between(first: date, last: date) -> list[date]:
    """The first days of the months from the month of `first` to that of `last`, both included."""
    months, month = [], add_months(first, 0)
    while month <= last:
        months.append(month)
        month = add_months(month, 1)
    return months


def periods_over(months: Iterable[date]) -> list[Period]:
    """Every period the months belong to, grain by grain (months, then quarters, then years), each
    grain in date order."""
    months = list(months)
    return [period for grain in GRAINS for period in sorted({period_of(grain, m) for m in months})]


@dataclass(frozen=True)
class MonthWindow:
    """The months a run computes, first and last inclusive (first days of the months)."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise ValueError(
                f"the window starts ({month_key(self.first)}) after it ends ({month_key(self.last)})"
            )

    @classmethod
    def from_keys(cls, first_key: str, last_key: str) -> MonthWindow:
        return cls(parse_month(first_key), parse_month(last_key))

    def months(self) -> list[date]:
        return months_between(self.first, self.last)

    def periods(self) -> list[Period]:
        """Every period the window's months belong to: they are recomputed."""
        return periods_over(self.months())

    def completed_periods(self) -> list[Period]:
        """The quarters and years whose last month is in the window: publishing the window completes them."""
        return [p for p in self.periods() if p.grain != "month" and self.first <= p.last_month <= self.last]

    def bounds(self) -> dict[str, date]:
        """The window's bounds per grain: for each grain the first days of its first and last period
        in the window (`<grain>_first`, `<grain>_last`) and the day after them (`<grain>_end`); the
        month bounds are plain `first`, `last` and `end`."""
        bounds: dict[str, date] = {}
        for grain in GRAINS:
            first, last = period_of(grain, self.first), period_of(grain, self.last)
            prefix = "" if grain == "month" else f"{grain}_"
            bounds |= {f"{prefix}first": first.start, f"{prefix}last": last.start, f"{prefix}end": last.end}
        return bounds


def contiguous_windows(months: Iterable[date]) -> list[MonthWindow]:
    """Group months into runs of consecutive months."""
    windows: list[MonthWindow] = []
    for month in sorted(set(months)):
        if windows and add_months(windows[-1].last, 1) == month:
            windows[-1] = MonthWindow(windows[-1].first, month)
        else:
            windows.append(MonthWindow(month, month))
    return windows


# --- the same rules in SQL -------------------------------------------------------------------------


def _grain_case_sql(column: str, values: dict[str, int]) -> str:
    *whens, last = GRAINS
    cases = " ".join(f"when '{grain}' then {values[grain]}" for grain in whens)
    return f"(case {column} {cases} else {values[last]} end)"


def grain_months_sql(column: str) -> str:
    """SQL: the length in months of a period whose grain is in `column`."""
    return _grain_case_sql(column, GRAIN_MONTHS)


def grain_rank_sql(column: str) -> str:
    """SQL: the rank of the grain in `column` (0 for month, finest first): to order by grain."""
    return _grain_case_sql(column, GRAIN_RANK)
