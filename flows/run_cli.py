"""The `cradle` commands that start a run: `run` (nightly), `ingest`, `curate`, `build-shards`,
`retry-failed` and `serve` (the nightly flow on a schedule).

Everything that can be checked without Prefect is checked first (the data root is free, the
source lists and their ontology read), so a mistake costs one line, not a traceback after a
minute of server start-up. Each run ends by printing its report and where it is saved.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel
from rich.markdown import Markdown

from flows.console import config_or_exit, console, fail, ledger_or_exit
from flows.params import CurateParams, NightlyParams, RetryParams, ShardsParams, SourceParams
from flows.runners import RunnerOptions, runner_options
from manifests.errors import CradleError
from stages.config import CradleConfig
from stages.exclusive import DataRootBusy, DataRootLock
from stages.paths import DataRoot

Json = Annotated[bool, typer.Option("--json", help="Print the run's report as JSON.")]
Limit = Annotated[int | None, typer.Option(min=1, help="Take at most N clips, in order.")]
Demo = Annotated[bool, typer.Option(help="Curate the offline demo corpus.")]
Sources = Annotated[list[Path] | None, typer.Option(
    "--source", help="An AudioSet segment CSV or a url,start,end,labels list (repeatable).")]
Dataset = Annotated[str | None, typer.Option(
    help="Dataset for the shards; default: demo with --demo, else infant.")]
Runner = Annotated[str, typer.Option(
    help="Where batches run: threads (this process) or dask (prefect-dask's DaskTaskRunner).")]
Address = Annotated[str | None, typer.Option(
    help="A running Dask scheduler, tcp://HOST:8786; default: a local cluster.")]
Workers = Annotated[int | None, typer.Option(
    min=1, help="Worker processes of the local Dask cluster; default: one per core.")]


def run(demo: Demo = False, source: Sources = None, dataset: Dataset = None,
        limit: Limit = None,
        dry_run: Annotated[bool, typer.Option(
            help="List what would be selected and fetched; start nothing.")] = False,
        as_json: Json = False, runner: Runner = "threads", address: Address = None,
        workers: Workers = None) -> None:
    """Run the nightly loop once, now: ingest, curate, shards, a model when the dataset has
    grown, retention, report."""
    options = _runner(runner, address, workers)
    cfg, params = _sources(demo, source, limit)
    nightly = NightlyParams(**params.model_dump(), dataset=_dataset(dataset, demo))
    if dry_run:
        _dry_run(cfg, nightly)
        return
    _start(cfg, "flows.nightly:nightly", nightly, as_json, options)


def ingest(demo: Demo = False, source: Sources = None, limit: Limit = None,
           as_json: Json = False, runner: Runner = "threads", address: Address = None,
           workers: Workers = None) -> None:
    """Register the sources' clips and download them; curate nothing."""
    options = _runner(runner, address, workers)
    cfg, params = _sources(demo, source, limit)
    _start(cfg, "flows.ingest:ingest", params, as_json, options)


def curate(limit: Limit = None, as_json: Json = False, runner: Runner = "threads",
           address: Address = None, workers: Workers = None) -> None:
    """Run audio, faces and fitting over every downloaded clip a stage still owes."""
    options = _runner(runner, address, workers)
    _start(config_or_exit(), "flows.curate:curate", CurateParams(limit=limit), as_json,
           options)


def build_shards(dataset: Dataset = None, as_json: Json = False) -> None:
    """Build (or confirm) the dataset version that matches the ledger now."""
    _start(config_or_exit(), "flows.curate:build_shards_flow",
           ShardsParams(dataset=_dataset(dataset, False)), as_json)


def retry_failed(dataset: Dataset = None, as_json: Json = False, runner: Runner = "threads",
                 address: Address = None, workers: Workers = None) -> None:
    """Re-run exactly the clips whose latest outcome is `retry` (then rebuild the shards)."""
    options = _runner(runner, address, workers)
    _start(config_or_exit(), "flows.retry:retry_failed",
           RetryParams(dataset=_dataset(dataset, False)), as_json, options)


def serve(
    cron: Annotated[str, typer.Option(help="When to run, as cron (UTC).")] = "0 2 * * *",
    demo: Demo = False, source: Sources = None,
    port: Annotated[int, typer.Option(help="Port of the local Prefect server and UI.")] = 4200,
) -> None:
    """Serve the nightly flow on a schedule until interrupted (starts a local Prefect server)."""
    cfg, params = _sources(demo, source, None)
    root = DataRoot(cfg.home)
    from flows.runtime import prepare_environment

    prepare_environment(root)
    from flows.schedule import serve_nightly

    sources = [path.resolve() for path in params.source_lists]
    serve_nightly(cron, NightlyParams(demo=demo, source_lists=sources), root, port)


