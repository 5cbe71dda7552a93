"""training_records: the courses each employee completes while employed (an onboarding course after
a hire in the covered months, then role courses at about one a year), written per quarter; a mixin of
`generator._Generator`: its methods share the generator's state (random generators, months, plans;
names with a leading underscore are private to this package). Draws come from the people's streams."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dagster_project.sample_data.values import _dates, _ids, _iso, _money

_ONBOARDING = ("New hire onboarding", 800)  # (course, hours in hundredths)
# fmt: off
_COURSES = {
    "sales_associate": (("Product knowledge", 400), ("Customer service", 600), ("Upselling basics", 350)),
    "service_agent": (("Complaint handling", 600), ("Customer service", 600), ("Returns policy", 250)),
    "store_manager": (("Leadership essentials", 1600), ("Coaching conversations", 800)),
    "regional_manager": (("Leadership essentials", 1600), ("Financial acumen", 1200)),
    "warehouse_manager": (("Leadership essentials", 1600), ("Inventory accuracy", 400)),
    "warehouse_staff": (("Forklift safety", 800), ("Inventory accuracy", 400)),
}
# fmt: on
_COMMON = (("Fire safety", 200), ("Data privacy", 150))
_COURSES_PER_YEAR = 1.2  # so about a third of the staff has no course in a given year
_UNKNOWN_TRAINEE = "E-99998"


class _Training:
    """The training records of the roster, and their files."""

    def _write_training(self) -> None:
        rng = self.people_rng
        day, emp, course = [], [], []
        for index, employee in enumerate(self.staff):
            first = max(employee.hire, self.range_start)
            last = employee.leave if employee.leave >= 0 else self.range_end
            if last < first:
                continue
            role = employee.rows[0][3]
            if employee.hire >= self.range_start and employee.hire + 14 <= last:
                day.append(employee.hire + int(rng.integers(1, 15)))
                emp.append(index)
                course.append(_ONBOARDING)
            n = int(rng.poisson(_COURSES_PER_YEAR * (last - first + 1) / 365))
            options = _COURSES[role] + _COMMON
            for when in np.sort(rng.integers(first, last + 1, n)):
                day.append(int(when))
                emp.append(index)
                course.append(options[int(rng.integers(len(options)))])
        order = np.lexsort((np.array(emp), np.array(day)))
        day_a = np.array(day, dtype=np.int64)[order]
        emp_a = np.array(emp, dtype=np.int64)[order]
        # Hours vary a little around the course's length (a shorter or longer session).
        base = np.array([course[i][1] for i in order], dtype=np.int64)
        hours_a = np.maximum(50, base + 25 * rng.integers(-2, 3, len(order)))
        names = pa.array([course[i][0] for i in order], pa.string())
        ids = _ids("TR-", np.arange(1, len(order) + 1), 6)
        employee_ids = pa.array([e.employee_id for e in self.staff], pa.string())
        self._write_people_quarters(
            "training_records",
            day_a,
            lambda s: {
                "training_id": ids[s],
                "employee_id": employee_ids.take(pa.array(emp_a[s])),
                "course": names[s],
                "completed_on": _dates(day_a[s]),
                "hours": _money(hours_a[s]),
            },
            self._bad_training(),
            key=("training_id", "TR-"),
        )

    def _bad_training(self) -> list[tuple[int, dict[str, str | None], str]]:
        if not self.plant:
            return []
        brng = self.people_bad_rng
        csv_quarters = [i for i, is_csv in enumerate(self.quarter_csv) if is_csv]
        trainee = next(e for e in self.staff if e.leave < 0)
        kinds = (("0", trainee.employee_id, "hours is 0"), ("250", trainee.employee_id, "hours is above 200"),
                 ("4", _UNKNOWN_TRAINEE, f"unknown employee_id '{_UNKNOWN_TRAINEE}'"))  # fmt: skip
        planted = []
        for j, (hours, employee_id, reason) in enumerate(kinds):
            qi = csv_quarters[(j * len(csv_quarters)) // len(kinds)]
            end = self.quarter_start[qi + 1] - 1 if qi + 1 < len(self.quarters) else self.range_end
            day = int(brng.integers(max(self.quarter_start[qi], trainee.hire), end + 1))
            row = {
                "employee_id": employee_id,
                "course": "Fire safety",
                "completed_on": _iso(day),
                "hours": hours,
            }
            planted.append((qi, row, reason))
        return planted
