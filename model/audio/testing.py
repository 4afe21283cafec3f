"""Tiny randomly initialised audio encoders for tests and benchmarks (no hub on this machine)."""

from __future__ import annotations

from pathlib import Path

import torch

from model.audio.encoders import SAMPLE_RATE

VOC2VEC_STRIDES = (5, 2, 2, 2, 2, 2, 2)  # 320 samples per feature, as voc2vec has


def tiny_wav2vec2(folder: Path, conv_stride: tuple[int, ...] = VOC2VEC_STRIDES,
                  hidden_size: int = 32, seed: int = 0) -> Path:
    """A random wav2vec2 with voc2vec's feature rate, saved as a checkpoint folder."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(seed)
    config = Wav2Vec2Config(hidden_size=hidden_size, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=37, conv_dim=(16,) * 7, conv_stride=conv_stride,
                            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    Wav2Vec2Model(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=SAMPLE_RATE).save_pretrained(folder)
    return Path(folder)
