"""The `cradle` commands that start a run: `run` (nightly), `ingest`, `curate`, `build-shards`,
`retry-failed` and `serve` (the nightly flow on a schedule).

Everything that can be checked without Prefect is checked first (the data root is free, the
source lists and their ontology read, the schedule's time zone known), so a mistake costs one
line, not a traceback after a minute of server start-up. Each run ends by printing its report and
where it is saved; a run that crashes ends in one line too (`flows.crash`).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import tempfile
from pathlib import Path
from typing import Annotated
from zoneinfo import available_timezones

import typer
from pydantic import BaseModel
from rich.markdown import Markdown

from flows.console import (
    config_or_exit,
    console,
    fail,
    ledger_exists,
    ledger_or_exit,
    shown_path,
)
from flows.params import (
    DEFAULT_DATASET,
    DEMO_DATASET,
    CurateParams,
    NightlyParams,
    RetryParams,
    ShardsParams,
    SourceParams,
)
from flows.runners import RunnerOptions, runner_options
from manifests.errors import ConfigError, CradleError
from stages.config import CradleConfig
from stages.exclusive import DataRootBusy, DataRootLock
from stages.paths import DataRoot

Json = Annotated[bool, typer.Option("--json", help="Print the run's report as JSON.")]
Limit = Annotated[int | None, typer.Option(min=1, help="Take at most N clips, in order.")]
Demo = Annotated[bool, typer.Option(help="Curate the offline demo corpus.")]
DemoDataset = Annotated[bool, typer.Option(
    "--demo", help="The demo dataset, the one `cradle run --demo` builds.")]
DryRun = Annotated[bool, typer.Option(
    help="List what would be selected and fetched; start nothing.")]
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
Timezone = Annotated[str, typer.Option(
    envvar="CRADLE_TIMEZONE", help="The cron's time zone, an IANA name such as Europe/London.")]


def run(demo: Demo = False, source: Sources = None, dataset: Dataset = None,
        limit: Limit = None, dry_run: DryRun = False, as_json: Json = False,
        runner: Runner = "threads", address: Address = None, workers: Workers = None) -> None:
    """Run the nightly loop once, now: ingest, curate, shards, a model when the dataset has
    grown, retention, report."""
    options = _runner(runner, address, workers)
    cfg, params = _sources(demo, source, limit)
    if dry_run:
        _dry_run(cfg, params)
        return
    nightly = NightlyParams(**params.model_dump(), dataset=_dataset(dataset, demo))
    _start(cfg, "flows.nightly:nightly", nightly, as_json, options)


def ingest(demo: Demo = False, source: Sources = None, limit: Limit = None,
           dry_run: DryRun = False, as_json: Json = False, runner: Runner = "threads",
           address: Address = None, workers: Workers = None) -> None:
    """Register the sources' clips and download them; curate nothing."""
    options = _runner(runner, address, workers)
    cfg, params = _sources(demo, source, limit)
    if dry_run:
        _dry_run(cfg, params)
        return
    _start(cfg, "flows.ingest:ingest", params, as_json, options)


def curate(limit: Limit = None, as_json: Json = False, runner: Runner = "threads",
           address: Address = None, workers: Workers = None) -> None:
    """Run audio, faces and fitting over every downloaded clip a stage still owes."""
    options = _runner(runner, address, workers)
    _start(config_or_exit(), "flows.curate:curate", CurateParams(limit=limit), as_json,
           options)


def build_shards(dataset: Dataset = None, demo: DemoDataset = False,
                 as_json: Json = False) -> None:
    """Build (or confirm) the dataset version that matches the ledger now."""
    _start(config_or_exit(), "flows.curate:build_shards_flow",
           ShardsParams(dataset=_dataset(dataset, demo)), as_json)


def retry_failed(dataset: Dataset = None, demo: DemoDataset = False, as_json: Json = False,
                 runner: Runner = "threads", address: Address = None,
                 workers: Workers = None) -> None:
    """Re-run exactly the clips whose latest outcome is `retry` (then rebuild the shards)."""
    options = _runner(runner, address, workers)
    _start(config_or_exit(), "flows.retry:retry_failed",
           RetryParams(dataset=_dataset(dataset, demo)), as_json, options)


def serve(
    cron: Annotated[str, typer.Option(help="When to run, as cron, in --timezone.")] = "0 2 * * *",
    timezone: Timezone = "UTC",
    demo: Demo = False, source: Sources = None, dataset: Dataset = None,
    port: Annotated[int, typer.Option(help="Port of the local Prefect server and UI.")] = 4200,
) -> None:
    """Serve the nightly flow on a schedule until interrupted (starts a local Prefect server)."""
    if timezone not in available_timezones():
        fail(ConfigError(f"unknown time zone {timezone!r}: give an IANA name such as "
                         "Europe/London, or UTC"))
    cfg, params = _sources(demo, source, None)
    root = DataRoot(cfg.home)
    from flows.runtime import prepare_environment

    prepare_environment(root)
    from flows.schedule import nightly_deployment, serve_nightly

    nightly = NightlyParams(demo=demo, source_lists=[p.resolve() for p in params.source_lists],
                            dataset=_dataset(dataset, demo))
    try:
        deployment = nightly_deployment(cron, nightly, timezone)
    except ValueError as e:  # Prefect's message names the cron string
        fail(ConfigError(f"--cron: {e}"))
    serve_nightly(deployment, root, port)


