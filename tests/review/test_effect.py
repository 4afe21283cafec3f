"""What decisions do to the next curate run: an override carries the clip on to the shards, a
requeue re-runs its stage, a confirmation changes nothing; `cradle status` and the exports show
the outcomes."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app as cli
from manifests.ledger import Decision, Ledger, Review, ReviewReason
from manifests.outcomes import Status
from tests.conftest import curate_demo
from tests.review.conftest import HAND, MUSIC, copy_home

pytestmark = pytest.mark.slow  # a second demo run over a copy of the curated data root

CONFIRMED = "demo-face_out_of_frame-0-5000"
REQUEUED = "demo-silent-0-6000"


def decide(ledger: Ledger, clip_id: str, stage: str, decision: Decision,
           reason: ReviewReason | None = None) -> None:
    attempt = ledger.latest(stage, [clip_id])[clip_id].attempt
    ledger.decide(Review(clip_id, stage, decision, "alice", attempt, reason, "reviewed"),
                  len(ledger.reviews(clip_id)))


def samples_of(version: Path, clip_id: str) -> list[dict]:
    """The sample metadata of one clip in a dataset version (its card lists its shards)."""
    card = json.loads((version / "dataset.json").read_text())
    found = []
    for shard in card["shards"]:
        with tarfile.open(version.parent / shard["path"]) as tar:  # relative to the dataset
            found += [json.load(tar.extractfile(m)) for m in tar.getmembers()
                      if m.name.startswith(clip_id) and m.name.endswith(".json")]
    return found


def test_next_run_acts_on_every_kind_of_decision(demo_home: Path, tmp_path: Path,
                                                 isolated_home: Path) -> None:
    home = copy_home(demo_home, isolated_home)
    ledger = Ledger.open(f"sqlite:///{home / 'ledger.sqlite'}")
    decide(ledger, HAND, "faces", Decision.OVERRIDE, ReviewReason.PROBLEM_IS_BRIEF)
    decide(ledger, MUSIC, "audio", Decision.OVERRIDE, ReviewReason.MEASUREMENT_WRONG)
    decide(ledger, CONFIRMED, "faces", Decision.CONFIRM)
    decide(ledger, REQUEUED, "audio", Decision.REQUEUE)
    before = {clip: {s: a.attempt for s in ("audio", "faces", "fitting")
                     if (a := ledger.latest(s, [clip]).get(clip))}
              for clip in (HAND, MUSIC, CONFIRMED, REQUEUED)}
    assert ledger.passed("faces", [HAND]) == [HAND]

    curate_demo(home, tmp_path)

    # The overridden clips went on from the stage after the one that rejected them ...
    fitted = ledger.latest("fitting", [HAND, MUSIC])
    assert fitted[HAND].status is Status.OK and fitted[HAND].metrics["review_override"]
    assert ledger.latest("faces", [MUSIC])[MUSIC].status is Status.OK
    assert fitted[MUSIC].status is Status.OK
    assert ledger.latest("faces", [HAND])[HAND].attempt == before[HAND]["faces"]  # not re-run
    # ... to the shards of the new dataset version, which say why they are there.
    versions = sorted((home / "shards" / "demo").glob("v*"))
    assert len(versions) == 2
    assert samples_of(versions[0], HAND) == []
    hand_samples = samples_of(versions[-1], HAND)
    assert hand_samples and all(s["stages"]["faces"]["review"] == "override"
                                for s in hand_samples)
    assert samples_of(versions[-1], MUSIC)
    assert ledger.latest("shards", [HAND])[HAND].status is Status.OK

    # The requeued stage ran again; the confirmed clip was left alone.
    assert ledger.latest("audio", [REQUEUED])[REQUEUED].attempt == before[REQUEUED]["audio"] + 1
    assert ledger.latest("faces", [CONFIRMED])[CONFIRMED].attempt == before[CONFIRMED]["faces"]
    assert ledger.passed("faces", [CONFIRMED]) == []

    status = CliRunner().invoke(cli, ["status"], terminal_width=160)
    assert "Review outcomes" in status.output
    assert "override" in status.output and "requeue" in status.output
    exported = CliRunner().invoke(cli, ["export", "--all", "--out", str(tmp_path / "x")],
                                  terminal_width=200)
    assert exported.exit_code == 0, exported.output
    reviews = pd.read_parquet(tmp_path / "x" / "reviews.parquet")
    assert sorted(reviews["decision"]) == ["confirm", "override", "override", "requeue"]
    assert "annotator" not in reviews.columns
    ledger.close()


def test_add_user_prompts_for_the_password_and_stores_only_its_hash(isolated_home: Path) -> None:
    runner = CliRunner()
    short = runner.invoke(cli, ["review", "add-user", "dana", "--role", "annotator"],
                          input="short\nshort\n")
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    done = runner.invoke(cli, ["review", "add-user", "dana", "--role", "admin"],
                         input="a long passphrase\na long passphrase\n")
    assert done.exit_code == 0, done.output
    ledger = Ledger.open(f"sqlite:///{isolated_home / 'ledger.sqlite'}")
    user = ledger.user("dana")
    assert user is not None and user.role == "admin"
    assert user.password_hash.startswith("$argon2id$") and "passphrase" not in user.password_hash
    ledger.close()
    assert "--password" not in runner.invoke(cli, ["review", "add-user", "--help"]).output


def test_serve_fails_fast_on_bad_settings(isolated_home: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRADLE_REVIEW_SPOT_CHECK_FRACTION", "2")
    result = CliRunner().invoke(cli, ["review", "serve"], terminal_width=200)
    assert result.exit_code == 1
    assert "invalid review settings: spot_check_fraction" in result.output
    monkeypatch.delenv("CRADLE_REVIEW_SPOT_CHECK_FRACTION")
    result = CliRunner().invoke(cli, ["review", "serve", "--host", "not a host"],
                                terminal_width=200)
    assert result.exit_code == 1 and "is not an IP" in result.output
