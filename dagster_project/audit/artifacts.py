"""The content-addressed archive under KPI_DATA_DIR/artifacts: dbt artifacts, kept by SHA-256.

A blob is stored once at `artifacts/sha256/<first two hex digits>/<hash>` and never changed; the
published store refers to it by hash, so an auditor can fetch exactly the manifest a value was built
with. Each dbt invocation of a Dagster run is recorded in `artifacts/dbt_invocations/<run id>.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

ARCHIVE_DIR_NAME = "artifacts"
DBT_ARTIFACTS = ("manifest.json", "run_results.json")


def archive_dir(data_dir: Path) -> Path:
    return Path(data_dir) / ARCHIVE_DIR_NAME


def blob_path(data_dir: Path, sha256: str) -> Path:
    return archive_dir(data_dir) / "sha256" / sha256[:2] / sha256


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def store_blob(data_dir: Path, content: bytes) -> str:
    """Store `content` once under its SHA-256 and return the hash."""
    digest = sha256_hex(content)
    path = blob_path(data_dir, digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{digest}.{os.getpid()}.tmp")
        tmp.write_bytes(content)
        os.replace(tmp, path)
    return digest


def read_blob(data_dir: Path, sha256: str) -> bytes:
    """The archived blob, checked against its hash (a changed archive file is an error)."""
    path = blob_path(data_dir, sha256)
    if not path.exists():
        raise FileNotFoundError(f"archived artifact {sha256} not found at {path}")
    content = path.read_bytes()
    if sha256_hex(content) != sha256:
        raise ValueError(f"archived artifact {path} no longer matches its SHA-256: it was modified")
    return content


@dataclass(frozen=True)
class DbtInvocation:
    """One `dbt` command a Dagster run executed, with its archived artifacts."""

    dagster_run_id: str
    invocation_id: str
    command: str
    dbt_version: str
    generated_at: str
    success: bool
    manifest_sha256: str
    run_results_sha256: str
    step: str = ""  # the Dagster step that ran it


def archive_dbt_invocation(
    target_path: Path, dagster_run_id: str, data_dir: Path, step: str = ""
) -> DbtInvocation:
    """Archive manifest.json and run_results.json of a finished dbt invocation and record it."""
    target_path = Path(target_path)
    missing = [name for name in DBT_ARTIFACTS if not (target_path / name).exists()]
    if missing:
        raise FileNotFoundError(f"dbt artifacts {', '.join(missing)} not found in {target_path}")
    hashes = {name: store_blob(data_dir, (target_path / name).read_bytes()) for name in DBT_ARTIFACTS}
    run_results = json.loads((target_path / "run_results.json").read_text(encoding="utf-8"))
    metadata = run_results.get("metadata", {})
    args = run_results.get("args", {})
    invocation = DbtInvocation(
        dagster_run_id=dagster_run_id,
        invocation_id=str(metadata.get("invocation_id", "")),
        command=str(args.get("which", "")),
        dbt_version=str(metadata.get("dbt_version", "")),
        generated_at=str(metadata.get("generated_at", "")),
        success=all(
            r.get("status") in ("success", "pass", "warn", "skipped") for r in run_results.get("results", [])
        ),
        manifest_sha256=hashes["manifest.json"],
        run_results_sha256=hashes["run_results.json"],
        step=step,
    )
    record = _invocations_file(data_dir, dagster_run_id)
    record.parent.mkdir(parents=True, exist_ok=True)
    recorded = [*_read_records(record), asdict(invocation)]
    tmp = record.with_name(f".{record.name}.tmp")
    tmp.write_text(json.dumps(recorded, indent=2), encoding="utf-8")
    os.replace(tmp, record)
    return invocation


def dbt_invocations(data_dir: Path, dagster_run_id: str) -> list[DbtInvocation]:
    """Every dbt invocation a run archived, in order."""
    return [DbtInvocation(**record) for record in _read_records(_invocations_file(data_dir, dagster_run_id))]


def latest_dbt_invocation(data_dir: Path, dagster_run_id: str | None = None) -> DbtInvocation | None:
    """The run's last dbt invocation; without a run (or when the run ran no dbt), the newest one."""
    if dagster_run_id:
        records = _read_records(_invocations_file(data_dir, dagster_run_id))
        if records:
            return DbtInvocation(**records[-1])
    folder = archive_dir(data_dir) / "dbt_invocations"
    files = sorted(folder.glob("*.json"), key=lambda path: path.stat().st_mtime) if folder.exists() else []
    for path in reversed(files):
        records = _read_records(path)
        if records:
            return DbtInvocation(**records[-1])
    return None


def _invocations_file(data_dir: Path, dagster_run_id: str) -> Path:
    return archive_dir(data_dir) / "dbt_invocations" / f"{dagster_run_id}.json"


def _read_records(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
