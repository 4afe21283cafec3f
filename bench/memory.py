"""Peak RSS of every stage for 1, 2, 10 and 60 minutes of 720p: memory must not grow with length.

    python -m bench.memory [--minutes 1 2 10 60]

The input is the demo corpus's clean cry (a face and an infant's voice) looped to each length at
1280x720, listed as a local file. Each stage runs on it alone in a fresh process, through the
same `execute_batch` the flows call, and reports the peak RSS of that process and the children
it waited for (the faces stage's worker). A clip over `download.max_duration_s` is rejected
(`clip_too_long`) before anything is fetched, so its later stages have nothing to do: that is the
bound on every stage's memory. The baseline is the same process's RSS after importing the stage,
before any clip: what the stage itself adds is the difference.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import subprocess
import tempfile
from pathlib import Path
from typing import Any

STAGES = ("download", "audio", "faces", "fitting", "shards")


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def _one_minute(out: Path, corpus: Path) -> Path:
    """A minute of 720p, encoded once; longer inputs repeat it by stream copy (seconds, not
    the hour an hour-long 720p encode takes on two cores)."""
    video = out / "one-minute.mp4"
    _ffmpeg("-stream_loop", "-1", "-i", str(corpus / "clean_cry.mp4"), "-t", "60", "-vf",
            "scale=1280:720", "-r", "30", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "28",
            "-g", "30", "-af", "aresample=async=1", "-c:a", "aac", str(video))
    return video


def _long_video(minute: Path, minutes: float) -> Path:
    video = minute.with_name(f"long-{minutes:g}min.mp4")
    _ffmpeg("-stream_loop", "-1", "-i", str(minute), "-t", str(minutes * 60), "-c", "copy",
            str(video))
    return video


def _peak_mb() -> float:
    """Peak RSS of this process or of any child it waited for, in MB (Linux: ru_maxrss in KB)."""
    own, children = (resource.getrusage(who).ru_maxrss for who in
                     (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return max(own, children) / 1024


def _one_stage(stage: str, home: str, url: str, seconds: float, queue: Any) -> None:
    """In a fresh process: one stage on the one clip, recorded in the bench's ledger."""
    from manifests.ledger import Ledger
    from manifests.records import Clip
    from stages.audio import stage as audio
    from stages.config import load_config
    from stages.contract import RunContext, execute_batch
    from stages.download import stage as download
    from stages.faces import stage as faces
    from stages.fitting import stage as fitting
    from stages.shards.stage import build_dataset

    cfg = load_config(home=Path(home))
    ctx = RunContext(cfg, run_id="bench-memory")
    clip = Clip(id=f"bench-{round(seconds)}s", url=url, start_s=0.5, end_s=seconds - 0.5,
                split_group="bench")
    ledger = Ledger.open(cfg.ledger_url)
    ledger.add_clips([clip])
    baseline = _peak_mb()
    specs = {"download": download.STAGE, "audio": audio.STAGE, "faces": faces.STAGE,
             "fitting": fitting.STAGE}
    if stage == "shards":
        card = build_dataset(ledger, ctx.root, cfg.shards, "bench", fitting=cfg.fitting)
        verdict = f"{card.samples} samples in {len(card.shards)} shards"
    elif stage != "download" and clip.id not in ledger.passed(STAGES[STAGES.index(stage) - 1],
                                                              [clip.id]):
        verdict = "not reached"
    else:
        if stage == "fitting":
            fitting.ensure_open_model(cfg.fitting, ctx.root, [clip])
        (result,) = execute_batch(specs[stage], [clip], ctx, ledger) or [None]
        verdict = "already done" if result is None else (
            f"{result.status.value}" + (f" ({result.reason.value})" if result.reason else ""))
    ledger.close()
    queue.put((baseline, _peak_mb(), verdict))


def measure(minutes: float, video: Path, home: Path) -> list[tuple[str, float, float, str]]:
    context = multiprocessing.get_context("spawn")  # a fresh process: its own peak, nothing shared
    rows = []
    for stage in STAGES:
        queue = context.Queue()
        child = context.Process(target=_one_stage, args=(stage, str(home), video.as_uri(),
                                                         minutes * 60, queue))
        child.start()
        baseline, peak, verdict = queue.get()
        child.join()
        rows.append((stage, baseline, peak, verdict))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 2.0, 10.0, 60.0])
    args = parser.parse_args()
    from demo.corpus import generate_corpus
    from stages.config import load_config

    limit = load_config().download.max_duration_s
    with tempfile.TemporaryDirectory(prefix="cradle-bench-memory-") as scratch:
        work = Path(scratch)
        generate_corpus(work / "corpus", seed=0, workers=2)
        print(f"download.max_duration_s = {limit:g} s; peak RSS per stage process, MB "
              "(baseline: after imports, before the clip)")
        print(f"{'input':>8} {'stage':>9} {'baseline':>9} {'peak':>7} {'added':>7}  verdict")
        minute = _one_minute(work, work / "corpus")
        for minutes in args.minutes:
            video = _long_video(minute, minutes)
            home = work / f"home-{minutes:g}"
            for stage, baseline, peak, verdict in measure(minutes, video, home):
                print(f"{minutes:>6g} m {stage:>9} {baseline:>9.0f} {peak:>7.0f} "
                      f"{peak - baseline:>7.0f}  {verdict}")
            video.unlink()


if __name__ == "__main__":
    main()
