"""`fakeseg eval`: the paper's tables for any checkpoint, next to the all-background and face-hull rows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ._common import (
    ArchOpt,
    BatchOpt,
    DeviceOpt,
    OutOpt,
    ThresholdOpt,
    WeightsOpt,
    console,
    counting_progress,
    fail,
    warn,
)


def _print_tables(result) -> None:
    for spec in result.tables():
        table = Table(title=spec.title, title_justify="left")
        for i, name in enumerate(spec.header):
            table.add_column(name, justify="left" if i < 2 else "right", no_wrap=i > 0)
        for i, row in enumerate(spec.rows):
            if i and i % spec.group == 0:  # a new column (method) of the paper's table starts
                table.add_section()
            table.add_row(*row)
        console.print(table)


def _saved(save, weights: str, *args) -> Path:
    """Run a save_* that writes the checkpoint's config.json; an unwritable folder is one error line."""
    try:
        return save(weights, *args)
    except OSError as e:
        fail(f"{weights}: cannot write its config.json ({e.strerror or e})")


def eval_cmd(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Manifest CSV of whole frames, a prepared cache folder (<split>.csv of crops) or an FF++ "
            "root.",
        ),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option("--split", help="train, val or test, for a cache or FF++ root (default: test)."),
    ] = None,
    arch: ArchOpt = None,
    weights: WeightsOpt = None,
    device: DeviceOpt = None,
    batch_size: BatchOpt = 16,
    threshold: ThresholdOpt = None,
    out: OutOpt = None,
    face_crop: Annotated[
        bool | None,
        typer.Option(
            "--face-crop/--no-face-crop",
            help="Find and crop faces (default for manifests and FF++), or take the "
            "images as crops (default for a prepared cache).",
        ),
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Extra breakdown: source.")] = None,
    references: Annotated[
        bool,
        typer.Option(
            "--references/--no-references", help="Score the all-background and face-hull reference rows too."
        ),
    ] = True,
    calibrate_on: Annotated[
        Path | None,
        typer.Option(
            "--calibrate", help="Validation manifest: pick tau2 and the pixel threshold tau1 on it before evaluating."
        ),
    ] = None,
    target_fpr: Annotated[
        float | None,
        typer.Option(
            "--target-fpr",
            help="With --calibrate: pick tau2 so that at most this share of its genuine faces is called fake "
            "(e.g. 0.05), instead of the best balanced accuracy; genuine-only footage is enough.",
        ),
    ] = None,
    store: Annotated[
        bool,
        typer.Option(
            "--save-thresholds",
            help="With --calibrate: write the picked thresholds into the checkpoint's config.json.",
        ),
    ] = False,
    store_reference: Annotated[
        bool,
        typer.Option(
            "--save-reference",
            help="Write the scores of --data's genuine faces into the checkpoint's config.json as its "
            "reference: detect then gives each face track's false-alarm rate against them.",
        ),
    ] = False,
) -> None:
    """Evaluate a checkpoint: accuracy at tau2, mIoU/Bg-IoU/Fg-IoU per method (the paper's Tables 1-2),
    AUC, AP, EER, pixel and video AUC, and the genuine pixels flagged, beside two reference rows.

    Writes metrics.json, metrics.md and scores.csv (each image's score) to --out (default:
    runs/eval/<name>, auto-numbered).
    """
    if not weights and not arch:
        fail("pass --weights FOLDER|TAG|hf://org/repo or --arch NAME (its best shipped weights)")
    if not data and not calibrate_on:
        fail("pass --data (a manifest, a prepared cache or an FF++ root) and/or --calibrate VAL.csv")
    if by not in (None, "source"):
        fail(f"--by {by!r}: only 'source' is supported")
    if store and not calibrate_on:
        fail("--save-thresholds needs --calibrate VAL.csv")
    if target_fpr is not None and not calibrate_on:
        fail("--target-fpr needs --calibrate VAL.csv")
    if store_reference and not data:
        fail("--save-reference needs --data GENUINE.csv (known-genuine footage like the footage you check)")
    # torch and the engine: imported after the checks above, so that --help and a wrong option answer at once
    from .._memory import reuse_freed_memory
    from ..data.faces import FaceToolsMissing
    from ..data.records import ManifestError
    from ..evaluate import (
        EvalError,
        calibrate,
        default_out_dir,
        evaluate,
        load_for_eval,
        pick_device,
        save_reference,
        save_thresholds,
        weights_for_arch,
        write_report,
    )
    from ..models import canonical_name
    from ..models._weights import WeightsError

    reuse_freed_memory()  # no page faults per batch, as in detect and train (fakeseg/_memory.py)
    user_errors = (EvalError, WeightsError, ManifestError, FaceToolsMissing, ValueError)
    try:
        arch = canonical_name(arch) if arch else None
    except KeyError as e:
        fail(e.args[0])
    try:
        spec = weights or weights_for_arch(arch)
        loaded = load_for_eval(spec, pick_device(device))
        if arch and arch != loaded.config.arch:
            fail(f"--arch {arch} but {weights} holds {loaded.config.arch} weights")
        console.print(
            f"[bold]{loaded.name}[/]: {loaded.config.arch}-{loaded.config.task}, "
            f"tau1={loaded.config.tau1:.3f} tau2={loaded.config.tau2:.3f}"
            + (f" mask sigma {loaded.config.mask_sigma:g} px" if loaded.config.mask_sigma else "")
            + " (checkpoint)"
        )
        tau1, tau2, mask_sigma, origin, calibration = None, threshold, None, "--threshold", None
        if calibrate_on:
            with counting_progress(transient=True) as bar:
                task = bar.add_task("calibrating", total=None)
                calibration = calibrate(
                    loaded,
                    calibrate_on,
                    face_crop=face_crop,
                    device=device,
                    batch_size=batch_size,
                    on_skip=lambda image, reason: warn(reason),
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                    target_fpr=target_fpr,
                )
            cal = calibration
            balanced = "" if cal.balanced_accuracy is None else f", balanced accuracy {cal.balanced_accuracy:.3f}"
            pixel = ("kept from the checkpoint (no fakes)" if cal.miou is None else "mIoU "
                     + ("on fakes" if loaded.config.task == "cls" else "over every pixel") + f" {cal.miou:.3f}")
            console.print(
                f"calibrated on {cal.data} ({cal.n_fake} fake, {cal.n_genuine} genuine): tau2={cal.tau2:.3f} "
                f"(by {cal.rule}; genuine called fake {cal.false_alarm_rate:.3f}{balanced}), "
                f"tau1={cal.tau1:.2f}" + (f", mask sigma {cal.mask_sigma:g} px" if cal.mask_sigma else "")
                + f" ({pixel})"
            )
            if store:
                if not loaded.weights:
                    fail("--save-thresholds needs weights from a folder")
                console.print(f"thresholds saved in {_saved(save_thresholds, loaded.weights, cal)}")
            if threshold is not None:
                warn(f"--threshold {threshold} overrides the calibrated tau2 {cal.tau2:.3f}")
            else:
                tau2, origin = cal.tau2, "calibrated"
            tau1, mask_sigma = cal.tau1, cal.mask_sigma
        if not data:
            return
        with counting_progress(transient=True) as bar:
            task = bar.add_task("evaluating", total=None)
            result = evaluate(
                loaded,
                data,
                split=split,
                face_crop=face_crop,
                device=device,
                batch_size=batch_size,
                tau1=tau1,
                tau2=tau2,
                mask_sigma=mask_sigma,
                references=references,
                by_source=by == "source",
                threshold_origin=origin,
                on_skip=lambda image, reason: warn(reason),
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        if store_reference:
            if not loaded.weights:
                fail("--save-reference needs weights from a folder")
            genuine = result.genuine_scores()
            path = _saved(save_reference, loaded.weights, genuine, str(data))
            console.print(f"reference of {len(genuine)} genuine faces saved in {path}")
    except user_errors as e:
        fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
    if calibration is not None:
        result.thresholds["calibration"] = calibration.to_dict()

    _print_tables(result)
    if result.reading():
        console.print(result.reading())
    counts = result.counts
    console.print(
        f"{counts['evaluated']} of {counts['records']} images evaluated ({counts['fake']} fake, "
        f"{counts['genuine']} genuine); {counts['skipped']} skipped ({counts['no_face']} without a face)"
    )
    target = out or default_out_dir(result.model["name"])
    try:
        json_path, md_path = write_report(result, target)
    except OSError as e:
        fail(f"{target}: cannot write the report ({e.strerror or e})")
    console.print(f"wrote {json_path} and {md_path}")
