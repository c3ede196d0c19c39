"""Writing a pool of samples to disk from worker processes: each worker builds its Synthesizer once
and writes its own PNGs (atomically), so only small records travel back to the parent."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2

from ..facebank import FaceBank
from ..io import write_image
from ..records import Record
from .generator import Synthesizer

_CACHE: dict[PoolSpec, Synthesizer] = {}


@dataclass(frozen=True)
class PoolSpec:
    bank_root: str
    identities: list[str] | tuple[str, ...]
    seed: int
    size: int
    genuine_fraction: float
    families: tuple[str, ...]
    out: str

    def __hash__(self) -> int:
        return hash(
            (
                self.bank_root,
                tuple(self.identities),
                self.seed,
                self.size,
                self.genuine_fraction,
                self.families,
                self.out,
            )
        )


def _synth(spec: PoolSpec) -> Synthesizer:
    if spec not in _CACHE:
        cv2.setNumThreads(1)  # one process per core already
        keep = set(spec.identities)
        bank = FaceBank.load(spec.bank_root).subset(lambda e: e.identity in keep)
        _CACHE.clear()
        _CACHE[spec] = Synthesizer(
            bank,
            seed=spec.seed,
            size=spec.size,
            genuine_fraction=spec.genuine_fraction,
            families=spec.families,
        )
    return _CACHE[spec]


def write_chunk(spec: PoolSpec, indices: range) -> list[Record]:
    """Samples `indices` written as OUT/images/NNNNNNN.png and OUT/masks/NNNNNNN.png (0/255)."""
    synth = _synth(spec)
    out = Path(spec.out)
    rows = []
    for i in indices:
        s = synth.sample(i)
        image = out / "images" / f"{i:07d}.png"
        write_image(image, s.image)
        mask = None
        if s.label:
            mask = out / "masks" / f"{i:07d}.png"
            write_image(mask, s.mask * 255)
        rows.append(
            Record(image=image, mask=mask, label=s.label, method=s.method, source=s.meta.get("source", ""))
        )
    return rows
