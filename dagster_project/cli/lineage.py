"""`kpi lineage`, `kpi audit verify` and `kpi audit anchor`: the auditor's commands (docs/audit.md)."""

from __future__ import annotations

import http.client
import json
import sys
import urllib.request
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from dagster_project.audit.value import LineageError, ValueKey, value_lineage
from dagster_project.audit.verify import VerifyReport, verify_published
from dagster_project.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    _settings,
    console,
    err_console,
    print_text,
)
from dagster_project.outbound import redact, redact_url
from dagster_project.publish.files import published_path
from dagster_project.render.terminal import format_value, parse_period
from dagster_project.render.text import json_for_terminal, printable, printable_tree
from dagster_project.store import ReportError

audit_app = typer.Typer(help="Check the published store's audit trail.", no_args_is_help=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data folder holding published.duckdb (default: $KPI_DATA_DIR or data)."),
]


def _data_dir(data_dir: Path | None) -> Path:
    """--data-dir, else KPI_DATA_DIR (and .env) through the CLI's one settings helper (exit 2 on a bad value)."""
    return _settings(data_dir=data_dir).data_dir


def lineage(
    kpi_id: Annotated[str, typer.Argument(help="The KPI id, e.g. net_revenue (see `kpi definitions list`).")],
    period: Annotated[
        str, typer.Option("--period", help="2025-10 (month), 2025-Q4 (quarter) or 2025 (year).")
    ],
    grain: Annotated[
        str | None, typer.Option("--grain", help="month, quarter or year (inferred from --period).")
    ] = None,
    org: Annotated[
        str | None, typer.Option("--org", help="Org unit id (default: the company, the top unit).")
    ] = None,
    version: Annotated[
        int | None, typer.Option("--version", help="Publication version (default: the current one).")
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="text or json (schema in docs/audit.md).")
    ] = "text",
    data_dir: DataDirOption = None,
) -> None:
    """How one published KPI value was produced: definition, dbt lineage, source files, checks, runs, versions."""
    if output_format not in ("text", "json"):
        err_console.print(f"--format {output_format!r}: use text or json.")
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        parsed = parse_period(period, grain)
        result = value_lineage(
            _data_dir(data_dir),
            ValueKey(kpi_id, parsed.grain, parsed.start, parsed.label, org_unit_id=org, version=version),
        )
    except (ReportError, LineageError) as error:
        err_console.print(escape(printable(str(error))))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if output_format == "json":
        sys.stdout.write(json_for_terminal(json.dumps(result, indent=2, ensure_ascii=False)) + "\n")
    else:
        console.print(render_lineage(printable_tree(result)))


def render_lineage(result: dict[str, Any]) -> RenderableType:
    value, definition, publication = result["value"], result["definition"], result["publication"]
    period = result["period"]
    title = Text(
        f"{value['kpi_label']} ({result['kpi_id']}) · {value['org_unit_name']} ({result['org_unit_id']}) · "
        f"{period['label']} ({period['grain']}) · version {result['version']} of {result['current_version']}",
        style="bold",
    )
    summary = Table.grid(padding=(0, 2))
    summary.add_row("actual", format_value(value["actual"], value["unit"], value["decimals"]))
    summary.add_row("numerator / denominator", f"{value['numerator']} / {value['denominator']}")
    summary.add_row("sample size", str(value["sample_size"]))
    summary.add_row("target", format_value(value["target"], value["unit"], value["decimals"]))
    summary.add_row("status", str(value["status"]))

    about = Table.grid(padding=(0, 2))
    about.add_row(
        "definition",
        f"{definition.get('file')} (metric {definition.get('metric_name')}, version {definition.get('version')})",
    )
    about.add_row("file sha256", str(definition.get("file_sha256")))
    about.add_row("definition hash", str(definition.get("definition_hash")))
    about.add_row("owner", str(definition.get("owner")))
    about.add_row("formula", str(definition.get("formula")))
    metric_yaml = Text(definition.get("metric_yaml") or "(definition text not recorded)", style="dim")

    dbt = Table(
        "dbt node",
        "file",
        title="dbt lineage (scorecard ← KPI values ← facts ← staging ← sources)",
        title_justify="left",
    )
    for node in result["dbt_lineage"]["nodes"]:
        dbt.add_row(f"{node['resource_type']} {node['relation']}", node["file"])

    inputs = Table(
        "file", "sha256", "rows used", "loaded / quarantined", "semantic model", title="Source batches"
    )
    inputs.columns[0].overflow = "fold"
    for item in result["inputs"]:
        offset = f" (−{item['offset_months']} mo)" if item["offset_months"] else ""
        inputs.add_row(
            f"{item['entity']}/{Path(item['file_name']).name}", item["sha256"][:12] + "…", str(item["rows_used"]),
            f"{item['rows_loaded']} / {item['rows_quarantined']}", item["semantic_model"] + offset,
        )  # fmt: skip

    checks = Table(
        "check", "severity", "period", "result", title="Checks that gated the period", title_justify="left"
    )
    for check in result["checks"]:
        checks.add_row(
            f"{check['suite']}: {check['expectation']}", check["severity"],
            f"{check['period_grain'] or 'all'} {check['period_start'] or ''}".strip(),
            Text("passed", style="green") if check["success"] else Text("failed", style="red"),
        )  # fmt: skip

    run = Table.grid(padding=(0, 2))
    run.add_row(
        "published",
        f"{publication['published_at']} UTC by run {publication['run_id']} (record #{publication['publication_id']})",
    )
    run.add_row("dbt invocation", str(publication["dbt_invocation_id"]))
    dirty = " (uncommitted changes)" if publication.get("git_dirty") else ""
    run.add_row("git commit", f"{publication['git_commit']}{dirty}")
    run.add_row("versions", ", ".join(f"{k} {v}" for k, v in (publication.get("versions") or {}).items()))
    run.add_row(
        "dbt manifest", f"sha256 {publication.get('manifest_sha256')} (under $KPI_DATA_DIR/artifacts/sha256/)"
    )
    run.add_row("record hash", str(publication["record_hash"]))

    history = Table(
        "version",
        "published at",
        "reason",
        "actual",
        "status",
        "run",
        "input files",
        title="Versions",
        title_justify="left",
    )
    for item in result["history"]:
        history.add_row(
            str(item["version"]), str(item["published_at"]), item["reason"],
            format_value(item["actual"], value["unit"], value["decimals"]), str(item["status"]), item["run_id"],
            str(len(item["inputs"])),
        )  # fmt: skip
    return Group(title, summary, Text(""), about, metric_yaml, dbt, inputs, checks, run, Text(""), history)


