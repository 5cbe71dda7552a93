"""returns: the planted bad returns, and every return written per month; a mixin of `generator._Generator`:
its methods share the generator's state (random generators, months, plans; names with a leading
underscore are private to this package)."""

from __future__ import annotations

import numpy as np

from dagster_project.sample_data.values import (
    _dates,
    _ids,
    _ints,
    _iso,
    _money,
    _money_str,
    _order_id,
    _order_ids,
)


class _Returns:
    """Bad returns (before the order, over the quantity) and the returns files."""

    def _bad_return_before_order(self, idx, line_day, line_key, line_no, qty, net) -> None:
        """A return dated before its line's order date, for a line that has no other return."""
        candidates = np.setdiff1d(np.flatnonzero(line_day > self.range_start), idx)
        if len(candidates) == 0:
            candidates = np.setdiff1d(np.arange(len(line_day)), idx)
        i = int(candidates[self.bad_rng.integers(len(candidates))])
        back = int(min(self.bad_rng.integers(1, 6), max(1, line_day[i] - self.range_start)))
        r_day = int(max(self.range_start, line_day[i] - back))
        r_qty = int(qty[i])
        row = {
            "order_id": _order_id(int(line_key[i])),
            "line_no": str(int(line_no[i])),
            "return_date": _iso(r_day),
            "quantity": str(r_qty),
            "refund_amount": _money_str(int(net[i])),
        }
        if r_day >= line_day[i]:  # only when the line is on the very first day of the range
            raise RuntimeError("cannot plant a return before its order date")
        self.bad_returns.append((r_day, row, "return_date before the line's order_date"))

    def _bad_return_over_quantity(self, ret, idx, line_key, line_no, qty, net, line_day):
        """An extra return, later than the line's good return, that pushes the total past the quantity."""
        bound = min(self.csv_end, self.range_end)
        ok = np.flatnonzero(ret["day"] + 1 <= bound)
        if len(ok):
            j = int(ok[self.bad_rng.integers(len(ok))])
            i = int(idx[j])
        else:  # tiny data: add a good return first
            i = int(np.setdiff1d(np.arange(len(line_day)), idx)[0])
            good_day = int(line_day[i])
            ret = {
                k: np.append(v, x)
                for (k, v), x in zip(
                    ret.items(), (line_key[i], line_no[i], good_day, qty[i], net[i]), strict=True
                )
            }
            j = len(ret["day"]) - 1
        good_day, good_qty = int(ret["day"][j]), int(ret["qty"][j])
        r_day = int(min(bound, good_day + self.bad_rng.integers(1, 4)))
        r_qty = int(qty[i]) - good_qty + 1
        row = {
            "order_id": _order_id(int(line_key[i])),
            "line_no": str(int(line_no[i])),
            "return_date": _iso(r_day),
            "quantity": str(r_qty),
            "refund_amount": _money_str(round(int(net[i]) * r_qty / int(qty[i]))),
        }
        reason = f"returns of the line exceed its quantity ({good_qty} + {r_qty} > {int(qty[i])})"
        self.bad_returns.append((r_day, row, reason))
        return ret

    def _write_returns(self) -> None:
        ret = {k: np.concatenate([r[k] for r in self.returns]) for k in self.returns[0]}
        order = np.lexsort((ret["line_no"], ret["key"], ret["day"]))
        ret = {k: v[order] for k, v in ret.items()}
        n = len(order)
        ids = _ids("RT-", np.arange(1, n + 1), 7)
        for j, (r_day, row, reason) in enumerate(sorted(self.bad_returns, key=lambda b: b[0])):
            row["return_id"] = f"RT-{n + 1 + j:07d}"
            mi = int(np.searchsorted(self.month_start, r_day, side="right")) - 1
            self.pending.add("returns", self.labels[mi], row, reason)
        bounds = np.searchsorted(ret["day"], np.append(self.month_start, self.range_end + 1))
        for mi in range(len(self.months)):
            s = slice(int(bounds[mi]), int(bounds[mi + 1]))
            columns = {
                "return_id": ids[s],
                "order_id": _order_ids(ret["key"][s]),
                "line_no": _ints(ret["line_no"][s]),
                "return_date": _dates(ret["day"][s]),
                "quantity": _ints(ret["qty"][s]),
                "refund_amount": _money(ret["refund"][s]),
            }
            self._write(
                "returns",
                f"returns_{self.labels[mi]}",
                columns,
                mi < self.n_csv,
                self.pending.take("returns", self.labels[mi]),
            )
