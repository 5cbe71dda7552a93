"""The scorecard (`scorecard.scorecard`, `scorecard.scorecard_scores`) on the generated sample.

The status rules themselves, edge cases included, are pinned by the dbt unit tests beside each
model (`dbt_project/models/marts/scorecard/scorecard.yml`, …: hand-computed cases); the last test
runs them. The other tests check the built tables against the sample: only complete periods, every
KPI for every unit, the target in effect and the status recomputed independently, points and scores consistent.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest

from tests.conftest import BuiltWarehouse

pytestmark = pytest.mark.e2e

COLOURS = {"green": 100, "amber": 50, "red": 0}
STATUSES = {*COLOURS, "no_target", "no_data"}
PERSPECTIVES = {"financial", "customer", "internal_process", "learning_growth"}


def test_only_complete_periods_every_unit_and_kpi(built_warehouse: BuiltWarehouse) -> None:
    # The sample's sales reach 2025-12-31, so every period of 2024-01 .. 2025-12 is complete.
    assert built_warehouse.query("select max(order_date) from staging.stg_sales_lines") == [
        (dt.date(2025, 12, 31),)
    ]
    assert built_warehouse.query("select as_of_date from scorecard.int_scorecard_clock") == [
        (dt.date(2025, 12, 31),)
    ]
    periods = built_warehouse.query(
        "select period_grain, count(distinct period_start), min(period_start), max(period_end) "
        "from scorecard.scorecard group by period_grain order by period_grain"
    )
    assert periods == [
        ("month", 24, dt.date(2024, 1, 1), dt.date(2025, 12, 31)),
        ("quarter", 8, dt.date(2024, 1, 1), dt.date(2025, 12, 31)),
        ("year", 2, dt.date(2024, 1, 1), dt.date(2025, 12, 31)),
    ]
    labels = built_warehouse.query(
        "select period_label from scorecard.scorecard where period_start = date '2025-10-01' "
        "group by period_label order by period_label"
    )
    assert labels == [("2025-10",), ("2025-Q4",)]
    # One row per complete period × org unit × KPI: here every kpi_values row, once.
    (rows, keys, values) = built_warehouse.query(
        "select count(*), count(distinct (period_grain, period_start, org_unit_id, kpi_id)), "
        "(select count(*) from kpi.kpi_values) from scorecard.scorecard"
    )[0]
    assert rows == keys == values
    assert built_warehouse.query(
        "select count(*) from scorecard.scorecard s join kpi.kpi_values v using (kpi_id, period_grain, "
        "period_start, org_unit_id) where s.actual is distinct from v.value "
        "or s.value_status <> v.value_status"
    ) == [(0,)]


def test_contract_columns(built_warehouse: BuiltWarehouse) -> None:
    columns = built_warehouse.query(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'scorecard' and table_name in ('scorecard', 'scorecard_scores') "
        "order by table_name, ordinal_position"
    )
    scorecard = [(name, kind) for table, name, kind in columns if table == "scorecard"]
    scores = [(name, kind) for table, name, kind in columns if table == "scorecard_scores"]
    text, double, date = "VARCHAR", "DOUBLE", "DATE"
    assert scorecard == [
        ("period_grain", text), ("period_start", date), ("period_end", date), ("period_label", text),
        ("org_unit_id", text), ("org_unit_name", text), ("org_unit_name_zh", text), ("unit_type", text),
        ("parent_org_unit_id", text), ("kpi_id", text), ("kpi_label", text), ("kpi_label_zh", text),
        ("perspective", text), ("unit", text), ("polarity", text), ("decimals", "INTEGER"),
        ("actual", double), ("numerator", double), ("denominator", double), ("sample_size", "BIGINT"),
        ("value_status", text), ("target", double), ("target_effective_from", date),
        ("target_set_by", text), ("attainment", double), ("status", text), ("points", "INTEGER"),
        ("prior_period_actual", double), ("change_vs_prior_period", double),
        ("prior_year_actual", double), ("change_vs_prior_year", double), ("weight", double),
    ]  # fmt: skip
    assert scores == [
        ("period_grain", text), ("period_start", date), ("org_unit_id", text), ("perspective", text),
        ("score", double), ("kpis_scored", "INTEGER"),
    ]  # fmt: skip


def test_status_mix_and_points(built_warehouse: BuiltWarehouse) -> None:
    statuses = dict(built_warehouse.query("select status, count(*) from scorecard.scorecard group by status"))
    assert set(statuses) <= STATUSES
    assert {"green", "amber", "red", "no_target"} <= set(statuses), statuses
    points = built_warehouse.query("select distinct status, points from scorecard.scorecard")
    for status, point in points:
        assert point == COLOURS.get(status), (status, point)
    # no_data exactly where kpi_values has no value; no_target exactly where no target is in effect.
    assert built_warehouse.query(
        "select count(*) from scorecard.scorecard where (status = 'no_data') <> (actual is null)"
    ) == [(0,)]
    assert built_warehouse.query(
        "select count(*) from scorecard.scorecard where actual is not null "
        "and (status = 'no_target') <> (target is null)"
    ) == [(0,)]


def test_target_in_effect_is_the_latest_row_not_after_today(built_warehouse: BuiltWarehouse) -> None:
    # Recomputed from the seed table (kpi.kpi_targets), not from the dbt models of the scorecard.
    mismatches = built_warehouse.query(
        """
        with latest as (
            select kpi_id, org_unit_id, period_grain, period_start,
                   arg_max(target_value, effective_from) as target, max(effective_from) as effective_from
            from kpi.kpi_targets
            where effective_from <= current_date
            group by all
        )
        select s.kpi_id, s.org_unit_id, s.period_grain, s.period_start, s.target, latest.target
        from scorecard.scorecard s
        left join latest using (kpi_id, org_unit_id, period_grain, period_start)
        where s.target is distinct from latest.target
           or s.target_effective_from is distinct from latest.effective_from
        """
    )
    assert mismatches == []
    # The mid-year reforecast of 2025-06-15 replaces the annual plan for the second half of 2025.
    reforecast = built_warehouse.query(
        "select target_effective_from, target_set_by from scorecard.scorecard "
        "where kpi_id = 'net_revenue' and org_unit_id = 'HQ' and period_label = '2025-10'"
    )
    assert reforecast == [(dt.date(2025, 6, 15), "FP&A")]


def expected_status(row: dict) -> tuple[str, float | None]:
    """The status rule of docs/kpi_definitions.md, written out again in Python: (status, attainment)."""
    actual, target, lower = row["actual"], row["target"], row["polarity"] == "lower_is_better"
    if actual is None:
        return "no_data", None
    if target is None:
        return "no_target", None
    gap = target - actual if lower else actual - target
    if row["status_rule"] == "difference":
        attainment = (target / actual if lower else actual / target) if actual > 0 and target > 0 else None
        band = row["amber_band"] or 0
        return ("green" if gap >= 0 else "amber" if gap >= -band else "red"), attainment
    if target <= 0 or actual < 0 or (lower and actual == 0):
        return ("green" if gap >= 0 else "red"), None
    attainment = target / actual if lower else actual / target
    colour = "green" if attainment >= row["green_at"] else "amber" if attainment >= row["amber_at"] else "red"
    return colour, attainment


def test_status_and_attainment_recomputed(built_warehouse: BuiltWarehouse) -> None:
    scorecard = ["actual", "target", "polarity", "status", "attainment"]
    dictionary = ["status_rule", "green_at", "amber_at", "amber_band"]
    names = scorecard + dictionary
    columns = [f"s.{name}" for name in scorecard] + [f"d.{name}" for name in dictionary]
    rows = built_warehouse.query(
        f"select {', '.join(columns)} from scorecard.scorecard s join kpi.kpi_dictionary d using (kpi_id)"
    )
    assert rows
    for values in rows:
        row = dict(zip(names, values, strict=True))
        status, attainment = expected_status(row)
        assert row["status"] == status, row
        if attainment is None:
            assert row["attainment"] is None, row
        else:
            assert math.isclose(row["attainment"], attainment, rel_tol=1e-12), row


def test_changes_against_prior_period_and_prior_year(built_warehouse: BuiltWarehouse) -> None:
    rows = built_warehouse.query(
        """
        select s.period_grain, s.prior_period_actual, pp.value, s.prior_year_actual, py.value,
               s.change_vs_prior_period, s.actual - pp.value, s.change_vs_prior_year, s.actual - py.value
        from scorecard.scorecard s
        left join kpi.kpi_values pp on pp.kpi_id = s.kpi_id and pp.org_unit_id = s.org_unit_id
            and pp.period_grain = s.period_grain
            and pp.period_start = s.period_start - case s.period_grain when 'month' then interval 1 month
                when 'quarter' then interval 3 month else interval 1 year end
        left join kpi.kpi_values py on py.kpi_id = s.kpi_id and py.org_unit_id = s.org_unit_id
            and py.period_grain = s.period_grain and py.period_start = s.period_start - interval 1 year
        where s.org_unit_id = 'HQ' and s.kpi_id = 'net_revenue'
        """
    )
    assert len(rows) == 24 + 8 + 2
    for grain, prior, prior_expected, year, year_expected, change, change_expected, yoy, yoy_expected in rows:
        assert (prior, year, change, yoy) == (prior_expected, year_expected, change_expected, yoy_expected)
        if grain == "year":
            assert prior == year
    # 2025 has a value for its previous month, quarter and year; 2024-01 has none.
    (prior_2025_10, year_2025_10) = built_warehouse.query(
        "select prior_period_actual, prior_year_actual from scorecard.scorecard "
        "where org_unit_id = 'HQ' and kpi_id = 'net_revenue' and period_label = '2025-10'"
    )[0]
    assert prior_2025_10 is not None and year_2025_10 is not None
    assert built_warehouse.query(
        "select prior_period_actual, prior_year_actual from scorecard.scorecard "
        "where org_unit_id = 'HQ' and kpi_id = 'net_revenue' and period_label = '2024-01'"
    ) == [(None, None)]


def test_scores(built_warehouse: BuiltWarehouse) -> None:
    weights = dict(built_warehouse.query("select perspective, weight from kpi.perspective_weights"))
    assert weights == dict.fromkeys(PERSPECTIVES, 1.0)  # equal by default
    (count, lowest, highest) = built_warehouse.query(
        "select count(*), min(score), max(score) from scorecard.scorecard_scores"
    )[0]
    assert count > 0 and 0 <= lowest <= highest <= 100
    # All four perspectives are scored, for the company and its regions, in every complete period.
    scored = built_warehouse.query(
        "select org_unit_id, count(distinct (period_grain, period_start)), list(distinct perspective) "
        "from scorecard.scorecard_scores where org_unit_id in ('HQ', 'R-EAST') group by 1 order by 1"
    )
    assert [(unit, periods, set(names)) for unit, periods, names in scored] == [
        (unit, 34, {*PERSPECTIVES, "overall"}) for unit in ("HQ", "R-EAST")
    ]
    assert built_warehouse.query(
        "select count(*) from (select period_grain, period_start, org_unit_id from scorecard.scorecard_scores "
        "where org_unit_id in ('HQ', 'R-EAST') group by all having count(*) <> 5)"
    ) == [(0,)]
    assert built_warehouse.query("select count(*) from scorecard.scorecard_scores where score is null") == [
        (0,)
    ]

    # A perspective's score: Σ(weight × points) / Σ(weight) over its rated KPIs, from the scorecard
    # (stored rounded to 6 decimals).
    mismatches = built_warehouse.query(
        """
        with expected as (
            select period_grain, period_start, org_unit_id, perspective,
                   sum(weight * points) / sum(weight) as score, count(*) as kpis_scored
            from scorecard.scorecard where points is not null group by all
        )
        select * from expected full join scorecard.scorecard_scores s
            using (period_grain, period_start, org_unit_id, perspective)
        where (expected.perspective is null and s.perspective <> 'overall')
           or (expected.perspective is not null and (s.score is null or abs(s.score - expected.score) > 1e-6
               or s.kpis_scored <> expected.kpis_scored))
        """
    )
    assert mismatches == []

    # With equal perspective weights, overall is the plain mean of the perspective scores.
    overall = built_warehouse.query(
        """
        select o.score, avg(p.score), o.kpis_scored, sum(p.kpis_scored), count(*)
        from scorecard.scorecard_scores o
        join scorecard.scorecard_scores p using (period_grain, period_start, org_unit_id)
        where o.perspective = 'overall' and p.perspective <> 'overall'
        group by o.period_grain, o.period_start, o.org_unit_id, o.score, o.kpis_scored
        """
    )
    assert overall
    assert any(perspectives > 1 for *_, perspectives in overall)
    for score, mean, kpis, kpis_sum, _ in overall:
        assert math.isclose(score, mean, abs_tol=1e-6)  # scores are stored to 6 decimals
        assert kpis == kpis_sum
    # Every period and unit with a rated KPI has an overall row, and only those.
    assert built_warehouse.query(
        """
        select count(*) from (
            select distinct period_grain, period_start, org_unit_id from scorecard.scorecard
            where points is not null
        ) rated
        full join (
            select period_grain, period_start, org_unit_id from scorecard.scorecard_scores
            where perspective = 'overall'
        ) overall using (period_grain, period_start, org_unit_id)
        where rated.org_unit_id is null or overall.org_unit_id is null
        """
    ) == [(0,)]
