"""The audio stage on real recordings: verdicts, cleaning of real mixtures, clean pass-through.

On ../shared/fixtures/real_audio and donateacry (read in place, never copied), it prints:
verdict accuracy per class (cries and laughter accepted; music rejected as `music`, speech as
`adult_speech`; the robin and the whale rejected; a held-out real conversation, pyannote's
sample, rejected as adult speech in each 10 s window; the music and speech files cut into 10 s
and 5 s clips, each judged alone; real speech in a child's voice, rejected as adult speech; the
cries split into those someone listened to and raw phone uploads), the SI-SDR improvement of
real infant sources mixed with real speech and music at 0, 5 and 10 dB (accepted mixtures; all
mixtures beside it as the baseline of doing nothing is 0 dB), the SI-SDR of clean infant sources
passed through alone, how far a real adult voice just before a real infant source is taken down,
and the real-time factor per core on the real recordings. The synthetic
bench (`bench.audio`) stays beside it.
Run: `.venv/bin/python -m bench.audio_real [--shared ../shared]`.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from stages.audio.scores import gate
from stages.audio.stage import AudioConfig, clean_clip
from stages.audio.testing import (
    CHILD_SPEEDS,
    INFANT_KINDS,
    RealFile,
    child_voice,
    held_out_conversation,
    load_real,
    mix_at_snr,
    mixture_sources,
    raw_upload,
    real_files,
    real_speech,
    si_sdr,
    speech_before,
    speech_left_db,
    windows,
)
from stages.audio.wav import decode_audio

SNRS = (0.0, 5.0, 10.0)
EXPECTED = {"cry": "ok", "laugh": "ok", "music": "music", "speech": "adult_speech"}


def verdict(x: np.ndarray, cfg: AudioConfig) -> tuple[str, np.ndarray, dict[str, Any]]:
    """The stage's verdict on one waveform ("ok" or a reason code), its output and metrics."""
    clean, _, metrics = clean_clip(x, cfg)
    failed = gate(metrics, cfg)
    return ("ok" if failed is None else failed[0].value), clean, metrics


def is_right(kind: str, got: str) -> bool:
    return got != "ok" if kind == "other" else got == EXPECTED[kind]


def report_verdicts(files: list[RealFile], cfg: AudioConfig) -> float:
    """Prints accuracy per class and every wrong verdict; returns CPU-seconds per audio second."""
    right: dict[str, list[bool]] = defaultdict(list)
    wrong = []
    cpu = seconds = 0.0
    verdict(load_real(files[0].path), cfg)  # loads YAMNet and Silero once, as a worker does
    for f in files:
        x = load_real(f.path)
        started = time.process_time()
        got, _, metrics = verdict(x, cfg)
        cpu += time.process_time() - started
        seconds += len(x) / 16_000
        right[f.kind].append(is_right(f.kind, got))
        if not right[f.kind][-1]:
            wrong.append((f, got, metrics))
    print("verdicts (real recordings):")
    for kind, marks in right.items():
        print(f"  {kind:7s} {sum(marks):3d}/{len(marks):<3d} right ({100 * np.mean(marks):5.1f} %)")
    raw = [raw_upload(f) for f in files if f.kind == "cry"]
    for label, mine in (("listened to", False), ("raw uploads", True)):
        marks = [m for m, r in zip(right["cry"], raw, strict=True) if r == mine]
        print(f"    cries {label}: {sum(marks)}/{len(marks)} right")
    for f, got, m in wrong:
        detail = " ".join(f"{k}={m.get(k)}" for k in ("infant_ratio", "adult_speech_ratio",
                                                      "infant_speaking_ratio", "music_ratio",
                                                      "music_tagged_ratio", "snr_before_db"))
        print(f"    wrong: {f.kind} {f.name[:40]} -> {got} ({detail})")
    return cpu / seconds


def report_held_out(cfg: AudioConfig) -> None:
    """Adult speech nothing was tuned on: pyannote's sample conversation, 10 s at a time."""
    got = [verdict(x, cfg)[0] for x in windows(decode_audio(held_out_conversation()))]
    print(f"  held-out conversation (pyannote's sample): {got.count('adult_speech')}/{len(got)} "
          f"windows adult_speech {got}")


def report_child_voices(shared: Path, cfg: AudioConfig) -> None:
    """Real speech played faster, its pitch and formants raised like a child's: never the
    infant (the pitch and spectral checks alone accepted 12 of 20)."""
    got = {name: [verdict(child_voice(x, up, down), cfg)[0] for up, down in CHILD_SPEEDS]
           for name, x in real_speech(shared).items()}
    every = [g for gs in got.values() for g in gs]
    print(f"  real speech in a child's voice ({len(CHILD_SPEEDS)} speeds): "
          f"{every.count('adult_speech')}/{len(every)} adult_speech, accepted "
          f"{every.count('ok')}: {got}")


def report_windows(files: list[RealFile], cfg: AudioConfig) -> None:
    """Music and speech cut into clips of 10 s (an AudioSet segment) and 5 s: a whole file's
    verdict hides stretches a shorter clip would hold alone (a sung verse without its band)."""
    for seconds in (10.0, 5.0):
        for f in files:
            if f.kind in ("music", "speech"):
                got = [verdict(x, cfg)[0] for x in windows(load_real(f.path), seconds)]
                wrong = {g: got.count(g) for g in sorted(set(got)) if g != EXPECTED[f.kind]}
                print(f"  {f.name[:28]:28s} in {seconds:2.0f} s clips: "
                      f"{got.count(EXPECTED[f.kind])}/{len(got)} {EXPECTED[f.kind]}"
                      + (f", else {wrong}" if wrong else ""))


