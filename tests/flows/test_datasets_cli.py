"""`cradle datasets list | show | diff` on a data root with two versions of one dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.datasets_cli import datasets
from manifests.ledger import Ledger
from stages.config import load_config
from stages.paths import DataRoot
from stages.shards.stage import build_dataset
from tests.stages.shards.helpers import SMALL, add_curated, clips_of

runner = CliRunner()


def cradle_datasets(*args: str, code: int = 0) -> str:
    result = runner.invoke(datasets, list(args), catch_exceptions=False, terminal_width=160)
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def two_versions(isolated_home: Path) -> list[str]:
    cfg = load_config()
    ledger, root = Ledger.open(cfg.ledger_url), DataRoot(cfg.home).create()
    add_curated(ledger, root, clips_of(4, 2))
    build_dataset(ledger, root, SMALL, "infant")
    added = clips_of(2, 2, offset=10)
    add_curated(ledger, root, added)
    build_dataset(ledger, root, SMALL, "infant")
    ledger.close()
    return [clip.id for clip in added]


def test_list_without_datasets_says_how_to_get_one(isolated_home: Path) -> None:
    assert "No datasets yet" in cradle_datasets("list")


def test_list_shows_every_version(two_versions: list[str]) -> None:
    out = cradle_datasets("list")
    assert "infant" in out and "v0001" in out and "v0002" in out


def test_show_prints_the_latest_card_or_a_named_version(two_versions: list[str]) -> None:
    latest = cradle_datasets("show", "infant")
    assert "infant@v0002" in latest and "parent: v0001" in latest and "by split" in latest
    assert "/t/dd00002" in latest and "v0001/train-000000.tar" in latest
    assert "infant@v0001" in cradle_datasets("show", "infant@v0001")
    assert "no version 'v0007'" in cradle_datasets("show", "infant@v0007", code=2)


def test_diff_names_the_added_clips(two_versions: list[str]) -> None:
    out = cradle_datasets("diff", "infant", "v0001", "v0002")
    assert "v0001 → v0002" in out and "clips added: 2" in out and "clips removed: 0" in out
    assert all(clip_id in out for clip_id in two_versions)
