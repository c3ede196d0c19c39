"""Training and validation samples from manifests (crops or whole frames) and on-the-fly forgeries.

Every random choice is a pure function of (seed, epoch, slot): the epoch's item order comes from
`EpochPlan.items(epoch)`, and a sample's augmentation from a generator seeded with (seed, epoch, slot).
Nothing depends on worker processes or on how many batches ran before, so a resumed run (or another
DDP rank) draws exactly the samples an uninterrupted run would have drawn.

Whole frames are cropped the paper's way (`detect_faces` -> `pick_faces` -> `crop_face`); their face
boxes are found once, before training, and cached in a JSON file, so no epoch ever re-detects.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .._fs import atomic_write
from ..constants import CROP_SCALE
from .augment import Augment, eval_view, train_view
from .faces import crop_face, detect_faces, pick_faces
from .io import BadInput, read_image, read_mask
from .pool import open_pool
from .records import ManifestError, Record, read_manifest

MAX_CROP_SIDE = (
    512  # a square image at most this big is taken to be a face crop already (see docs/training.md)
)
Box = tuple[int, int, int, int]


class DataError(ValueError):
    """Training data that cannot be used; the message is one line meant for users."""


# --------------------------------------------------------------------------------------------------
# manifests and caches


def read_training_data(specs: list[str | Path]) -> tuple[list[Record], list[Record]]:
    """Records of every `--data` spec: a manifest CSV, or a prepared cache folder holding train.csv (and
    val.csv). Returns (train records, val records found in caches)."""
    train: list[Record] = []
    val: list[Record] = []
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_dir():
            if not (path / "train.csv").is_file():
                raise DataError(f"{path}: a data folder must hold train.csv (a prepared cache); none found")
            train += read_manifest(path / "train.csv")
            if (path / "val.csv").is_file():
                val += read_manifest(path / "val.csv")
        elif path.is_file():
            train += read_manifest(path)
        else:
            raise DataError(f"{path}: no such manifest or cache folder")
    return train, val


def check_files(records: list[Record]) -> None:
    """Fail before training, not an hour into it, when a manifest names a file that is not there."""
    missing = [p for r in records for p in (r.image, r.mask) if p is not None and not p.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(f"{missing[0]}: no such file{more}")


def is_face_crop(path: Path) -> bool:
    """A square image at most MAX_CROP_SIDE px is a face crop; anything else is a frame to detect faces in.
    Reads the header only."""
    try:
        with Image.open(path) as im:
            w, h = im.size
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable image ({e})") from None
    return w == h and w <= MAX_CROP_SIDE


def face_boxes(
    records: list[Record],
    face_crop: bool | None,
    cache: Path | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[Box | None | bool]:
    """Per record: None for a crop used as is, a face box for a whole frame, False for a frame with no face.

    face_crop True: every image is a crop; False: every image is a frame; None: decided per image
    (`is_face_crop`). Boxes are cached in `cache` (JSON keyed by path, size and mtime).
    """
    known = _read_box_cache(cache)
    todo = [
        i
        for i, r in enumerate(records)
        if face_crop is False or (face_crop is None and not is_face_crop(r.image))
    ]
    out: list[Box | None | bool] = [None] * len(records)
    for n, i in enumerate(todo):
        r = records[i]
        st = r.image.stat()
        key = str(r.image.resolve())
        hit = known.get(key)
        if hit and hit["size"] == st.st_size and hit["mtime_ns"] == st.st_mtime_ns:
            box = hit["box"]
        else:
            rgb = read_image(r.image)
            mask = read_mask(r.mask, rgb.shape[:2]) if r.mask is not None else None
            faces = pick_faces(detect_faces(rgb), mask, r.label)
            box = list(faces[0].box) if faces else None
            known[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "box": box}
        out[i] = tuple(box) if box else False
        if on_progress:
            on_progress(n + 1, len(todo))
    if cache is not None and todo:
        _write_box_cache(cache, known)
    return out


def _read_box_cache(cache: Path | None) -> dict:
    if cache is None or not cache.is_file():
        return {}
    try:
        return json.loads(cache.read_text())
    except ValueError:
        return {}  # a damaged cache only costs a re-detection


def _write_box_cache(cache: Path, known: dict) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(cache, json.dumps(known))


# --------------------------------------------------------------------------------------------------
# sources: index -> (image, mask, label) at any size


def pooled_rows(records: list[Record], manifests: list[Path]) -> list[tuple[np.ndarray, np.ndarray, int] | None]:
    """Per record, (images, masks, row) of a fresh decoded pool of its manifest (`fakeseg.data.pool`), or None."""
    where: dict[Record, tuple[np.ndarray, np.ndarray, int]] = {}
    for manifest in manifests:
        rows = read_manifest(manifest)
        arrays = open_pool(manifest, rows)
        if arrays is not None:
            where.update({r: (*arrays, i) for i, r in enumerate(rows)})
    return [where.get(r) for r in records]


class ManifestSource:
    """Manifest records as face crops (full resolution; the views resize). Crops that have a decoded pool
    (`pooled[i]`) are copied out of its memory map instead of decoded from their files."""

    def __init__(self, records: list[Record], boxes: list[Box | None], pooled: list | None = None):
        self.records, self.boxes = records, boxes
        self.pooled = pooled or [None] * len(records)

    def __len__(self) -> int:
        return len(self.records)

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray, int]:
        r = self.records[i]
        if self.pooled[i] is not None and self.boxes[i] is None:
            images, masks, row = self.pooled[i]
            return np.array(images[row]), np.array(masks[row]), r.label
        image = read_image(r.image)
        mask = read_mask(r.mask, image.shape[:2])
        box = self.boxes[i]
        if box is not None:
            crop = crop_face(image, box, size=None, scale=CROP_SCALE, mask=mask)
            image, mask = crop.image, crop.mask
        return image, mask, r.label


class SynthSource:
    """Forgeries made on the fly: index k -> `synthesizer.sample(k)` (deterministic per (seed, k))."""

    def __init__(self, synthesizer):
        self.synthesizer = synthesizer

    def load(self, k: int) -> tuple[np.ndarray, np.ndarray, int]:
        s = self.synthesizer.sample(int(k))
        return s.image, (s.mask > 0).astype(np.uint8), int(s.label)


def usable(
    records: list[Record], boxes: list[Box | None | bool]
) -> tuple[list[Record], list[Box | None], int]:
    """Drop frames in which no face was found; returns (records, boxes, dropped)."""
    keep = [i for i, b in enumerate(boxes) if b is not False]
    return [records[i] for i in keep], [boxes[i] for i in keep], len(records) - len(keep)  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------
# what one epoch draws, and the batches of each step


@dataclass(frozen=True)
class EpochPlan:
    """Item ids of an epoch: ids < n_real index the manifests, ids >= n_real are synth sample n - n_real.

    Synth indices never repeat across epochs (epoch e uses e * n_synth ... ), so every epoch sees new
    forgeries; manifest items are reshuffled each epoch and cycled when the epoch is longer.
    """

    n_real: int
    n_synth: int  # synth samples per epoch
    epoch_size: int
    seed: int = 0

    @classmethod
    def build(
        cls,
        n_real: int,
        synth: bool,
        synth_fraction: float,
        epoch_size: int | None,
        seed: int,
        synth_epoch_size: int = 10_000,
    ) -> EpochPlan:
        if not synth:
            if n_real == 0:
                raise DataError("no training samples")
            return cls(n_real, 0, epoch_size or n_real, seed)
        if n_real == 0 or synth_fraction >= 1.0:
            size = epoch_size or synth_epoch_size
            return cls(n_real, size, size, seed)
        size = epoch_size or max(1, round(n_real / (1.0 - synth_fraction)))
        return cls(n_real, round(size * synth_fraction), size, seed)

    def items(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, epoch, 0x5EED))
        n_from_real = self.epoch_size - self.n_synth
        real = np.zeros(0, np.int64)
        if n_from_real > 0:
            reps = -(-n_from_real // self.n_real)
            real = np.concatenate([rng.permutation(self.n_real) for _ in range(reps)])[:n_from_real]
        synth = self.n_real + epoch * self.n_synth + np.arange(self.n_synth, dtype=np.int64)
        both = np.concatenate([real, synth])
        return both[rng.permutation(both.size)] if real.size and synth.size else both


class StepBatchSampler(torch.utils.data.Sampler):
    """Yields, for each step in [start_step, total_steps), this rank's keys (epoch, slot, item).

    A step's global batch is `batch_size * world` consecutive slots of the epoch plan (cycled when the
    epoch is shorter); rank r takes every world-th key, so ranks never share a sample.
    """

    def __init__(
        self,
        plan: EpochPlan,
        batch_size: int,
        total_steps: int,
        start_step: int = 0,
        rank: int = 0,
        world: int = 1,
    ):
        self.plan, self.batch_size, self.rank, self.world = plan, batch_size, rank, world
        self.total_steps, self.start_step = total_steps, start_step
        self.steps_per_epoch = max(1, plan.epoch_size // (batch_size * world))

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        per_step = self.batch_size * self.world
        epoch, items = -1, None
        for step in range(self.start_step, self.total_steps):
            e, b = divmod(step, self.steps_per_epoch)
            if e != epoch:
                epoch, items = e, self.plan.items(e)
            slots = np.arange(b * per_step, (b + 1) * per_step)[self.rank :: self.world]
            yield [(e, int(s), int(items[s % items.size])) for s in slots]


# --------------------------------------------------------------------------------------------------
# datasets


class TrainDataset(torch.utils.data.Dataset):
    """key (epoch, slot, item) -> (image, mask, label) training view of manifest item or synth sample."""

    def __init__(
        self,
        real: ManifestSource | None,
        synth: SynthSource | None,
        size: int,
        seed: int,
        augment: Augment | None,
    ):
        self.real, self.synth, self.size, self.seed, self.augment = real, synth, size, seed, augment
        self.n_real = len(real) if real is not None else 0

    def __getitem__(self, key: tuple[int, int, int]):
        epoch, slot, item = key
        if item < self.n_real:
            image, mask, label = self.real.load(item)
        else:
            image, mask, label = self.synth.load(item - self.n_real)
        rng = np.random.default_rng((self.seed, epoch, slot))
        image, mask = train_view(image, mask, self.size, rng, self.augment)
        return image, mask, label


class EvalDataset(torch.utils.data.Dataset):
    """Deterministic views (no augmentation) of `indices` of a source."""

    def __init__(self, source: ManifestSource | SynthSource, size: int, indices: list[int] | None = None):
        self.source, self.size = source, size
        self.indices = list(range(len(source))) if indices is None else indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        image, mask, label = self.source.load(self.indices[i])
        image, mask = eval_view(image, mask, self.size)
        return image, mask, label


@dataclass(frozen=True)
class Collate:
    """Stacks samples into uint8 batches; the engine applies THE preprocessing (`normalize`) on its
    device, so loader processes never do float work (and copy 4x less to a GPU)."""

    def __call__(self, batch):
        images, masks, labels = zip(*batch, strict=True)
        return (
            torch.from_numpy(np.stack(images)),
            torch.from_numpy(np.stack(masks)),
            torch.tensor(labels, dtype=torch.float32),
        )


__all__ = [
    "BadInput",
    "Collate",
    "DataError",
    "EpochPlan",
    "EvalDataset",
    "ManifestError",
    "ManifestSource",
    "StepBatchSampler",
    "SynthSource",
    "TrainDataset",
    "check_files",
    "face_boxes",
    "is_face_crop",
    "read_training_data",
    "usable",
]