def report_pass_through(files: list[RealFile], cfg: AudioConfig) -> None:
    values: dict[str, list[float]] = defaultdict(list)
    for f in files:
        if f.kind in INFANT_KINDS:
            x = load_real(f.path)
            values[f.kind].append(si_sdr(verdict(x, cfg)[1], x))
    every = [v for vs in values.values() for v in vs]
    print("clean infant sources passed through alone, SI-SDR against themselves (dB):")
    for kind, vs in [*values.items(), ("all", every)]:
        print(f"  {kind:7s} n={len(vs):2d} median {np.median(vs):6.2f}  min {np.min(vs):6.2f}  "
              f"max {np.max(vs):6.2f}")


def report_mixtures(files: list[RealFile], cfg: AudioConfig) -> None:
    infants = mixture_sources(files)
    interferers = [f for f in files if f.kind in ("speech", "music")]
    accepted: dict[tuple[str, float], list[float]] = defaultdict(list)
    every: dict[tuple[str, float], list[float]] = defaultdict(list)
    rejected: dict[tuple[str, float], list[str]] = defaultdict(list)
    for i, infant in enumerate(infants):
        for j, other in enumerate(interferers):
            for snr in SNRS:
                mix, reference = mix_at_snr(load_real(infant.path), load_real(other.path), snr,
                                            offset_s=3.7 * (i + j))
                got, clean, _ = verdict(mix, cfg)
                gain = si_sdr(clean, reference) - si_sdr(mix, reference)
                every[other.name, snr].append(gain)
                if got == "ok":
                    accepted[other.name, snr].append(gain)
                else:
                    rejected[other.name, snr].append(got)
    print(f"mixtures: {len(infants)} real infant sources x {len(interferers)} interferers x "
          f"SNR {SNRS} dB; SI-SDR improvement (dB) of accepted mixtures [all mixtures]:")
    for other in interferers:
        cells = []
        for snr in SNRS:
            acc, all_ = accepted[other.name, snr], every[other.name, snr]
            mean = f"{np.mean(acc):+5.1f} min {np.min(acc):+5.1f}" if acc else "   --         "
            cells.append(f"{snr:2.0f} dB: {len(acc):2d} ok {mean} [{np.mean(all_):+5.1f}]")
        print(f"  {other.name[:28]:28s} " + " | ".join(cells))
    acc_all = [g for gs in accepted.values() for g in gs]
    all_all = [g for gs in every.values() for g in gs]
    reasons = [r for rs in rejected.values() for r in rs]
    zero_db = [g for (_, snr), gs in accepted.items() if snr == 0.0 for g in gs]
    gains = (f"mean {np.mean(acc_all):+.2f} dB, min {min(acc_all):+.2f} dB" if acc_all
             else "none to measure")
    print(f"  accepted {len(acc_all)}/{len(all_all)}: {gains}; at 0 dB accepted {len(zero_db)}, "
          f"below +3 dB {sum(g < 3 for g in zero_db)}; all mixtures mean "
          f"{np.mean(all_all):+.2f} dB")
    print("  rejected: " + ", ".join(f"{r} {reasons.count(r)}" for r in sorted(set(reasons))))


def report_speech_before(shared: Path, files: list[RealFile], cfg: AudioConfig) -> None:
    """0.8 s of a real adult voice, then a real infant source, at one level: how far the
    cleaning takes the voice down against the infant, where the stage accepts the clip."""
    voices = [v for n, v in real_speech(shared).items() if n != "conversation"]
    rows = []
    for infant in mixture_sources(files):
        for voice in voices:
            clip, words = speech_before(load_real(infant.path), voice)
            got, clean, metrics = verdict(clip, cfg)
            rows.append((got, metrics["adult_speech_ratio"], speech_left_db(clean, clip, words)))
    accepted = [r for r in rows if r[0] == "ok"]
    heard = [r[2] for r in accepted if r[1] >= 0.03]
    print(f"real speech 0.8 s before real infant sources ({len(rows)}): accepted "
          f"{len(accepted)}; the speech against the infant after cleaning: median "
          f"{np.median([r[2] for r in accepted]):+.1f} dB; where detected ({len(heard)}): "
          f"median {np.median(heard):+.1f} dB, worst {max(heard):+.1f} dB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared")
    args = parser.parse_args(argv)
    files = real_files(args.shared)
    cfg = AudioConfig()
    clean_clip(load_real(files[0].path), cfg)  # warm-up: imports and first-call costs
    cpu_per_s = report_verdicts(files, cfg)
    report_held_out(cfg)
    report_child_voices(args.shared, cfg)
    report_windows(files, cfg)
    report_pass_through(files, cfg)
    report_mixtures(files, cfg)
    report_speech_before(args.shared, files, cfg)
    print(f"speed: weight-free path {1 / cpu_per_s:.1f}x real time per core (models loaded) on "
          f"{len(files)} real recordings")


if __name__ == "__main__":
    main()
