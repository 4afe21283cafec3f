"""`cradle train` and `cradle sample`: thin wrappers over `model.train.main` and `model.sample`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from manifests.errors import CradleError
from stages.config import load_config
from stages.paths import DataRoot

console = Console()


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
        console.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from e
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
    out: Annotated[Path | None, typer.Option(
        help="Output path without suffix; default: <run>/samples/<audio name>-s<seed>.")] = None,
    obj: Annotated[bool, typer.Option(help="Also write one OBJ per frame.")] = False,
    preview: Annotated[bool, typer.Option(help="Also write a preview mp4 with the audio.")] = True,
) -> None:
    """Generate facial motion for an audio file: npz (latents, vertices), OBJs, a preview mp4."""
    from model.sample import SampleConfig, render

    try:
        written = render(checkpoint, audio, SampleConfig(steps=steps, guidance=guidance,
                                                         seed=seed),
                         DataRoot(load_config().home).home, out, obj=obj, preview=preview)
    except CradleError as e:
        console.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from e
    for path in written:
        console.print(str(path))
