"""engagement_surveys: a quarterly anonymous pulse survey (eNPS) of the employees of every store and
warehouse, written per quarter; a mixin of `generator._Generator`: its methods share the generator's
state (random generators, months, plans; names with a leading underscore are private to this package).
Draws come from the people's streams."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dagster_project.sample_data.company import _STORES, _WAREHOUSES
from dagster_project.sample_data.people import _UNKNOWN_UNIT_PEOPLE
from dagster_project.sample_data.values import _dates, _ids, _ints, _iso

_RESPONSE_RATE = 0.65
_SCORE_SPREAD = 2.2


class _Engagement:
    """The pulse answers of each quarter, and their files."""

    def _write_engagement(self) -> None:
        rng = self.people_rng
        n_units = len(_STORES) + len(_WAREHOUSES)
        mood = rng.uniform(6.0, 8.6, n_units)  # each unit's typical answer
        day, unit, score = [], [], []
        for qi in range(len(self.quarters)):
            end = self.quarter_start[qi + 1] - 1 if qi + 1 < len(self.quarters) else self.range_end
            opens = int(self.quarter_start[qi] + min(40, (end - self.quarter_start[qi]) // 2))
            for u in range(n_units):
                staff = sum(1 for e in self.staff if e.active_on(opens) and self._unit_on(e, opens) == u)
                answers = int(rng.binomial(staff, _RESPONSE_RATE))
                day.extend(np.minimum(opens + rng.integers(0, 10, answers), end).tolist())
                unit.extend([u] * answers)
                score.extend(np.clip(np.rint(rng.normal(mood[u], _SCORE_SPREAD, answers)), 0, 10).tolist())
        order = np.lexsort((np.array(unit), np.array(day)))
        day_a = np.array(day, dtype=np.int64)[order]
        unit_a = np.array(unit, dtype=np.int64)[order]
        score_a = np.array(score, dtype=np.int64)[order]
        ids = _ids("EP-", np.arange(1, len(order) + 1), 6)
        unit_ids = pa.array([s[0] for s in _STORES] + [w[0] for w in _WAREHOUSES], pa.string())
        self._write_people_quarters(
            "engagement_surveys",
            day_a,
            lambda s: {
                "response_id": ids[s],
                "response_date": _dates(day_a[s]),
                "org_unit_id": unit_ids.take(pa.array(unit_a[s])),
                "enps_score": _ints(score_a[s]),
            },
            self._bad_engagement(),
            key=("response_id", "EP-"),
        )

    @staticmethod
    def _unit_on(employee, day: int) -> int:
        """The unit of the employee's row in effect on the day."""
        return max((row for row in employee.rows if row[0] <= day), key=lambda row: row[0])[1]

    def _bad_engagement(self) -> list[tuple[int, dict[str, str | None], str]]:
        if not self.plant:
            return []
        brng = self.people_bad_rng
        csv_quarters = [i for i, is_csv in enumerate(self.quarter_csv) if is_csv]
        kinds = (("11", _STORES[0][0], "enps_score is 11 (above 10)"),
                 ("7.5", _STORES[1][0], "enps_score is not an integer ('7.5')"),
                 ("8", _UNKNOWN_UNIT_PEOPLE, f"unknown org_unit_id '{_UNKNOWN_UNIT_PEOPLE}'"))  # fmt: skip
        planted = []
        for j, (score, unit, reason) in enumerate(kinds):
            qi = csv_quarters[(j * len(csv_quarters)) // len(kinds)]
            day = int(self.quarter_start[qi] + brng.integers(0, 28))
            planted.append(
                (qi, {"response_date": _iso(day), "org_unit_id": unit, "enps_score": score}, reason)
            )
        return planted