def _sources(demo: bool, source: list[Path] | None, limit: int | None
             ) -> tuple[CradleConfig, SourceParams]:
    """The run's source parameters, once the lists are known to hold a valid row."""
    cfg = config_or_exit()
    if not demo and not source:
        raise typer.BadParameter("name a --source list, or use --demo")
    if source:  # bad rows are logged and skipped; no valid row at all stops here, in one line
        from stages.sources.stage import collect

        try:
            collect(source, cfg.sources)
        except CradleError as e:
            fail(e)
    return cfg, SourceParams(demo=demo, source_lists=source or [], limit=limit)


def _runner(runner: str, address: str | None, workers: int | None) -> RunnerOptions:
    """The task runner's options, checked before anything starts."""
    try:
        return runner_options(runner, address, workers)
    except CradleError as e:
        fail(e)


def _dataset(dataset: str | None, demo: bool) -> str:
    return dataset or ("demo" if demo else "infant")


def _dry_run(cfg: CradleConfig, params: NightlyParams) -> None:
    """What the run would select, and which of those clips it would fetch."""
    from flows.ingest import select_clips
    from stages.download.stage import STAGE as DOWNLOAD

    root = DataRoot(cfg.home)
    segments = root.demo / "segments.csv"
    if params.demo and not segments.is_file():
        console.print("the demo corpus is not generated yet: `cradle demo-data` makes it "
                      f"({cfg.demo.train_size} training clips besides the failure variants)")
    clips = select_clips(params, cfg, segments if params.demo and segments.is_file() else None)
    done: set[str] = set()
    if cfg.ledger.url or Path(cfg.ledger_url.removeprefix("sqlite:///")).exists():
        ledger = ledger_or_exit(cfg)
        try:
            done = set(ledger.passed(DOWNLOAD.name, [clip.id for clip in clips]))
        finally:
            ledger.close()
    fetch = [clip for clip in clips if clip.id not in done]
    console.print(f"would select {len(clips)} clips; would fetch {len(fetch)} "
                  f"({len(clips) - len(fetch)} already downloaded)")
    for clip in fetch[:50]:
        console.print(f"  {clip.id}  {clip.start_s:.1f}-{clip.end_s:.1f} s  "
                      f"{', '.join(clip.labels)}")
    if len(fetch) > 50:
        console.print(f"  ... and {len(fetch) - 50} more")


def _start(cfg: CradleConfig, flow_name: str, params: BaseModel, as_json: bool,
           options: RunnerOptions | None = None) -> None:
    """Runs the flow `module:name` once with `params` and prints its report; a refused or
    stopped run exits 2. The flow is imported only once `prepare_environment` has pointed
    Prefect at the data root: Prefect reads its settings when it is imported."""
    root = DataRoot(cfg.home)
    busy = DataRootLock.holder_message(root)
    if busy is not None:
        fail(DataRootBusy(busy))
    from flows.runtime import native_noise_filtered, prepare_environment

    prepare_environment(root)
    from flows.progress import live_bars
    from flows.runners import on_runner, prefect_api

    module, _, name = flow_name.partition(":")
    options = options or runner_options()
    flow = on_runner(getattr(importlib.import_module(module), name), options)
    try:
        # A Dask run gets a real Prefect server that its workers share (none is given).
        with native_noise_filtered(), prefect_api(options, root), live_bars(console):
            flow(params)
    except CradleError as e:  # another run took the data root, every download failed, ...
        fail(e)
    ledger = ledger_or_exit(cfg)
    try:
        run_id = ledger.latest_run_id()
    finally:
        ledger.close()
    report = root.run_dir(str(run_id)) / "report.md"
    if as_json:
        print(json.dumps(json.loads(report.with_suffix(".json").read_text()), indent=2))
        return
    console.print(Markdown(report.read_text()))
    console.print(f"Report: [bold]{_shown(report)}[/] (and report.json beside it)")


def _shown(path: Path) -> str:
    """`path` as the user can open it: relative to where they are when it lies below."""
    try:
        return str(path.resolve().relative_to(Path(os.getcwd()).resolve()))
    except ValueError:
        return str(path)
