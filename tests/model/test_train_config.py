"""Training configs: saved beside checkpoints and read back equal; presets and overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.train_config import TrainConfig, TrainConfigError, load_preset, preset_names


def test_every_preset_loads_and_round_trips_through_config_json(tmp_path: Path) -> None:
    assert {"demo", "infant-diffusion", "facetalk", "animote"} <= set(preset_names())
    for name in preset_names():
        cfg = load_preset(name)
        assert cfg.preset == name
        cfg.save(tmp_path / name)
        assert TrainConfig.load(tmp_path / name) == cfg


def test_the_presets_are_the_systems_they_name() -> None:
    study, facetalk, animote = (load_preset(n) for n in ("infant-diffusion", "facetalk",
                                                         "animote"))
    assert study.encoder == "voc2vec" and study.task == "diffusion" and study.denoiser.band > 0
    assert all(getattr(study.losses, k) > 0 for k in ("latent", "velocity", "lip",
                                                      "lip_velocity", "dtw", "closed"))
    assert facetalk.denoiser.band == 0 and facetalk.denoiser.audio_drop == 0.25
    assert facetalk.expression_scale == (0.5, 3.0) and not facetalk.losses.needs_decoder
    assert animote.task == "regression" and animote.target == "landmarks"
    assert animote.encoder.count("wav2vec2:") == 2 and animote.losses.temporal_l1 == 0.1


def test_overrides_reach_nested_fields_and_unknown_names_are_refused() -> None:
    cfg = load_preset("demo").with_overrides(["steps=5", "denoiser.layers=1", "encoder=mel",
                                              "expression_scale=[1, 2]"])
    assert (cfg.steps, cfg.denoiser.layers, cfg.expression_scale) == (5, 1, (1, 2))
    with pytest.raises(TrainConfigError, match=r"denoiser\.depth"):
        cfg.with_overrides(["denoiser.depth=3"])
    with pytest.raises(TrainConfigError, match="no preset 'nope'"):
        load_preset("nope")


def test_landmark_targets_refuse_face_model_losses() -> None:
    with pytest.raises(TrainConfigError, match="landmark targets"):
        load_preset("animote").with_overrides(["losses.lip=1"])
