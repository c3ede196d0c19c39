"""`fakeseg train`: the paper's recipe for any architecture, on manifests, caches or synth forgeries."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..constants import INPUT_SIZE
from ..data.faces import FaceToolsMissing
from ..data.io import BadInput
from ..data.records import ManifestError
from ._common import ArchOpt, BatchOpt, DeviceOpt, console, fail, warn

if TYPE_CHECKING:
    from ..train import TrainEvent

# where no live bar can be drawn (output to a log file, a batch job), a plain progress line this often
PLAIN_LINE_EVERY_S = 60.0

RunOpt = Annotated[
    Path | None, typer.Option("--resume", help="Continue the run in this folder after an interrupt.")
]


def train(
    arch: ArchOpt = None,
    task: Annotated[str, typer.Option(help="seg (per-pixel BCE) or cls (per-image BCE, CAM maps).")] = "seg",
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data", help="Manifest CSV or prepared cache folder (train.csv + val.csv); repeat to mix."
        ),
    ] = None,
    val_data: Annotated[
        list[str] | None,
        typer.Option(
            "--val-data",
            help="Validation manifest CSV; repeat to add more. Default: the caches' val.csv or "
            "held-out synth identities.",
        ),
    ] = None,
    synth: Annotated[
        str | None,
        typer.Option(
            "--synth", help="Face bank (or folder of real faces) to synthesise forgeries from, on the fly."
        ),
    ] = None,
    synth_fraction: Annotated[
        float | None,
        typer.Option("--synth-fraction", help="Share of synth samples when mixed with --data (default 0.5)."),
    ] = None,
    face_crop: Annotated[
        bool | None,
        typer.Option(
            "--face-crop/--no-face-crop",
            help="Images are face crops / whole frames to detect faces in. "
            "Default: per image, square and <= 512 px means a crop.",
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Epochs (default 20).")] = None,
    steps: Annotated[
        int | None, typer.Option(min=1, help="Total optimiser steps (overrides --epochs).")
    ] = None,
    epoch_size: Annotated[
        int | None,
        typer.Option(
            "--epoch-size",
            min=1,
            help="Samples per epoch (default: the manifests' size; 10000 for synth only).",
        ),
    ] = None,
    batch_size: BatchOpt = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate (no decay).")] = 1e-3,
    seed: Annotated[int, typer.Option(help="Seed of weights, data order and augmentation.")] = 0,
    pos_weight: Annotated[
        float | None,
        typer.Option("--pos-weight", help="BCE weight of the fake class (pixels for seg, images for cls)."),
    ] = None,
    loss: Annotated[
        str,
        typer.Option(
            "--loss",
            help="seg loss: bce (the paper's, Eq. 5) or bce+dice (adds a soft Dice term: fuller masks).",
        ),
    ] = "bce",
    init: Annotated[
        str | None,
        typer.Option(
            "--init",
            help="Fine-tune: start from these weights (folder, shipped tag or hf://; same arch and task).",
        ),
    ] = None,
    input_size: Annotated[
        int,
        typer.Option(
            "--input-size",
            help="Side of the square face crop the net sees, px (the paper's: 256; a multiple of 32). "
            "Smaller: a net sees more of the face per pixel of receptive field, at a quarter of the cost per halving.",
        ),
    ] = INPUT_SIZE,
    augment: Annotated[
        bool,
        typer.Option(
            "--augment/--no-augment",
            help="Flip, small scale jitter, JPEG re-compression (never on validation).",
        ),
    ] = True,
    amp: Annotated[
        bool,
        typer.Option(
            "--amp/--no-amp",
            help="bf16 autocast (+ channels_last) on CUDA with bf16 and on CPUs with native bf16; else fp32.",
        ),
    ] = True,
    workers: Annotated[
        int | None, typer.Option(min=0, help="Data loader processes (default: cores - 1, max 8).")
    ] = None,
    device: DeviceOpt = None,
    max_minutes: Annotated[
        float | None,
        typer.Option("--max-minutes", min=0.0, help="Stop cleanly after this long, with a final checkpoint."),
    ] = None,
    save_every: Annotated[
        int, typer.Option("--save-every", min=1, help="Steps between resume checkpoints.")
    ] = 500,
    val_size: Annotated[int, typer.Option("--val-size", min=1, help="Synthesised validation samples.")] = 512,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default runs/train/exp, exp2, ...).")
    ] = None,
    name: Annotated[str, typer.Option(help="Run name under runs/train when --out is not given.")] = "exp",
    resume: RunOpt = None,
) -> None:
    """Train a model the paper's way (Adam 1e-3, batch 64, 256 px) and write a run folder."""
    if resume is None and arch is None:
        fail("--arch is required (see `fakeseg models`)")
    from .._memory import reuse_freed_memory
    from ..data.datasets import DataError  # torch: imported here, so that --help needs none of it
    from ..models._weights import WeightsError
    from ..train import TrainConfig, TrainError, fit, resume_config

    reuse_freed_memory()  # no page faults per step: they were ~20 % of a training run's time (fakeseg/_memory.py)

    try:
        if resume is not None:
            config = resume_config(
                resume, steps=steps, epochs=epochs, max_minutes=max_minutes, workers=workers, device=device
            )
        else:
            config = TrainConfig(
                arch=arch,
                task=task,
                data=list(data or []),
                val_data=list(val_data or []),
                synth=synth,
                synth_fraction=synth_fraction,
                face_crop=face_crop,
                epochs=epochs,
                steps=steps,
                epoch_size=epoch_size,
                batch_size=batch_size,
                lr=lr,
                seed=seed,
                pos_weight=pos_weight,
                loss=loss,
                init=init,
                input_size=input_size,
                augment=augment,
                amp=amp,
                workers=workers,
                device=device,
                max_minutes=max_minutes,
                save_every=save_every,
                val_size=val_size,
                out=str(out) if out else None,
                name=name,
            )
        with _ProgressView() as view:
            run = fit(config, on_event=view, resume=resume is not None)
    except (TrainError, DataError, ManifestError, BadInput, WeightsError, FaceToolsMissing) as e:
        fail(_one_line(e))
    except OSError as e:
        fail(f"{e.filename or ''}: {e.strerror or e}".lstrip(": "))
    except RuntimeError as e:  # a data loader worker re-raises the worker's error with its traceback inside
        if "DataLoader worker" not in str(e):
            raise
        fail(_one_line(e))
    if os.environ.get("RANK", "0") == "0":  # under torchrun every rank returns here; one summary is enough
        console.print(f"run folder: {run}  (weights: {run / 'best'} / {run / 'last'})")


