"""Cradle's one typed configuration: `cradle.yaml`, overridden by `CRADLE_*` environment variables.

Each stage has its own section; a section's hash goes into the ledger with every result, so a
changed setting re-runs exactly the stages it affects and nothing else.

Precedence (highest first): values passed in code, `CRADLE_*` variables (nested with `__`, e.g.
`CRADLE_LEDGER__URL`), the YAML file (`CRADLE_CONFIG`, else `./cradle.yaml`), the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from manifests.errors import ConfigError
from manifests.ledger import safe_url
from stages.audio.config import AudioConfig, AudioMachine
from stages.download.config import DownloadConfig, NetworkConfig
from stages.faces.config import FacesConfig, FacesMachine
from stages.fitting.config import FittingConfig, FittingMachine
from stages.section import ConfigSection
from stages.shards.config import ShardsConfig
from stages.sources.config import SourcesConfig

DEFAULT_CONFIG_FILE = Path("cradle.yaml")


class LedgerConfig(ConfigSection):
    # Empty means a SQLite file under the data root: nothing to install or start.
    url: str = ""


class RunConfig(ConfigSection):
    # Clips per Prefect task: big enough that models load once per batch, small enough that a
    # crash loses little work and thousands of tiny tasks don't swamp the orchestrator.
    batch_size: int = Field(default=32, ge=1)


class DemoConfig(ConfigSection):
    # Fixed seed: the demo corpus, and so every demo result, is the same on every machine.
    seed: int = 0
    # Clean training clips beside the 15 failure variants, each its own source video: 12 put 8
    # videos in train and 3 each in val and test (demo/training.py), and keep `cradle run --demo`
    # within 3 minutes on 2 cores (rendering and curating cost ~6 s a clip).
    train_size: int = Field(default=12, ge=0)
    # Curate only these corpus clips (names such as clean_cry, music): a quick look at a few,
    # or a test that must fit a budget. Empty: every clip.
    clips: tuple[str, ...] = ()

    def selects(self, url: str) -> bool:
        """Whether the clip served at demo URL `url` (`demo://<name>.mp4`) is curated."""
        return not self.clips or url.rsplit("/", 1)[-1].removesuffix(".mp4") in self.clips


class StorageConfig(ConfigSection):
    """How the data root is kept: who may read it, and how long raw downloads stay."""

    # False: what Cradle writes is the owner's alone (files 0600, folders 0700): raw infant
    # media, audio, faces, fits, shards and the ledger. True: the group may read it (0640 / 0750).
    group_access: bool = False
    # Raw downloads (raw/<clip>.mp4 and .wav): "keep"; "days:N", deleted N days after the
    # download; "after-fit", deleted once the fitting stage has judged the clip. `cradle purge`
    # and the end of every nightly run apply it; the ledger records each deletion.
    raw_media: str = Field(default="keep", pattern=r"^(keep|after-fit|days:\d{1,5})$")

    @property
    def umask(self) -> int:
        return 0o027 if self.group_access else 0o077


class TrainingConfig(ConfigSection):
    """When the nightly run trains (then evaluates) a model on the dataset version it built."""

    # False: the nightly run never trains (`cradle train` still does).
    nightly: bool = True
    # Train once a version has this many more samples, as a fraction, than the version the
    # newest model of the preset used (0: every new version); a dataset with no model trains at
    # its first version.
    retrain_growth: float = Field(default=0.2, ge=0)
    # model/presets/<name>.json; the demo corpus always trains the small, weight-free `demo`.
    preset: str = "infant-diffusion"
    steps: int | None = Field(default=None, ge=1)  # None: the preset's
    # The demo's nightly training: short, so that `make run` ends within minutes
    # (`cradle train --preset demo` runs the preset's own 1000 steps).
    demo_steps: int = Field(default=200, ge=1)
    # Bootstrap resamples of the evaluation's 95 % intervals, and whether it also trains the
    # deterministic-regressor baseline (a second training run).
    bootstrap: int = Field(default=200, ge=1)
    regressor_baseline: bool = False


class MachineConfig(ConfigSection):
    """How this machine runs the stages: workers, threads, devices, batch sizes.

    Never hashed (like `network`): moving the pipeline to a bigger machine or a GPU re-judges no
    clip. Each stage owns its part, beside its verdict settings.
    """

    audio: AudioMachine = AudioMachine()
    faces: FacesMachine = FacesMachine()
    fitting: FittingMachine = FittingMachine()


class CradleConfig(BaseSettings):
    """The effective configuration of one Cradle process."""

    model_config = SettingsConfigDict(
        env_prefix="CRADLE_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    # The data root holds raw/, audio/, faces/, fits/, shards/, runs/, models/ and the ledger.
    home: Path = Path("cradle-data")
    ledger: LedgerConfig = LedgerConfig()
    run: RunConfig = RunConfig()
    demo: DemoConfig = DemoConfig()
    sources: SourcesConfig = SourcesConfig()
    download: DownloadConfig = DownloadConfig()
    network: NetworkConfig = NetworkConfig()
    audio: AudioConfig = AudioConfig()
    faces: FacesConfig = FacesConfig()
    fitting: FittingConfig = FittingConfig()
    shards: ShardsConfig = ShardsConfig()
    training: TrainingConfig = TrainingConfig()
    machine: MachineConfig = MachineConfig()
    storage: StorageConfig = StorageConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = config_file_path()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if yaml_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
        return tuple(sources)

    @property
    def ledger_url(self) -> str:
        return self.ledger.url or f"sqlite:///{(self.home / 'ledger.sqlite').resolve()}"

    def section_hash(self, name: str) -> str:
        """A stable hash of one section's values: equal settings, equal hash, on any machine."""
        section = getattr(self, name, None)
        if not isinstance(section, ConfigSection):
            raise ConfigError(f"{name!r} is not a configuration section")
        return section.settings_hash()

    def sections(self) -> list[str]:
        return [name for name, value in self if isinstance(value, ConfigSection)]

    def to_display(self) -> dict[str, Any]:
        """The effective values as plain data, with secrets (database passwords) masked."""
        data = self.model_dump(mode="json")
        if self.ledger.url:
            data["ledger"]["url"] = safe_url(self.ledger.url)
        data["ledger"]["effective_url"] = safe_url(self.ledger_url)
        return data


def config_file_path() -> Path | None:
    """The YAML file to read: `CRADLE_CONFIG` if set (it must exist), else ./cradle.yaml if any."""
    named = os.environ.get("CRADLE_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"CRADLE_CONFIG names {path}, which does not exist")
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_config(**overrides: Any) -> CradleConfig:
    """Reads the configuration, turning validation errors into one readable ConfigError."""
    try:
        return CradleConfig(**overrides)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"cannot parse {config_file_path()}: {e}") from e
