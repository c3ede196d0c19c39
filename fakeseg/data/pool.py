"""A decoded twin of a manifest of equal-size face crops: two uint8 arrays that training memory-maps.

On a GPU, decoding PNGs is the bottleneck (~260 crops/s per loader process against ~10k/s of FN3
training; docs/benchmarks.md). Packing a manifest once turns every later read into a memory copy, and
the page cache is shared by every training process on the machine.

Layout, next to `DIR/manifest.csv`: `DIR/manifest.pool/{images.npy, masks.npy, meta.json}` with row i of
both arrays = row i of the manifest (images (N,S,S,3) RGB, masks (N,S,S) {0,1}). `meta.json` records the
manifest's size and mtime, so a pool that no longer matches its manifest is ignored, never used.
"""
from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .._fs import temp_dir_beside
from .io import read_image, read_mask
from .records import Record, read_manifest


class PoolError(ValueError):
    pass


def pool_dir(manifest: Path) -> Path:
    return manifest.with_suffix(".pool")


def _stamp(manifest: Path) -> dict:
    st = manifest.stat()
    return {"manifest_size": st.st_size, "manifest_mtime_ns": st.st_mtime_ns}


def _fill(args: tuple[str, str, list[tuple[int, str, str | None]]]) -> int:
    images_path, masks_path, rows = args
    images = np.load(images_path, mmap_mode="r+")
    masks = np.load(masks_path, mmap_mode="r+")
    for i, image, mask in rows:
        rgb = read_image(image)
        if rgb.shape != images.shape[1:]:
            held = f"{images.shape[2]}x{images.shape[1]}"
            raise PoolError(f"{image}: {rgb.shape[1]}x{rgb.shape[0]}, the pool holds {held}")
        images[i] = rgb
        masks[i] = read_mask(None if mask is None else Path(mask), rgb.shape[:2])
    images.flush()
    masks.flush()
    return len(rows)


def pack_manifest(manifest: str | Path, workers: int = 1, on_progress=None) -> Path:
    """Decode every crop of `manifest` (all the same square size) into `manifest.pool/`, atomically."""
    manifest = Path(manifest)
    records = read_manifest(manifest)
    if not records:
        raise PoolError(f"{manifest}: empty manifest")
    first = read_image(records[0].image)
    n, (h, w) = len(records), first.shape[:2]
    final = pool_dir(manifest)
    tmp = temp_dir_beside(final)
    try:
        images = np.lib.format.open_memmap(tmp / "images.npy", "w+", np.uint8, (n, h, w, 3))
        masks = np.lib.format.open_memmap(tmp / "masks.npy", "w+", np.uint8, (n, h, w))
        del images, masks  # workers reopen them; nothing stays mapped here
        rows = [(i, str(r.image), None if r.mask is None else str(r.mask)) for i, r in enumerate(records)]
        chunks = [(str(tmp / "images.npy"), str(tmp / "masks.npy"), rows[s:s + 256]) for s in range(0, n, 256)]
        done = 0
        if workers > 1:
            with ProcessPoolExecutor(workers) as ex:
                for k in ex.map(_fill, chunks):
                    done += k
                    on_progress and on_progress(done, n)
        else:
            for c in chunks:
                done += _fill(c)
                on_progress and on_progress(done, n)
        (tmp / "meta.json").write_text(json.dumps({"rows": n, "height": h, "width": w, **_stamp(manifest)}))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def open_pool(manifest: Path, records: list[Record]) -> tuple[np.ndarray, np.ndarray] | None:
    """The memory-mapped (images, masks) of a manifest's pool, or None when there is none or it is stale."""
    folder = pool_dir(manifest)
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    if meta.get("rows") != len(records) or {k: meta.get(k) for k in _stamp(manifest)} != _stamp(manifest):
        return None
    images = np.load(folder / "images.npy", mmap_mode="r")
    masks = np.load(folder / "masks.npy", mmap_mode="r")
    return images, masks
