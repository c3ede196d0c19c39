"""Face bank, synthesised forgeries and `fakeseg synth`: masks on the changed pixels, reproducible
pools, every family, the manifest the CLI writes. Most tests use a synthetic bank (no shared data and
no face_recognition needed, as on the GPU machine); one builds a real bank when ../shared/data exists."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from fakeseg.cli import app
from fakeseg.data.facebank import BankEntry, FaceBank, build_facebank, split_by_identity
from fakeseg.data.faces import crop_face
from fakeseg.data.io import read_image, read_mask
from fakeseg.data.masks import difference_mask
from fakeseg.data.records import read_manifest
from fakeseg.data.synth import FAMILIES, Synthesizer
from fakeseg.data.synth.generator import DEGRADATIONS, as_captured

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

# 68 dlib landmarks of a real frontal face, relative to its detector box (x0, y0, side)
TEMPLATE = np.array(
    [
        [0.08, 0.13],
        [0.08, 0.27],
        [0.1, 0.4],
        [0.13, 0.53],
        [0.16, 0.66],
        [0.22, 0.77],
        [0.3, 0.88],
        [0.39, 0.96],
        [0.51, 0.99],
        [0.62, 0.97],
        [0.72, 0.9],
        [0.8, 0.8],
        [0.88, 0.7],
        [0.92, 0.58],
        [0.95, 0.45],
        [0.98, 0.32],
        [0.99, 0.19],
        [0.14, 0.18],
        [0.21, 0.14],
        [0.3, 0.14],
        [0.39, 0.17],
        [0.47, 0.21],
        [0.61, 0.21],
        [0.68, 0.17],
        [0.77, 0.16],
        [0.85, 0.16],
        [0.92, 0.2],
        [0.53, 0.27],
        [0.53, 0.38],
        [0.53, 0.48],
        [0.53, 0.58],
        [0.42, 0.58],
        [0.47, 0.61],
        [0.53, 0.63],
        [0.58, 0.61],
        [0.62, 0.58],
        [0.24, 0.22],
        [0.29, 0.21],
        [0.36, 0.22],
        [0.41, 0.26],
        [0.35, 0.27],
        [0.28, 0.26],
        [0.65, 0.27],
        [0.7, 0.23],
        [0.77, 0.23],
        [0.81, 0.24],
        [0.77, 0.28],
        [0.71, 0.28],
        [0.36, 0.7],
        [0.42, 0.7],
        [0.48, 0.7],
        [0.52, 0.72],
        [0.56, 0.7],
        [0.62, 0.71],
        [0.69, 0.71],
        [0.62, 0.76],
        [0.57, 0.78],
        [0.52, 0.78],
        [0.48, 0.78],
        [0.42, 0.75],
        [0.39, 0.71],
        [0.48, 0.73],
        [0.52, 0.73],
        [0.57, 0.73],
        [0.66, 0.72],
        [0.57, 0.72],
        [0.52, 0.73],
        [0.48, 0.72],
    ],
    np.float32,
)


def _face_image(rng: np.random.Generator, side: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """A textured background and a skin-coloured face with dark eyes, brows and mouth at the template."""
    img = cv2.resize(
        rng.integers(0, 255, (8, 8, 3), dtype=np.uint8), (side, side), interpolation=cv2.INTER_CUBIC
    )
    img = np.clip(img.astype(np.int16) + rng.integers(-12, 12, img.shape), 0, 255).astype(np.uint8)
    x0, y0, x1, _ = box
    lm = TEMPLATE * (x1 - x0) + (x0, y0)
    skin = tuple(int(v) for v in rng.integers(120, 220, 3))
    cv2.fillConvexPoly(img, cv2.convexHull(lm[:27].astype(np.int32)), skin)
    for part in (slice(36, 42), slice(42, 48), slice(48, 60), slice(17, 22), slice(22, 27)):
        cv2.polylines(img, [lm[part].astype(np.int32)], True, (40, 30, 30), 3)
    noise = rng.normal(0, 4, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8), lm


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> FaceBank:
    """Six synthetic faces of three identities, stored exactly as build_facebank stores them."""
    root = tmp_path_factory.mktemp("bank")
    (root / "faces").mkdir()
    rng = np.random.default_rng(0)
    entries = []
    for k in range(6):
        side, fw = 260, int(rng.integers(90, 110))
        x0, y0 = (side - fw) // 2 + int(rng.integers(-5, 5)), (side - fw) // 2
        box = (x0, y0, x0 + fw, y0 + fw)
        img, lm = _face_image(rng, side, box)
        cv2.imwrite(
            str(root / f"faces/{k}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95]
        )
        entries.append(
            BankEntry(
                f"faces/{k}.jpg",
                lm,
                tuple(map(float, box)),
                f"person{k % 3}",
                "synthetic",
                ("video", "photo", "tight")[k % 3],
                (side, side),
                -1,
            ).to_json()
        )
    (root / "index.json").write_text(json.dumps({"version": 1, "params": {}, "done": [], "entries": entries}))
    return FaceBank.load(root)


def test_bank_roundtrip_and_identity_split(bank):
    assert len(bank) == 6 and bank.identities() == ["person0", "person1", "person2"]
    assert bank.image(0).shape == (260, 260, 3) and bank.entries[0].landmarks.shape == (68, 2)
    train, val = split_by_identity(bank, val_fraction=0.34, seed=0)
    assert len(train) + len(val) == len(bank) and len(val) > 0
    assert not {e.identity for e in train.entries} & {e.identity for e in val.entries}
    assert split_by_identity(bank, 0.34, seed=0)[1].identities() == val.identities()  # seeded


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_changes_the_face_and_masks_the_change(bank, family):
    synth = Synthesizer(bank, seed=3, size=128, genuine_fraction=0.0, families=[family])
    fakes = 0
    for i in range(6):
        d = synth.draft(i)
        # THE mask is the pixel-difference rule applied before compression
        assert np.array_equal(d.mask, difference_mask(d.fake, d.original))
        if d.label == 0:  # too faint after max_tries: must come back as a clean genuine sample
            assert d.method == "pristine" and not d.mask.any() and d.fake is d.original
            continue
        fakes += 1
        assert d.method == family and d.mask.any()
        diff = np.abs(d.fake.astype(int) - d.original.astype(int)).sum(2)
        assert (
            diff[d.mask > 0].mean() > 3 * diff[d.mask == 0].mean() + 5
        )  # the mask lies on the changed pixels
        s = synth.sample(i)
        assert s.image.shape == (128, 128, 3) and s.mask.shape == (128, 128) and s.label == 1
        # the crop's mask is the canvas mask cut with the same box (nearest): no shift, no resampling
        assert np.array_equal(s.mask, crop_face(d.fake, d.box, size=128, mask=d.mask).mask)
        ys, xs = np.nonzero(s.mask)
        assert 0.01 < s.mask.mean() < 0.6 and xs.min() > 5 and xs.max() < 122 and ys.min() > 5  # on the face
    assert fakes >= 3


def test_genuine_samples_are_untouched_crops_with_empty_masks(bank):
    synth = Synthesizer(bank, seed=1, size=96, genuine_fraction=1.0)
    for i in range(4):
        s = synth.sample(i)
        assert s.label == 0 and s.method == "pristine" and not s.mask.any() and s.image.shape == (96, 96, 3)
        d = synth.draft(i)
        clean = crop_face(d.original, d.box, size=96).image
        assert np.abs(s.image.astype(int) - clean.astype(int)).mean() < 12  # only compression/rescale apart


def test_samples_are_reproducible_and_order_independent(bank):
    a, b = Synthesizer(bank, seed=7, size=96), Synthesizer(bank, seed=7, size=96)
    b.sample(11)
    for i in (5, 2):
        sa, sb = a.sample(i), b.sample(i)
        assert (
            np.array_equal(sa.image, sb.image) and np.array_equal(sa.mask, sb.mask) and sa.method == sb.method
        )
    other = Synthesizer(bank, seed=8, size=96)
    assert any(not np.array_equal(a.sample(i).image, other.sample(i).image) for i in range(3))


@pytest.mark.parametrize("family", FAMILIES)
def test_exaggerated_forgeries_are_the_same_change_made_stronger(bank, family):
    # the curriculum's pools: the same draw (same rng), the change scaled by k, the mask by the same rule
    plain = Synthesizer(bank, seed=3, size=128, genuine_fraction=0.0, families=[family])
    strong = Synthesizer(bank, seed=3, size=128, genuine_fraction=0.0, families=[family], exaggerate=3.0)
    compared = 0
    for i in range(6):
        a, b = plain.draft(i), strong.draft(i)
        if not (a.label and b.label and a.meta["attempts"] == b.meta["attempts"]):
            continue  # a different attempt was accepted: not the same change
        compared += 1
        assert np.array_equal(a.original, b.original) and b.meta["exaggerate"] == 3.0
        assert np.array_equal(b.mask, difference_mask(b.fake, b.original))
        change_a = a.fake.astype(int) - a.original.astype(int)
        change_b = b.fake.astype(int) - b.original.astype(int)
        unclipped = (b.fake > 0) & (b.fake < 255)
        assert np.abs(change_b - 3 * change_a)[unclipped].max() <= 2  # rounding of a uint8 change only
        assert b.mask.sum() >= a.mask.sum() and (a.mask & ~b.mask).sum() <= 0.01 * a.mask.sum()
    assert compared >= 3


def _fine_texture(image: np.ndarray) -> np.ndarray:
    """Per-pixel energy of what a 3x3 window sees beyond a smooth surface (sensor grain, codec blocks)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return np.abs(cv2.Laplacian(grey, cv2.CV_32F))


