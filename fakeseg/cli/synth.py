"""`fakeseg synth`: forgeries synthesised from real faces, written as a manifest of crops and masks.

fakeseg synth REAL... --out DIR             build (or reuse) DIR/facebank from REAL, then synthesise
fakeseg synth --bank BANK --out DIR         synthesise from a prebuilt bank (no face_recognition needed)
fakeseg synth --build-bank REAL... --out BANK   only build the face bank
"""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .._fs import atomic_write
from ..data.facebank import FaceBank, FaceBankError, build_facebank, split_by_identity
from ..data.io import BadInput
from ..data.pool import PoolError, pack_manifest
from ..data.records import write_manifest
from ..data.synth import FAMILIES
from ..data.synth.families import check_finishes
from ..data.synth.generator import DEGRADATIONS
from ..data.synth.writer import PoolSpec, pool_recipe, write_pool
from ._common import OutOpt, console, counting_progress, fail, warn

Degradation = Enum("Degradation", {name: name for name in DEGRADATIONS}, type=str)  # the named ranges


def _build(real: list[Path], out: Path, workers: int, limits: dict) -> FaceBank:
    errors: list[str] = []
    with counting_progress(transient=False) as bar:
        task = bar.add_task("face bank", total=None)
        try:
            bank = build_facebank(
                real,
                out,
                workers=workers,
                **limits,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                on_error=errors.append,
            )
        except FaceBankError as e:  # which inputs were skipped is part of why, unless it is the error itself
            _warn_skipped([err for err in errors if err != str(e)])
            raise
    _warn_skipped(errors)
    return bank


def _warn_skipped(errors: list[str]) -> None:
    for e in errors[:5]:
        warn(f"skipped {e}")
    if len(errors) > 5:
        warn(f"... and {len(errors) - 5} more unreadable files")


