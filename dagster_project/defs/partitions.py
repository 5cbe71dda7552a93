"""Monthly partitions of the KPI, scorecard and publish assets, and the pure functions that turn a
partition window into dbt vars (unit-tested in tests/test_operations.py).

A run of months [first, last] recomputes those months and the quarters and years they touch, from
the base measures (the KPI compiler reads KPI_MONTH_FROM / KPI_MONTH_TO). A run over every
partition is a full run: no window, and the incremental dbt models are rebuilt from scratch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

PARTITION_FORMAT = "%Y-%m"  # keys like 2025-06, as `kpi run --from 2025-06` takes them


def monthly_partitions(first_month: str, timezone: str = "UTC") -> dg.MonthlyPartitionsDefinition:
    """Month partitions from `first_month` (YYYY-MM) to the last month that has ended."""
    return dg.MonthlyPartitionsDefinition(start_date=first_month, fmt=PARTITION_FORMAT, timezone=timezone)


def parse_month(text: str) -> date:
    """'2025-06' → date(2025, 6, 1); ValueError with what was expected otherwise."""
    try:
        year, month = text.strip().split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError
        return date(int(year), int(month), 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a month: write it as YYYY-MM, e.g. 2025-06") from None


def month_key(month: date) -> str:
    return month.strftime(PARTITION_FORMAT)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


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
        months, month = [], self.first
        while month <= self.last:
            months.append(month)
            month = next_month(month)
        return months

    def periods(self) -> list[tuple[str, date]]:
        """Every (grain, period start) the window's months belong to: they are recomputed."""
        months = self.months()
        quarters = sorted({quarter_start(m) for m in months})
        years = sorted({date(m.year, 1, 1) for m in months})
        return (
            [("month", m) for m in months] + [("quarter", q) for q in quarters] + [("year", y) for y in years]
        )

    def completed_periods(self) -> list[tuple[str, date]]:
        """The quarters and years whose last month is in the window: publishing the window completes them."""
        return [
            (grain, start)
            for grain, start in self.periods()
            if grain != "month" and next_month(self.last) > _last_month(grain, start) >= self.first
        ]


def _last_month(grain: str, start: date) -> date:
    return date(start.year, start.month + 2, 1) if grain == "quarter" else date(start.year, 12, 1)


def window_for_range(
    partition_range: dg.PartitionKeyRange, partitions_def: dg.PartitionsDefinition
) -> MonthWindow | None:
    """The window of a run's partition range; None when it spans every partition (a full run)."""
    keys = partitions_def.get_partition_keys()
    if keys and partition_range.start == keys[0] and partition_range.end == keys[-1]:
        return None
    return MonthWindow.from_keys(partition_range.start, partition_range.end)


def dbt_window_env(window: MonthWindow | None) -> dict[str, str]:
    """The environment variables that pass a window to dbt (dbt_project/macros/partition_window.sql
    says why not vars); empty values → every month."""
    if window is None:
        return {"KPI_MONTH_FROM": "", "KPI_MONTH_TO": ""}
    return {"KPI_MONTH_FROM": window.first.isoformat(), "KPI_MONTH_TO": window.last.isoformat()}


def contiguous_windows(months: Iterable[date]) -> list[MonthWindow]:
    """Group months into runs of consecutive months: one restatement run per group."""
    windows: list[MonthWindow] = []
    for month in sorted(set(months)):
        if windows and next_month(windows[-1].last) == month:
            windows[-1] = MonthWindow(windows[-1].first, month)
        else:
            windows.append(MonthWindow(month, month))
    return windows


def partition_range_tags(window: MonthWindow) -> dict[str, str]:
    """Run tags that make one Dagster run cover a range of month partitions."""
    return {
        ASSET_PARTITION_RANGE_START_TAG: month_key(window.first),
        ASSET_PARTITION_RANGE_END_TAG: month_key(window.last),
    }
