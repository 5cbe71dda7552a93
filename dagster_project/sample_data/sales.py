"""sales_lines: the customer pool, the demand per month and day (seasons, holidays, growth) and each
month's orders and lines, with the returns, surveys and complaints they lead to; a mixin of
`generator._Generator`: its methods share the generator's state (random generators, months, plans; names
with a leading underscore are private to this package)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from dagster_project.sample_data.company import _REGIONS, _STORES, _UNKNOWN_UNIT_SALES
from dagster_project.sample_data.products import _UNKNOWN_SKU_SALES
from dagster_project.sample_data.values import (
    _dates,
    _day,
    _ids,
    _ints,
    _iso,
    _money,
    _money_str,
    _order_id,
    _order_ids,
)

# Relative demand by calendar month (Chinese New Year in Jan/Feb, 618 in June, a summer bump,
# Singles' Day in November, the year end in December).
_SEASON = np.array([1.12, 1.05, 0.86, 0.88, 0.96, 1.04, 1.06, 1.10, 0.92, 1.0, 1.32, 1.38])  # Jan .. Dec
_WEEKDAY = np.array([1.0, 0.94, 0.95, 1.0, 1.1, 1.38, 1.32])  # Monday .. Sunday
# fmt: off
_CHINESE_NEW_YEAR = {
    y: dt.date(y, m, d)
    for y, m, d in (
        (2020, 1, 25), (2021, 2, 12), (2022, 2, 1), (2023, 1, 22), (2024, 2, 10), (2025, 1, 29),
        (2026, 2, 17), (2027, 2, 6), (2028, 1, 26), (2029, 2, 13), (2030, 2, 3), (2031, 1, 23),
        (2032, 2, 11), (2033, 1, 31), (2034, 2, 19), (2035, 2, 8),
    )
}
# fmt: on
_YEARLY_GROWTH = 1.12
_LINES_PER_ORDER_P = np.array([0.45, 0.25, 0.15, 0.10, 0.05])  # 1..5 lines, mean 2.05
_DISCOUNT_SHARE = 0.25
_ANONYMOUS_SHARE = 0.15


_CHANNELS = pa.array(["store", "online"], pa.string())


class _Sales:
    """Customers, the month plan and the sales lines of each month."""

    def _customers(self) -> None:
        """A customer pool laid out in contiguous blocks per home store (stores are grouped by region)."""
        n_orders = self.n_lines / float(np.arange(1, 6) @ _LINES_PER_ORDER_P)
        total = max(200, round(n_orders / 4.5))
        share = self.store_size / self.store_size.sum()
        self.cust_len = np.maximum(5, np.rint(total * share)).astype(np.int64)
        self.cust_start = np.concatenate([[0], np.cumsum(self.cust_len)[:-1]])
        n_regions = len(_REGIONS)
        in_region = [self.store_region == r for r in range(n_regions)]
        self.region_start = np.array([self.cust_start[mask].min() for mask in in_region])
        self.region_len = np.array([self.cust_len[mask].sum() for mask in in_region])
        n_cust = int(self.cust_len.sum())
        self.customer_ids = _ids("C-", self.rng.permutation(n_cust) + 1, 7)

    def _month_plan(self) -> None:
        """Daily demand weights, lines per month, store weights and channel mix per month."""
        rng = self.rng
        self.day_weights = []
        month_weight = []
        for i, (y, m) in enumerate(self.months):
            days = self.month_start[i] + np.arange(self.month_days[i])
            w = _WEEKDAY[(days + 3) % 7].copy()  # 1970-01-01 was a Thursday
            dom = np.arange(1, self.month_days[i] + 1)
            if m == 11:
                w[dom == 11] *= 2.5
                w[(dom == 10) | (dom == 12)] *= 1.4
            if m == 12:
                w[np.isin(dom, (24, 25, 31))] *= 1.4
            if m == 6:
                w[dom == 18] *= 1.8
            if m == 10:
                w[dom <= 3] *= 1.4
            for year in (y, y + 1):
                if year in _CHINESE_NEW_YEAR:
                    cny = _day(_CHINESE_NEW_YEAR[year])
                    w[(days >= cny - 12) & (days < cny)] *= 1.45  # shopping before the holiday
                    w[(days >= cny) & (days < cny + 4)] *= 0.55  # closed or quiet on the first days
            self.day_weights.append(w / w.sum())
            month_weight.append(
                w.sum() * _SEASON[m - 1] * _YEARLY_GROWTH ** (i / 12) * rng.normal(1.0, 0.015)
            )
        weight = np.array(month_weight)
        raw = self.n_lines * weight / weight.sum()
        lines = np.floor(raw).astype(np.int64)
        rest = self.n_lines - int(lines.sum())
        lines[np.argsort(-(raw - lines), kind="stable")[:rest]] += 1
        self.lines_per_month = lines
        t = np.arange(len(self.months)) / 12.0
        w = self.store_size[None, :] * (1 + self.store_growth[None, :]) ** t[:, None]
        self.store_weights = w / w.sum(axis=1, keepdims=True)
        self.online_share = 0.15 + 0.10 * np.arange(len(self.months)) / max(1, len(self.months) - 1)

    def _order_sizes(self, lines: int) -> np.ndarray:
        rng = self.rng
        sizes = np.empty(0, dtype=np.int64)
        while sizes.sum() < lines:
            more = rng.choice(np.arange(1, 6), int(lines / 2.05 * 1.1) + 10, p=_LINES_PER_ORDER_P)
            sizes = np.concatenate([sizes, more])
        cum = np.cumsum(sizes)
        n = int(np.searchsorted(cum, lines)) + 1
        sizes = sizes[:n].copy()
        sizes[-1] -= int(cum[n - 1]) - lines
        return sizes

    def _sales_month(self, mi: int) -> None:
        rng = self.rng
        year, _ = self.months[mi]
        n_lines = int(self.lines_per_month[mi])
        sizes = self._order_sizes(n_lines)
        n = len(sizes)

        # Orders: date, store, channel, customer. Sorting the dates and numbering afterwards keeps
        # order ids ascending with the date.
        day = np.sort(self.month_start[mi] + rng.choice(self.month_days[mi], n, p=self.day_weights[mi]))
        store = rng.choice(len(_STORES), n, p=self.store_weights[mi])
        online = rng.random(n) < self.online_share[mi]
        anonymous = ~online & (rng.random(n) < _ANONYMOUS_SHARE / (1 - self.online_share[mi]))
        in_region = rng.random(n) < 0.12  # a regular customer shopping in another store of the region
        region = self.store_region[store]
        start = np.where(in_region, self.region_start[region], self.cust_start[store])
        length = np.where(in_region, self.region_len[region], self.cust_len[store])
        customer = start + (length * rng.random(n) ** 1.8).astype(np.int64)  # some customers buy often
        customer[anonymous] = -1
        first = self.seq_next[year] + 1
        key = year * 10**8 + first + np.arange(n)
        self.seq_next[year] += n

        # Lines.
        order = np.repeat(np.arange(n), sizes)
        line_no = np.arange(n_lines) - np.repeat(np.cumsum(sizes) - sizes, sizes) + 1
        sku = rng.choice(self.n_sku, n_lines, p=self.sku_pop)
        qty = np.minimum(rng.geometric(self.sku_qty_p[sku]), 12)
        price = self.price[mi, sku]
        cost = self.sku_cost[sku]
        gross = qty * price
        discounted = rng.random(n_lines) < _DISCOUNT_SHARE
        discount = np.where(discounted, np.rint(gross * rng.uniform(0.05, 0.30, n_lines)), 0).astype(np.int64)
        discount = np.where(discounted & (discount >= gross), gross - 1, discount)

        order_ids = _order_ids(key)
        columns = {
            "order_id": order_ids.take(pa.array(order)),
            "line_no": _ints(line_no),
            "order_date": _dates(day[order]),
            "customer_id": self.customer_ids.take(pa.array(customer[order], mask=customer[order] < 0)),
            "org_unit_id": self.unit_ids.take(pa.array(store[order])),
            "sku": self.sku_ids.take(pa.array(sku)),
            "quantity": _ints(qty),
            "unit_price": _money(price),
            "discount_amount": _money(discount, null=~discounted),
            "unit_cost": _money(cost),
            "channel": _CHANNELS.take(pa.array(online[order].astype(np.int8))),
            "salesperson_id": self._salesperson_ids(store[order], day[order], ~online[order]),
        }

        # Returns of this month's lines (a later return may fall into a later month, never past the end).
        net = gross - discount
        returned = rng.random(n_lines) < self.sku_return[sku]
        idx = np.flatnonzero(returned)
        delay = np.minimum(np.floor(rng.exponential(7.0, len(idx))), 40).astype(np.int64)
        r_day = day[order[idx]] + delay
        partial = (qty[idx] > 1) & (rng.random(len(idx)) < 0.25)
        r_qty = np.where(partial, rng.integers(1, np.maximum(qty[idx], 2)), qty[idx])
        keep = r_day <= self.range_end
        idx, r_day, r_qty = idx[keep], r_day[keep], r_qty[keep]
        ret = {
            "key": key[order[idx]],
            "line_no": line_no[idx],
            "day": r_day,
            "qty": r_qty,
            "refund": np.rint(net[idx] * r_qty / qty[idx]).astype(np.int64),
        }

        # Bad rows planted in this month's files (returns: lines of this month, file by return date).
        bad: list[tuple[dict[str, str | None], str]] = []
        kinds = self.sales_bad.get(mi, [])
        extra_keys = iter(year * 10**8 + self.seq_next[year] + 1 + np.arange(10))
        used = 0
        for kind in kinds:
            row = self._bad_sales_row(mi, _order_id(next(extra_keys)))
            used += 1
            if kind == "duplicate":
                twin = self._bad_sales_row(mi, row["order_id"])
                twin["order_date"] = row["order_date"]
                bad.append((row, "duplicate key (order_id, line_no) in one file"))
                bad.append((twin, "duplicate key (order_id, line_no) in one file"))
                continue
            reason = self._spoil_sales_row(row, kind, mi)
            bad.append((row, reason))
        for kind in self.returns_bad.get(mi, []):
            if kind == "orphan":
                orphan_key = next(extra_keys)  # an order number that is never used by any sale
                used += 1
                r_day_bad = int(self.month_start[mi] + self.bad_rng.integers(0, self.month_days[mi]))
                row = {
                    "order_id": _order_id(orphan_key),
                    "line_no": "1",
                    "return_date": _iso(r_day_bad),
                    "quantity": "1",
                    "refund_amount": _money_str(int(self.bad_rng.integers(1000, 30000))),
                }
                self.bad_returns.append((r_day_bad, row, "orphan return: no such sales line"))
            elif kind == "before_order":
                self._bad_return_before_order(idx, day[order], key[order], line_no, qty, net)
            else:
                ret = self._bad_return_over_quantity(ret, idx, key[order], line_no, qty, net, day[order])
        self.seq_next[year] += used
        self.returns.append(ret)

        csv = mi < self.n_csv
        for row, reason in bad:
            self.pending.add("sales_lines", self.labels[mi], row, reason)
        self._write(
            "sales_lines",
            f"sales_lines_{self.labels[mi]}",
            columns,
            csv,
            self.pending.take("sales_lines", self.labels[mi]),
        )

        self._surveys_from_orders(day, store, customer, key)
        self._complaints_from_orders(day, store, customer, key)

    def _bad_sales_row(self, mi: int, order_id: str) -> dict[str, str | None]:
        brng = self.bad_rng
        sku = int(brng.choice(self.n_sku, p=self.sku_pop))
        day = int(self.month_start[mi] + brng.integers(0, self.month_days[mi]))
        return {
            "order_id": order_id,
            "line_no": "1",
            "order_date": _iso(day),
            "customer_id": None,
            "org_unit_id": self.store_ids[int(brng.integers(len(_STORES)))],
            "sku": self.sku_ids[sku].as_py(),
            "quantity": str(int(brng.integers(1, 4))),
            "unit_price": _money_str(int(self.price[mi, sku])),
            "discount_amount": None,
            "unit_cost": _money_str(int(self.sku_cost[sku])),
            "channel": "store",
        }

    def _spoil_sales_row(self, row: dict[str, str | None], kind: str, mi: int) -> str:
        if kind == "quantity_abc":
            row["quantity"] = "abc"
            return "quantity is not an integer ('abc')"
        if kind == "quantity_zero":
            row["quantity"] = "0"
            return "quantity is 0"
        if kind == "negative_price":
            row["unit_price"] = "-" + str(row["unit_price"])
            return "unit_price is negative"
        if kind == "bad_date":
            y, m = self.months[mi]
            row["order_date"] = f"{y:04d}-{m:02d}-{self.month_days[mi] + 1:02d}"
            return f"order_date is not a date ('{row['order_date']}')"
        if kind == "unknown_unit":
            row["org_unit_id"] = _UNKNOWN_UNIT_SALES
            return f"unknown org_unit_id '{_UNKNOWN_UNIT_SALES}'"
        if kind == "unknown_sku":
            row["sku"] = _UNKNOWN_SKU_SALES
            return f"unknown sku '{_UNKNOWN_SKU_SALES}'"
        if kind == "missing_order_id":
            row["order_id"] = None
            return "order_id is missing"
        raise ValueError(kind)