def test_captured_frames_have_grain_and_codec_texture_that_is_never_a_mask():
    # a smooth frame (as bank images are once downscaled to the working size) given a camera's grain
    # and a codec's blocks: clearly more fine texture, and still no pixel a tool would be blamed for
    y, x = np.mgrid[0:200, 0:200].astype(np.float32)
    smooth = np.stack([80 + 0.4 * x, 120 + 0.3 * y, 100 + 0.2 * (x + y)], -1).astype(np.uint8)
    for seed in range(4):
        meta: dict = {}
        grainy = as_captured(smooth, np.random.default_rng(seed), meta)
        assert grainy.shape == smooth.shape and grainy.dtype == np.uint8
        if "source_noise" in meta:  # JPEG at low quality wipes much of the grain again, as codecs do
            assert _fine_texture(grainy).mean() > 1.2 * _fine_texture(smooth).mean()
            assert np.abs(grainy.astype(int) - smooth).mean() > 1
        assert not difference_mask(grainy, smooth).any()


def test_captured_drafts_keep_the_mask_rule_and_are_reproducible(bank):
    a = Synthesizer(bank, seed=5, size=128, genuine_fraction=0.3, captured=True)
    b = Synthesizer(bank, seed=5, size=128, genuine_fraction=0.3, captured=True)
    captured = 0
    for i in range(6):
        d = a.draft(i)
        assert np.array_equal(d.mask, difference_mask(d.fake, d.original))
        assert np.array_equal(d.original, b.draft(i).original)
        captured += "source_noise" in d.meta or "source_jpeg" in d.meta
    assert captured >= 3


