"""`cradle train` and `cradle sample`: thin wrappers over `model.train.main` and `model.sample`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flows.console import console, fail
from manifests.errors import CradleError
from stages.config import load_config
from stages.paths import DataRoot


def train(
    preset: Annotated[str, typer.Option(help="A preset in model/presets: demo, "
                                             "infant-diffusion, facetalk, animote.")] = "demo",
    dataset: Annotated[str | None, typer.Option(
        help="NAME (latest version) or NAME@VERSION; default: the preset's.")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a field: --set steps=500 --set denoiser.layers=2.")] = None,
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")] = "auto",
) -> None:
    """Train (or resume) a model on a dataset version; the same command resumes the same run."""
    from model.train import TrainPaths, main
    from model.train_config import load_preset

    root = DataRoot(load_config().home)
    try:
        cfg = load_preset(preset).with_overrides(
            [*([f"dataset={dataset}"] if dataset else []), *(set_ or [])])
        result = main(cfg, TrainPaths(root.home, root.shards, root.models, root.cache),
                      device=device)
    except CradleError as e:
        fail(e, code=1)
    first, last = result.losses[0], result.losses[-1]
    console.print(f"run [bold]{root.relative(result.run_dir)}[/]: step {result.step}, "
                  f"loss {first:.4g} -> {last:.4g}")
    if result.val_losses:
        console.print(f"val loss {result.val_losses[-1][1]:.4g} at step {result.val_losses[-1][0]}")


def sample(
    checkpoint: Annotated[Path, typer.Option(help="A run folder (its newest checkpoint) "
                                                  "or one checkpoint file.")],
    audio: Annotated[Path, typer.Option(help="Audio (any length, any format ffmpeg reads).")],
    steps: Annotated[int | None, typer.Option(help="DDIM steps; default: the run's (25).")] = None,
    guidance: Annotated[float, typer.Option(help="Classifier-free guidance scale.")] = 1.0,
    seed: Annotated[int, typer.Option(help="The same seed gives the same motion.")] = 0,
    precision: Annotated[str, typer.Option(
        help="auto: bfloat16 where the hardware computes it natively (faster); float32: the "
             "same numbers on every machine.")] = "auto",
    out: Annotated[Path | None, typer.Option(
        help="Output path without suffix; default: <run>/samples/<audio name>-s<seed>.")] = None,
    obj: Annotated[bool, typer.Option(help="Also write one OBJ per frame.")] = False,
    preview: Annotated[bool, typer.Option(help="Also write a preview mp4 with the audio.")] = True,
) -> None:
    """Generate facial motion for an audio file: npz (latents, vertices), OBJs, a preview mp4."""
    from model.sample import SampleConfig, render

    try:
        cfg = SampleConfig(steps=steps, guidance=guidance, seed=seed, precision=precision)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--precision") from e
    try:
        written = render(checkpoint, audio, cfg, DataRoot(load_config().home).home, out,
                         obj=obj, preview=preview)
    except CradleError as e:
        fail(e, code=1)
    for path in written:
        console.print(str(path))


def evaluate(
    checkpoint: Annotated[list[Path], typer.Option(help="Run folders or checkpoint files; "
                                                        "repeat to compare several.")],
    dataset: Annotated[str | None, typer.Option(
        help="NAME[@VERSION]; default: the first checkpoint's training dataset.")] = None,
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    steps: Annotated[int | None, typer.Option(help="DDIM steps; default: each run's.")] = None,
    bootstrap: Annotated[int, typer.Option(help="Resamples for the 95 % intervals.")] = 1000,
    out: Annotated[Path | None, typer.Option(
        help="Folder for eval/<dataset>-<version>-<split>/metrics.json; default: the first "
             "run.")] = None,
    ablate: Annotated[bool, typer.Option(
        help="Add the first checkpoint's ablations (band width, FiLM, losses, DDIM steps, "
             "guidance), retraining where needed.")] = False,
    ablations: Annotated[Path | None, typer.Option(
        help="A JSON list of ablations instead of model/ablations.json.")] = None,
    ablate_steps: Annotated[int | None, typer.Option(
        help="Train retrained ablations this many steps (and a reference as long); default: "
             "the checkpoint's own.")] = None,
    html_report: Annotated[bool, typer.Option(
        "--report/--no-report", help="Also write the HTML report (report/index.html beside "
                                     "metrics.json: plots, previews, the verdict).")] = True,
    regressor: Annotated[bool, typer.Option(
        help="Train (once; reused after) and score the deterministic-regressor baseline: the "
             "first checkpoint's config without diffusion.")] = True,
) -> None:
    """Score checkpoints and the baselines (static, audio energy, nearest, shifted truth, the
    regressor without diffusion)."""
    from model.ablate import load_ablations
    from model.evaluate import EvalConfig
    from model.evaluate import evaluate as run_evaluation

    home = DataRoot(load_config().home).home
    try:
        chosen = load_ablations(ablations) if ablate or ablations else None
        report = run_evaluation(checkpoint, home, dataset,
                                EvalConfig(split=split, steps=steps, bootstrap=bootstrap,
                                           report=html_report, regressor=regressor), out,
                                chosen, ablate_steps)
    except (CradleError, ValueError, NotImplementedError) as e:
        fail(e, code=1)
    table = Table(title=f"{report['dataset']} {report['split']}: {report['windows']} windows, "
                        f"{report['frames']} frames; units: {report['units']}")
    shown = {"lve": "LVE", "dtw": "DTW", "pcc": "L-PCC", "ccc": "L-CCC", "mve": "MVE"}
    table.add_column("predictor", overflow="fold")
    for title in (*shown.values(), "diversity"):
        table.add_column(title, justify="right")
    for name, result in report["results"].items():
        cells = [f"{m['mean']:.3f}\n({m['low']:.3f} to {m['high']:.3f})"
                 for m in (result["metrics"][k] for k in shown)]
        div = result.get("diversity")
        table.add_row(name, *cells, "" if div is None else f"{div:.3f}")
    console.print(table)
    console.print("mean (95 % bootstrap interval); lower is better for LVE, DTW and MVE, higher "
                  "for L-PCC and L-CCC (mouth aperture); every metric, and each per label, is "
                  "in the run's eval/<dataset>-<version>-<split>/metrics.json"
                  + (", the HTML report in report/index.html beside it" if html_report else ""))
