"""Small value helpers of the sample data: days since the epoch, ISO texts, money in cents, Arrow arrays of
dates, integers and ids, order ids, and how planted rows spread over files."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_EPOCH = dt.date(1970, 1, 1)


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
