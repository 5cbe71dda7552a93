"""Where the publication lives and how its files are written: the published file's name and storage
format, the Parquet folder, and the durable file operations of its atomic replacement (copy, fsync,
clean-up of temporary files)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PUBLISHED_FILE_NAME = "published.duckdb"
NEXT_SUFFIX = ".next"
LOCK_SUFFIX = ".lock"
PARQUET_DIR = Path("published") / "parquet"

# DuckDB 2.x writes files that DuckDB 1.x cannot read by default. 'v1.0.0' is the oldest format
# DuckDB 2.0.1 writes (older names such as 'v0.10.0' map to it too: storage 64, "v1.0.0+").
# Readers from DuckDB 0.10.3 on open it (verified: 0.10.3, 1.0.0, 1.1.3; 0.10.0-0.10.2 and 0.9.2 fail).
STORAGE_VERSION = "v1.0.0"


def published_path(data_dir: Path) -> Path:
    return Path(data_dir) / PUBLISHED_FILE_NAME


def parquet_dir(data_dir: Path) -> Path:
    return Path(data_dir) / PARQUET_DIR


def path_literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def wal_path(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def remove_files(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def copy_file(source: Path, destination: Path) -> None:
    """Copy the current publication, flushed to disk before DuckDB opens it."""
    with source.open("rb") as reader, destination.open("wb") as writer:
        while chunk := reader.read(1 << 20):
            writer.write(chunk)
        writer.flush()
        os.fsync(writer.fileno())


def fsync_dir(directory: Path) -> None:
    """Make the renames durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