def _one_line(e: Exception) -> str:
    lines = [line for line in str(e).strip().splitlines() if line.strip()]
    if not lines:
        return type(e).__name__
    last = lines[-1]  # DataLoader workers wrap the original error; its own message is the last line
    return last.split(": ", 1)[1] if len(lines) > 1 and ": " in last else lines[0]


class _ProgressView:
    """Draws TrainEvents: a bar with loss, images/s and ETA; one line per validation."""

    def __init__(self):
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = None
        self.plain = not console.is_terminal  # rich draws no bar then: nothing would show between epochs
        self._last_line = time.monotonic()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.stop()
        return False

    def __call__(self, e: TrainEvent) -> None:
        if e.kind == "prepare" and e.total_steps:
            self._task(e.message, e.total_steps)
            self.bar.update(self.task, completed=e.step, description=e.message)
        elif e.kind == "note":
            warn(e.message)
        elif e.kind == "start":
            console.print(f"training {e.message} -> {e.run}")
            self._task("train", e.total_steps)
            self.bar.update(self.task, completed=e.step, total=e.total_steps)
        elif e.kind == "step":
            self.bar.update(
                self.task,
                completed=e.step,
                info=f"epoch {e.epoch:.2f} loss {e.loss:.4f} {e.images_per_s:.0f} img/s",
            )
            if self.plain:
                self._plain_line(e)
        elif e.kind == "val":
            m = e.metrics
            parts = [f"epoch {m['epoch']:g}", f"step {m['step']}", f"train loss {m['train_loss']:.4f}"]
            for key, label in (
                ("val_loss", "val loss"),
                ("val_miou", "mIoU"),
                ("val_fg_iou", "Fg-IoU"),
                ("val_auc", "AUC"),
            ):
                if m.get(key) is not None:
                    parts.append(f"{label} {m[key]:.4f}")
            self.bar.console.print("  ".join(parts))

    def _plain_line(self, e: TrainEvent) -> None:
        now = time.monotonic()
        if now - self._last_line < PLAIN_LINE_EVERY_S:
            return
        self._last_line = now
        remaining = self._current().time_remaining  # the bar's own estimate, drawn or not
        eta = f"  ETA {timedelta(seconds=round(remaining))}" if remaining is not None else ""
        console.print(
            f"step {e.step}/{e.total_steps}  epoch {e.epoch:.2f}  loss {e.loss:.4f}  "
            f"{e.images_per_s:.1f} img/s{eta}",
            highlight=False,
        )

    def _task(self, description: str, total: int) -> None:
        # one task for the whole run, reset when the phase changes (finding faces -> train): its timing, and
        # so its ETA, restart with the phase
        self.bar.start()
        if self.task is None:
            self.task = self.bar.add_task(description, total=total, info="")
        elif self._current().description != description:
            self.bar.reset(self.task, total=total, description=description, info="")

    def _current(self):
        return next(t for t in self.bar.tasks if t.id == self.task)
