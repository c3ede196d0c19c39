"""Writing a pool of samples to disk from worker processes: each worker builds its Synthesizer once
and writes its own PNGs (atomically), so only small records travel back to the parent."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import cv2

from ..facebank import FaceBank
from ..io import write_image
from ..records import Record
from . import generator
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
    degrade: bool = True
    exaggerate: float = 1.0
    captured: bool = False
    finishes: tuple[str, ...] | None = None  # None: every look (families.FINISHES)
    rendered: bool = False
    degradation: str = "upload"  # a name in generator.DEGRADATIONS

    def __hash__(self) -> int:  # identities may come as a list
        return hash(tuple(tuple(v) if isinstance(v, list) else v for v in vars(self).values()))


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
            degrade=spec.degrade,
            degradation=spec.degradation,
            exaggerate=spec.exaggerate,
            captured=spec.captured,
            rendered=spec.rendered,
            **({"finishes": spec.finishes} if spec.finishes else {}),
        )
    return _CACHE[spec]


def write_chunk(spec: PoolSpec, indices: range) -> list[Record]:
    """Samples `indices` written as OUT/images/NNNNNNN.png and OUT/masks/NNNNNNN.png (0/255)."""
    synth = _synth(spec)
    out = Path(spec.out)
    for sub in ("images", "masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)
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


def pool_recipe(spec: PoolSpec, n: int, **extra) -> dict:
    """What remakes the pool: the spec (identities counted, not listed), the texture ranges `captured` and
    the degradation draw from, and the fakeseg version; written next to the manifest as synth.json."""
    from ... import __version__  # late: the package root imports modules that lead back here

    recipe = {k: v for k, v in vars(spec).items() if k not in ("identities", "out")}
    recipe.update(n=n, identities=len(spec.identities), families=list(spec.families), **extra)
    d = generator.DEGRADATIONS[spec.degradation]
    if spec.captured:
        recipe.update(capture_noise=list(d.capture_noise), capture_jpeg=list(d.capture_jpeg))
    if spec.degrade:
        recipe["degradation_ranges"] = {k: v for k, v in asdict(d).items() if not k.startswith("capture_")}
    recipe["fakeseg_version"] = __version__
    return recipe


def write_pool(spec: PoolSpec, n: int, workers: int = 1, on_progress=None, chunk: int = 64) -> list[Record]:
    """Samples 0..n-1 written by `workers` processes in chunks; records in index order (deterministic)."""
    jobs = [range(s, min(s + chunk, n)) for s in range(0, n, chunk)]
    records: list[Record] = []
    if workers > 1 and len(jobs) > 1:
        # spawn, not fork: callers may hold threads (progress bars, torch) that fork would copy mid-state
        with get_context("spawn").Pool(min(workers, len(jobs))) as pool:
            for rows in pool.imap(partial(write_chunk, spec), jobs):
                records.extend(rows)
                on_progress and on_progress(len(rows))
    else:
        for job in jobs:
            rows = write_chunk(spec, job)
            records.extend(rows)
            on_progress and on_progress(len(rows))
    return records