def synth(
    real: Annotated[
        list[Path] | None, typer.Argument(help="Real face images, folders (recursive) or videos.")
    ] = None,
    out: OutOpt = Path("synth"),
    bank_dir: Annotated[
        Path | None, typer.Option("--bank", help="A prebuilt face bank (instead of REAL).")
    ] = None,
    build_bank: Annotated[
        bool, typer.Option("--build-bank", help="Only build a face bank from REAL into --out.")
    ] = False,
    n: Annotated[int, typer.Option("--n", min=1, help="Samples to write.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same samples.")] = 0,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Processes (default: all cores).")
    ] = None,
    size: Annotated[int, typer.Option("--size", min=32, help="Side of the face crops in pixels.")] = 256,
    genuine_fraction: Annotated[
        float,
        typer.Option("--genuine-fraction", min=0.0, max=1.0, help="Share of untouched (label 0) crops."),
    ] = 0.35,
    families: Annotated[str, typer.Option("--families", help="Comma-separated forgery families.")] = ",".join(
        FAMILIES
    ),
    finishes: Annotated[
        str | None,
        typer.Option(
            "--finishes",
            help="Comma-separated looks a re-rendered region may get (default: all: sharpen, smooth, noise, "
            "texture, none). smooth,none leaves generator output without texture put back (docs/synth.md).",
        ),
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="train or val: which identities of the bank to use.")
    ] = "train",
    val_fraction: Annotated[
        float,
        typer.Option(
            "--val-fraction", min=0.0, max=0.9, help="Share of identities held out for --split val."
        ),
    ] = 0.1,
    max_per_video: Annotated[
        int, typer.Option("--max-per-video", min=1, help="Face bank: frames kept per video (spread over it).")
    ] = 12,
    max_per_folder: Annotated[
        int, typer.Option("--max-per-folder", min=1, help="Face bank: images kept per folder.")
    ] = 400,
    max_box: Annotated[
        int, typer.Option("--max-box", min=32, help="Face bank: faces stored with their box at most this wide.")
    ] = 160,
    exaggerate: Annotated[
        float,
        typer.Option(
            "--exaggerate", min=1.0,
            help="Scale every change by this factor (original + k x change): a curriculum's first pools, "
            "see docs/training.md.",
        ),
    ] = 1.0,
    captured: Annotated[
        bool,
        typer.Option(
            "--captured",
            help="Give each target a camera's grain and a codec's blocks before the manipulation, so what a "
            "family re-renders lacks the texture around it, as in real fakes (docs/synth.md).",
        ),
    ] = False,
    degrade: Annotated[
        bool,
        typer.Option(
            "--degrade/--no-degrade",
            help="Resample, noise and JPEG-compress each frame after the manipulation, fakes and genuine alike "
            "(--no-degrade: clean pools for ablations, as bench/learnability.py --clean).",
        ),
    ] = True,
    degradation: Annotated[
        Degradation,
        typer.Option(
            "--degradation",
            help="Which ranges the degradation (and --captured's source texture) draw from: upload (the "
            "first, guessed; every pool before 'video') or video (calibrated on genuine video, docs/synth.md).",
        ),
    ] = Degradation.upload,
    rendered: Annotated[
        bool,
        typer.Option(
            "--rendered",
            help="Every family re-renders what it changes (swaps and reenactments too), as the generator-made "
            "fakes of real tools do (docs/synth.md).",
        ),
    ] = False,
    pack: Annotated[
        bool, typer.Option("--pack", help="Also decode the pool into manifest.pool/ (uint8 arrays that "
                           "`fakeseg train` memory-maps instead of decoding PNGs: for GPU training).")
    ] = False,
) -> None:
    """Write DIR/images/*.png, DIR/masks/*.png (0/255) and DIR/manifest.csv of synthesised forgeries."""
    workers = workers or os.cpu_count() or 1
    limits = {"max_per_video": max_per_video, "max_per_folder": max_per_folder, "max_box": max_box}
    chosen = [f.strip() for f in families.split(",") if f.strip()]
    if not chosen or set(chosen) - set(FAMILIES):
        fail(
            f"--families: unknown {sorted(set(chosen) - set(FAMILIES)) or 'empty'}; "
            f"choose from {','.join(FAMILIES)}"
        )
    chosen_finishes = None
    if finishes is not None:
        try:
            chosen_finishes = check_finishes(f.strip() for f in finishes.split(",") if f.strip())
        except ValueError as e:
            fail(f"--finishes: {e}")
    if split not in ("train", "val"):
        fail(f"--split must be train or val, got {split!r}")
    if bank_dir is not None and real:
        fail("give REAL inputs or --bank, not both")
    try:
        if build_bank:
            if not real:
                fail("--build-bank needs REAL images, folders or videos")
            bank = _build(real, out, workers, limits)
            console.print(f"face bank: {len(bank)} faces of {len(bank.identities())} identities in {out}")
            return
        if bank_dir is not None:
            bank = FaceBank.load(bank_dir)
        elif real:
            bank = _build(real, out / "facebank", workers, limits)
        else:
            fail("give REAL images, folders or videos, or --bank DIR")
    except (BadInput, FaceBankError) as e:
        fail(str(e))
    except OSError as e:
        fail(f"{out}: {e.strerror or e}")

    train_bank, val_bank = split_by_identity(bank, val_fraction, seed=0)
    part = train_bank if split == "train" else val_bank
    if len(part) == 0:
        fail(
            f"--split {split} has no faces (bank of {len(bank.identities())} identities, "
            f"--val-fraction {val_fraction})"
        )
    spec = PoolSpec(
        bank_root=str(bank.root),
        identities=sorted({e.identity for e in part.entries}),
        seed=seed,
        size=size,
        genuine_fraction=genuine_fraction,
        families=tuple(chosen),
        out=str(out),
        degrade=degrade,
        degradation=degradation.value,
        exaggerate=exaggerate,
        captured=captured,
        finishes=chosen_finishes,
        rendered=rendered,
    )
    try:
        for sub in ("images", "masks"):
            (out / sub).mkdir(parents=True, exist_ok=True)
        probe = out / ".write_test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        fail(f"{out}: cannot write ({e.strerror or e})")

    try:
        with counting_progress(transient=False) as bar:
            task = bar.add_task(f"synth {split}", total=n)
            records = write_pool(spec, n, workers, on_progress=lambda k: bar.update(task, advance=k))
    except (BadInput, FaceBankError, ValueError) as e:
        fail(str(e))
    except OSError as e:
        fail(f"{out}: {e.strerror or e}")
    recipe = pool_recipe(spec, n, split=split, val_fraction=val_fraction)
    atomic_write(out / "synth.json", json.dumps(recipe, indent=2))
    write_manifest(records, out / "manifest.csv")  # last, atomically: its presence means the pool is whole
    if pack:
        try:
            with counting_progress(transient=False) as bar:
                task = bar.add_task("pack", total=n)
                pack_manifest(out / "manifest.csv", workers, lambda done, total: bar.update(task, completed=done))
        except (BadInput, PoolError) as e:
            fail(str(e))
        except OSError as e:
            fail(f"{out}: {e.strerror or e}")
    fakes = sum(r.label for r in records)
    console.print(
        f"wrote {len(records)} crops ({fakes} fake, {len(records) - fakes} genuine) and "
        f"{out / 'manifest.csv'}"
    )
