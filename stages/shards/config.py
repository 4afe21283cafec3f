"""The shards stage's settings: how segments become training samples and how samples are split."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from stages.section import ConfigSection, settings_hash


class ShardsConfig(ConfigSection):
    """Settings of the shards stage; each one that shapes a sample is part of every version's card.

    A change to `window_s`, `overlap_s`, `min_window_s`, the split ratios, `audio_format` or
    `include_video` changes the samples, so the next version writes new shards for all of them;
    `samples_per_shard` only affects how new samples are packed.
    """

    # The diffusion model trains on a few seconds of context; 4 s (120 frames at 30 fps) holds a
    # cry or a babble bout and keeps a sample ~1 MB, most of it landmarks.
    window_s: float = Field(default=4.0, gt=0)
    # Consecutive windows of a long segment share 1 s, so no onset or offset is seen only at a
    # window edge; more overlap repeats data without adding any.
    overlap_s: float = Field(default=1.0, ge=0)
    # A segment's leftover tail (or a whole segment) shorter than this is dropped: the faces stage
    # keeps segments of >= 1 s, and the reader pads shorter windows, so 1 s keeps them all.
    min_window_s: float = Field(default=1.0, gt=0)
    # Split by source video, 90/5/5: a few hundred videos per night make 5 % enough to report
    # validation and test numbers with confidence intervals that are not vacuous.
    train_ratio: float = Field(default=0.90, ge=0, le=1)
    val_ratio: float = Field(default=0.05, ge=0, le=1)
    test_ratio: float = Field(default=0.05, ge=0, le=1)
    # ~256 samples of ~1 MB: shards of a few hundred MB stream efficiently and still give a
    # DataLoader with several workers several shards each on a modest dataset.
    samples_per_shard: int = Field(default=256, ge=1)
    # WAV is written by Cradle itself and so byte-stable across library versions; FLAC halves the
    # size but its bytes depend on the libFLAC build, so rebuilds on another machine may differ.
    audio_format: Literal["wav", "flac"] = "wav"
    # Privacy: shards carry latents, landmarks and audio only. Raw frames identify the infant and
    # may be included only for an approved internal use.
    include_video: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> ShardsConfig:
        total = self.train_ratio + self.val_ratio + self.test_ratio
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train_ratio + val_ratio + test_ratio must be 1, got {total:g}")
        if self.overlap_s >= self.window_s:
            raise ValueError(f"overlap_s ({self.overlap_s}) must be shorter than window_s "
                             f"({self.window_s})")
        return self

    @property
    def ratios(self) -> dict[str, float]:
        return {"train": self.train_ratio, "val": self.val_ratio, "test": self.test_ratio}

    def sample_settings(self) -> dict[str, object]:
        """The settings that shape sample bytes; `samples_per_shard` only packs them."""
        return self.model_dump(mode="json", exclude={"samples_per_shard"})

    def sample_hash(self) -> str:
        """A stable hash of `sample_settings`, written into every sample's metadata."""
        return settings_hash(self.sample_settings())
