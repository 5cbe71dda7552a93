"""Writing one file of an entity: CSV (with the planted bad rows at random lines, reported with their
physical line) or Parquet; a mixin of `generator._Generator`: its methods share the generator's state
(random generators, months, plans; names with a leading underscore are private to this package)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


@dataclass(frozen=True)
class PlantedBadRow:
    """A row the loader must quarantine, planted on purpose."""

    entity: str
    file: str  # path relative to landing_dir, e.g. "sales_lines/sales_lines_2025-03.csv"
    line: int  # physical line number in that CSV file (the header is line 1)
    reason: str  # short human description of the defect, e.g. "quantity is 0"


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


class _Writer:
    """Writes one file of an entity and records its path, rows and planted rows."""

    def _write(
        self,
        entity: str,
        stem: str,
        columns: dict[str, pa.Array],
        csv: bool,
        bad: list[tuple[dict[str, str | None], str]] = (),
        rng: np.random.Generator | None = None,
    ) -> None:
        """`rng` places the bad rows (default `bad_rng`; the people's files use their own stream)."""
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
                positions = np.sort((rng or self.bad_rng).integers(0, n + 1, size=k))
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

    def _write_people_quarters(
        self,
        entity: str,
        days: np.ndarray,
        columns: Callable[[slice], dict[str, pa.Array]],
        planted: list[tuple[int, dict[str, str | None], str]],
        key: tuple[str, str],
    ) -> None:
        """One file per quarter of rows sorted by day (`columns` gives a quarter's slice of them),
        with the planted rows of each quarter numbered after the good ones (`key`: the id column
        and its prefix); bad rows placed by the people's own stream."""
        column, prefix = key
        for j, (qi, row, reason) in enumerate(planted):
            row[column] = f"{prefix}{len(days) + 1 + j:06d}"
            self.pending.add(entity, self.quarters[qi], row, reason)
        bounds = np.searchsorted(days, np.append(self.quarter_start, self.range_end + 1))
        for qi, label in enumerate(self.quarters):
            self._write(
                entity,
                f"{entity}_{label}",
                columns(slice(int(bounds[qi]), int(bounds[qi + 1]))),
                self.quarter_csv[qi],
                self.pending.take(entity, label),
                rng=self.people_bad_rng,
            )
