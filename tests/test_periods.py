"""The calendar (dagster_project/periods.py): pure functions, and the SQL generated from its tables."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from dagster_project.periods import (
    GRAIN_MONTHS,
    GRAINS,
    MonthWindow,
    Period,
    PeriodLabelError,
    add_months,
    contains,
    contiguous_windows,
    grain_months_sql,
    grain_rank_sql,
    month_key,
    months_between,
    parse_label,
    parse_month,
    period_of,
    periods_over,
    shift,
)


def test_grains_finest_first_with_their_months() -> None:
    assert GRAINS == ("month", "quarter", "year")
    assert [GRAIN_MONTHS[g] for g in GRAINS] == [1, 3, 12]


@pytest.mark.parametrize(
    ("grain", "day", "start", "label", "last_month", "end"),
    [
        ("month", date(2025, 3, 17), date(2025, 3, 1), "2025-03", date(2025, 3, 1), date(2025, 4, 1)),
        ("month", date(2025, 12, 31), date(2025, 12, 1), "2025-12", date(2025, 12, 1), date(2026, 1, 1)),
        ("quarter", date(2025, 3, 31), date(2025, 1, 1), "2025-Q1", date(2025, 3, 1), date(2025, 4, 1)),
        ("quarter", date(2025, 11, 5), date(2025, 10, 1), "2025-Q4", date(2025, 12, 1), date(2026, 1, 1)),
        ("year", date(2025, 7, 4), date(2025, 1, 1), "2025", date(2025, 12, 1), date(2026, 1, 1)),
    ],
)
def test_the_period_containing_a_day(
    grain: str, day: date, start: date, label: str, last_month: date, end: date
) -> None:
    period = period_of(grain, day)
    assert period == Period(grain, start) == (grain, start)  # a (grain, start) pair, as SQL rows give it
    assert (period.label, period.last_month, period.end) == (label, last_month, end)


def test_an_unknown_grain_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown grain 'week'"):
        period_of("week", date(2025, 1, 1))


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("2025-03", Period("month", date(2025, 3, 1))),
        (" 2025-3 ", Period("month", date(2025, 3, 1))),
        ("2025-Q1", Period("quarter", date(2025, 1, 1))),
        ("2025q4", Period("quarter", date(2025, 10, 1))),
        ("2025", Period("year", date(2025, 1, 1))),
    ],
)
def test_labels_parse_and_print_back(text: str, period: Period) -> None:
    assert parse_label(text) == period
    assert parse_label(period.label) == period


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2025-13", "'2025-13': month 13 does not exist; write a month (2025-10), a quarter"),
        (
            "2025-Q5",
            "'2025-Q5' is not a period: write a month (2025-10), a quarter (2025-Q4) or a year (2025)",
        ),
        ("March", "'March' is not a period"),
    ],
)
def test_bad_labels_are_refused_with_what_a_label_looks_like(text: str, message: str) -> None:
    with pytest.raises(PeriodLabelError) as error:
        parse_label(text)
    assert str(error.value).startswith(message)


def test_month_keys_are_strict() -> None:
    assert parse_month("2025-06") == date(2025, 6, 1)
    assert month_key(date(2025, 6, 30)) == "2025-06"
    for text in ("2025-6", "25-06", "2025-13", "June"):
        with pytest.raises(ValueError, match="is not a month: write it as YYYY-MM"):
            parse_month(text)


def test_month_offsets_cross_years_both_ways() -> None:
    assert add_months(date(2025, 11, 15), 2) == date(2026, 1, 1)
    assert add_months(date(2025, 1, 1), -1) == date(2024, 12, 1)
    assert add_months(date(2025, 1, 1), -25) == date(2022, 12, 1)
    assert add_months(date(2025, 6, 9), 0) == date(2025, 6, 1)


def test_shift_gives_the_prior_period_and_the_prior_year() -> None:
    quarter = Period("quarter", date(2025, 1, 1))
    assert shift(quarter, -1) == Period("quarter", date(2024, 10, 1))
    assert shift(quarter, -1, "year") == Period("quarter", date(2024, 1, 1))
    assert shift(Period("month", date(2025, 12, 1)), 1) == Period("month", date(2026, 1, 1))
    assert shift(Period("year", date(2025, 1, 1)), -2) == Period("year", date(2023, 1, 1))


def test_containment_goes_from_coarse_to_fine_only() -> None:
    month, quarter, year = date(2025, 5, 1), date(2025, 4, 1), date(2025, 1, 1)
    assert contains(("year", year), ("month", month))
    assert contains(("year", year), ("quarter", quarter))
    assert contains(("quarter", quarter), ("month", month))
    assert contains(("month", month), ("month", month))
    assert not contains(("month", month), ("quarter", quarter))  # finer never contains coarser
    assert not contains(("quarter", quarter), ("year", year))
    assert not contains(("quarter", date(2025, 7, 1)), ("month", month))
    assert not contains(("year", date(2024, 1, 1)), ("month", month))
    assert not contains(("month", date(2025, 6, 1)), ("month", month))


def test_the_periods_over_a_month_range() -> None:
    months = months_between(date(2024, 11, 20), date(2025, 2, 1))
    assert months == [date(2024, 11, 1), date(2024, 12, 1), date(2025, 1, 1), date(2025, 2, 1)]
    assert [p.label for p in periods_over(months)] == [
        *("2024-11", "2024-12", "2025-01", "2025-02"),
        *("2024-Q4", "2025-Q1"),
        *("2024", "2025"),
    ]


def test_a_window_lists_its_periods_and_those_it_completes() -> None:
    window = MonthWindow.from_keys("2024-11", "2025-03")
    assert window.months() == months_between(window.first, window.last)
    assert [p.label for p in window.completed_periods()] == ["2024-Q4", "2025-Q1", "2024"]
    assert MonthWindow.from_keys("2025-05", "2025-05").completed_periods() == []
    with pytest.raises(ValueError, match=r"starts \(2025-06\) after it ends \(2025-01\)"):
        MonthWindow.from_keys("2025-06", "2025-01")


def test_the_bounds_of_a_window() -> None:
    assert MonthWindow.from_keys("2024-11", "2025-05").bounds() == {
        "first": date(2024, 11, 1),
        "last": date(2025, 5, 1),
        "end": date(2025, 6, 1),
        "quarter_first": date(2024, 10, 1),
        "quarter_last": date(2025, 4, 1),
        "quarter_end": date(2025, 7, 1),
        "year_first": date(2024, 1, 1),
        "year_last": date(2025, 1, 1),
        "year_end": date(2026, 1, 1),
    }


def test_consecutive_months_make_one_window() -> None:
    months = [date(2025, 3, 1), date(2025, 1, 1), date(2025, 2, 1), date(2025, 7, 1), date(2025, 2, 1)]
    assert contiguous_windows(months) == [
        MonthWindow(date(2025, 1, 1), date(2025, 3, 1)),
        MonthWindow(date(2025, 7, 1), date(2025, 7, 1)),
    ]


def test_the_generated_sql_follows_the_python_tables() -> None:
    with duckdb.connect() as con:
        rows = con.execute(
            f"select g, {grain_months_sql('g')}, {grain_rank_sql('g')} from unnest(?) as t(g) "
            f"order by {grain_rank_sql('g')} desc",
            [list(GRAINS)],
        ).fetchall()
    assert rows == [(g, GRAIN_MONTHS[g], rank) for rank, g in reversed(list(enumerate(GRAINS)))]


def test_the_generated_sql_shifts_a_period_by_its_length() -> None:
    """The publisher's prior-period join: start - (months of the grain) is `shift(period, -1)`."""
    periods = [
        Period("month", date(2025, 1, 1)),
        Period("quarter", date(2025, 1, 1)),
        Period("year", date(2025, 1, 1)),
    ]
    with duckdb.connect() as con:
        rows = con.execute(
            f"select g, cast(s - to_months({grain_months_sql('g')}) as date) "
            "from (select unnest(?) as g, unnest(?) as s) order by s, g",
            [[p.grain for p in periods], [p.start for p in periods]],
        ).fetchall()
    assert sorted(Period(*row) for row in rows) == sorted(shift(p, -1) for p in periods)
