"""`fakeseg detect SRC... --out DIR`: masks, overlays, per-frame scores, a verdict per face and source."""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from .._memory import reuse_freed_memory
from ._common import ArchOpt, DeviceOpt, ThresholdOpt, WeightsOpt, console, err_console, fail, warn


class MaskFormat(str, Enum):
    npz = "npz"
    png = "png"


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"
    int8 = "int8"


class _FramesPerSecond(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f} frames/s", style="progress.data.speed")


def _next_run_dir(root: Path = Path("runs/detect")) -> Path:
    n = 1
    while (root / f"exp{n}").exists():
        n += 1
    return root / f"exp{n}"


def _verdict_table(summary: dict) -> Table:
    from ..results import reference_note, tau2_note

    model = summary["model"]
    origin = {"reference": "the reference", "--threshold": "--threshold"}.get(model.get("tau2_from"), "the weights")
    table = Table(title=f"fakeseg detect: tau2 = {model['tau2']:.3f} from {origin} ({model['weights']})")
    reference = summary.get("reference")
    columns = ["source", "verdict", "score", "frames", "faces (track: median, frames)"]
    if reference:  # how often genuine footage like the reference scores this high
        columns.insert(3, f"genuine as high (of {reference['n']})")
    for col in columns:
        table.add_column(col)
    colors = {"fake": "bold red", "real": "green", "no face": "dim", "error": "yellow"}
    for s in summary["sources"]:
        if s["verdict"] == "error":
            table.add_row(s["source"], Text("error", colors["error"]), *[""] * (len(columns) - 3), s["error"])
            continue
        tracks = ", ".join(
            f"#{t['face_id']}: {t['median']:.3f}, {t['frames']}"
            for t in s["tracks"]
            if t.get("counted", True)
        )
        cells = [
            s["source"],
            Text(s["verdict"], colors[s["verdict"]]),
            "" if s["score"] is None else f"{s['score']:.3f}",
            str(s["frames"]),
            tracks or "-",
        ]
        if reference:
            rate = s.get("false_alarm_rate")
            cells.insert(3, "" if rate is None else f"{rate:.0%}")
        table.add_row(*cells)
    notes = [summary.get("threshold") or tau2_note(model, None)] if model.get("tau2_from") == "reference" else []
    if reference:
        notes.append(reference_note(reference, detail=False))
    if model.get("tau2_from") == "weights":  # the weights' tau2 does not fit every source (docs/detect.md)
        notes.append("known-genuine footage of the same source gives a tau2 for it: --reference GENUINE")
    table.caption = "\n".join(notes) or None
    return table


