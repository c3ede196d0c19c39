"""The prepared cache: decode, find the face, crop image and mask together once, and write manifests.

    CACHE/crops/<split>/<method>/<video>/<frame>.png     face crops, RGB, size x size
    CACHE/masks/<split>/<method>/<video>/<frame>.png     their masks, 0/255 (fakes only)
    CACHE/<split>.csv                                    one manifest per split (fakeseg.data.records)
    CACHE/prepare_report.json                            counts: videos missing/failed, frames, no face
    CACHE/parts/<split>/<method>/<video>.json            done-marker and records of one finished video

Work is split into units (one video, or a chunk of manifest rows); a unit's marker is written
atomically only after all its crops, so an interrupted run restarts where it stopped, redoes at most
the units that were in flight, and ends with the same manifest as an uninterrupted run (the manifest
is rebuilt from the markers and sorted).

>>> report = prepare("/data/FF++", "cache", splits=["val"], workers=4)         # doctest: +SKIP
>>> report["splits"]["val"]["crops"]                                            # doctest: +SKIP
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from .._fs import atomic_write
from ..constants import CROP_SCALE, INPUT_SIZE
from .faces import Face, crop_face, detect_faces, pick_faces
from .ffpp import (
    FRAME_EVERY,
    METHODS,
    SPLITS,
    FFVideo,
    check_options,
    ffpp_videos,
    is_ffpp_root,
    video_frames,
)
from .io import BadInput, read_image, read_mask, write_image
from .records import Record, read_manifest, write_manifest

FaceDetector = Callable[[np.ndarray], list[Face]]
ROWS_PER_UNIT = 64  # manifest rows per resumable unit: small enough to lose little on an interrupt
FFPP_SOURCE = "ffpp"


class PrepareError(ValueError):
    """A prepare run that cannot start; the message is one line meant for users."""


@dataclass(frozen=True)
class PrepareOptions:
    """What decides the content of a cache; a cache is only resumed with the options it was made with."""
    size: int = INPUT_SIZE  # crop side; the same as the network input so train sees eval's exact crop
    scale: float = CROP_SCALE
    compression: str = "raw"  # FF++ only (the paper uses raw)
    mask_source: str = "difference"  # FF++ only: "difference" or "official"
    methods: tuple[str, ...] = METHODS  # FF++ only
    all_faces: bool = False
    face_crop: bool = True  # False: the whole image, made square by reflection, resized to size
    every: int | None = None  # frame step; None: the paper's (train 1, val/test 10)
    max_side: int = 640  # HOG runs on a copy at most this large


@dataclass
class _Unit:
    split: str
    key: str  # "<method>/<video>" or "rows/<first row>"; names the marker
    video: FFVideo | None = None
    rows: list[tuple[int, Record]] = field(default_factory=list)


@dataclass
class _UnitResult:
    split: str
    key: str
    records: list[dict]
    frames: int
    no_face: int
    error: str | None = None  # a BadInput message: the unit failed and has no marker
    skipped: list[str] = field(default_factory=list)  # unreadable manifest rows


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name) or "_"


def _marker(out: Path, split: str, key: str) -> Path:
    return out / "parts" / split / f"{key}.json"


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data, indent=1))


def default_face_detector(max_side: int = 640) -> FaceDetector:
    """HOG (face_recognition) on a copy whose long side is at most `max_side`; picklable for workers."""
    return partial(detect_faces, model="hog", max_side=max_side)


def _crop_all(image: np.ndarray, mask: np.ndarray | None, label: int, options: PrepareOptions,
              detector: FaceDetector):
    """The crops (FaceCrop list) of one frame: the picked face(s), or the whole image; [] when no face."""
    if not options.face_crop:
        h, w = image.shape[:2]
        return [crop_face(image, (0, 0, w, h), options.size, scale=1.0, mask=mask)]
    faces = pick_faces(detector(image), mask, label, options.all_faces)
    return [crop_face(image, f.box, options.size, options.scale, mask=mask) for f in faces]


def _save(out: Path, stem: Path, crop, label: int) -> tuple[str, str]:
    image_rel = Path("crops") / stem.with_suffix(".png")
    write_image(out / image_rel, crop.image)
    if not label:
        return image_rel.as_posix(), ""
    mask_rel = Path("masks") / stem.with_suffix(".png")
    write_image(out / mask_rel, (crop.mask * 255).astype(np.uint8))
    return image_rel.as_posix(), mask_rel.as_posix()


def _run_video(unit: _Unit, out: Path, options: PrepareOptions, detector: FaceDetector) -> _UnitResult:
    video = unit.video
    rel_dir = Path(unit.split) / _safe(video.method) / _safe(video.video)
    for top in ("crops", "masks"):  # leftovers of an interrupted run of this unit
        shutil.rmtree(out / top / rel_dir, ignore_errors=True)
        (out / top / rel_dir).mkdir(parents=True, exist_ok=True)
    every = options.every or FRAME_EVERY[unit.split]
    records, frames, no_face = [], 0, 0
    try:
        for fr in video_frames(video, every, options.mask_source):
            frames += 1
            crops = _crop_all(fr.image, fr.mask, fr.label, options, detector)
            no_face += not crops
            for k, crop in enumerate(crops):
                name = f"{fr.frame:05d}" + (f"_{k}" if k else "")
                image, mask = _save(out, rel_dir / name, crop, fr.label)
                records.append(dict(image=image, mask=mask, label=fr.label, method=video.method,
                                    source=FFPP_SOURCE, video=f"{video.method}/{video.video}",
                                    frame=fr.frame))
    except BadInput as e:
        return _UnitResult(unit.split, unit.key, [], frames, no_face, error=str(e))
    return _UnitResult(unit.split, unit.key, records, frames, no_face)


def _run_rows(unit: _Unit, out: Path, options: PrepareOptions, detector: FaceDetector) -> _UnitResult:
    records, skipped, no_face = [], [], 0
    for row, rec in unit.rows:
        try:
            image = read_image(rec.image)
            mask = read_mask(rec.mask, image.shape[:2]) if rec.label else None
        except BadInput as e:
            skipped.append(str(e))
            continue
        crops = _crop_all(image, mask, rec.label, options, detector)
        no_face += not crops
        for k, crop in enumerate(crops):
            name = f"{row:06d}_{_safe(rec.image.stem)}" + (f"_{k}" if k else "")
            stem = Path(unit.split) / _safe(rec.method) / name
            (out / "crops" / stem).parent.mkdir(parents=True, exist_ok=True)
            (out / "masks" / stem).parent.mkdir(parents=True, exist_ok=True)
            img_rel, mask_rel = _save(out, stem, crop, rec.label)
            records.append(dict(image=img_rel, mask=mask_rel, label=rec.label, method=rec.method,
                                source=rec.source, video=rec.video, frame=rec.frame))
    return _UnitResult(unit.split, unit.key, records, len(unit.rows) - len(skipped), no_face, skipped=skipped)


def _run_unit(unit: _Unit, out: Path, options: PrepareOptions, detector: FaceDetector) -> _UnitResult:
    cv2.setNumThreads(1)  # one process per core does the parallel work; threads inside would fight it
    run = _run_video if unit.video is not None else _run_rows
    result = run(unit, out, options, detector)
    if result.error is None:
        _write_json(_marker(out, unit.split, unit.key), dict(
            records=result.records, frames=result.frames, no_face=result.no_face, skipped=result.skipped))
    return result


def _plan(root: Path, splits: Sequence[str], options: PrepareOptions) -> tuple[list[_Unit], dict[str, list]]:
    """All units of work, and per split the videos that were expected but are missing."""
    units: list[_Unit] = []
    missing: dict[str, list] = {}
    if root.is_file():
        split = _safe(root.stem)
        try:
            rows = list(enumerate(read_manifest(root)))
        except (ValueError, OSError) as e:
            raise PrepareError(str(e)) from None
        for start in range(0, len(rows), ROWS_PER_UNIT):
            units.append(_Unit(split, f"rows/{start:06d}", rows=rows[start:start + ROWS_PER_UNIT]))
        missing[split] = []
        return units, missing
    if not is_ffpp_root(root):
        raise PrepareError(f"{root}: neither a manifest CSV nor a FaceForensics++ root "
                           "(no original_sequences/ or manipulated_sequences/)")
    for split in splits:
        if split not in SPLITS:
            raise PrepareError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
        videos, missing[split] = ffpp_videos(root, split, options.compression, options.methods,
                                             options.mask_source)
        units.extend(_Unit(split, f"{_safe(v.method)}/{_safe(v.video)}", video=v) for v in videos)
    return units, missing


def _check_cache(out: Path, root: Path, options: PrepareOptions) -> None:
    """Refuse to resume a cache made from another root or with other options (it would mix crops)."""
    config = dict(root=str(root.resolve()), options=asdict(options))
    config["options"]["methods"] = list(options.methods)
    path = out / "prepare_config.json"
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = None
        if old != config:
            if old and old.get("root") != config["root"]:
                what = f"from another root ({old.get('root')})"
            else:
                was = (old or {}).get("options") or {}
                changed = [f"{k} was {was.get(k)!r}, now {v!r}"
                           for k, v in config["options"].items() if was.get(k) != v]
                what = f"with other options ({', '.join(changed)})"
            raise PrepareError(f"{out} holds a cache prepared {what}; use a new --out or delete it")
        return
    _write_json(path, config)


def prepare(root: str | Path, out: str | Path, splits: Sequence[str] = SPLITS,
            options: PrepareOptions | None = None, workers: int = 1,
            face_detector: FaceDetector | None = None,
            progress: Callable[[int, int], None] | None = None) -> dict:
    """Build (or finish) the cache at `out` from an FF++ root or a manifest CSV of whole frames.

    `splits` applies to an FF++ root; a manifest CSV is one split named after its file (eval.csv -> eval).

    `face_detector(rgb) -> list[Face]` (largest first) replaces HOG, e.g. in tests; it must be
    picklable when workers > 1. `progress(done, total)` is called with finished units.
    Returns the report also written to `out/prepare_report.json`.
    """
    options = options or PrepareOptions()
    root, out = Path(root), Path(out)
    if not root.exists():
        raise PrepareError(f"{root}: no such file or folder")
    if root.is_dir():
        try:
            check_options(options.compression, options.mask_source, options.methods)
        except ValueError as e:
            raise PrepareError(str(e)) from None
    if options.size < 8:
        raise PrepareError(f"size must be at least 8, got {options.size}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out, prefix=".write-test.")
        probe.close()
    except OSError as e:
        raise PrepareError(f"{out}: cannot write there ({e.strerror or e})") from None
    units, missing = _plan(root, splits, options)
    _check_cache(out, root, options)
    detector = face_detector or default_face_detector(options.max_side)

    todo = [u for u in units if not _marker(out, u.split, u.key).is_file()]
    done, total = len(units) - len(todo), len(units)
    failed: dict[str, list[str]] = {split: [] for split in missing}
    if progress:
        progress(done, total)
    started = time.monotonic()

    def finished(result: _UnitResult) -> None:
        nonlocal done
        done += 1
        if result.error:
            failed[result.split].append(result.error)
        if progress:
            progress(done, total)

    if workers <= 1 or len(todo) <= 1:
        for unit in todo:
            finished(_run_unit(unit, out, options, detector))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            pending = {pool.submit(_run_unit, u, out, options, detector) for u in todo}
            try:
                while pending:
                    ready, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in ready:
                        finished(future.result())
            except BaseException:
                for future in pending:
                    future.cancel()
                raise

    report = _finish(out, root, units, missing, failed, options)
    report["seconds"] = round(time.monotonic() - started, 1)
    _write_json(out / "prepare_report.json", report)
    return report


def _finish(out: Path, root: Path, units: list[_Unit], missing: dict[str, list], failed: dict[str, list],
            options: PrepareOptions) -> dict:
    """Rebuild each split's manifest from all markers (this run's and earlier ones), sorted."""
    splits: dict[str, dict] = {}
    for split in missing:
        split_units = [u for u in units if u.split == split]
        rows, frames, no_face, skipped = [], 0, 0, []
        for unit in split_units:
            marker = _marker(out, split, unit.key)
            if not marker.is_file():
                continue
            part = json.loads(marker.read_text())
            rows += part["records"]
            frames += part["frames"]
            no_face += part["no_face"]
            skipped += part.get("skipped", [])
        rows.sort(key=lambda r: (r["method"], r["video"], r["frame"], r["image"]))
        records = [Record(image=out / r["image"], mask=out / r["mask"] if r["mask"] else None,
                          label=r["label"], method=r["method"], source=r["source"], video=r["video"],
                          frame=r["frame"])
                   for r in rows]
        write_manifest(records, out / f"{split}.csv")
        splits[split] = dict(
            manifest=f"{split}.csv", units=len(split_units), videos_missing=len(missing[split]),
            missing_examples=[str(p) for p in missing[split][:5]], units_failed=len(failed[split]),
            failed_examples=failed[split][:5], frames=frames, crops=len(records), no_face=no_face,
            rows_unreadable=len(skipped), unreadable_examples=skipped[:5],
            fake_crops=sum(r.label for r in records))
    return dict(root=str(root), options={**asdict(options), "methods": list(options.methods)}, splits=splits)
