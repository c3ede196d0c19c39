"""The face bank: real faces with landmarks, found ONCE, from which `synth` makes forgeries anywhere.

face_recognition (dlib) is slow and is not installed on the GPU training machines, so landmarks are
computed here once and stored with a crop of the frame around each face:

    BANK/index.json         {"version", "params", "done": [source files], "entries": [...]}
    BANK/faces/<key>.jpg    a square crop of 2.6x the face box (reflect-padded like `crop_face`),
                            downscaled so the face box is at most `max_box` px wide; JPEG q95

Each entry holds the 68 landmarks and the face box in crop pixels, an `identity` (one per video,
per person folder, or per photo; every UTKFace file is its own person), its source folder, the
original resolution and a `kind` (video / photo / tight: tight crops such as UTKFace are used mainly
as swap donors because their x2 crop is mostly padding). Loading a bank (`FaceBank.load`) needs only
numpy and OpenCV. Building is resumable: files already listed under "done" are skipped on a rerun.

>>> bank = build_facebank([Path("real_faces"), Path("real_videos")], Path("bank"))  # doctest: +SKIP
>>> train, val = split_by_identity(FaceBank.load("bank"), val_fraction=0.1, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from .._fs import atomic_write, missing_dirs
from .faces import crop_box, crop_face
from .io import BadInput, read_image
from .sources import is_image, is_video, iter_frames, video_info

BANK_VERSION = 1
BANK_SCALE = 2.6  # crop side / face box: room for the x2 crop plus box jitter and shifts
TIGHT_FILL = 0.9  # a photo whose x2 crop lies less than this much inside it is a tight, aligned crop


class FaceBankError(ValueError):
    """A bank that is missing, corrupt or empty; the message is one line meant for users."""


@dataclass
class BankEntry:
    file: str  # relative to the bank folder
    landmarks: np.ndarray  # (68, 2) float32, crop pixels, dlib order
    box: tuple[float, float, float, float]  # face detector box x0, y0, x1, y1 in crop pixels
    identity: str
    source: str  # the top folder (or file) it came from, e.g. "utkface_crop_part1"
    kind: str  # "video", "photo" or "tight"
    original_hw: tuple[int, int]  # the frame it was cut from
    frame: int = -1  # video frame index
    gray: bool = False  # a black-and-white photo: never swapped with a colour one

    def to_json(self) -> dict:
        d = asdict(self)
        d["landmarks"] = np.round(self.landmarks, 2).tolist()
        d["box"] = [round(float(v), 2) for v in self.box]
        return d

    @classmethod
    def from_json(cls, d: dict) -> BankEntry:
        return cls(
            file=d["file"],
            landmarks=np.asarray(d["landmarks"], np.float32).reshape(68, 2),
            box=tuple(d["box"]),
            identity=d["identity"],
            source=d["source"],
            kind=d["kind"],
            original_hw=tuple(d["original_hw"]),
            frame=int(d.get("frame", -1)),
            gray=bool(d.get("gray", False)),
        )


class FaceBank:
    """Entries of a bank folder; images are decoded on demand (a small cache per process)."""

    def __init__(self, root: Path, entries: list[BankEntry]):
        self.root = Path(root)
        self.entries = entries

    @classmethod
    def load(cls, path: str | Path) -> FaceBank:
        root = Path(path)
        index = root / "index.json"
        if not index.is_file():
            raise FaceBankError(
                f"{root}: not a face bank (no index.json); build one with `fakeseg synth "
                "--build-bank REAL... --out DIR`"
            )
        try:
            data = json.loads(index.read_text())
            entries = [BankEntry.from_json(e) for e in data["entries"]]
        except (ValueError, KeyError, TypeError) as e:
            raise FaceBankError(f"{index}: corrupt face bank index ({e})") from None
        if not entries:
            raise FaceBankError(f"{root}: face bank has no faces")
        return cls(root, entries)

    def __len__(self) -> int:
        return len(self.entries)

    def image(self, i: int) -> np.ndarray:
        """RGB uint8 crop of entry i."""
        return _read_cached(str(self.root / self.entries[i].file))

    def identities(self) -> list[str]:
        return sorted({e.identity for e in self.entries})

    def subset(self, keep: Callable[[BankEntry], bool]) -> FaceBank:
        return FaceBank(self.root, [e for e in self.entries if keep(e)])


@lru_cache(maxsize=256)
def _read_cached(path: str) -> np.ndarray:
    try:
        rgb = read_image(path)
    except BadInput as e:
        raise FaceBankError(str(e)) from None
    rgb.flags.writeable = False  # shared by every caller of the cache
    return rgb


def split_by_identity(bank: FaceBank, val_fraction: float, seed: int = 0) -> tuple[FaceBank, FaceBank]:
    """(train, val) banks whose identities are disjoint; each kind (video/photo/tight) is split on
    its own so validation gets video targets too, not only UTKFace donors."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    kind_of = {e.identity: e.kind for e in bank.entries}  # an identity belongs to one kind (its last seen)
    all_ids = sorted(kind_of)
    val_ids: set[str] = set()
    for kind in sorted(set(kind_of.values())):
        ids = [i for i in all_ids if kind_of[i] == kind]
        n_val = int(np.floor(len(ids) * val_fraction + 0.5))
        val_ids.update(ids[i] for i in rng.permutation(len(ids))[:n_val])
    if val_fraction > 0 and not val_ids and len(all_ids) >= 2:  # few identities: still hold one out
        val_ids.add(all_ids[int(rng.integers(len(all_ids)))])
    if len(val_ids) == len(all_ids) and all_ids:  # and keep at least one for training
        val_ids.discard(sorted(val_ids)[0])
    return bank.subset(lambda e: e.identity not in val_ids), bank.subset(lambda e: e.identity in val_ids)


