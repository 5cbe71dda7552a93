"""Monthly partitions of the KPI, scorecard and publish assets, and the pure functions that turn a
partition range into a month window and the window into dbt's environment (unit-tested in
tests/test_operations.py). The calendar itself (windows, their periods and bounds) is periods.py's.

A run of months [first, last] recomputes those months and the quarters and years they touch, from
the base measures (the KPI compiler reads the window's bounds, see `dbt_window_env`). A run over every
partition is a full run: no window, and the incremental dbt models are rebuilt from scratch.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from dagster_project.periods import MONTH_FORMAT, MonthWindow, month_key

# The environment variable of each bound of MonthWindow.bounds() that dbt reads
# (dbt_project/macros/partition_window.sql, which says why not vars).
DBT_WINDOW_ENV = {
    "first": "KPI_MONTH_FROM",
    "last": "KPI_MONTH_TO",
    "end": "KPI_MONTH_END",
    "quarter_first": "KPI_QUARTER_FIRST",
    "quarter_last": "KPI_QUARTER_LAST",
    "quarter_end": "KPI_QUARTER_END",
    "year_first": "KPI_YEAR_FIRST",
    "year_last": "KPI_YEAR_LAST",
    "year_end": "KPI_YEAR_END",
}


def monthly_partitions(first_month: str, timezone: str = "UTC") -> dg.MonthlyPartitionsDefinition:
    """Month partitions from `first_month` (YYYY-MM) to the last month that has ended; keys like
    2025-06, as `kpi run --from 2025-06` takes them."""
    return dg.MonthlyPartitionsDefinition(start_date=first_month, fmt=MONTH_FORMAT, timezone=timezone)


def window_for_range(
    partition_range: dg.PartitionKeyRange, partitions_def: dg.PartitionsDefinition
) -> MonthWindow | None:
    """The window of a run's partition range; None when it spans every partition (a full run)."""
    keys = partitions_def.get_partition_keys()
    if keys and partition_range.start == keys[0] and partition_range.end == keys[-1]:
        return None
    return MonthWindow.from_keys(partition_range.start, partition_range.end)


def dbt_window_env(window: MonthWindow | None) -> dict[str, str]:
    """The environment variables that pass a window's bounds to dbt (YYYY-MM-DD); empty values →
    every month."""
    if window is None:
        return dict.fromkeys(DBT_WINDOW_ENV.values(), "")
    bounds = window.bounds()
    return {name: bounds[bound].isoformat() for bound, name in DBT_WINDOW_ENV.items()}


def partition_range_tags(window: MonthWindow) -> dict[str, str]:
    """Run tags that make one Dagster run cover a range of month partitions."""
    return {
        ASSET_PARTITION_RANGE_START_TAG: month_key(window.first),
        ASSET_PARTITION_RANGE_END_TAG: month_key(window.last),
    }
