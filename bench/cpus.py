"""Do the audio stage's models read the same on another CPU? This machine against an emulated one.

A Dask worker may run on an older CPU than the one a clip was first judged on. This runs YAMNet
(as the tagger runs it, and through onnxruntime's fused int8 kernels for comparison) and Silero
on real fixture clips, here and under `qemu-x86_64 -cpu Haswell` (AVX2, no AVX-512 or VNNI), and
prints the largest difference per clip. The fused int8 kernels saturate without VNNI, which is
why the tagger runs the graph in float (`stages/audio/tagger.py`).
Needs Debian's qemu-user (`apt-get install qemu-user`); the emulated run takes a few minutes.
Run: `.venv/bin/python -m bench.cpus [--shared ../shared]`.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from stages.audio.testing import load_real, mix_at_snr, real_files

EMULATED = ["qemu-x86_64", "-cpu", "Haswell"]


def clips(shared: Path) -> dict[str, np.ndarray]:
    """Real clips where YAMNet decides: music under a cry, a laugh, a reader, a cry alone."""
    files = real_files(shared)

    def real(name: str) -> np.ndarray:
        return load_real(next(f.path for f in files if f.name.startswith(name)))

    return {"brahms 5 dB under a cry": mix_at_snr(real("2-107351-A"), real("brahms"), 5.0,
                                                 offset_s=7.4)[0],
            "laugh": real("laugh_1.m4a_0"), "reader": real("librispeech_198")[: 10 * 16_000],
            "cry": real("1-22694-A")}


def read(inputs: Path, outputs: Path) -> None:
    """The worker: every model's reading of every clip in `inputs`, saved to `outputs`."""
    from stages.audio import tagger
    from stages.audio.speech import silero_speech

    audio = dict(np.load(inputs))
    out = {f"yamnet|{k}": tagger.tag_scores(x, 16_000) for k, x in audio.items()}
    out |= {f"silero|{k}": silero_speech(x, 16_000, len(x) // 160) for k, x in audio.items()}
    tagger._yamnet = functools.partial(tagger._yamnet, fused=True)
    out |= {f"yamnet int8|{k}": tagger.tag_scores(x, 16_000) for k, x in audio.items()}
    np.savez(outputs, **out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        read(*args.worker)
        return
    if shutil.which(EMULATED[0]) is None:
        sys.exit("bench.cpus needs qemu-user: apt-get install qemu-user")
    with tempfile.TemporaryDirectory() as folder:
        inputs = Path(folder) / "clips.npz"
        np.savez(inputs, **{k: v.astype(np.float32) for k, v in clips(args.shared).items()})
        readings = {}
        for cpu, prefix in (("here", []), ("Haswell", EMULATED)):
            outputs = Path(folder) / f"{cpu}.npz"
            subprocess.run([*prefix, sys.executable, "-m", "bench.cpus", "--worker",
                            str(inputs), str(outputs)], check=True, stderr=subprocess.DEVNULL)
            readings[cpu] = dict(np.load(outputs))
    print("largest difference between this CPU and an emulated AVX2 one (probabilities):")
    for key, here in readings["here"].items():
        model, clip = key.split("|")
        apart = float(np.abs(here - readings["Haswell"][key]).max())
        print(f"  {model:12s} {clip:24s} {apart:.3f}")


if __name__ == "__main__":
    main()