# --- building ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    path: str
    root: str  # the source argument it was found under (for source / identity names)
    max_per_video: int
    max_box: int
    min_box: int
    quality: int


def _walk(sources: list[Path], max_per_folder: int | None) -> Iterator[tuple[Path, Path]]:
    """(file, the source it was found under); a folder is walked recursively, and at most
    `max_per_folder` images are taken from each sub-folder, spread evenly over its sorted names."""
    for src in sources:
        src = Path(src)
        if src.is_file():
            if not (is_image(src) or is_video(src)):
                raise BadInput(f"{src}: unsupported file type {src.suffix or '(none)'!r}")
            yield src, src.parent
        elif src.is_dir():
            for folder, _, names in sorted(os.walk(src)):
                files = [Path(folder) / n for n in sorted(names) if is_image(n) or is_video(n)]
                images = [f for f in files if is_image(f)]
                if max_per_folder is not None and len(images) > max_per_folder:
                    keep = set(np.linspace(0, len(images) - 1, max_per_folder).round().astype(int))
                    images = [f for i, f in enumerate(images) if i in keep]
                for f in images + [f for f in files if is_video(f)]:
                    yield f, src
        else:
            raise BadInput(f"{src}: no such file or folder")


def _names(path: Path, root: Path) -> tuple[str, str]:
    """(source, identity): the first folder under the source root, and one id per person when the
    layout says so (`person/1.jpg`), otherwise one per file (a video or a photo)."""
    rel = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
    source = rel.parts[0] if len(rel.parts) > 1 else root.name or path.stem
    if path.stem.isdigit() and len(rel.parts) > 2:  # facenet's test_images/<person>/1.jpg layout
        return source, f"{source}/{path.parent.name}"
    return source, f"{source}/{rel.with_suffix('').as_posix()}"


def _detect(rgb: np.ndarray):
    """Faces with landmarks; tight crops (UTKFace: the face fills the image) get a grey border first,
    because HOG misses a face that touches the image edges."""
    from .faces import detect_faces  # face_recognition: needed to build a bank, never to use one

    h, w = rgb.shape[:2]
    pad = int(0.3 * max(h, w)) if max(h, w) < 400 else 0
    if pad:
        padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(128, 128, 128))
        faces = detect_faces(padded, landmarks=True)
        for f in faces:
            f.box = (f.box[0] - pad, f.box[1] - pad, f.box[2] - pad, f.box[3] - pad)
            f.landmarks = f.landmarks - pad
        return faces
    return detect_faces(rgb, landmarks=True)


def _inside_fraction(box, h: int, w: int) -> float:
    x0, y0, x1, y1 = crop_box(box, 2.0)
    inside = max(0, min(x1, w) - max(x0, 0)) * max(0, min(y1, h) - max(y0, 0))
    return inside / max(1, (x1 - x0) * (y1 - y0))


def _is_gray(rgb: np.ndarray) -> bool:
    small = rgb[::4, ::4].astype(np.int16)
    return float(np.abs(small - small.mean(2, keepdims=True)).mean()) < 2.0


def _bank_crop(rgb: np.ndarray, box) -> tuple[np.ndarray, tuple[int, int]]:
    crop = crop_face(rgb, box, size=None, scale=BANK_SCALE)
    return crop.image, (crop.box[0], crop.box[1])


