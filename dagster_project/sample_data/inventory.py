"""inventory_snapshots: which SKUs each unit counts, and the weekly counts of every month; a mixin of
`generator._Generator`: its methods share the generator's state (random generators, months, plans; names
with a leading underscore are private to this package)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dagster_project.sample_data.company import _STORES, _WAREHOUSES
from dagster_project.sample_data.products import _UNKNOWN_SKU_INVENTORY
from dagster_project.sample_data.values import _dates, _ints, _iso, _money, _money_str

_STOCKOUT_SHARE = 0.03


class _Inventory:
    """The inventory plan and each month's snapshots file."""

    def _inventory_plan(self) -> None:
        """Which SKUs every store and warehouse counts, and their typical stock level."""
        rng = self.rng
        scale = self.n_lines / 200_000
        per_store = int(np.clip(round(60 * scale), 20, self.n_sku))
        per_wh = int(np.clip(round(self.n_sku * scale), 60, self.n_sku))
        mean_qty = 1.0 / self.sku_qty_p
        weekly = self.n_lines / len(self.months) / 4.35 * self.sku_pop * mean_qty  # lines/week -> units
        share = self.store_size / self.store_size.sum()
        units, skus, base = [], [], []
        for s in range(len(_STORES)):
            chosen = np.sort(rng.choice(self.n_sku, per_store, replace=False, p=self.sku_pop))
            units.append(np.full(per_store, s))
            skus.append(chosen)
            base.append(weekly[chosen] * share[s] * rng.uniform(2, 6, per_store) + 3)
        for w in range(len(_WAREHOUSES)):
            chosen = (
                np.arange(self.n_sku)
                if per_wh == self.n_sku
                else np.sort(rng.choice(self.n_sku, per_wh, replace=False, p=self.sku_pop))
            )
            units.append(np.full(per_wh, len(_STORES) + w))
            skus.append(chosen)
            base.append(weekly[chosen] / len(_WAREHOUSES) * rng.uniform(4, 10, per_wh) + 20)
        self.inv_unit = np.concatenate(units)
        self.inv_sku = np.concatenate(skus)
        self.inv_base = np.concatenate(base)
        self.unit_ids = pa.array(self.store_ids + [w[0] for w in _WAREHOUSES], pa.string())

    def _inventory_month(self, mi: int) -> None:
        rng = self.rng
        days = self.month_start[mi] + np.arange(self.month_days[mi])
        mondays = days[(days + 3) % 7 == 0]
        pairs = len(self.inv_unit)
        n = len(mondays) * pairs
        unit = np.tile(self.inv_unit, len(mondays))
        sku = np.tile(self.inv_sku, len(mondays))
        level = np.tile(self.inv_base, len(mondays)) * rng.lognormal(0.0, 0.35, n)
        on_hand = np.maximum(1, np.rint(level)).astype(np.int64)
        on_hand[rng.random(n) < _STOCKOUT_SHARE] = 0
        columns = {
            "snapshot_date": _dates(np.repeat(mondays, pairs)),
            "org_unit_id": self.unit_ids.take(pa.array(unit)),
            "sku": self.sku_ids.take(pa.array(sku)),
            "on_hand_qty": _ints(on_hand),
            "unit_cost": _money(self.sku_cost[sku]),
        }
        brng = self.bad_rng
        for kind in self.inventory_bad.get(mi, []):
            if kind == "negative":
                # A mid-week recount (a Wednesday), so its key differs from every weekly count.
                wednesdays = days[(days + 3) % 7 == 2]
                s = int(brng.integers(len(_STORES)))
                k = int(brng.choice(self.inv_sku[self.inv_unit == s]))
                row = {
                    "snapshot_date": _iso(int(wednesdays[0])),
                    "org_unit_id": self.store_ids[s],
                    "sku": self.sku_ids[k].as_py(),
                    "on_hand_qty": str(-int(brng.integers(1, 6))),
                    "unit_cost": _money_str(int(self.sku_cost[k])),
                }
                reason = "on_hand_qty is negative"
            else:
                row = {
                    "snapshot_date": _iso(int(mondays[-1])),
                    "org_unit_id": _WAREHOUSES[0][0],
                    "sku": _UNKNOWN_SKU_INVENTORY,
                    "on_hand_qty": "12",
                    "unit_cost": "35.00",
                }
                reason = f"unknown sku '{_UNKNOWN_SKU_INVENTORY}'"
            self.pending.add("inventory_snapshots", self.labels[mi], row, reason)
        self._write(
            "inventory_snapshots",
            f"inventory_snapshots_{self.labels[mi]}",
            columns,
            mi < self.n_csv,
            self.pending.take("inventory_snapshots", self.labels[mi]),
        )