def test_finishes_limit_the_looks_of_what_is_re_rendered(bank):
    synth = Synthesizer(bank, seed=2, size=96, genuine_fraction=0.0, families=["rerender"], finishes=["smooth"])
    looks = {synth.draft(i).meta.get("look") for i in range(8)}
    assert looks == {"smooth"}  # a rerender always records its finish
    everything = Synthesizer(bank, seed=2, size=96, genuine_fraction=0.0, families=["rerender"])
    assert len({everything.draft(i).meta.get("look") for i in range(12)}) > 1

def test_rendered_re_renders_every_swap_and_reenactment(bank):
    kw = dict(seed=3, size=96, genuine_fraction=0.0, families=["swap", "reenact"], finishes=["smooth"])
    rendered = [Synthesizer(bank, rendered=True, **kw).draft(i) for i in range(8)]
    assert all(d.meta.get("retouch", {}).get("look") == "smooth" for d in rendered if d.label)
    assert sum(d.label for d in rendered) >= 6
    # by default only some are: rendered must change what it says, not every other draw
    default = [Synthesizer(bank, **kw).draft(i) for i in range(8)]
    assert any(d.label and "retouch" not in d.meta for d in default)


def test_degradation_draws_from_the_named_ranges(bank):
    # `video` keeps JPEG at q70 or better and rescales less often; the first ranges stay the default
    kw = dict(seed=4, size=64, genuine_fraction=0.5, families=["rerender"])
    video = [Synthesizer(bank, degradation="video", **kw).sample(i).meta for i in range(24)]
    upload = [Synthesizer(bank, **kw).sample(i).meta for i in range(24)]
    lo, hi = DEGRADATIONS["video"].jpeg
    assert all(lo <= q[0] <= hi for q in (m["jpeg"] for m in video) if q)
    assert any(q and q[0] < lo for q in (m["jpeg"] for m in upload))  # the same draws, other ranges
    assert all(DEGRADATIONS["video"].rescale[0] <= m["rescale"] for m in video if "rescale" in m)
    # captured targets take their grain from the same named ranges
    captured = [Synthesizer(bank, degradation="video", captured=True, **kw).draft(i).meta for i in range(12)]
    noise = DEGRADATIONS["video"].capture_noise
    assert all(noise[0] <= m["source_noise"] <= noise[1] for m in captured if "source_noise" in m)
    assert any("source_noise" in m for m in captured)
    with pytest.raises(ValueError, match="unknown degradation"):
        Synthesizer(bank, degradation="broadcast")


