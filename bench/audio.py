"""Real-time factor per core of the audio stage: weight-free path, pyannote path (tiny model).

Baseline, measured in the same run: librosa's pyin on the same audio, the pitch tracker the
weight-free path replaced. Times are CPU seconds of this process (one torch thread), so the
factor is per core. Run: `.venv/bin/python -m bench.audio`.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from stages.audio.pyannote_models import PyannoteModels
from stages.audio.stage import AudioConfig, clean_clip
from stages.audio.testing import demo_mix, tiny_segmentation_checkpoint


def cpu_seconds(work, repeats: int = 3) -> float:
    """The median CPU time of `work()` over `repeats` runs, after one warm-up run."""
    work()
    times = []
    for _ in range(repeats):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return float(np.median(times))


def main() -> None:
    os.environ["PYANNOTE_METRICS_ENABLED"] = "0"
    import librosa
    import torch

    torch.set_num_threads(1)
    audio = np.concatenate([demo_mix("clean_cry", s) for s in range(3)])  # 24 s
    seconds = len(audio) / 16_000
    cfg = AudioConfig()
    weight_free = cpu_seconds(lambda: clean_clip(audio, cfg))
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = tiny_segmentation_checkpoint(Path(tmp))
        pyannote_cfg = AudioConfig(segmentation_checkpoint=str(checkpoint))
        models = PyannoteModels.load(pyannote_cfg)
        pyannote = cpu_seconds(lambda: clean_clip(audio, pyannote_cfg, models))
    pyin = cpu_seconds(lambda: librosa.pyin(audio, fmin=70, fmax=1000, sr=16_000,
                                            frame_length=1024, hop_length=160), repeats=1)
    print(f"audio: {seconds:.0f} s of demo cries, CPU seconds per run (one core)")
    print(f"  weight-free path      {seconds / weight_free:7.1f}x real time")
    print(f"  pyannote (tiny model) {seconds / pyannote:7.1f}x real time")
    print(f"  baseline: pyin alone  {seconds / pyin:7.1f}x real time "
          f"(weight-free path is {pyin / weight_free:.1f}x faster)")


if __name__ == "__main__":
    main()
