"""Configuration: defaults, cradle.yaml, CRADLE_* overrides, stable section hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from manifests.errors import ConfigError
from stages.config import CradleConfig, load_config


def test_defaults_need_no_file_and_use_sqlite_under_home(isolated_home: Path) -> None:
    cfg = load_config()
    assert cfg.home == isolated_home
    assert cfg.ledger_url == f"sqlite:///{isolated_home.resolve() / 'ledger.sqlite'}"


def test_yaml_file_then_environment_override(isolated_home: Path, monkeypatch) -> None:
    Path("cradle.yaml").write_text("run:\n  batch_size: 8\ndemo:\n  seed: 3\n")
    assert load_config().run.batch_size == 8
    monkeypatch.setenv("CRADLE_RUN__BATCH_SIZE", "64")
    cfg = load_config()
    assert (cfg.run.batch_size, cfg.demo.seed) == (64, 3)


def test_cradle_config_names_another_file(isolated_home: Path, monkeypatch) -> None:
    other = isolated_home.parent / "nightly.yaml"
    other.write_text("demo:\n  seed: 11\n")
    monkeypatch.setenv("CRADLE_CONFIG", str(other))
    assert load_config().demo.seed == 11
    monkeypatch.setenv("CRADLE_CONFIG", str(other) + ".missing")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config()


@pytest.mark.parametrize("text, fragment", [
    ("run:\n  batch_size: 0\n", "run.batch_size"),
    ("run:\n  batchsize: 8\n", "run.batchsize"),
    ("run: [unclosed\n", "cannot parse"),
])
def test_bad_configuration_is_one_readable_error(isolated_home: Path, text, fragment) -> None:
    Path("cradle.yaml").write_text(text)
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        load_config()


def test_section_hash_is_stable_and_tracks_only_its_section(isolated_home: Path) -> None:
    base = load_config()
    assert base.section_hash("run") == load_config().section_hash("run")
    changed = load_config(run={"batch_size": 7})
    assert changed.section_hash("run") != base.section_hash("run")
    assert changed.section_hash("demo") == base.section_hash("demo")
    with pytest.raises(ConfigError):
        base.section_hash("home")


def test_display_masks_database_passwords(isolated_home: Path, monkeypatch) -> None:
    monkeypatch.setenv("CRADLE_LEDGER__URL", "postgresql+psycopg://cradle:s3cret@db:5432/cradle")
    shown = str(load_config().to_display())
    assert "s3cret" not in shown and "***" in shown


def test_display_masks_the_download_proxy_and_its_hash_ignores_network(isolated_home: Path,
                                                                      monkeypatch) -> None:
    monkeypatch.setenv("CRADLE_NETWORK__PROXY", "http://user:pr0xy-pw@proxy.local:3128")
    cfg = load_config()
    assert cfg.network.proxy is not None
    assert cfg.network.proxy.get_secret_value().endswith("@proxy.local:3128")
    assert "pr0xy-pw" not in str(cfg.to_display()) and "pr0xy-pw" not in repr(cfg)
    # Tuning the network never re-downloads: it is not part of the download section's hash.
    assert cfg.section_hash("download") == load_config(network={"workers": 1}).section_hash(
        "download")


def test_machine_settings_leave_the_fitting_hash_alone() -> None:
    """A new machine (a GPU, more workers) must not re-judge every clip."""
    plain = CradleConfig()
    moved = CradleConfig(machine={"fitting": {"device": "cuda"},
                                  "faces": {"workers": 8}, "audio": {"torch_threads": 4}})
    assert [moved.section_hash(s) for s in ("audio", "faces", "fitting")] == [
        plain.section_hash(s) for s in ("audio", "faces", "fitting")]
    assert CradleConfig(fitting={"optimiser": {"lr": 0.1}}).section_hash("fitting") != (
        plain.section_hash("fitting"))
