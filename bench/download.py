"""Segments per second of the download stage with 1 and 8 workers, against a loopback server.

Run: `.venv/bin/python -m bench.download [--clips N]`. Prints both rates and their ratio, where
one clip's time goes (yt-dlp section fetch, ffmpeg normalise, ffprobe), and the CPU that one
segment costs (this process and its ffmpeg children) next to the bare start-up of the three
ffmpeg-family processes a segment needs, all measured in the same run: with the CPU per segment
known, `cores / cpu_per_segment` is the most any number of workers can reach on this machine.
Needs only ffmpeg; never touches the network beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from manifests.records import Clip
from stages.config import load_config
from stages.download.fetch import fetch_section
from stages.download.media import normalise, probe
from stages.download.stage import DownloadSettings, run
from stages.download.testing import make_test_video, serve_faults
from stages.paths import DataRoot


def cpu_s() -> float:
    """CPU seconds of this process and of its finished children (yt-dlp's ffmpeg, ffprobe)."""
    own, children = (resource.getrusage(who) for who in
                     (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def startup_cpu_s(program: str, runs: int = 5) -> float:
    """CPU seconds of starting `program` and exiting at once (`-version`), on average."""
    before = cpu_s()
    for _ in range(runs):
        subprocess.run([program, "-version"], check=True, capture_output=True)
    return (cpu_s() - before) / runs


def rate(workers: int, clips: int, base_url: str, scratch: Path) -> tuple[float, float]:
    """Segments per second, and CPU seconds per segment."""
    cfg = load_config(network={"workers": workers, "requests_per_second": 1000, "retries": 0})
    settings = DownloadSettings(cfg.download, cfg.network, f"bench-{workers}")
    batch = [Clip(id=f"b{workers}-{i}", url=f"{base_url}ok/v{i}.mp4", start_s=1.0 + i % 3 * 0.5,
                  end_s=3.0 + i % 3 * 0.5) for i in range(clips)]
    started, cpu_before = time.perf_counter(), cpu_s()
    results = run(batch, settings, DataRoot(scratch / f"w{workers}"))
    seconds, cpu = time.perf_counter() - started, cpu_s() - cpu_before
    bad = [r for r in results if r.status.value != "ok"]
    if bad:
        raise SystemExit(f"{len(bad)} downloads failed: {bad[0].metrics}")
    return clips / seconds, cpu / clips


def breakdown(base_url: str, scratch: Path) -> dict[str, float]:
    """Wall seconds of each step of one clip, one worker."""
    cfg = load_config()
    clip = Clip(id="one", url=f"{base_url}ok/one.mp4", start_s=1.0, end_s=3.0)
    t0 = time.perf_counter()
    section = fetch_section(clip, cfg.download, cfg.network, scratch)
    t1 = time.perf_counter()
    normalise(section.path, clip.start_s - section.start_s, clip.duration_s, 30, 16_000, 720,
              scratch / "one.mp4", scratch / "one.wav")
    t2 = time.perf_counter()
    probe(scratch / "one.mp4")
    t3 = time.perf_counter()
    return {"yt-dlp section": t1 - t0, "ffmpeg normalise": t2 - t1, "ffprobe": t3 - t2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24, help="segments per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        media = make_test_video(scratch / "source.mp4", seconds=6.0)
        with serve_faults(media) as server:
            steps = breakdown(server.base_url, scratch)
            one, _ = rate(1, args.clips, server.base_url, scratch)
            eight, cpu = rate(8, args.clips, server.base_url, scratch)
    # Per segment: yt-dlp's ffmpeg (the section), ffmpeg (the exact trim), ffprobe (the check).
    floor = 2 * startup_cpu_s("ffmpeg") + startup_cpu_s("ffprobe")
    cores = len(os.sched_getaffinity(0))
    print("one clip: " + ", ".join(f"{name} {s * 1000:.0f} ms" for name, s in steps.items()))
    print(f"1 worker : {one:.2f} segments/s")
    print(f"8 workers: {eight:.2f} segments/s")
    print(f"ratio    : {eight / one:.2f}x (goal: >= 20 segments/s with 8 workers)")
    print(f"CPU      : {cpu * 1000:.0f} ms per segment, of which {floor * 1000:.0f} ms only start "
          f"its 3 ffmpeg/ffprobe processes; on {cores} cores at most {cores / cpu:.1f} "
          f"segments/s (8 workers reach {eight * cpu / cores:.0%} of that), and at most "
          f"{cores / floor:.1f} even if a segment cost nothing but those start-ups")


if __name__ == "__main__":
    main()