def _sources(demo: bool, source: list[Path] | None, limit: int | None
             ) -> tuple[CradleConfig, SourceParams]:
    """The run's source parameters, once every list named exists and they hold a valid row."""
    cfg = config_or_exit()
    if not demo and not source:
        raise typer.BadParameter("name a --source list, or use --demo")
    for path in source or []:  # named on the command line: a typo, not a list to skip
        if not path.is_file():
            fail(ConfigError(f"source list {path}: "
                             f"{'a folder, not a file' if path.is_dir() else 'no such file'}"))
    if source:  # no valid row at all stops here; skipped rows are logged once, by the run
        from stages.sources.stage import collect

        try:
            collect(source, cfg.sources, log_skipped=False)
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
    return dataset or (DEMO_DATASET if demo else DEFAULT_DATASET)


def _dry_run(cfg: CradleConfig, params: SourceParams) -> None:
    """What the run would select, and which of those clips it would fetch."""
    from flows.ingest import select_clips
    from flows.status_cli import label_names
    from stages.contract import pending
    from stages.download.stage import STAGE as DOWNLOAD

    with tempfile.TemporaryDirectory() as scratch:
        clips = select_clips(params, cfg, _planned_demo(cfg, Path(scratch)) if params.demo
                             else None)
    fetch = clips
    if ledger_exists(cfg):  # the run's own resume rule: a permanent failure is not fetched again
        ledger = ledger_or_exit(cfg)
        try:
            fetch = pending(ledger, clips, DOWNLOAD, DOWNLOAD.config_hash(cfg), DataRoot(cfg.home))
        finally:
            ledger.close()
    console.print(f"would select {len(clips)} clips; would fetch {len(fetch)} "
                  f"({len(clips) - len(fetch)} already downloaded or failed for good)")
    names = label_names(cfg, params.source_lists)
    for clip in fetch[:50]:
        labels = ", ".join(names.get(label, label) for label in clip.labels)
        console.print(f"  {clip.id}  {clip.start_s:.1f}-{clip.end_s:.1f} s  {labels}",
                      markup=False, highlight=False, soft_wrap=True)  # one clip a line
    if len(fetch) > 50:
        console.print(f"  ... and {len(fetch) - 50} more")


def _planned_demo(cfg: CradleConfig, scratch: Path) -> Path:
    """The demo corpus's segment list as the run would generate it, written in `scratch`
    (nothing is rendered); says first when the run would generate the corpus."""
    from demo.corpus import SEGMENTS_NAME, corpus_variants, segments_csv

    variants = corpus_variants(cfg.demo.train_size)
    planned = segments_csv(cfg.demo.seed, variants)
    corpus = DataRoot(cfg.home).demo
    if not (corpus / SEGMENTS_NAME).is_file() or (corpus / SEGMENTS_NAME).read_text() != planned:
        console.print(f"would generate the demo corpus in {shown_path(corpus)} first: "
                      f"{len(variants)} clips, {cfg.demo.train_size} of them for training",
                      soft_wrap=True)
    path = scratch / SEGMENTS_NAME
    path.write_text(planned)
    return path


def _start(cfg: CradleConfig, flow_name: str, params: BaseModel, as_json: bool,
           options: RunnerOptions | None = None) -> None:
    """Runs the flow `module:name` once with `params` and prints its report; a refused or
    stopped run exits 2, a crashed one 1. The flow is imported only once `prepare_environment`
    has pointed Prefect at the data root: Prefect reads its settings when it is imported."""
    root = DataRoot(cfg.home)
    busy = DataRootLock.holder_message(root)
    if busy is not None:
        fail(DataRootBusy(busy))
    from flows.runtime import native_noise_filtered, prepare_environment, verbose

    prepare_environment(root)
    from flows.crash import crash_summary
    from flows.progress import live_bars
    from flows.runners import on_runner, prefect_api
    from manifests.ledger.runs import run_clock

    module, _, name = flow_name.partition(":")
    options = options or runner_options()
    flow = on_runner(getattr(importlib.import_module(module), name), options)
    # --json keeps stdout for the report alone, so no bars there even on a terminal.
    bars = contextlib.nullcontext() if as_json else live_bars(console)
    started = run_clock()
    try:
        # A Dask run gets a real Prefect server that its workers share (none is given).
        with native_noise_filtered(), prefect_api(options, root), bars:
            flow(params)
    except CradleError as e:  # another run took the data root, every download failed, ...
        fail(e)
    except Exception as e:  # a bug or an environment fault: its traceback is for debugging
        if verbose():
            raise
        fail(CradleError(crash_summary(cfg, flow.name, e, started)), code=1)
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
    console.print(f"Report: [bold]{shown_path(report)}[/] (and report.json beside it)")
