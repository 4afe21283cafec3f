"""Cradle's one typed configuration: `cradle.yaml`, overridden by `CRADLE_*` environment variables.

Each stage has its own section; a section's hash goes into the ledger with every result, so a
changed setting re-runs exactly the stages it affects and nothing else.

Precedence (highest first): values passed in code, `CRADLE_*` variables (nested with `__`, e.g.
`CRADLE_LEDGER__URL`), the YAML file (`CRADLE_CONFIG`, else `./cradle.yaml`), the defaults below.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)
from sqlalchemy.engine import make_url

from manifests.errors import ConfigError
from stages.audio.config import AudioConfig
from stages.faces.config import FacesConfig
from stages.fitting.config import FittingConfig
from stages.section import Section
from stages.shards.config import ShardsConfig

DEFAULT_CONFIG_FILE = Path("cradle.yaml")


class LedgerConfig(Section):
    # Empty means a SQLite file under the data root: nothing to install or start.
    url: str = ""


class RunConfig(Section):
    # Clips per Prefect task: big enough that models load once per batch, small enough that a
    # crash loses little work and thousands of tiny tasks don't swamp the orchestrator.
    batch_size: int = Field(default=32, ge=1)


class DemoConfig(Section):
    # Fixed seed: the demo corpus, and so every demo result, is the same on every machine.
    seed: int = 0


class SourcesConfig(Section):
    # Infant vocalisation is what Cradle exists for; a name of a selection file shipped in
    # manifests/data (`<name>.selection.yaml`) or a path to one, so selections are versioned data.
    selection: str = "infant_vocalisation"
    # Extra label names or MIDs to exclude on top of the selection's own (e.g. "Music"): empty,
    # because the selection file already says what its version excludes.
    exclude: tuple[str, ...] = ()
    # Segments of one video closer than this merge into one clip: AudioSet's 10 s segments that
    # touch (gap 0) describe one continuous event, and one clip avoids cutting it in two.
    merge_gap_s: float = Field(default=0.0, ge=0)
    # AudioSet's ontology.json (labels and their children); empty: the one beside each list, as
    # Google ships them together. Not bundled: CC BY-SA data, downloaded with the lists.
    ontology: Path | None = None


class DownloadConfig(Section):
    """What the download stage writes: changing any of these re-downloads every clip."""

    # 30 fps is what the face tracker and the fitting stage are tuned for; constant, so frame
    # index and time map one to one.
    fps: float = Field(default=30.0, gt=0)
    # 16 kHz mono is what the speech/vocalisation models (pyannote, wav2vec2-style) take.
    sample_rate: int = Field(default=16_000, ge=8_000)
    # 720p is ample for landmarks on a face and caps bandwidth and disk.
    max_height: int = Field(default=720, ge=144)
    # Fetch this much before and after the segment so the exact trim never starts mid-GOP
    # without the frames it needs; small, so a 10 s segment is not a whole video.
    pad_s: float = Field(default=2.0, ge=0)


class NetworkConfig(Section):
    """How the download stage talks to the network: changing these never re-downloads a clip.

    Kept apart from `DownloadConfig` so that tuning the rate limit or adding a proxy does not
    change the download stage's config hash.
    """

    # Threads per batch: downloads wait on the network, not the CPU.
    workers: int = Field(default=4, ge=1)
    # Clip downloads started per second by all threads of the process together: gentle enough
    # that one machine is not banned by the source.
    requests_per_second: float = Field(default=1.0, gt=0)
    # yt-dlp's own pause before each download and between extraction requests (seconds): off by
    # default, the rate limit above already spaces requests.
    sleep_interval_s: float = Field(default=0.0, ge=0)
    max_sleep_interval_s: float = Field(default=0.0, ge=0)
    sleep_requests_s: float = Field(default=0.0, ge=0)
    # Transient faults (5xx, resets, timeouts) are retried this often within a run, then the
    # clip stays `retry` for the next run.
    retries: int = Field(default=3, ge=0)
    # Exponential backoff: base * 2**n seconds with jitter, capped, so retries do not stampede.
    backoff_s: float = Field(default=2.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    # A stalled connection is given up after this long (seconds) instead of hanging a worker.
    timeout_s: float = Field(default=30.0, gt=0)
    # A Netscape cookies file for sources that need a session; a path, so the secret stays in
    # a file and out of the configuration, logs and metrics.
    cookies_file: Path | None = None
    # Proxy URL, possibly with credentials: a SecretStr, masked wherever it is shown.
    proxy: SecretStr | None = None


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
        section = getattr(self, name)
        if not isinstance(section, Section):
            raise ConfigError(f"{name!r} is not a configuration section")
        canonical = json.dumps(section.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def sections(self) -> list[str]:
        return [name for name, value in self if isinstance(value, Section)]

    def to_display(self) -> dict[str, Any]:
        """The effective values as plain data, with secrets (database passwords) masked."""
        data = self.model_dump(mode="json")
        if self.ledger.url:
            data["ledger"]["url"] = make_url(self.ledger.url).render_as_string(hide_password=True)
        data["ledger"]["effective_url"] = make_url(self.ledger_url).render_as_string(
            hide_password=True
        )
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
