"""Which CSV file (month or quarter) gets which kind of planted bad row; a mixin of `generator._Generator`:
its methods share the generator's state (random generators, months, plans; names with a leading
underscore are private to this package)."""

from __future__ import annotations

from collections import defaultdict

from dagster_project.sample_data.company import _STORES, _UNKNOWN_UNIT_COMPLAINTS
from dagster_project.sample_data.complaints import _COMPLAINT_CATEGORIES
from dagster_project.sample_data.values import _iso, _iso_ts, _spread


class _BadRowPlan:
    """The plan of bad rows per entity and file."""

    def _bad_plan(self) -> None:
        """Which CSV file (month or quarter) gets which kind of bad row; at most two per file."""
        self.sales_bad: dict[int, list[str]] = defaultdict(list)
        self.returns_bad: dict[int, list[str]] = defaultdict(list)
        self.inventory_bad: dict[int, list[str]] = defaultdict(list)
        if not self.plant:
            return
        # Ordered so that with a year of CSV months the invalid date lands in April ("2024-04-31").
        sales_kinds = [
            "quantity_abc",
            "quantity_zero",
            "bad_date",
            "duplicate",
            "negative_price",
            "unknown_unit",
            "unknown_sku",
            "missing_order_id",
        ]
        for kind, mi in zip(sales_kinds, _spread(len(sales_kinds), self.n_csv), strict=True):
            self.sales_bad[mi].append(kind)
        for kind, mi in zip(["orphan", "before_order", "over_quantity"], _spread(3, self.n_csv), strict=True):
            self.returns_bad[mi].append(kind)
        for kind, mi in zip(["negative", "unknown_sku"], _spread(2, self.n_csv), strict=True):
            self.inventory_bad[mi].append(kind)
        csv_quarters = [i for i, is_csv in enumerate(self.quarter_csv) if is_csv]
        brng = self.bad_rng
        survey_kinds = [
            ({"nps_score": "11", "csat_score": "5"}, "nps_score is 11 (above 10)"),
            ({"nps_score": None, "csat_score": "0"}, "csat_score is 0 (below 1)"),
            ({"nps_score": None, "csat_score": None}, "neither nps_score nor csat_score present"),
        ]
        self.survey_bad: list[tuple[int, dict[str, str | None], str]] = []
        for (scores, reason), qi in zip(survey_kinds, _spread(3, len(csv_quarters)), strict=True):
            day = self._day_in_quarter(csv_quarters[qi])
            store = self.store_ids[int(brng.integers(len(_STORES)))]
            row = {
                "response_date": _iso(day),
                "org_unit_id": store,
                "customer_id": None,
                "order_id": None,
                "comment": None,
                **scores,
            }
            self.survey_bad.append((csv_quarters[qi], row, reason))
        self.complaint_bad: list[tuple[int, dict[str, str | None], str]] = []
        for kind, qi in zip(["resolved_before", "unknown_unit"], _spread(2, len(csv_quarters)), strict=True):
            day = self._day_in_quarter(csv_quarters[qi])
            opened = day * 86400 + int(brng.integers(9 * 3600, 20 * 3600))
            category = _COMPLAINT_CATEGORIES[int(brng.integers(len(_COMPLAINT_CATEGORIES)))]
            if kind == "resolved_before":
                row = {
                    "opened_at": _iso_ts(opened),
                    "resolved_at": _iso_ts(opened - 3 * 3600 - 1200),
                    "org_unit_id": self.store_ids[int(brng.integers(len(_STORES)))],
                    "category": category,
                }
                reason = "resolved_at before opened_at"
            else:
                row = {
                    "opened_at": _iso_ts(opened),
                    "resolved_at": _iso_ts(opened + 26 * 3600),
                    "org_unit_id": _UNKNOWN_UNIT_COMPLAINTS,
                    "category": category,
                }
                reason = f"unknown org_unit_id '{_UNKNOWN_UNIT_COMPLAINTS}'"
            self.complaint_bad.append((csv_quarters[qi], row, reason))

    def _day_in_quarter(self, qi: int) -> int:
        start = self.quarter_start[qi]
        end = self.quarter_start[qi + 1] - 1 if qi + 1 < len(self.quarters) else self.range_end
        return int(start + self.bad_rng.integers(0, end - start + 1))
