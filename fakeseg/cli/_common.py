"""Options shared by every command (defined once) and the one way commands fail."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

console = Console()
err_console = Console(stderr=True)

ArchOpt = Annotated[str | None, typer.Option("--arch", help="Architecture (see `fakeseg models`).")]
WeightsOpt = Annotated[str | None, typer.Option(
    "--weights", help="Checkpoint folder, shipped tag (fn3.synth) or hf://org/repo (@rev appended for a revision).")]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="cuda, mps or cpu (default: best available).")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Faces per forward pass.")]
ThresholdOpt = Annotated[float | None, typer.Option(
    "--threshold", min=0.0, max=1.0, help="tau2: image is fake when the mean of its mask >= this.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Output folder.")]


def fail(message: str, code: int = 1) -> NoReturn:
    """One clear error line on stderr and a non-zero exit; never a traceback."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def counting_progress(transient: bool = False) -> Progress:
    """The bar of commands that count items (images, samples): description, bar, n/total, time left."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=transient)