def detect(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Images, folders, globs ('clips/*.mp4') and videos (mp4, avi, mov, mkv, webm), in any mix.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: runs/detect/expN, numbered).")
    ] = None,
    arch: ArchOpt = None,
    weights: WeightsOpt = None,
    device: DeviceOpt = None,
    batch_size: Annotated[int | None, typer.Option(
        "--batch-size", min=1, show_default=False,
        help="Faces per forward pass (default: the architecture's: 16, 8 for the U-Nets).")] = None,
    threshold: ThresholdOpt = None,
    reference: Annotated[
        list[str] | None,
        typer.Option(
            "--reference",
            help="Known-genuine footage of the same source (camera, channel, person): images, folders or videos, "
            "or an earlier run's --out folder to reuse its reference.csv; repeat for more. tau2 is then set where "
            "at most --false-alarm of its faces are called fake: one tau2 does not fit every source, and footage "
            "of the source says where its genuine faces score.",
            show_default=False,
        ),
    ] = None,
    false_alarm: Annotated[
        float | None,
        typer.Option(
            "--false-alarm",
            min=0.0,
            max=0.5,
            help="With --reference: the share of its genuine faces allowed at or above tau2 (default 0.05).",
            show_default=False,
        ),
    ] = None,
    detect_every: Annotated[
        int | None,
        typer.Option(
            "--detect-every",
            min=1,
            help="Face detection every N video frames and at every cut, optical flow between (default: ~3 a second).",
        ),
    ] = None,
    mask_format: Annotated[
        MaskFormat,
        typer.Option("--mask-format", help="Video masks: one .npz per video, or one PNG per frame."),
    ] = MaskFormat.npz,
    video: Annotated[
        bool, typer.Option("--video/--no-video", help="Write an annotated MP4 per video.")
    ] = True,
    precision: Annotated[
        Precision,
        typer.Option(
            "--precision",
            help="auto: bf16 on CPUs with native bf16, fp16 on CUDA, else fp32. int8 (CPU, weights calibrated "
            "for it): ~2x faster model, scores move ~1e-3.",
        ),
    ] = Precision.auto,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the outputs of a previous run in --out.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print summary.json on stdout (and nothing else).")
    ] = False,
) -> None:
    """Find manipulated faces: per-pixel masks, overlays, per-frame scores and a verdict per face track.

    Example: fakeseg detect samples/demo.mp4 photos/ --out runs/demo
    """
    from ..data.io import BadInput
    from ..data.sources import expand_sources, split_reference

    if reference and threshold is not None:
        fail("--reference sets tau2 from the reference footage; leave out --threshold")
    if false_alarm is not None and not reference:
        fail("--false-alarm needs --reference (known-genuine footage of the same source)")
    paths, errors = [], []
    for spec in sources:
        try:
            paths.extend(p for p in expand_sources([spec]) if p not in paths)
        except BadInput as e:
            warn(str(e))
            errors.append((spec, str(e)))
    if not paths:
        fail("nothing to process: " + "; ".join(message for _, message in errors))
    try:  # a reference must be complete: a missing part would move tau2 silently
        saved_runs, reference_paths = split_reference(reference or [])
    except BadInput as e:
        fail(str(e))
    # OpenMP threads that finish their share of a convolution spin at the barrier by default, on the core the
    # face finder and the MP4 encoder need; sleeping at once saves ~9 % of the CPU per frame and 3-10 % of the
    # wall time (docs/benchmarks.md). libgomp reads this once, when torch loads it: so here, before the engine.
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    reuse_freed_memory()  # no page faults per batch: they were 10-15 % of the model loop's CPU (fakeseg/_memory.py)
    # torch and the engine (~2 s) only now: a mistyped path or option is answered at once
    from ..models._weights import WeightsError
    from ..predict import DEFAULT_FALSE_ALARM, Predictor, detect_to_folder
    from ..results import OutputError

    in_reference = {p.resolve() for p in reference_paths}
    for p in paths:
        if p.resolve() in in_reference:
            warn(f"{p} is both checked and the reference: its verdict says nothing about it")
    out = out or _next_run_dir()
    try:
        predictor = Predictor(
            weights=weights,
            arch=arch,
            device=device,
            batch_size=batch_size,
            threshold=threshold,
            detect_every=detect_every,
            precision=precision.value,
        )
    except (WeightsError, ValueError, KeyError) as e:
        fail(str(e).strip("'\""))

    view = err_console if as_json else console  # with --json, stdout carries the summary only
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _FramesPerSecond(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=view,
        transient=as_json,
    )
    task = {}

    def start_task(label: str, n_frames: int) -> None:
        if "id" in task:
            progress.update(task["id"], visible=False)
        else:  # the first input that could be opened: before a run that may be long (not before an error line),
            # say how the model runs; `auto` is fp32 on a CPU without native bf16, 5-10x slower (docs/benchmarks.md)
            progress.console.print(f"model: {predictor.weights}, {predictor.precision} on {predictor.device}",
                                   highlight=False)
        task["id"] = progress.add_task(label[:40], total=n_frames)

    def on_source(path: Path, n_frames: int) -> None:
        start_task(path.name, n_frames)

    def on_frame(_result) -> None:
        progress.advance(task["id"])

    try:
        with progress:
            summary = detect_to_folder(
                paths,
                out,
                predictor,
                overwrite=overwrite,
                mask_format=mask_format.value,
                save_video=video,
                on_source=on_source,
                on_frame=on_frame,
                on_warning=warn,
                errors=errors,
                reference=[*saved_runs, *reference_paths],
                false_alarm=DEFAULT_FALSE_ALARM if false_alarm is None else false_alarm,
                on_reference=lambda path, n: start_task(f"reference: {path.name}", n),
            )
    except (OutputError, BadInput) as e:
        fail(str(e))
    except OSError as e:  # disk full or a folder removed under us while writing
        fail(f"{out}: writing failed ({e.strerror or e})")

    for entry in summary["sources"]:  # processed, but nothing in it was checked: say so, not only in the table
        if entry["verdict"] == "no face":
            warn(f"{entry['source']}: no face found, nothing checked")
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        console.print(_verdict_table(summary))
        console.print(f"outputs in [bold]{out}[/]: report.html, summary.json, scores.csv, masks/, overlays/")
