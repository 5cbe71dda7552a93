"""Dagster's run history through KpiSqliteStorage: Dagster's own SQLite files, written faster."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dagster as dg
import yaml

from dagster_project.run.pipeline import DAGSTER_YAML, prepare_dagster_home
from dagster_project.run.run_log_storage import PooledSqliteEventLogStorage
from dagster_project.settings import Settings


@dg.asset(check_specs=[dg.AssetCheckSpec(f"check_{i}", asset="numbers") for i in range(5)])
def numbers() -> dg.Output:
    yield dg.Output([1, 2, 3])
    for i in range(5):
        yield dg.AssetCheckResult(check_name=f"check_{i}", passed=i != 3)


@dg.asset
def total(numbers: list[int]) -> int:
    return sum(numbers)


def _settings(home: Path) -> Settings:
    return dataclasses.replace(Settings.from_env(), dagster_home=home)


def test_a_run_recorded_by_the_kpi_storage_reads_back_with_dagsters_own(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    instance = prepare_dagster_home(_settings(home))
    assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
    result = dg.materialize([numbers, total], instance=instance, raise_on_error=False)
    events = len(instance.all_logs(result.run_id))
    instance.dispose()

    # Same files, same schema: Dagster's default SQLite storage on the same folder sees everything.
    (home / "dagster.yaml").write_text(yaml.safe_dump(DAGSTER_YAML), encoding="utf-8")
    stock = dg.DagsterInstance.from_config(str(home))
    try:
        assert not isinstance(stock.event_log_storage, PooledSqliteEventLogStorage)
        assert len(stock.all_logs(result.run_id)) == events > 20
        assert stock.get_latest_materialization_event(dg.AssetKey("total")).asset_materialization is not None
        check = stock.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("numbers"), "check_3")]
        )[dg.AssetCheckKey(dg.AssetKey("numbers"), "check_3")]
        assert check.status.value == "FAILED"
    finally:
        stock.dispose()


def test_dagster_yaml_is_upgraded_when_ours_and_left_alone_when_the_users(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir(), theirs.mkdir()
    (ours / "dagster.yaml").write_text(yaml.safe_dump(DAGSTER_YAML), encoding="utf-8")  # an older kpi's
    user_config = {"telemetry": {"enabled": False}, "run_retries": {"enabled": True}}
    (theirs / "dagster.yaml").write_text(yaml.safe_dump(user_config), encoding="utf-8")

    prepare_dagster_home(_settings(ours)).dispose()
    prepare_dagster_home(_settings(theirs)).dispose()

    written = yaml.safe_load((ours / "dagster.yaml").read_text(encoding="utf-8"))
    assert written["storage"]["custom"]["config"]["base_dir"] == str(ours.resolve())
    assert yaml.safe_load((theirs / "dagster.yaml").read_text(encoding="utf-8")) == user_config

    # A data folder that moved: the storage follows it.
    moved = tmp_path / "moved"
    ours.rename(moved)
    prepare_dagster_home(_settings(moved)).dispose()
    written = yaml.safe_load((moved / "dagster.yaml").read_text(encoding="utf-8"))
    assert written["storage"]["custom"]["config"]["base_dir"] == str(moved.resolve())
