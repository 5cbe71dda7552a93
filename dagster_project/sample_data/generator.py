"""Deterministic, realistic sample data for the landing folder (`kpi sample-data`).

The generator writes every entity of the source contract (`contract/source_contract_v1.yaml`) into
`<landing_dir>/<entity>/`: a retail company with regions, stores and warehouses, a product catalogue,
two years of order lines with seasonality and growth, returns, weekly inventory counts, survey answers
and complaints, and its people: the roster with hires, leavers and transfers, training records and
employee pulse surveys. The same arguments always give byte-identical files. The people data is drawn
from random streams of its own, so every other file is the same as without it (but for the columns
naming an employee: sales_lines.salesperson_id, complaints.handler_id).

With `bad_rows=True` a handful of defective rows of every kind the loader must quarantine is planted
in CSV files (a Parquet file has typed columns, so it cannot carry e.g. a quantity of "abc"); each is
reported in `SampleDataSummary.bad_rows` with its file and physical line. Everything else is valid
under the contract: keys are unique, references resolve and returns never exceed the sold quantity.

All work is vectorised with numpy and pyarrow and done one month at a time, so ten million order
lines fit in memory: only returns, survey answers and complaints (a few percent of the orders) are
kept until the end, when they are written per month or quarter.

`_Generator` assembles one mixin per entity (or group): `company.py` (org_units), `products.py`,
`sales.py` (customers, demand, sales_lines), `returns.py`, `inventory.py` (inventory_snapshots),
`surveys.py` (survey_responses), `complaints.py`, `people.py` (employees; who sold a line and who
handled a complaint), `training.py` (training_records), `engagement.py` (engagement_surveys),
`bad_rows.py` (which file gets which planted row)
and `writing.py` (one file of an entity); `values.py` holds the small value helpers. Names with a
leading underscore are shared within this package only.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from dagster_project.contract import load_contract
from dagster_project.periods import add_months, month_key, months_between, parse_month, period_of
from dagster_project.sample_data.bad_rows import _BadRowPlan
from dagster_project.sample_data.company import _OrgUnits
from dagster_project.sample_data.complaints import _Complaints
from dagster_project.sample_data.engagement import _Engagement
from dagster_project.sample_data.inventory import _Inventory
from dagster_project.sample_data.people import _People
from dagster_project.sample_data.products import _Products
from dagster_project.sample_data.returns import _Returns
from dagster_project.sample_data.sales import _Sales
from dagster_project.sample_data.surveys import _Surveys
from dagster_project.sample_data.training import _Training
from dagster_project.sample_data.values import _day
from dagster_project.sample_data.writing import PlantedBadRow, _Pending, _Writer

ENTITIES = (
    "org_units",
    "products",
    "employees",
    "sales_lines",
    "returns",
    "inventory_snapshots",
    "survey_responses",
    "complaints",
    "training_records",
    "engagement_surveys",
)


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


class _Generator(
    _Writer,
    _OrgUnits,
    _Products,
    _Sales,
    _Returns,
    _Inventory,
    _Surveys,
    _Complaints,
    _People,
    _Training,
    _Engagement,
    _BadRowPlan,
):
    """One generation: the plan of months, quarters and files; `run` writes every entity."""

    def __init__(
        self, landing_dir: Path, sales_lines: int, end_month: str, months: int, seed: int, bad_rows: bool
    ) -> None:
        self.landing_dir = landing_dir
        self.n_lines = sales_lines
        self.plant = bad_rows
        self.rng = np.random.default_rng(seed)
        self.bad_rng = np.random.default_rng([seed, 7])  # positions and values of planted rows
        # The people data's own streams: the other entities' draws stay as they were without it.
        self.people_rng = np.random.default_rng([seed, 11])
        self.people_bad_rng = np.random.default_rng([seed, 13])
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
        self._roster()
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
        self._write_employees()
        self._write_training()
        self._write_engagement()
        self._write_unattributable_rows()
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
