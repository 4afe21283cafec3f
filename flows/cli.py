"""The `cradle` command line: each command parses its arguments and calls one library function."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer
import yaml

from flows import run_cli
from flows.console import (
    VERBOSE,
    VERBOSE_HELP,
    VerboseAnywhere,
    config_or_exit,
    console,
    fail,
    ledger_or_exit,
)
from flows.datasets_cli import datasets
from flows.model_cli import evaluate, sample, train
from flows.review_cli import review
from flows.runtime import restrict_file_modes
from flows.status_cli import status
from manifests.errors import CradleError
from manifests.ledger.export import export_manifests
from stages.config import load_config
from stages.paths import DataRoot

app = typer.Typer(help="Cradle: curate infant video into privacy-preserving 3D training data.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  cls=VerboseAnywhere)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(datasets, name="datasets")
app.add_typer(review, name="review")
for command in (run_cli.run, run_cli.ingest, run_cli.curate, run_cli.retry_failed,
                run_cli.serve):
    app.command()(command)
app.command("build-shards")(run_cli.build_shards)
app.command()(status)
app.command()(train)
app.command()(sample)
app.command()(evaluate)


@app.callback()
def main(ctx: typer.Context, verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help=VERBOSE_HELP)] = False) -> None:
    ctx.meta[VERBOSE] = verbose  # logging starts with the command, which may add -v itself
    with contextlib.suppress(CradleError):  # a bad configuration is reported by the command
        restrict_file_modes(load_config())


@app.command()
def init() -> None:
    """Create the data root and the ledger (safe to repeat)."""
    cfg = config_or_exit()
    root = DataRoot(cfg.home).create()
    ledger_or_exit(cfg).close()
    console.print(f"Data root ready at [bold]{root.home.resolve()}[/]")


@config_app.command("show")
def config_show() -> None:
    """Print the effective configuration and each section's hash."""
    cfg = config_or_exit()
    console.print(yaml.safe_dump(cfg.to_display(), sort_keys=False).rstrip())
    console.print("\n# section hashes (recorded with every stage result)")
    for name in cfg.sections():
        console.print(f"# {name}: {cfg.section_hash(name)}")


@app.command()
def export(
    run: Annotated[str | None, typer.Option(help="Run id; default: the latest run.")] = None,
    all_runs: Annotated[bool, typer.Option("--all", help="Export the whole ledger.")] = False,
    out: Annotated[Path | None, typer.Option(help="Output folder.")] = None,
) -> None:
    """Write parquet manifests (clips, stage results, rejections, reviews) for pandas and DuckDB."""
    cfg = config_or_exit()
    root = DataRoot(cfg.home)
    ledger = ledger_or_exit(cfg)
    try:
        run_id = None if all_runs else (run or ledger.latest_run_id())
        target = out or (root.run_dir(run_id) if run_id else root.home / "exports" / "all")
        written = export_manifests(ledger, target, run_id=run_id)
    finally:
        ledger.close()
    for name, path in written.items():
        console.print(f"{name:>14}: {path.resolve()}")


@app.command()
def purge(
    dry_run: Annotated[bool, typer.Option(help="List what would be deleted; delete nothing.")]
    = False,
) -> None:
    """Delete raw downloads as the retention policy (storage.raw_media) says; the ledger records
    each deletion, so purged clips are not downloaded again."""
    from stages.download.retention import purge_raw_media

    cfg = config_or_exit()
    ledger = ledger_or_exit(cfg)
    try:
        purged = purge_raw_media(ledger, DataRoot(cfg.home), cfg.storage.raw_media,
                                 dry_run=dry_run)
    finally:
        ledger.close()
    verb = "would delete" if dry_run else "deleted"
    size = sum(p.bytes for p in purged) / 1e6
    console.print(f"retention {cfg.storage.raw_media}: {verb} the raw media of {len(purged)} "
                  f"clips ({size:.1f} MB)")
    for item in purged[:20]:
        console.print(f"  {item.clip_id}: {', '.join(item.files)}")


@app.command("demo-data")
def demo_data(
    out: Annotated[Path | None, typer.Option(help="Corpus folder; default: <home>/demo.")] = None,
    seed: Annotated[int | None, typer.Option(help="Default: demo.seed from the config.")] = None,
    train_size: Annotated[int | None, typer.Option(
        min=0, help="Clean training clips to add; default: demo.train_size.")] = None,
    preview: Annotated[bool, typer.Option(help="Also write contact_sheet.png.")] = False,
) -> None:
    """Generate the offline demo corpus: clips with known right answers (safe to repeat)."""
    from demo import generate_corpus, write_contact_sheet

    cfg = config_or_exit()
    target = out or DataRoot(cfg.home).demo
    index = generate_corpus(target, seed=cfg.demo.seed if seed is None else seed,
                            train_size=cfg.demo.train_size if train_size is None else train_size)
    console.print(f"{len(index['clips'])} clips ({index['train_size']} for training) in "
                  f"[bold]{target.resolve()}[/]")
    if preview:
        sheet = write_contact_sheet(target, target / "contact_sheet.png")
        console.print(f"contact sheet: {sheet.resolve()}")


@app.command("demo-serve")
def demo_serve(
    folder: Annotated[Path | None, typer.Option(
        "--dir", help="Corpus folder; default: <home>/demo.")] = None,
    port: Annotated[int, typer.Option(help="Loopback port; 0 picks a free one.")] = 0,
) -> None:
    """Serve the demo corpus over HTTP on loopback until interrupted."""
    import contextlib
    import threading

    from demo import serve_corpus

    target = folder or DataRoot(config_or_exit().home).demo
    if not (target / "segments.csv").is_file():
        fail(CradleError(f"no demo corpus in {target}: run `cradle demo-data` first"))
    with serve_corpus(target, port=port) as base_url:
        console.print(f"Serving {target.resolve()} at [bold]{base_url}[/] (Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


@app.command("build-face-model")
def build_face_model(
    out: Annotated[Path | None, typer.Option(
        help="Model file; default: <home>/models/open-face-model.h5.")] = None,
    components: Annotated[int, typer.Option(help="Expression components.")] = 64,
) -> None:
    """Learn the open face model (landmark PCA) from every accepted face track."""
    from model.face.open_model import OpenModelConfig, build_open_face_model
    from stages.fitting.stage import accepted_tracks

    cfg = config_or_exit()
    root = DataRoot(cfg.home)
    ledger = ledger_or_exit(cfg)
    try:
        tracks = accepted_tracks(ledger, root)
    finally:
        ledger.close()
    target = out or root.open_face_model
    try:
        summary = build_open_face_model(
            tracks, target, OpenModelConfig(expression_components=components))
    except CradleError as e:
        fail(e)
    console.print(f"{target.resolve()}: {summary.clips} clips, {summary.frames} frames")
