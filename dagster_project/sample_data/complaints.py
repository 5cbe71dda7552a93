"""complaints: a share of the orders by store, opened and resolved times, categories, written per quarter;
a mixin of `generator._Generator`: its methods share the generator's state (random generators, months,
plans; names with a leading underscore are private to this package)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dagster_project.sample_data.values import _ids, _order_ids

_COMPLAINT_SHARE = 0.008  # times a store factor of 1.0 .. 1.5


# fmt: off
_COMPLAINT_CATEGORIES = (
    "Product quality", "Staff service", "Delivery", "Pricing", "Refund or exchange", "Store environment",
)
# fmt: on
_COMPLAINT_CATEGORY_P = np.array([0.28, 0.20, 0.14, 0.10, 0.16, 0.12])


class _Complaints:
    """Complaints drawn from each month's orders, and the complaint files."""

    def _complaints_from_orders(self, day, store, customer, key) -> None:
        rng = self.rng
        chosen = np.flatnonzero(rng.random(len(day)) < _COMPLAINT_SHARE * self.store_complaints[store])
        m = len(chosen)
        opened_day = np.minimum(day[chosen] + rng.integers(0, 6, m), self.range_end)
        opened = opened_day * 86400 + rng.integers(9 * 3600, 21 * 3600, m)
        hours = rng.lognormal(math.log(22.0), 1.25, m)  # median 22 h, about 70% within 48 h
        resolved = opened + np.rint(hours * 3600).astype(np.int64)
        end_ts = (self.range_end + 1) * 86400
        still_open = (resolved >= end_ts) | ((opened_day >= self.range_end - 45) & (rng.random(m) < 0.35))
        self.complaints.append(
            {
                "opened": opened,
                "resolved": np.where(still_open, -1, resolved),
                "store": store[chosen],
                "customer": customer[chosen],
                "key": np.where(rng.random(m) < 0.8, key[chosen], -1),
                "category": rng.choice(len(_COMPLAINT_CATEGORIES), m, p=_COMPLAINT_CATEGORY_P),
            }
        )

    def _write_complaints(self) -> None:
        cp = {k: np.concatenate([x[k] for x in self.complaints]) for k in self.complaints[0]}
        order = np.lexsort((cp["key"], cp["opened"]))
        cp = {k: v[order] for k, v in cp.items()}
        n = len(order)
        ids = _ids("CP-", np.arange(1, n + 1), 6)
        categories = pa.array(_COMPLAINT_CATEGORIES, pa.string())
        plans = self.complaint_bad if self.plant else []
        for j, (qi, row, reason) in enumerate(plans):
            row["complaint_id"] = f"CP-{n + 1 + j:06d}"
            self.pending.add("complaints", self.quarters[qi], row, reason)
        starts = np.append(self.quarter_start, self.range_end + 1) * 86400
        bounds = np.searchsorted(cp["opened"], starts)
        for qi, label in enumerate(self.quarters):
            s = slice(int(bounds[qi]), int(bounds[qi + 1]))
            cust, key, resolved = cp["customer"][s], cp["key"][s], cp["resolved"][s]
            columns = {
                "complaint_id": ids[s],
                "opened_at": pa.array(cp["opened"][s], pa.timestamp("s")),
                "resolved_at": pa.array(resolved, mask=resolved < 0, type=pa.timestamp("s")),
                "org_unit_id": self.unit_ids.take(pa.array(cp["store"][s])),
                "customer_id": self.customer_ids.take(pa.array(cust, mask=cust < 0)),
                "order_id": pc.if_else(
                    pa.array(key < 0), pa.scalar(None, pa.string()), _order_ids(np.maximum(key, 10**8))
                ),
                "category": categories.take(pa.array(cp["category"][s])),
                "handler_id": self._handler_ids(cp["store"][s], cp["opened"][s] // 86400),
            }
            self._write(
                "complaints",
                f"complaints_{label}",
                columns,
                self.quarter_csv[qi],
                self.pending.take("complaints", label),
            )