ANCHOR_POST_TIMEOUT_SECONDS = 5.0


def _verified(path: Path) -> VerifyReport:
    try:
        return verify_published(path)
    except FileNotFoundError as error:
        print_text(str(error), stderr=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None


@audit_app.command("verify")
def audit_verify(
    data_dir: DataDirOption = None,
    anchor: Annotated[
        str | None,
        typer.Option(
            "--anchor",
            help="A head hash recorded earlier (`kpi audit anchor`): fail unless the seal chain contains it.",
        ),
    ] = None,
) -> None:
    """Recompute the hash chain and the content hashes of the published store; name any edited row."""
    path = published_path(_data_dir(data_dir))
    report = _verified(path)
    checked = (
        f"{report.publications} publication record(s), {report.rows} history row(s), {report.seals} seal(s), "
        f"{report.parquet_files} Parquet cop(ies) in {path}"
    )
    if report.unchained:
        checked += f" ({report.unchained} older record(s) predate the hash chain and are not covered)"
    if not report.sealed:
        checked += " (not sealed: published before seals existed; the next publication seals it)"
    problems = [str(finding) for finding in report.findings]
    if anchor is not None:
        wanted = anchor.strip().lower()
        if wanted not in report.seal_chain:
            problems.append(
                f"anchor {wanted}: not in the seal chain (head {report.anchor}): the store was rewritten "
                "or its seals recomputed since the anchor was recorded"
            )
        else:
            later = len(report.seal_chain) - 1 - report.seal_chain.index(wanted)
            checked += f"; anchor found, {later} seal(s) after it"
    if not problems:
        console.print(
            f"[green]OK[/green]: {checked}; chain head {report.head_hash}; seal head {report.anchor}",
            soft_wrap=True,
        )
        return
    console.print(f"[red]FAILED[/red]: {len(problems)} problem(s) in {checked}:", soft_wrap=True)
    for problem in problems:
        console.print(f"  - {escape(printable(problem))}")
    raise typer.Exit(EXIT_FAILED)


@audit_app.command("anchor")
def audit_anchor(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Also write the head hash to this file (outside the data folder)."),
    ] = None,
    post: Annotated[
        str | None,
        typer.Option("--post", help="Also POST it as JSON to this http(s) URL (5 s timeout)."),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Print the head hash of the published store's seal chain, after verifying the store.

    Record it somewhere the data folder's writers cannot change (a ticket, another system):
    `kpi audit verify --anchor HASH` later proves the store was only appended to since.
    """
    folder = _data_dir(data_dir)
    path = published_path(folder)
    if out is not None and _inside(out, folder):
        print_text(
            f"--out {out}: inside the data folder {folder}; an anchor must live where the store's writers cannot rewrite it",
            stderr=True,
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    if post is not None and urlsplit(post).scheme not in ("http", "https"):
        print_text(f"--post {redact_url(post)}: use an http:// or https:// URL", stderr=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    report = _verified(path)
    if not report.ok or report.anchor is None:
        reason = (
            f"{len(report.findings)} problem(s) (run `kpi audit verify`)"
            if not report.ok
            else "the store has no seal yet (publish once with this version)"
        )
        print_text(f"not anchoring {path}: {reason}", stderr=True)
        raise typer.Exit(EXIT_FAILED)
    sys.stdout.write(report.anchor + "\n")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report.anchor + "\n", encoding="utf-8")
        print_text(f"written to {out}", stderr=True)
    if post is not None:
        body = json.dumps(
            {
                "anchor": report.anchor,
                "seals": report.seals,
                "publications_head": report.head_hash,
                "store": str(path),
            }
        ).encode("utf-8")
        request = urllib.request.Request(
            post, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=ANCHOR_POST_TIMEOUT_SECONDS) as response:
                status = response.status
        except (OSError, ValueError, http.client.HTTPException) as error:
            print_text(
                f"posting the anchor to {redact_url(post)} failed: {_redacted_error(error, post)}",
                stderr=True,
            )
            raise typer.Exit(EXIT_FAILED) from None
        print_text(f"posted to {redact_url(post)} (HTTP {status})", stderr=True)


def _inside(path: Path, folder: Path) -> bool:
    resolved, root = path.expanduser().resolve(), folder.expanduser().resolve()
    return resolved == root or root in resolved.parents


def _redacted_error(error: BaseException, url: str) -> str:
    return redact(str(getattr(error, "reason", None) or error), [url])
