"""Deterministic, realistic sample data for the landing folder (`kpi sample-data`).

The generator writes every entity of the source contract (`contract/source_contract_v1.yaml`) into
`<landing_dir>/<entity>/`: a retail company with regions, stores and warehouses, a product catalogue,
two years of order lines with seasonality and growth, returns, weekly inventory counts, survey answers
and complaints. The same arguments always give byte-identical files.

With `bad_rows=True` a handful of defective rows of every kind the loader must quarantine is planted
in CSV files (a Parquet file has typed columns, so it cannot carry e.g. a quantity of "abc"); each is
reported in `SampleDataSummary.bad_rows` with its file and physical line. Everything else is valid
under the contract: keys are unique, references resolve and returns never exceed the sold quantity.

All work is vectorised with numpy and pyarrow and done one month at a time, so ten million order
lines fit in memory: only returns, survey answers and complaints (a few percent of the orders) are
kept until the end, when they are written per month or quarter.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dagster_project.contract import load_contract
from dagster_project.periods import add_months, month_key, months_between, parse_month, period_of

ENTITIES = (
    "org_units",
    "products",
    "sales_lines",
    "returns",
    "inventory_snapshots",
    "survey_responses",
    "complaints",
)

_EPOCH = dt.date(1970, 1, 1)
_ARROW_TYPES = {
    "text": pa.string(),
    "integer": pa.int64(),
    "decimal": pa.decimal128(18, 2),
    "date": pa.date32(),
    "timestamp": pa.timestamp("s"),
}
# Files the generator may find in an otherwise empty landing folder.
_IGNORED_FILES = {".gitkeep"}


@dataclass(frozen=True)
class PlantedBadRow:
    """A row the loader must quarantine, planted on purpose."""

    entity: str
    file: str  # path relative to landing_dir, e.g. "sales_lines/sales_lines_2025-03.csv"
    line: int  # physical line number in that CSV file (the header is line 1)
    reason: str  # short human description of the defect, e.g. "quantity is 0"


@dataclass(frozen=True)
class SampleDataSummary:
    """What `generate_sample_data` wrote."""

    landing_dir: Path
    first_month: str  # "2024-01"
    last_month: str  # "2025-12"
    files: dict[str, list[str]]  # entity -> relative file paths written
    rows: dict[str, int]  # entity -> data rows written (good + bad)
    bad_rows: list[PlantedBadRow]  # every row that the loader must quarantine

    def bad_rows_by_entity(self) -> dict[str, int]:
        counts = dict.fromkeys(ENTITIES, 0)
        for bad in self.bad_rows:
            counts[bad.entity] = counts.get(bad.entity, 0) + 1
        return counts


# --------------------------------------------------------------------------------------------------
# The company
# --------------------------------------------------------------------------------------------------

_COMPANY = ("HQ", "Huamei Retail Group", "华美零售集团")
_REGIONS = (
    ("R-EAST", "East China", "华东大区"),
    ("R-SOUTH", "South China", "华南大区"),
    ("R-NORTH", "North China", "华北大区"),
    ("R-WEST", "Southwest China", "西南大区"),
)
# (org_unit_id, name, name_zh, region index)
_STORES = (
    ("ST-001", "Shanghai Xujiahui", "上海徐家汇店", 0),
    ("ST-002", "Shanghai Lujiazui", "上海陆家嘴店", 0),
    ("ST-003", "Hangzhou West Lake", "杭州西湖店", 0),
    ("ST-004", "Nanjing Xinjiekou", "南京新街口店", 0),
    ("ST-005", "Guangzhou Tianhe", "广州天河店", 1),
    ("ST-006", "Shenzhen Futian", "深圳福田店", 1),
    ("ST-007", "Xiamen Zhongshan Road", "厦门中山路店", 1),
    ("ST-008", "Dongguan Nancheng", "东莞南城店", 1),
    ("ST-009", "Beijing Wangfujing", "北京王府井店", 2),
    ("ST-010", "Beijing Sanlitun", "北京三里屯店", 2),
    ("ST-011", "Tianjin Binjiang Road", "天津滨江道店", 2),
    ("ST-012", "Qingdao Taidong", "青岛台东店", 2),
    ("ST-013", "Chengdu Chunxi Road", "成都春熙路店", 3),
    ("ST-014", "Chongqing Jiefangbei", "重庆解放碑店", 3),
    ("ST-015", "Kunming Nanping Street", "昆明南屏街店", 3),
    ("ST-016", "Guiyang Penshuichi", "贵阳喷水池店", 3),
)
_WAREHOUSES = (
    ("WH-01", "East DC Kunshan", "华东昆山配送中心", 0),
    ("WH-02", "South DC Foshan", "华南佛山配送中心", 1),
    ("WH-03", "Southwest DC Chengdu", "西南成都配送中心", 3),
)
# The planted org unit with a parent that does not exist; nothing references it.
_BAD_UNIT = ("ST-099", "Harbin Central Street", "哈尔滨中央大街店", "R-XX", "store")
_UNKNOWN_UNIT_SALES = "ST-021"
_UNKNOWN_UNIT_COMPLAINTS = "ST-023"

# name: (price range in yuan, geometric p of the quantity (near 1 = mostly one unit), return rate,
#        popularity, "product nouns", "variants")
_CATEGORIES = {
    "Electronics": (
        (99, 3999, 0.92, 0.045, 0.6),
        "Wireless Earbuds, Bluetooth Speaker, Smartwatch, Power Bank, Tablet, E-reader, Action Camera, "
        "Mechanical Keyboard, Wireless Mouse, Fast Charger",
        "Pro, Lite, Max, Air, Mini, Plus",
    ),
    "Home Appliances": (
        (79, 2499, 0.93, 0.04, 0.6),
        "Rice Cooker, Air Fryer, Electric Kettle, Blender, Air Purifier, Robot Vacuum, Hair Dryer, "
        "Humidifier, Microwave Oven, Induction Cooker",
        "Compact, Deluxe, Smart, Classic, 3L, 5L",
    ),
    "Apparel": (
        (49, 699, 0.72, 0.06, 1.2),
        "T-Shirt, Hoodie, Down Jacket, Jeans, Polo Shirt, Dress, Cardigan, Chinos, Windbreaker, Pajama Set",
        "Black, Navy, White, Grey, Olive, Red",
    ),
    "Footwear": (
        (129, 999, 0.88, 0.055, 0.8),
        "Running Shoes, Sneakers, Loafers, Hiking Boots, Sandals, Slippers, Canvas Shoes, Chelsea Boots, "
        "Trail Runners, Court Shoes",
        "Black, White, Brown, Grey, Blue, Beige",
    ),
    "Beauty & Personal Care": (
        (19, 499, 0.62, 0.02, 1.2),
        "Face Cream, Sunscreen SPF50, Shampoo, Lip Balm, Facial Cleanser, Serum, Body Lotion, Hand Cream, "
        "Toner, Sheet Mask Pack",
        "50ml, 100ml, 200ml, Travel Size, Sensitive, Classic",
    ),
    "Food & Beverage": (
        (5, 129, 0.45, 0.008, 1.8),
        "Green Tea, Oolong Tea, Instant Noodles, Mixed Nuts, Dark Chocolate, Mooncake Gift Box, "
        "Coffee Beans, Dried Mango, Sesame Biscuits, Soy Milk",
        "250g, 500g, 1kg, Gift Box, Family Pack, Original",
    ),
    "Home & Kitchen": (
        (15, 599, 0.66, 0.03, 1.0),
        "Chef Knife, Non-stick Wok, Storage Box, Bath Towel, Ceramic Mug, Bedsheet Set, Cutting Board, "
        "Thermos Flask, Glass Food Container, Pillow",
        "Small, Medium, Large, Set of 2, Set of 4, Premium",
    ),
    "Sports & Outdoors": (
        (39, 1599, 0.82, 0.035, 0.7),
        "Yoga Mat, Dumbbell Set, Badminton Racket, Basketball, Camping Tent, Cycling Helmet, Running Belt, "
        "Jump Rope, Table Tennis Paddle, Trekking Poles",
        "Standard, Pro, Junior, Lightweight, Deluxe, Travel",
    ),
}
_SKUS_PER_CATEGORY = 30
_BAD_PRODUCT = ("SKU-10999", "Gift Card 500", "")
_UNKNOWN_SKU_SALES = "SKU-29999"
_UNKNOWN_SKU_INVENTORY = "SKU-29998"

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
_SURVEY_SHARE = 0.09
_COMPLAINT_SHARE = 0.008  # times a store factor of 1.0 .. 1.5
_STOCKOUT_SHARE = 0.03

_CHANNELS = pa.array(["store", "online"], pa.string())
# fmt: off
_COMPLAINT_CATEGORIES = (
    "Product quality", "Staff service", "Delivery", "Pricing", "Refund or exchange", "Store environment",
)
# fmt: on
_COMPLAINT_CATEGORY_P = np.array([0.28, 0.20, 0.14, 0.10, 0.16, 0.12])

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


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def generate_sample_data(
    landing_dir: Path,
    *,
    sales_lines: int = 200_000,
    end_month: str = "2025-12",
    months: int = 24,
    seed: int = 42,
    bad_rows: bool = True,
) -> SampleDataSummary:
    """Write a complete landing folder of sample data and return what was written.

    `months` full calendar months ending with `end_month` (YYYY-MM) are covered; about `sales_lines`
    order lines are generated in total. Raises FileExistsError if `landing_dir` already holds a file.
    """
    landing_dir = Path(landing_dir)
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", end_month):
        raise ValueError(f"end_month must look like YYYY-MM (e.g. 2025-12), got {end_month!r}")
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    if sales_lines < 20 * months:
        raise ValueError(
            f"sales_lines must be at least 20 per month ({20 * months} for {months} months), "
            f"got {sales_lines}"
        )
    _refuse_non_empty(landing_dir)
    return _Generator(landing_dir, sales_lines, end_month, months, seed, bad_rows).run()


def _refuse_non_empty(landing_dir: Path) -> None:
    if not landing_dir.exists():
        return
    if not landing_dir.is_dir():
        raise FileExistsError(f"{landing_dir} exists and is not a folder; choose an empty or new folder")
    for path in landing_dir.rglob("*"):
        if path.is_file() and path.name not in _IGNORED_FILES:
            raise FileExistsError(
                f"landing folder {landing_dir} already contains files "
                f"(e.g. {path.relative_to(landing_dir)}); sample data is only written into an empty "
                "or new folder, so nothing is overwritten"
            )


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _day(date: dt.date) -> int:
    return (date - _EPOCH).days


def _iso(day: int) -> str:
    return (_EPOCH + dt.timedelta(days=int(day))).isoformat()


def _iso_ts(seconds: int) -> str:
    return (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=int(seconds))).strftime("%Y-%m-%d %H:%M:%S")


def _money_str(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def _money(cents: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """int64 cents -> decimal128(18, 2), exact (no float rounding)."""
    cents = np.ascontiguousarray(cents, dtype=np.int64)
    words = np.empty(2 * len(cents), dtype=np.int64)
    words[0::2] = cents
    words[1::2] = cents >> 63  # sign extension to 128 bits
    arr = pa.Array.from_buffers(pa.decimal128(18, 2), len(cents), [None, pa.py_buffer(words)])
    if null is not None and null.any():
        arr = pc.if_else(pa.array(null), pa.scalar(None, arr.type), arr)
    return arr


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), pa.date32())


def _ints(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64), mask=null, type=pa.int64())


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(
        pa.array(np.asarray(numbers, dtype=np.int64)).cast(pa.string()), width=width, padding="0"
    )
    return pc.binary_join_element_wise(prefix, digits, "")


def _order_ids(keys: np.ndarray) -> pa.Array:
    """Order key year * 10**8 + sequence -> "SO-YYYY-0000001"."""
    keys = np.asarray(keys, dtype=np.int64)
    years = pa.array(keys // 10**8).cast(pa.string())
    seqs = pc.utf8_lpad(pa.array(keys % 10**8).cast(pa.string()), width=7, padding="0")
    return pc.binary_join_element_wise("SO-", years, "-", seqs, "")


def _order_id(key: int) -> str:
    return f"SO-{key // 10**8}-{key % 10**8:07d}"


def _spread(slots: int, files: int) -> list[int]:
    """Indices of `files` files spread evenly for `slots` bad-row slots."""
    return [((2 * i + 1) * files) // (2 * slots) for i in range(slots)]


def _csv_bytes(table: pa.Table) -> bytes:
    """CSV with a header row, minimal quoting, empty fields for nulls, "\\n" line ends."""
    header = ",".join(table.column_names) + "\n"
    if table.num_rows == 0:
        return header.encode("utf-8")
    fields = []
    for column in table.columns:
        text = pc.fill_null(column.cast(pa.string()), "")
        needs_quotes = pc.match_substring_regex(text, '[",\r\n]')
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
        fields.append(pc.if_else(needs_quotes, quoted, text))
    lines = pc.binary_join_element_wise(*fields, ",")
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    joined = pc.binary_join(
        pa.LargeListArray.from_arrays(pa.array([0, len(lines)], pa.int64()), lines.cast(pa.large_string())),
        pa.scalar("\n", pa.large_string()),
    )[0].as_py()
    return (header + joined + "\n").encode("utf-8")


@dataclass
class _Pending:
    """Bad rows waiting for their file: (row as strings, reason)."""

    rows: dict[tuple[str, str], list[tuple[dict[str, str | None], str]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def add(self, entity: str, period: str, row: dict[str, str | None], reason: str) -> None:
        self.rows[(entity, period)].append((row, reason))

    def take(self, entity: str, period: str) -> list[tuple[dict[str, str | None], str]]:
        return self.rows.pop((entity, period), [])


# --------------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------------


class _Generator:
    def __init__(
        self, landing_dir: Path, sales_lines: int, end_month: str, months: int, seed: int, bad_rows: bool
    ) -> None:
        self.landing_dir = landing_dir
        self.n_lines = sales_lines
        self.plant = bad_rows
        self.rng = np.random.default_rng(seed)
        self.bad_rng = np.random.default_rng([seed, 7])  # positions and values of planted rows
        self.contract = load_contract()
        self.schemas = {
            name: pa.schema([(c.name, _ARROW_TYPES[c.type]) for c in entity.columns])
            for name, entity in self.contract.entities.items()
        }
        self.files: dict[str, list[str]] = {e: [] for e in ENTITIES}
        self.rows: dict[str, int] = dict.fromkeys(ENTITIES, 0)
        self.bad: list[PlantedBadRow] = []
        self.pending = _Pending()

        last = parse_month(end_month)
        self.months = [(m.year, m.month) for m in months_between(add_months(last, 1 - months), last)]
        self.labels = [month_key(dt.date(y, m, 1)) for y, m in self.months]
        self.month_start = np.array([_day(dt.date(y, m, 1)) for y, m in self.months], dtype=np.int64)
        self.month_days = np.array([calendar.monthrange(y, m)[1] for y, m in self.months], dtype=np.int64)
        self.range_start = int(self.month_start[0])
        self.range_end = int(self.month_start[-1] + self.month_days[-1] - 1)  # last day, inclusive
        # The first year (at most half the range) is written as CSV, the rest as Parquet.
        self.n_csv = max(1, min(12, months // 2))
        self.csv_end = int(self.month_start[self.n_csv - 1] + self.month_days[self.n_csv - 1] - 1)
        self.quarters: list[str] = []
        self.quarter_start: list[int] = []
        self.quarter_csv: list[bool] = []
        for i, (y, m) in enumerate(self.months):
            label = period_of("quarter", dt.date(y, m, 1)).label
            if not self.quarters or self.quarters[-1] != label:
                self.quarters.append(label)
                self.quarter_start.append(int(self.month_start[i]))
                self.quarter_csv.append(i < self.n_csv)
        self.seq_next: dict[int, int] = defaultdict(int)  # order sequence per year

    # ---------------------------------------------------------------------------------------- run
    def run(self) -> SampleDataSummary:
        for entity in ENTITIES:
            (self.landing_dir / entity).mkdir(parents=True, exist_ok=True)
        self._org_units()
        self._products()
        self._customers()
        self._month_plan()
        self._inventory_plan()
        self._bad_plan()

        self.returns: list[dict[str, np.ndarray]] = []
        self.surveys: list[dict[str, np.ndarray]] = []
        self.complaints: list[dict[str, np.ndarray]] = []
        self.bad_returns: list[tuple[int, dict[str, str | None], str]] = []  # (return day, row, reason)
        for mi in range(len(self.months)):
            self._sales_month(mi)
            self._inventory_month(mi)
        self._write_returns()
        self._write_surveys()
        self._write_complaints()
        assert not self.pending.rows, f"bad rows left without a file: {list(self.pending.rows)}"

        order = {e: i for i, e in enumerate(ENTITIES)}
        self.bad.sort(key=lambda b: (order[b.entity], b.file, b.line))
        return SampleDataSummary(
            landing_dir=self.landing_dir,
            first_month=self.labels[0],
            last_month=self.labels[-1],
            files=self.files,
            rows=self.rows,
            bad_rows=self.bad,
        )

    # ------------------------------------------------------------------------------------ writing
    def _write(
        self,
        entity: str,
        stem: str,
        columns: dict[str, pa.Array],
        csv: bool,
        bad: list[tuple[dict[str, str | None], str]] = (),
    ) -> None:
        schema = self.schemas[entity]
        table = pa.Table.from_arrays([columns[name] for name in schema.names], schema=schema)
        rel = f"{entity}/{stem}.{'csv' if csv else 'parquet'}"
        path = self.landing_dir / rel
        if csv:
            text = table.cast(pa.schema([(name, pa.string()) for name in schema.names]))
            if bad:
                n, k = text.num_rows, len(bad)
                bad_table = pa.table(
                    {name: pa.array([row.get(name) for row, _ in bad], pa.string()) for name in schema.names}
                )
                positions = np.sort(self.bad_rng.integers(0, n + 1, size=k))
                order = np.insert(np.arange(n), positions, np.arange(n, n + k))
                text = pa.concat_tables([text, bad_table]).take(pa.array(order))
                for j, (_, reason) in enumerate(bad):
                    line = int(np.flatnonzero(order == n + j)[0]) + 2
                    self.bad.append(PlantedBadRow(entity, rel, line, reason))
            path.write_bytes(_csv_bytes(text))
        else:
            assert not bad, f"bad rows can only be planted in CSV files, not {rel}"
            pq.write_table(table, path, compression="zstd")
        self.files[entity].append(rel)
        self.rows[entity] += table.num_rows + len(bad)

    # ------------------------------------------------------------------------------ master data
    def _org_units(self) -> None:
        rows = [(_COMPANY[0], _COMPANY[1], _COMPANY[2], None, "company")]
        rows += [(rid, name, zh, "HQ", "region") for rid, name, zh in _REGIONS]
        rows += [(sid, name, zh, _REGIONS[r][0], "store") for sid, name, zh, r in _STORES]
        rows += [(wid, name, zh, _REGIONS[r][0], "warehouse") for wid, name, zh, r in _WAREHOUSES]
        columns = {
            name: pa.array([row[i] for row in rows], pa.string())
            for i, name in enumerate(("org_unit_id", "name", "name_zh", "parent_id", "unit_type"))
        }
        bad = []
        if self.plant:
            unit_id, name, zh, parent, kind = _BAD_UNIT
            bad.append(
                (
                    {
                        "org_unit_id": unit_id,
                        "name": name,
                        "name_zh": zh,
                        "parent_id": parent,
                        "unit_type": kind,
                    },
                    f"unknown parent_id '{parent}'",
                )
            )
        self._write("org_units", "org_units", columns, csv=True, bad=bad)

        rng = self.rng
        self.store_ids = [s[0] for s in _STORES]
        self.store_region = np.array([s[3] for s in _STORES])
        self.store_size = rng.uniform(1.0, 3.0, len(_STORES))
        self.store_growth = rng.uniform(-0.03, 0.25, len(_STORES))
        self.store_nps = rng.uniform(0.20, 0.45, len(_STORES))  # target NPS (promoters - detractors)
        self.store_complaints = 1.5 - 2.0 * (self.store_nps - 0.20)  # more complaints where NPS is low

    def _products(self) -> None:
        rng = self.rng
        skus, names, cats = [], [], []
        price, cost, pop, qty_p, ret = [], [], [], [], []
        number = 10001
        for ci, ((lo, hi, qp, rr, cpop), nouns, variants) in enumerate(_CATEGORIES.values()):
            combos = [f"{noun} {variant}" for noun in nouns.split(", ") for variant in variants.split(", ")]
            chosen = rng.choice(len(combos), _SKUS_PER_CATEGORY, replace=False)
            raw = np.exp(rng.uniform(math.log(lo), math.log(hi), _SKUS_PER_CATEGORY))
            yuan = np.where(raw >= 100, np.ceil(raw / 10) * 10 - 1, np.floor(raw) + 0.9)
            cents = np.rint(yuan * 100).astype(np.int64)
            ranks = rng.permutation(_SKUS_PER_CATEGORY) + 1.0
            weights = ranks**-0.8
            for j in range(_SKUS_PER_CATEGORY):
                skus.append(f"SKU-{number}")
                number += 1
                names.append(combos[chosen[j]])
                cats.append(ci)
            price.append(cents)
            cost.append(np.rint(cents * rng.uniform(0.5, 0.7, _SKUS_PER_CATEGORY)).astype(np.int64))
            pop.append(cpop * weights / weights.sum())
            qty_p += [qp] * _SKUS_PER_CATEGORY
            ret += [rr] * _SKUS_PER_CATEGORY
        self.sku_ids = pa.array(skus, pa.string())
        self.n_sku = len(skus)
        self.sku_category = np.array(cats)
        self.sku_cost = np.concatenate(cost)
        self.sku_pop = np.concatenate(pop)
        self.sku_pop /= self.sku_pop.sum()
        self.sku_qty_p = np.array(qty_p)
        self.sku_return = np.array(ret)
        # List price per month and SKU: stable, with one price change for about 15% of the SKUs.
        base = np.concatenate(price)
        months = len(self.months)
        self.price = np.tile(base, (months, 1))
        changed = np.flatnonzero(rng.random(self.n_sku) < 0.15)
        if months > 1:
            for k, when, factor in zip(
                changed,
                rng.integers(1, months, len(changed)),
                rng.choice([0.9, 0.95, 1.05, 1.08, 1.1, 1.15], len(changed)),
                strict=True,
            ):
                new = base[k] * factor / 100
                new = math.ceil(new / 10) * 10 - 1 if new >= 100 else math.floor(new) + 0.9
                self.price[when:, k] = round(new * 100)

        columns = {
            "sku": self.sku_ids,
            "name": pa.array(names, pa.string()),
            "category": pa.array(list(_CATEGORIES)).take(pa.array(cats)),
        }
        bad = []
        if self.plant:
            sku, name, category = _BAD_PRODUCT
            bad.append(({"sku": sku, "name": name, "category": category or None}, "category is missing"))
        self._write("products", "products", columns, csv=True, bad=bad)

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

    # ------------------------------------------------------------------------------ bad-row plan
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

    # ------------------------------------------------------------------------------------- sales
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

    # -------------------------------------------------------------------------------- inventory
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

    # --------------------------------------------------------------------------- satisfaction
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
            }
            self._write(
                "complaints",
                f"complaints_{label}",
                columns,
                self.quarter_csv[qi],
                self.pending.take("complaints", label),
            )
