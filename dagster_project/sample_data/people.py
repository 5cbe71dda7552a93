"""employees: the roster of the sample company (regional, store and warehouse managers, sales associates,
service agents, warehouse staff) with hires, leavers, transfers and FTE changes over the months as
effective-dated rows, and who of them sold a sales line or handled a complaint; a mixin of
`generator._Generator`: its methods share the generator's state (random generators, months, plans; names
with a leading underscore are private to this package).

Every draw here comes from the people's own random streams (`people_rng`, `people_bad_rng`), so the
other entities' files are the same with or without the people data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from dagster_project.sample_data.company import _REGIONS, _STORES, _WAREHOUSES
from dagster_project.sample_data.values import _iso, _iso_ts, _money_str, _order_id

# About one employee per 2,000 sales lines a year; at least a handful per store.
_LINES_PER_EMPLOYEE_YEAR = 2_000
_MIN_ASSOCIATES_PER_STORE = 3
_ASSOCIATES_PER_AGENT = 5
_WAREHOUSE_SHARE = 0.08  # of the proportional headcount, over all warehouses
# Monthly chance of leaving, by role (about 12-25% a year); managers stay.
_LEAVE_P = {"sales_associate": 0.02, "service_agent": 0.015, "warehouse_staff": 0.01}
_TRANSFER_P = 0.004  # an associate moving to another store of the region
_FTE_CHANGE_P = 0.008
_PART_TIME_FTES = np.array([50, 60, 80])  # hundredths
_ATTRIBUTED_STORE_SALES = 0.97  # store sales lines with a salesperson; online lines have none
_SOLD_IN_ANOTHER_STORE = 0.01  # of those, sold by an associate of another store of the region
_ATTRIBUTED_COMPLAINTS = 0.92
# Ids no employee has: the planted rows that name them are quarantined.
_UNKNOWN_MANAGER = "E-99999"
_UNKNOWN_SALESPERSON = "E-99997"
_UNKNOWN_HANDLER = "E-99996"
_UNKNOWN_UNIT_PEOPLE = "ST-025"

# fmt: off
_SURNAMES = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma",
             "Zhu", "Hu", "Guo", "He", "Lin", "Luo", "Gao")
_GIVEN = ("Wei", "Fang", "Na", "Min", "Jing", "Lei", "Qiang", "Jun", "Yang", "Yan", "Jie", "Tao", "Ming",
          "Chao", "Xiu", "Hui", "Ping", "Gang", "Hong", "Lan", "Xin", "Yu", "Hao", "Ting")
# fmt: on


@dataclass
class _Employee:
    employee_id: str
    name: str
    hire: int  # day
    leave: int = -1  # day, -1 while employed
    # (valid_from day, unit index, manager employee index or -1, role, fte in hundredths)
    rows: list[tuple[int, int, int, str, int]] = field(default_factory=list)

    def active_on(self, day: int) -> bool:
        return self.hire <= day and (self.leave < 0 or day <= self.leave)


class _People:
    """The roster, its file, and the salesperson of each sales line and handler of each complaint."""

    def _people_units(self) -> list[str]:
        """The roster's unit indices: stores, then warehouses (as `unit_ids`), then regions."""
        return [s[0] for s in _STORES] + [w[0] for w in _WAREHOUSES] + [r[0] for r in _REGIONS]

    def _roster(self) -> None:
        rng = self.people_rng
        self.staff: list[_Employee] = []
        n_stores, n_wh = len(_STORES), len(_WAREHOUSES)
        headcount = self.n_lines * 12 / len(self.months) / _LINES_PER_EMPLOYEE_YEAR
        share = self.store_size / self.store_size.sum()
        associates = np.maximum(_MIN_ASSOCIATES_PER_STORE, np.rint(headcount * share)).astype(np.int64)
        agents = np.maximum(1, np.rint(associates / _ASSOCIATES_PER_AGENT)).astype(np.int64)
        wh_staff = max(2, round(headcount * _WAREHOUSE_SHARE / n_wh))
        start = self.range_start

        def tenure() -> int:
            return start - int(rng.integers(30, 10 * 365))

        regional = [
            self._hire(tenure(), n_stores + n_wh + r, -1, "regional_manager", 100)
            for r in range(len(_REGIONS))
        ]
        self.store_manager = []
        for s, (_, _, _, region) in enumerate(_STORES):
            manager = self._hire(tenure(), s, regional[region], "store_manager", 100)
            self.store_manager.append(manager)
            for _ in range(int(agents[s])):
                self._hire(tenure(), s, manager, "service_agent", self._fte(0.8))
            for _ in range(int(associates[s])):
                self._hire(tenure(), s, manager, "sales_associate", self._fte(0.65))
        for w, (_, _, _, region) in enumerate(_WAREHOUSES):
            manager = self._hire(tenure(), n_stores + w, regional[region], "warehouse_manager", 100)
            for _ in range(wh_staff):
                self._hire(tenure(), n_stores + w, manager, "warehouse_staff", self._fte(0.9))
        for mi in range(len(self.months)):
            self._roster_month(mi)
        self.associate_spans = self._spans(("sales_associate",))
        self.agent_spans = self._spans(("service_agent",))

    def _fte(self, full_time_share: float) -> int:
        rng = self.people_rng
        return 100 if rng.random() < full_time_share else int(rng.choice(_PART_TIME_FTES))

    def _hire(self, day: int, unit: int, manager: int, role: str, fte: int) -> int:
        rng = self.people_rng
        index = len(self.staff)
        name = f"{_SURNAMES[int(rng.integers(len(_SURNAMES)))]} {_GIVEN[int(rng.integers(len(_GIVEN)))]}"
        employee = _Employee(f"E-{index + 1:05d}", name, day)
        employee.rows.append((day, unit, manager, role, fte))
        self.staff.append(employee)
        return index

    def _roster_month(self, mi: int) -> None:
        """Leavers (each replaced some weeks later), transfers, FTE changes and growth hires of a month."""
        rng = self.people_rng
        first, days = int(self.month_start[mi]), int(self.month_days[mi])
        for index in range(len(self.staff)):
            employee = self.staff[index]
            _, unit, manager, role, fte = employee.rows[-1]
            if role not in _LEAVE_P or not employee.active_on(first) or employee.rows[-1][0] >= first:
                continue
            day = first + int(rng.integers(0, days))
            draw = rng.random()
            if draw < _LEAVE_P[role]:
                employee.leave = day
                replacement = day + int(rng.integers(7, 45))
                if replacement <= self.range_end:
                    self._hire(replacement, unit, manager, role, self._fte(0.65))
            elif role == "sales_associate" and draw < _LEAVE_P[role] + _TRANSFER_P:
                region = _STORES[unit][3]
                others = [s for s, store in enumerate(_STORES) if store[3] == region and s != unit]
                target = others[int(rng.integers(len(others)))]
                employee.rows.append((day, target, self.store_manager[target], role, fte))
            elif draw < _LEAVE_P[role] + _TRANSFER_P + _FTE_CHANGE_P:
                choices = [f for f in (100, *_PART_TIME_FTES.tolist()) if f != fte]
                employee.rows.append((day, unit, manager, role, choices[int(rng.integers(len(choices)))]))
        for s in range(len(_STORES)):  # growing stores hire more associates
            if rng.random() < max(0.0, float(self.store_growth[s])) / 12:
                day = first + int(rng.integers(0, days))
                self._hire(day, s, self.store_manager[s], "sales_associate", self._fte(0.65))

    # ------------------------------------------------------------------------------ attribution
    def _spans(self, roles: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Every (employee, unit) stretch of days of the given roles: from, to (inclusive)."""
        emp, unit, start, end = [], [], [], []
        for index, employee in enumerate(self.staff):
            for j, (valid_from, row_unit, _, role, _) in enumerate(employee.rows):
                if role not in roles:
                    continue
                until = employee.rows[j + 1][0] - 1 if j + 1 < len(employee.rows) else self.range_end
                if employee.leave >= 0:
                    until = min(until, employee.leave)
                if until >= valid_from:
                    emp.append(index)
                    unit.append(row_unit)
                    start.append(max(valid_from, employee.hire))
                    end.append(until)
        return {name: np.array(v, dtype=np.int64) for name, v in (("emp", emp), ("unit", unit),
                                                                  ("start", start), ("end", end))}  # fmt: skip

    def _pick_active(self, spans: dict[str, np.ndarray], unit: np.ndarray, day: np.ndarray) -> np.ndarray:
        """For each (unit, day), one employee of `spans` active in that unit that day, at random
        (-1 when there is none)."""
        rng = self.people_rng
        picked = np.full(len(unit), -1, dtype=np.int64)
        for u in np.unique(unit):
            rows = np.flatnonzero(unit == u)
            mine = spans["unit"] == u
            if not mine.any():
                continue
            starts, ends, emps = spans["start"][mine], spans["end"][mine], spans["emp"][mine]
            days, inverse = np.unique(day[rows], return_inverse=True)
            active = (starts[None, :] <= days[:, None]) & (days[:, None] <= ends[None, :])
            count = active.sum(axis=1)
            first_active = np.argsort(~active, axis=1, kind="stable")  # active spans first, per day
            k = (rng.random(len(rows)) * count[inverse]).astype(np.int64)
            has = count[inverse] > 0
            choice = first_active[inverse, np.minimum(k, active.shape[1] - 1)]
            picked[rows[has]] = emps[choice[has]]
        return picked

    def _employee_ids(self, picked: np.ndarray) -> pa.Array:
        ids = pa.array([e.employee_id for e in self.staff], pa.string())
        return ids.take(pa.array(np.maximum(picked, 0), mask=picked < 0))

    def _salesperson_ids(self, store: np.ndarray, day: np.ndarray, in_store: np.ndarray) -> pa.Array:
        """The associate of the line's store active that day, on most store lines; now and then an
        associate of another store of the region; online lines are not attributed."""
        rng = self.people_rng
        n = len(store)
        attributed = in_store & (rng.random(n) < _ATTRIBUTED_STORE_SALES)
        elsewhere = rng.random(n) < _SOLD_IN_ANOTHER_STORE
        store_region = np.array([s[3] for s in _STORES])
        by_region = np.argsort(store_region, kind="stable")  # stores grouped by region
        region_len = np.bincount(store_region, minlength=len(_REGIONS))
        region_first = np.concatenate([[0], np.cumsum(region_len)[:-1]])
        region = store_region[store]
        other = by_region[region_first[region] + (rng.random(n) * region_len[region]).astype(np.int64)]
        seller_store = np.where(elsewhere, other, store)
        picked = self._pick_active(self.associate_spans, seller_store, day)
        return self._employee_ids(np.where(attributed, picked, -1))

    def _handler_ids(self, store: np.ndarray, day: np.ndarray) -> pa.Array:
        """A service agent of the complaint's store active the day it was opened, on most complaints."""
        attributed = self.people_rng.random(len(store)) < _ATTRIBUTED_COMPLAINTS
        picked = self._pick_active(self.agent_spans, store, day)
        return self._employee_ids(np.where(attributed, picked, -1))

    # ---------------------------------------------------------------------------------- the file
    def _write_employees(self) -> None:
        units = self._people_units()
        rows = []
        for employee in self.staff:
            for valid_from, unit, manager, role, fte in employee.rows:
                rows.append(
                    {
                        "employee_id": employee.employee_id,
                        "valid_from": _iso(valid_from),
                        "name": employee.name,
                        "org_unit_id": units[unit],
                        "manager_id": self.staff[manager].employee_id if manager >= 0 else None,
                        "role": role,
                        "fte": f"{fte / 100:.2f}",
                        "hire_date": _iso(employee.hire),
                        "leave_date": _iso(employee.leave) if employee.leave >= 0 else None,
                    }
                )
        columns = {
            name: pa.array([row[name] for row in rows], pa.string()).cast(
                self.schemas["employees"].field(name).type
            )
            for name in self.schemas["employees"].names
        }
        self._write(
            "employees", "employees", columns, csv=True, bad=self._bad_employees(), rng=self.people_bad_rng
        )

    def _bad_employees(self) -> list[tuple[dict[str, str | None], str]]:
        """One planted row of each kind the roster's rules reject."""
        if not self.plant:
            return []
        brng = self.people_bad_rng
        n = len(self.staff)
        store = int(brng.integers(len(_STORES)))
        day = self.range_start + int(brng.integers(0, self.range_end - self.range_start + 1))

        def row(number: int, **overrides: str | None) -> dict[str, str | None]:
            base = {
                "employee_id": f"E-{n + number:05d}",
                "valid_from": _iso(day),
                "name": "Planted Row",
                "org_unit_id": _STORES[store][0],
                "manager_id": self.staff[self.store_manager[store]].employee_id,
                "role": "sales_associate",
                "fte": "1.00",
                "hire_date": _iso(day),
                "leave_date": None,
            }
            return base | overrides

        # An employee employed throughout with one row: a second row naming another hire_date.
        steady = next(
            e for e in self.staff if e.leave < 0 and len(e.rows) == 1 and e.rows[0][3] == "sales_associate"
        )
        contradicting = row(
            0,
            employee_id=steady.employee_id,
            valid_from=_iso(max(steady.hire, self.range_start) + 40),
            hire_date=_iso(steady.hire + 30),
        )
        return [
            (row(1, fte="0"), "fte is 0"),
            (row(2, fte="1.5"), "fte is above 1"),
            (row(3, leave_date=_iso(day - 10)), "leave_date before hire_date"),
            (row(4, org_unit_id=_UNKNOWN_UNIT_PEOPLE), f"unknown org_unit_id '{_UNKNOWN_UNIT_PEOPLE}'"),
            (row(5, manager_id=_UNKNOWN_MANAGER), f"unknown manager_id '{_UNKNOWN_MANAGER}'"),
            (row(6, name=None), "name is missing"),
            (contradicting, "hire_date contradicts the employee's other rows"),
            (row(7, manager_id=f"E-{n + 8:05d}"), "manager_id cycle"),
            (row(8, manager_id=f"E-{n + 7:05d}"), "manager_id cycle"),
        ]

    def _write_unattributable_rows(self) -> None:
        """A late extra file of sales lines and one of complaints, each with one row naming an
        employee who does not exist (a file of their own, so the regular files stay as they are)."""
        if not self.plant:
            return
        brng = self.people_bad_rng
        mi = (self.n_csv - 1) // 2
        year = self.months[mi][0]
        store = _STORES[int(brng.integers(len(_STORES)))][0]
        day = int(self.month_start[mi] + brng.integers(0, self.month_days[mi]))
        line = {
            "order_id": _order_id(year * 10**8 + self.seq_next[year] + 1),
            "line_no": "1",
            "order_date": _iso(day),
            "customer_id": None,
            "org_unit_id": store,
            "sku": self.sku_ids[0].as_py(),
            "quantity": "1",
            "unit_price": _money_str(int(self.price[mi, 0])),
            "discount_amount": None,
            "unit_cost": _money_str(int(self.sku_cost[0])),
            "channel": "store",
            "salesperson_id": _UNKNOWN_SALESPERSON,
        }
        self._write_single_bad_row(
            "sales_lines",
            f"sales_lines_{self.labels[mi]}_extra",
            line,
            f"unknown salesperson_id '{_UNKNOWN_SALESPERSON}'",
        )
        qi = [i for i, is_csv in enumerate(self.quarter_csv) if is_csv][-1]
        opened = (self.quarter_start[qi] + int(brng.integers(0, 28))) * 86400 + 10 * 3600
        complaint = {
            "complaint_id": "CP-EXTRA-1",
            "opened_at": _iso_ts(opened),
            "resolved_at": _iso_ts(opened + 5 * 3600),
            "org_unit_id": store,
            "customer_id": None,
            "order_id": None,
            "category": "Staff service",
            "handler_id": _UNKNOWN_HANDLER,
        }
        self._write_single_bad_row(
            "complaints",
            f"complaints_{self.quarters[qi]}_extra",
            complaint,
            f"unknown handler_id '{_UNKNOWN_HANDLER}'",
        )

    def _write_single_bad_row(self, entity: str, stem: str, row: dict[str, str | None], reason: str) -> None:
        schema = self.schemas[entity]
        empty = {name: pa.array([], schema.field(name).type) for name in schema.names}
        self._write(entity, stem, empty, csv=True, bad=[(row, reason)], rng=self.people_bad_rng)