def _frames(job: _Job) -> Iterator[tuple[int, np.ndarray]]:
    path = Path(job.path)
    if is_video(path):
        n = video_info(path).n_frames
        every = max(1, n // job.max_per_video)  # spread over the clip: neighbours are near-duplicates
        start = min(every // 2, max(n - 1, 0))
        for k, (index, _, rgb) in enumerate(iter_frames(path, every=every, start=start)):
            if k >= job.max_per_video:
                break
            yield index, rgb
    else:
        yield -1, read_image(path)


def _process(job: _Job) -> tuple[str, list[tuple[dict, bytes]], str | None]:
    """One source file -> [(entry json, jpeg bytes)], or an error line (the build goes on without it)."""
    cv2.setNumThreads(1)
    path, root = Path(job.path), Path(job.root)
    source, identity = _names(path, root)
    out: list[tuple[dict, bytes]] = []
    try:
        for frame, rgb in _frames(job):
            h, w = rgb.shape[:2]
            for k, face in enumerate(_detect(rgb)):
                bw, bh = face.box[2] - face.box[0], face.box[3] - face.box[1]
                if min(bw, bh) < job.min_box:
                    continue
                kind = (
                    "video"
                    if frame >= 0
                    else ("tight" if _inside_fraction(face.box, h, w) < TIGHT_FILL else "photo")
                )
                # a tight crop is stored whole: padding it by reflection would only store mirrored faces
                img, (ox, oy) = (rgb, (0, 0)) if kind == "tight" else _bank_crop(rgb, face.box)
                f = min(1.0, job.max_box / max(bw, bh))
                if f < 1.0:
                    img = cv2.resize(
                        img,
                        (max(8, round(img.shape[1] * f)), max(8, round(img.shape[0] * f))),
                        interpolation=cv2.INTER_AREA,
                    )
                lm = (face.landmarks - (ox, oy)) * f
                box = tuple((np.array(face.box, np.float32) - (ox, oy, ox, oy)) * f)
                key = hashlib.sha1(f"{path}:{frame}:{k}".encode()).hexdigest()[:16]
                ok, buf = cv2.imencode(
                    ".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, job.quality]
                )
                if not ok:
                    continue
                entry = BankEntry(
                    file=f"faces/{key}.jpg",
                    landmarks=lm.astype(np.float32),
                    box=box,
                    identity=identity,
                    source=source,
                    kind=kind,
                    original_hw=(h, w),
                    frame=frame,
                    gray=_is_gray(img),
                )
                out.append((entry.to_json(), buf.tobytes()))
    except BadInput as e:
        return job.path, out, str(e)
    return job.path, out, None


def _write_index(root: Path, params: dict, done: list[str], entries: list[dict]) -> None:
    index = {"version": BANK_VERSION, "params": params, "done": done, "entries": entries}
    atomic_write(root / "index.json", json.dumps(index))


def build_facebank(
    sources: list[Path],
    out: Path,
    max_per_video: int = 12,
    max_per_folder: int | None = 400,
    max_box: int = 160,
    min_box: int = 40,
    quality: int = 95,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    on_error: Callable[[str], None] | None = None,
) -> FaceBank:
    """Detect faces and landmarks in images, folders (recursive) and videos; store them as a bank.

    `max_per_video` frames are taken spread over each video; `max_per_folder` caps the images taken
    from any one folder (UTKFace has thousands of near-identical tight crops); faces smaller than
    `min_box` px are skipped. Rerunning on the same `out` skips the files already done.
    `progress(done, total)` is called after each file; `on_error(line)` for each unreadable file.
    """
    out = Path(out)
    files = list(_walk(sources, max_per_folder))  # raises on a missing source before anything is written
    created = next(iter(missing_dirs(out)), None)  # the topmost folder this call creates: removed if no face at all
    (out / "faces").mkdir(parents=True, exist_ok=True)
    params = {
        "max_per_video": max_per_video,
        "max_per_folder": max_per_folder,
        "max_box": max_box,
        "min_box": min_box,
        "quality": quality,
        "scale": BANK_SCALE,
    }
    done: list[str] = []
    entries: list[dict] = []
    if (out / "index.json").is_file():
        try:
            old = json.loads((out / "index.json").read_text())
            if old.get("params") == params:
                done, entries = list(old["done"]), list(old["entries"])
        except (ValueError, KeyError):
            pass  # unreadable index: rebuild from scratch
    seen = set(done)
    jobs = [
        _Job(str(f), str(root), max_per_video, max_box, min_box, quality)
        for f, root in files
        if str(f) not in seen
    ]
    total = len(jobs) + len(done)
    if progress:
        progress(len(done), total)

    errors: list[str] = []

    def collect(results: Iterator[tuple[str, list[tuple[dict, bytes]], str | None]]) -> None:
        for n, (path, items, error) in enumerate(results, start=1):
            for entry, jpeg in items:
                (out / entry["file"]).write_bytes(jpeg)
                entries.append(entry)
            done.append(path)
            if error:
                errors.append(error)
                if on_error:
                    on_error(error)
            if n % 50 == 0:  # checkpoint: a killed build resumes from here
                _write_index(out, params, done, entries)
            if progress:
                progress(len(done), total)

    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers) as pool:
            collect(pool.map(_process, jobs, chunksize=4))
    else:
        collect(map(_process, jobs))
    if not entries:
        if created is not None:  # nothing worth resuming: leave no empty bank that looks like a result
            shutil.rmtree(created, ignore_errors=True)
        if jobs and len(errors) == len(jobs):  # not one file could be read: say why, not "no faces"
            raise FaceBankError(errors[0] if len(errors) == 1 else
                                f"none of the {len(errors)} files could be read (first: {errors[0]})")
        raise FaceBankError(f"no faces found in {', '.join(str(s) for s in sources)}")
    _write_index(out, params, done, entries)
    return FaceBank.load(out)
