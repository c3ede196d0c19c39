"""`fakeseg prepare ROOT --out CACHE`: decode, crop faces and masks once, write one manifest per split."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ..constants import INPUT_SIZE
from ..data.faces import FaceToolsMissing
from ..data.ffpp import COMPRESSIONS, MASK_SOURCES, METHODS, SPLITS, method_name
from ..data.io import BadInput
from ..data.prepare import PrepareError, PrepareOptions
from ..data.prepare import prepare as prepare_cache
from ._common import OutOpt, console, fail, warn


def prepare(
    root: Annotated[Path, typer.Argument(help="A FaceForensics++ root (original_sequences/, "
                                              "manipulated_sequences/) or a manifest CSV of whole frames.")],
    out: OutOpt,
    split: Annotated[list[str] | None, typer.Option(
        "--split", help="FF++ split(s) to prepare; repeat the flag. Default: train, val and test.")] = None,
    compression: Annotated[str, typer.Option(help=f"FF++ quality: {', '.join(COMPRESSIONS)}.")] = "raw",
    mask_source: Annotated[str, typer.Option(
        help="Fake masks: 'difference' (fake vs original frame, the paper) or 'official' (mask videos).")]
        = "difference",
    method: Annotated[list[str] | None, typer.Option(
        "--method", help=f"FF++ method(s); repeat the flag. Default: {', '.join(METHODS)}.")] = None,
    size: Annotated[int, typer.Option(min=8, help="Side of the saved crops.")] = INPUT_SIZE,
    every: Annotated[int | None, typer.Option(
        min=1, help="Keep every n-th frame. Default: the paper's (all for train, every 10th for val/test).")]
        = None,
    all_faces: Annotated[bool, typer.Option(
        "--all-faces", help="Crop every face, not only the fake's or the largest.")] = False,
    face_crop: Annotated[bool, typer.Option(
        "--face-crop/--no-face-crop", help="--no-face-crop: whole images (squared by reflection).")]
        = True,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (one video at a time each).")] = 1,
) -> None:
    """Build a resumable cache of face crops and masks; run it again to finish an interrupted run."""
    if compression not in COMPRESSIONS:
        fail(f"--compression must be one of {', '.join(COMPRESSIONS)}, got {compression!r}")
    if mask_source not in MASK_SOURCES:
        fail(f"--mask-source must be one of {', '.join(MASK_SOURCES)}, got {mask_source!r}")
    try:
        methods = tuple(method_name(m) for m in method) if method else METHODS
    except ValueError as e:
        fail(f"--method: {e}")
    options = PrepareOptions(size=size, compression=compression, mask_source=mask_source, methods=methods,
                             all_faces=all_faces, face_crop=face_crop, every=every)
    columns = (TextColumn("[bold]prepare"), BarColumn(), MofNCompleteColumn(), TextColumn("units"),
               TimeElapsedColumn(), TimeRemainingColumn())
    bar = Progress(*columns, console=console)
    task = bar.add_task("prepare", total=None)

    def progress(done: int, total: int) -> None:
        bar.start()  # on the first call only: after the inputs were checked, so errors print alone
        bar.update(task, completed=done, total=total)

    try:
        report = prepare_cache(root, out, splits=tuple(split or SPLITS), options=options, workers=workers,
                               progress=progress)
    except (PrepareError, BadInput, FaceToolsMissing) as e:
        bar.stop()
        fail(str(e))
    except OSError as e:
        bar.stop()
        fail(f"{e.filename or out}: {e.strerror or e}")
    bar.stop()
    _print_report(report, out)
    splits = report["splits"].values()
    if not any(sp["crops"] for sp in splits):  # an empty cache is no result: say so and exit non-zero
        frames = sum(sp["frames"] for sp in splits)
        fail(f"no face crop made: no face found in any of {frames} frame(s) of {root}")


def _print_report(report: dict, out: Path) -> None:
    table = Table(title=f"prepared cache {out}")
    for col in ("split", "units", "frames", "crops", "fake crops", "no face", "missing", "failed"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for name, s in report["splits"].items():
        counts = (s["units"], s["frames"], s["crops"], s["fake_crops"], s["no_face"], s["videos_missing"],
                  s["units_failed"] + s["rows_unreadable"])
        table.add_row(name, *map(str, counts))
    console.print(table)
    for name, s in report["splits"].items():
        if s["videos_missing"]:
            warn(f"{name}: {s['videos_missing']} video(s) of the split are missing "
                 f"(first: {s['missing_examples'][0]})")
        for msg in s["failed_examples"] + s["unreadable_examples"]:
            warn(f"{name}: skipped {msg}")
        if s["no_face"]:
            warn(f"{name}: no face found in {s['no_face']} of {s['frames']} frames (skipped)")
    manifests = ", ".join(str(out / s["manifest"]) for s in report["splits"].values())
    console.print(f"manifests: {manifests}\nreport: {out / 'prepare_report.json'}")
