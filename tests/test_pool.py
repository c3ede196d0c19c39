"""Decoded pools: a packed manifest reads back pixel-identical, training uses it, a stale pool is ignored."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from fakeseg.data.datasets import ManifestSource, pooled_rows
from fakeseg.data.io import read_image, read_mask, write_image
from fakeseg.data.pool import PoolError, open_pool, pack_manifest, pool_dir
from fakeseg.data.records import Record, read_manifest, write_manifest


def _manifest(tmp_path: Path, n: int = 5, size: int = 32) -> Path:
    rng = np.random.default_rng(0)
    records = []
    for i in range(n):
        image = tmp_path / f"img{i}.png"
        write_image(image, rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
        mask = None
        if i % 2:
            mask = tmp_path / f"mask{i}.png"
            write_image(mask, (rng.random((size, size)) > 0.5).astype(np.uint8) * 255)
        records.append(Record(image, mask, int(mask is not None), "x" if mask else "pristine"))
    return write_manifest(records, tmp_path / "manifest.csv")


@pytest.mark.parametrize("workers", [1, 2])
def test_packed_pool_is_pixel_identical(tmp_path, workers):
    manifest = _manifest(tmp_path)
    pack_manifest(manifest, workers=workers)
    records = read_manifest(manifest)
    images, masks = open_pool(manifest, records)
    for i, r in enumerate(records):
        assert np.array_equal(images[i], read_image(r.image))
        assert np.array_equal(masks[i], read_mask(r.mask, (32, 32)))
    assert not list(tmp_path.glob(".*.tmp")), "no temp folders left behind"


def test_training_reads_the_pool_and_ignores_a_stale_one(tmp_path):
    manifest = _manifest(tmp_path)
    pack_manifest(manifest)
    records = read_manifest(manifest)
    # mark row 1 in the pool so we can tell where a sample came from
    images = np.load(pool_dir(manifest) / "images.npy", mmap_mode="r+")
    images[1] = 7
    images.flush()
    source = ManifestSource(records, [None] * len(records), pooled_rows(records, [manifest]))
    image, mask, label = source.load(1)
    assert (image == 7).all() and label == 1 and mask.shape == (32, 32)

    os.utime(manifest, ns=(0, 0))  # the manifest changed after packing: the pool must not be trusted
    assert open_pool(manifest, records) is None
    fresh = ManifestSource(records, [None] * len(records), pooled_rows(records, [manifest]))
    assert np.array_equal(fresh.load(1)[0], read_image(records[1].image))


def test_crops_of_different_sizes_cannot_be_packed(tmp_path):
    manifest = _manifest(tmp_path)
    write_image(tmp_path / "img3.png", np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(PoolError, match="the pool holds 32x32"):
        pack_manifest(manifest)
    assert not pool_dir(manifest).exists()