def test_bad_settings_raise(bank):
    with pytest.raises(ValueError, match="unknown families"):
        Synthesizer(bank, families=["morph"])
    with pytest.raises(ValueError, match="genuine_fraction"):
        Synthesizer(bank, genuine_fraction=1.5)
    with pytest.raises(ValueError, match="exaggerate"):
        Synthesizer(bank, exaggerate=0.5)
    with pytest.raises(ValueError, match="unknown finishes"):
        Synthesizer(bank, finishes=["glossy"])


def test_cli_writes_a_manifest_of_crops_and_masks(bank, tmp_path):
    out = tmp_path / "pool"
    result = CliRunner().invoke(
        app,
        [
            "synth",
            "--bank",
            str(bank.root),
            "--out",
            str(out),
            "--n",
            "10",
            "--workers",
            "1",
            "--size",
            "64",
            "--seed",
            "2",
            "--val-fraction",
            "0.34",
        ],
    )
    assert result.exit_code == 0, result.output
    records = read_manifest(out / "manifest.csv")
    assert len(records) == 10 and {r.label for r in records} <= {0, 1} and any(r.label for r in records)
    assert not list(out.glob(".manifest.csv.*"))  # no temp file left behind
    recipe = json.loads((out / "synth.json").read_text())  # what remakes this pool
    assert (recipe["seed"], recipe["n"], recipe["split"], recipe["captured"]) == (2, 10, "train", False)
    for r in records:
        assert read_image(r.image).shape == (64, 64, 3)
        if r.label:
            assert r.method in FAMILIES and read_mask(r.mask, (64, 64)).any()
        else:
            assert r.method == "pristine" and r.mask is None


def test_cli_captured_pools_differ_and_say_so_in_their_recipe(bank, tmp_path):
    def pool(name, *extra):
        out = tmp_path / name
        args = ["synth", "--bank", str(bank.root), "--out", str(out), "--n", "6", "--workers", "1", "--size", "64",
                "--val-fraction", "0.34", *extra]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        return out, read_manifest(out / "manifest.csv")

    plain, plain_rows = pool("plain")
    captured, captured_rows = pool("captured", "--captured", "--rendered", "--no-degrade")
    recipe = json.loads((captured / "synth.json").read_text())
    assert recipe["captured"] is True and recipe["capture_noise"][0] > 0 and recipe["rendered"] is True
    assert recipe["degrade"] is False and "degradation_ranges" not in recipe
    video, _ = pool("video", "--captured", "--degradation", "video")
    recipe = json.loads((video / "synth.json").read_text())
    assert recipe["degradation"] == "video" and recipe["degradation_ranges"]["jpeg"] == [70, 97]
    assert recipe["capture_noise"] == list(DEGRADATIONS["video"].capture_noise)
    # same seed, other pixels: the frames now carry a camera's grain or a codec's blocks
    assert len(plain_rows) == len(captured_rows) == 6 and any(
        not np.array_equal(read_image(a.image), read_image(b.image))
        for a, b in zip(plain_rows, captured_rows, strict=True)
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bank", "{tmp}/nope"], "not a face bank"),
        (["{tmp}/missing.jpg"], "no such file"),
        (["--bank", "{bank}", "--families", "swap,morph"], "--families"),
        (["--bank", "{bank}", "--split", "test"], "--split"),
        (["--bank", "{bank}", "--exaggerate", "0.5"], "--exaggerate"),
        (["--bank", "{bank}", "--finishes", "glossy"], "--finishes"),
        (["--bank", "{bank}", "--degradation", "broadcast"], "--degradation"),
    ],
)
def test_cli_bad_input_is_one_error_line(bank, tmp_path, args, message):
    args = [a.format(tmp=tmp_path, bank=bank.root) for a in args]
    result = CliRunner().invoke(
        app, ["synth", *args, "--out", str(tmp_path / "o"), "--n", "2", "--workers", "1"]
    )
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output and not (tmp_path / "o" / "manifest.csv").exists()


