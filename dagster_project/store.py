"""Reading the published store, `<data_dir>/published.duckdb` (docs/bi_tables.md), for the reports
(`kpi scorecard`, `kpi status`, `kpi report`): the queries and the dataclasses of what they read.

The file is opened read-only, the few rows a report needs are fetched, and the connection is closed
before anything is rendered (the publisher replaces the file atomically, so a reader never blocks it).
A missing or foreign file, a period that was never published or an unknown org unit raises
`ReportError`, whose message says what was wrong and what exists; the CLI prints it and exits 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from dagster_project.periods import Period
from dagster_project.publish.files import published_path


class ReportError(Exception):
    """Bad input for a report: the message says what was wrong and what exists."""


def timestamp_text(moment: datetime) -> str:
    """A timestamp of the store (UTC) as reports write it: 2025-03-05 06:00:00."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _span(labels: Sequence[str], noun: str) -> str:
    if not labels:
        return "none"
    if len(labels) <= 4:
        return ", ".join(labels)
    return f"{labels[0]} … {labels[-1]} ({len(labels)} {noun})"


# --- kpi scorecard -------------------------------------------------------------------------------


@contextmanager
def open_published(data_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the published file, closed on leaving the block."""
    path = published_path(data_dir)
    if not path.is_file():
        raise ReportError(
            f"No published scorecards: {path} does not exist. Run the pipeline (`kpi run`) so that it "
            "publishes, or point --data-dir (or KPI_DATA_DIR) at the data folder that holds published.duckdb."
        )
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        raise ReportError(f"Cannot open {path} read-only: {error}") from None
    try:
        yield con
    except (duckdb.CatalogException, duckdb.BinderException) as error:  # tables or columns missing
        raise ReportError(
            f"{path} is not a published scorecard file as docs/bi_tables.md describes: {error}"
        ) from None
    finally:
        con.close()


@dataclass(frozen=True)
class KpiRow:
    kpi_id: str
    label: str
    label_zh: str | None
    perspective: str
    unit: str
    decimals: int | None
    actual: float | None
    target: float | None
    status: str | None
    value_status: str | None
    sample_size: int | None
    change_vs_prior_period: float | None
    change_vs_prior_year: float | None


@dataclass(frozen=True)
class ScorecardData:
    path: Path
    period: Period
    org_unit_id: str
    org_unit_name: str
    org_unit_name_zh: str | None
    version: int
    published_at: datetime
    kpis: tuple[KpiRow, ...]
    scores: dict[str, tuple[float | None, int | None]]  # perspective (or 'overall') → score, kpis_scored
    blocked_at: datetime | None  # the latest attempt for the period was blocked at this time


def load_scorecard(data_dir: Path, period: Period, org: str | None = None) -> ScorecardData:
    """The published rows of one period and org unit (the root unit when `org` is None)."""
    path = published_path(data_dir)
    key = [period.grain, period.start]
    with open_published(data_dir) as con:
        units = con.execute(
            "select org_unit_id, any_value(org_unit_name), any_value(org_unit_name_zh), "
            "bool_or(parent_org_unit_id is null) from scorecard "
            "where period_grain = ? and period_start = ? group by org_unit_id order by org_unit_id",
            key,
        ).fetchall()
        if not units:
            raise ReportError(_not_published_message(con, path, period))
        if org is None:
            roots = [unit for unit in units if unit[3]]
            if not roots:
                raise ReportError(
                    f"The scorecard of {period.label} in {path} has no root org unit (one without a parent): "
                    f"name one with --org ({_span([u[0] for u in units], 'org units')})."
                )
            unit = roots[0]
        else:
            found = [u for u in units if u[0] == org] or [u for u in units if u[0].lower() == org.lower()]
            if not found:
                raise ReportError(_unknown_org_message(path, period, org, [u[0] for u in units]))
            unit = found[0]
        rows = con.execute(
            "select kpi_id, kpi_label, kpi_label_zh, perspective, unit, decimals, actual, target, status, "
            "value_status, sample_size, change_vs_prior_period, change_vs_prior_year, "
            "publication_version, published_at "
            "from scorecard where period_grain = ? and period_start = ? and org_unit_id = ? order by kpi_id",
            [*key, unit[0]],
        ).fetchall()
        scores = con.execute(
            "select perspective, score, kpis_scored from scorecard_scores "
            "where period_grain = ? and period_start = ? and org_unit_id = ?",
            [*key, unit[0]],
        ).fetchall()
        latest = con.execute(
            "select outcome, attempted_at from publication_attempts "
            "where period_grain = ? and period_start = ? order by attempt_id desc limit 1",
            key,
        ).fetchone()
    return ScorecardData(
        path=path,
        period=period,
        org_unit_id=unit[0],
        org_unit_name=unit[1],
        org_unit_name_zh=unit[2],
        version=max(row[13] for row in rows),
        published_at=max(row[14] for row in rows),
        kpis=tuple(KpiRow(*row[:13]) for row in rows),
        scores={perspective: (score, scored) for perspective, score, scored in scores},
        blocked_at=latest[1] if latest and latest[0] == "blocked" else None,
    )


def _not_published_message(con: duckdb.DuckDBPyConnection, path: Path, period: Period) -> str:
    labels = [
        row[0]
        for row in con.execute(
            "select period_label from scorecard where period_grain = ? "
            "group by period_label, period_start order by period_start",
            [period.grain],
        ).fetchall()
    ]
    message = f"{period.label} ({period.grain}) has not been published in {path}. "
    if labels:
        message += f"Published {period.grain}s: {_span(labels, period.grain + 's')}."
    else:
        counts = con.execute(
            "select period_grain, count(distinct period_start) from scorecard group by 1 order by 1"
        ).fetchall()
        published = ", ".join(f"{n} {grain}(s)" for grain, n in counts) or "nothing"
        message += f"No {period.grain} has been published (published: {published})."
    attempt = con.execute(
        "select outcome, attempted_at, reason from publication_attempts "
        "where period_grain = ? and period_start = ? order by attempt_id desc limit 1",
        [period.grain, period.start],
    ).fetchone()
    if attempt and attempt[0] == "blocked":
        message += (
            f" Its last attempt ({timestamp_text(attempt[1])} UTC) was {attempt[2]} (see `kpi status`)."
        )
    return message


def _unknown_org_message(path: Path, period: Period, org: str, known: list[str]) -> str:
    close = difflib.get_close_matches(org, known, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    shown = ", ".join(known[:40]) + (f", … ({len(known)} in all)" if len(known) > 40 else "")
    return f"Org unit {org!r} is not in the published scorecard of {period.label} in {path}.{hint} Org units: {shown}."


# --- kpi status ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusData:
    path: Path
    limit: int
    publications: list[tuple]  # period_label, grain, version, reason, published_at, rows, passed, warned, run
    publication_count: int
    blocked_attempts: list[tuple]  # label, grain, attempted_at, version, reason, failing_checks, run_id
    blocked_attempt_count: int
    periods_by_grain: dict[str, int]
    latest_published_at: datetime | None
    blocked_now: list[tuple[str, int | None]]  # label, version that stays (None: never published)


def load_status(data_dir: Path, limit: int = 10) -> StatusData:
    with open_published(data_dir) as con:
        publications = con.execute(
            "select period_label, period_grain, version, reason, published_at, row_count, checks_passed, "
            "checks_warned, run_id from publications "
            "order by published_at desc, period_grain, period_start desc limit ?",
            [limit],
        ).fetchall()
        publication_count = con.execute("select count(*) from publications").fetchone()[0]  # type: ignore[index]
        blocked = con.execute(
            "select period_label, period_grain, attempted_at, version, reason, failing_checks, run_id "
            "from publication_attempts where outcome = 'blocked' order by attempt_id desc limit ?",
            [limit],
        ).fetchall()
        blocked_count = con.execute(
            "select count(*) from publication_attempts where outcome = 'blocked'"
        ).fetchone()[0]  # type: ignore[index]
        by_grain = con.execute(
            "select period_grain, count(distinct period_start), max(published_at) from publications group by 1"
        ).fetchall()
        # A period is blocked now when its most recent attempt was blocked.
        blocked_now = con.execute(
            "select period_label, version from ("
            "  select period_grain, period_start, period_label, outcome, version, row_number() over ("
            "      partition by period_grain, period_start order by attempt_id desc) as recency"
            "  from publication_attempts"
            ") where recency = 1 and outcome = 'blocked' order by period_grain, period_start"
        ).fetchall()
    return StatusData(
        path=published_path(data_dir),
        limit=limit,
        publications=publications,
        publication_count=publication_count,
        blocked_attempts=blocked,
        blocked_attempt_count=blocked_count,
        periods_by_grain={grain: n for grain, n, _ in by_grain},
        latest_published_at=max((at for _, _, at in by_grain), default=None),
        blocked_now=[(label, version) for label, version in blocked_now],
    )
