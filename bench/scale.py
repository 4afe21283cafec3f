"""Curation throughput on a Dask LocalCluster of 1 and of 2 worker processes, and their ratio.

    python -m bench.scale [--clips 20] [--workers 1 2] [--batch-size 2] [--with-threads]

The clips are a demo subset that reaches the fitting stage (clean cry, clean laughter and clean
training clips, 6-9 s each), rendered once; every run gets a fresh data root holding a copy of
that corpus and runs the whole nightly flow (`flows.runners.nightly_on`) against one real local
Prefect server, so each run downloads, curates and shards the same clips from scratch. A
stage's time is the span of its attempts in the ledger (first start to last finish), so the
cluster's start-up and the flow's serial steps (learning the open face model, shards) are not
counted in it; the run's whole wall time is shown beside. x real time = seconds of clip audio
curated per wall second. Each Dask worker is pinned to one core of its own, as a one-core machine
would be (a stage's "all cores" is then one). The baseline is the 1-worker run: the ratio is
what a second worker gives, at most the core count (2x on 2 cores, less what the flow's own
process and the machine's other jobs take). Download runs one batch at a time
(`network.workers` threads inside it), so it does not spread over workers; it is shown, not
counted in the curation time. The defaults (20 clips in batches of 2) make each batch long
against Prefect's wait of ~0.2-0.4 s between a worker's tasks, which a second worker does not
halve: with 10 one-clip batches the ratio measured 1.4-1.8x on an idle machine, with these 1.9x.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CURATION = ("audio", "faces", "fitting")
STAGES = ("download", *CURATION)


@dataclass(frozen=True)
class Span:
    """One stage of one run: the clips it judged, their seconds of audio, its wall time, and the
    time its batches were busy (summed: busy / wall is the parallelism the runner reached)."""

    clips: int
    audio_s: float
    wall_s: float
    busy_s: float

    def line(self, label: str) -> str:
        rate = 60 * self.clips / self.wall_s if self.wall_s else float("nan")
        realtime = self.audio_s / self.wall_s if self.wall_s else float("nan")
        return (f"{label:>10} {self.clips:>5} {self.audio_s:>8.1f} {self.wall_s:>8.1f} "
                f"{self.busy_s:>8.1f} {rate:>9.1f} {realtime:>8.2f}x")


def _subset(train_size: int) -> list[str]:
    from demo.training import training_variants

    return ["clean_cry", "clean_laugh", *(v.name for v in training_variants(train_size))]


def _spans(home: Path) -> dict[str, Span]:
    """Each stage's span over the run's attempts (a fresh data root holds only this run's)."""
    from manifests.ledger import Ledger

    ledger = Ledger(f"sqlite:///{home / 'ledger.sqlite'}")
    try:
        durations = {clip.id: clip.duration_s for clip in ledger.clips()}
        spans = {}
        for stage in STAGES:
            attempts = list(ledger.latest(stage).values())
            if not attempts:
                spans[stage] = Span(0, 0.0, 0.0, 0.0)
                continue
            wall = (max(a.finished_at for a in attempts)
                    - min(a.started_at for a in attempts)).total_seconds()
            # A batch's attempts share their start and finish: each batch counts once.
            batches = {(a.started_at, a.finished_at) for a in attempts}
            busy = sum((end - start).total_seconds() for start, end in batches)
            spans[stage] = Span(len(attempts), sum(durations[a.clip_id] for a in attempts), wall,
                                busy)
        return spans
    finally:
        ledger.close()


def run_once(runner: str, workers: int | None, home: Path, corpus: Path, subset: list[str],
             train_size: int, batch_size: int) -> tuple[dict[str, Span], float]:
    """The nightly flow on a fresh data root; returns its stage spans and its whole wall time."""
    from flows.nightly import NightlyParams
    from flows.runners import nightly_on

    shutil.copytree(corpus, home / "demo")
    for name in [n for n in os.environ if n.startswith("CRADLE_")]:
        del os.environ[name]
    os.environ.update({  # the LocalCluster's workers, spawned during the run, inherit these
        "CRADLE_HOME": str(home), "CRADLE_DEMO__TRAIN_SIZE": str(train_size),
        "CRADLE_DEMO__CLIPS": json.dumps(subset), "CRADLE_RUN__BATCH_SIZE": str(batch_size),
        "CRADLE_TRAINING__NIGHTLY": "false"})  # curation is measured, not training
    # Each worker is a one-core machine: pinned to its own core, so that the 1-worker baseline
    # does not already use the second core through the faces stage's processes.
    flow = nightly_on(runner, workers=workers, worker_cores=1 if runner == "dask" else None)
    started = time.perf_counter()
    flow(NightlyParams(demo=True, dataset="demo"))
    return _spans(home), time.perf_counter() - started


def _curation(spans: dict[str, Span]) -> Span:
    audio = spans["audio"]
    return Span(audio.clips, audio.audio_s, sum(spans[s].wall_s for s in CURATION),
                sum(spans[s].busy_s for s in CURATION))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20, help="clips in the subset (≥ 3)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=2,
                        help="run.batch_size; ≤ clips / workers, or the batches cannot spread")
    parser.add_argument("--with-threads", action="store_true",
                        help="also run Prefect's default thread pool in the flow's process")
    args = parser.parse_args()
    train_size = max(args.clips - 2, 1)
    subset = _subset(train_size)
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="cradle-bench-scale-") as scratch:
        work = Path(scratch)
        from flows.runtime import native_noise_filtered, prepare_environment
        from stages.paths import DataRoot

        prepare_environment(DataRoot(work / "prefect"))  # before Prefect is imported
        from demo.corpus import generate_corpus
        from flows.runners import prefect_api, runner_options

        corpus = work / "corpus"
        generate_corpus(corpus, seed=0, workers=2, train_size=train_size)
        runs: list[tuple[str, str, int | None]] = [
            ("dask", f"dask {n}w", n) for n in args.workers]
        if args.with_threads:
            runs.append(("threads", "threads", None))
        results: dict[str, tuple[dict[str, Span], float]] = {}
        with (native_noise_filtered(),
              prefect_api(runner_options("dask"), DataRoot(work / "server"))):
            for runner, label, workers in runs:
                home = work / label.replace(" ", "-") / "cradle-data"
                results[label] = run_once(runner, workers, home, corpus, subset, train_size,
                                          args.batch_size)

    cores = os.cpu_count() or 1
    print(f"{len(subset)} demo clips, run.batch_size {args.batch_size}; {cores} cores "
          f"(os.cpu_count()): the ceiling of a LocalCluster's speed-up is {cores}x; 1-min load "
          f"average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (other jobs)")
    print(f"{'':>10} {'stage':>10} {'clips':>5} {'audio s':>8} {'wall s':>8} {'busy s':>8} "
          f"{'clips/min':>9} {'x real':>9}")
    for label, (spans, whole) in results.items():
        for stage in STAGES:
            print(f"{label:>10} {spans[stage].line(stage)}")
        print(f"{label:>10} {_curation(spans).line('curation')}   (whole run {whole:.1f} s)")
    base = _curation(results[f"dask {args.workers[0]}w"][0])
    for n in args.workers[1:]:
        other = _curation(results[f"dask {n}w"][0])
        print(f"curation throughput, {n} workers / {args.workers[0]}: "
              f"{base.wall_s / other.wall_s:.2f}x (ceiling {min(cores, n)}x on {cores} cores)")
        first, then = results[f"dask {args.workers[0]}w"][0], results[f"dask {n}w"][0]
        print("  per stage: " + ", ".join(
            f"{stage} {first[stage].wall_s / then[stage].wall_s:.2f}x" for stage in CURATION)
            + " (each worker pinned to one core)")


if __name__ == "__main__":
    main()
