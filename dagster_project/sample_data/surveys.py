"""survey_responses: answers to a share of the orders, NPS and CSAT by store, comments in English and
Chinese, written per quarter; a mixin of `generator._Generator`: its methods share the generator's state
(random generators, months, plans; names with a leading underscore are private to this package)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dagster_project.sample_data.values import _dates, _ids, _ints, _order_ids

_SURVEY_SHARE = 0.09


# Survey comments by sentiment (positive, neutral, negative) and language, separated by "|".
_COMMENTS = {
    ("pos", "en"): "Great service, will come back|Staff were very helpful|Fast checkout|"
    "Love the new store layout|Good value for money",
    ("pos", "zh"): "服务很好，下次还来|店员很热情|结账很快|商品种类丰富|性价比高",
    ("neu", "en"): "OK overall|Prices are a bit high|Store was busy|Delivery took a while",
    ("neu", "zh"): "总体还可以|价格有点贵|人有点多|配送有点慢",
    ("neg", "en"): "Long queue at the checkout|Item was out of stock|Staff were unfriendly|"
    "Product broke after a week, very disappointed",
    ("neg", "zh"): "排队时间太长|想买的商品缺货|店员态度不好|质量有问题，很失望",
}


class _Surveys:
    """Surveys drawn from each month's orders, and the survey files."""

    def _surveys_from_orders(self, day, store, customer, key) -> None:
        rng = self.rng
        chosen = np.flatnonzero(rng.random(len(day)) < _SURVEY_SHARE)
        m = len(chosen)
        left = self.range_end - day[chosen]
        r_day = day[chosen] + np.floor(rng.random(m) * (np.minimum(10, left) + 1)).astype(np.int64)
        s = store[chosen]
        target = self.store_nps[s]
        detractor, passive = (0.70 - target) / 2, 0.30
        u = rng.random(m)
        nps = np.select(
            [u < detractor, u < detractor + passive],
            [rng.choice(7, m, p=[0.03, 0.02, 0.04, 0.06, 0.10, 0.30, 0.45]), 7 + (rng.random(m) < 0.55)],
            9 + (rng.random(m) < 0.6),
        )
        csat = np.clip(np.rint(1.2 + 0.38 * nps + rng.normal(0, 0.6, m)), 1, 5).astype(np.int64)
        kind = rng.random(m)  # 70% both scores, 20% NPS only, 10% CSAT only
        no_nps, no_csat = kind >= 0.9, (kind >= 0.7) & (kind < 0.9)
        score = np.where(no_nps, (csat - 1) * 2.5, nps)
        sentiment = np.where(score >= 9, 0, np.where(score >= 7, 1, 2))
        chinese = rng.random(m) < 0.55
        has_comment = rng.random(m) < 0.18
        self.surveys.append(
            {
                "day": r_day,
                "store": s,
                "customer": customer[chosen],
                "key": np.where(rng.random(m) < 0.9, key[chosen], -1),
                "nps": np.where(no_nps, -1, nps),
                "csat": np.where(no_csat, -1, csat),
                "comment": np.where(has_comment, sentiment * 2 + chinese, -1),
                "pick": rng.random(m),
            }
        )

    def _write_surveys(self) -> None:
        sv = {k: np.concatenate([x[k] for x in self.surveys]) for k in self.surveys[0]}
        order = np.lexsort((sv["key"], sv["day"]))
        sv = {k: v[order] for k, v in sv.items()}
        n = len(order)
        groups = [_COMMENTS[(s, lang)].split("|") for s in ("pos", "neu", "neg") for lang in ("en", "zh")]
        pool = pa.array([c for g in groups for c in g], pa.string())
        offsets = np.cumsum([0] + [len(g) for g in groups])[:-1]
        sizes = np.array([len(g) for g in groups])
        group = np.maximum(sv["comment"], 0)
        comment = offsets[group] + (sv["pick"] * sizes[group]).astype(np.int64)
        ids = _ids("SR-", np.arange(1, n + 1), 7)
        plans = self.survey_bad if self.plant else []
        for j, (qi, row, reason) in enumerate(plans):
            row["response_id"] = f"SR-{n + 1 + j:07d}"
            self.pending.add("survey_responses", self.quarters[qi], row, reason)
        bounds = np.searchsorted(sv["day"], np.append(self.quarter_start, self.range_end + 1))
        for qi, label in enumerate(self.quarters):
            s = slice(int(bounds[qi]), int(bounds[qi + 1]))
            cust, key = sv["customer"][s], sv["key"][s]
            columns = {
                "response_id": ids[s],
                "response_date": _dates(sv["day"][s]),
                "org_unit_id": self.unit_ids.take(pa.array(sv["store"][s])),
                "customer_id": self.customer_ids.take(pa.array(cust, mask=cust < 0)),
                "order_id": pc.if_else(
                    pa.array(key < 0), pa.scalar(None, pa.string()), _order_ids(np.maximum(key, 10**8))
                ),
                "nps_score": _ints(sv["nps"][s], null=sv["nps"][s] < 0),
                "csat_score": _ints(sv["csat"][s], null=sv["csat"][s] < 0),
                "comment": pool.take(pa.array(comment[s], mask=sv["comment"][s] < 0)),
            }
            self._write(
                "survey_responses",
                f"survey_responses_{label}",
                columns,
                self.quarter_csv[qi],
                self.pending.take("survey_responses", label),
            )