def test_cli_no_faces_is_an_error(tmp_path):
    pytest.importorskip("face_recognition")
    cv2.imwrite(
        str(tmp_path / "noise.png"), np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8)
    )
    result = CliRunner().invoke(
        app,
        ["synth", str(tmp_path / "noise.png"), "--out", str(tmp_path / "o"), "--n", "2", "--workers", "1"],
    )
    assert result.exit_code != 0 and "no faces found" in result.output
    assert not (tmp_path / "o").exists()  # no empty face bank left behind that looks like a result
    (tmp_path / "mine").mkdir()  # a folder the user made is left in place, only the bank inside it goes
    result = CliRunner().invoke(
        app,
        ["synth", str(tmp_path / "noise.png"), "--out", str(tmp_path / "mine"), "--n", "2", "--workers", "1"],
    )
    assert result.exit_code != 0 and (tmp_path / "mine").is_dir() and not (tmp_path / "mine" / "facebank").exists()


def test_cli_unreadable_images_say_unreadable_not_no_faces(tmp_path):
    pytest.importorskip("face_recognition")
    (tmp_path / "text.jpg").write_text("not an image")
    (tmp_path / "empty.jpg").write_bytes(b"")
    run = CliRunner().invoke
    result = run(app, ["synth", str(tmp_path / "text.jpg"), "--out", str(tmp_path / "o"), "--n", "2"])
    assert result.exit_code == 1 and "not a readable image" in result.output and "no faces" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) <= 2  # progress bar + error
    result = run(app, ["synth", str(tmp_path / "text.jpg"), str(tmp_path / "empty.jpg"), "--out",
                       str(tmp_path / "o"), "--n", "2"])
    assert result.exit_code == 1 and "none of the 2 files could be read" in result.output
    assert "skipped" in result.output and "empty file" in result.output  # each unreadable input named
    assert "Traceback" not in result.output and not (tmp_path / "o").exists()


@pytest.mark.shared_data
def test_build_real_bank_from_photos(tmp_path):
    pytest.importorskip("face_recognition")
    photos = sorted((SHARED / "real_faces" / "vtoonify_data").glob("*.jpg"))[:2]
    utk = sorted((SHARED / "real_faces" / "utkface_crop_part1").glob("*.jpg"))[:2]
    if len(photos) < 2 or len(utk) < 2:
        pytest.skip("../shared/data/real_faces is absent")
    out = tmp_path / "bank"
    bank = build_facebank(photos + utk, out, workers=1)
    assert len(bank) >= 3 and len(bank.identities()) == len(bank)  # one face per photo, one person each
    for i, e in enumerate(bank.entries):
        h, w = bank.image(i).shape[:2]
        x0, y0, x1, y1 = e.box
        assert max(x1 - x0, y1 - y0) <= 161  # stored downscaled: face box <= max_box
        assert (
            (e.landmarks >= -2).all()
            and (e.landmarks[:, 0] <= w + 2).all()
            and (e.landmarks[:, 1] <= h + 2).all()
        )
        # dlib order: eyes (36-47) above the mouth (48-67), jaw corner 0 left of 16
        assert (
            e.landmarks[36:48, 1].mean() < e.landmarks[48:68, 1].mean()
            and e.landmarks[0, 0] < e.landmarks[16, 0]
        )
    assert {e.kind for e in bank.entries} == {"photo", "tight"}
    index = json.loads((out / "index.json").read_text())
    again = build_facebank(photos + utk, out, workers=1)  # resumable: nothing redone, nothing duplicated
    assert len(again) == len(bank) and json.loads((out / "index.json").read_text())["done"] == index["done"]
    s = Synthesizer(bank, seed=0, size=64, genuine_fraction=0.0, families=["swap"]).sample(0)
    assert s.image.shape == (64, 64, 3)

