"""The prepared cache (fakeseg.data.prepare) and `fakeseg prepare`, on a generated FF++ tree."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from ffpp_tree import FACE_BOX, FAKE_RECT, FixedFaceDetector, first_pairs, make_ffpp_tree, original_frames
from typer.testing import CliRunner

from fakeseg.cli import app
from fakeseg.data.faces import crop_box
from fakeseg.data.io import read_image, read_mask, write_image
from fakeseg.data.prepare import PrepareError, PrepareOptions, prepare
from fakeseg.data.records import Record, read_manifest, write_manifest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SIZE = 60  # FACE_BOX is 60 px, its x2 crop 120 px: crops are the frame at half scale
CROP = crop_box(FACE_BOX, 2.0)
METHODS2 = ("Deepfakes", "FaceSwap")
runner = CliRunner()


def in_crop(rect):
    """A frame rectangle in crop pixels (SIZE / 120 = 0.5)."""
    s = SIZE / (CROP[2] - CROP[0])
    return tuple(int(round((v - o) * s)) for v, o in zip(rect, (CROP[0], CROP[1]) * 2, strict=True))


def rows(csv_path: Path) -> list[dict]:
    with open(csv_path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_ffpp_tree(tmp_path_factory.mktemp("ffpp"), methods=METHODS2)


@pytest.fixture(scope="module")
def cache(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("cache")
    report = prepare(tree["root"], out, options=PrepareOptions(size=SIZE, methods=METHODS2),
                     face_detector=FixedFaceDetector())
    return out, report


def test_manifests_hold_each_split_with_the_papers_frames(cache):
    out, report = cache
    for split in ("train", "val", "test"):
        (t, s), = first_pairs(split)
        got = rows(out / f"{split}.csv")
        frames = list(range(20)) if split == "train" else [0, 10]
        expected = {(f"pristine/{v}", f, "0") for v in (t, s) for f in frames} | {
            (f"{m}/{v}", f, "1") for m in METHODS2 for v in (f"{t}_{s}", f"{s}_{t}") for f in frames}
        assert {(r["video"], int(r["frame"]), r["label"]) for r in got} == expected
        assert len(got) == len(expected)
        assert all((r["mask"] == "") == (r["label"] == "0") for r in got)
        assert {r["method"] for r in got} == {"pristine", *METHODS2}
        # readable by the one manifest reader, every crop at the requested size
        records = read_manifest(out / f"{split}.csv")
        assert read_image(records[0].image).shape == (SIZE, SIZE, 3)
        stats = report["splits"][split]
        assert stats["crops"] == stats["frames"] == len(expected) and stats["no_face"] == 0
    assert json.loads((out / "prepare_report.json").read_text())["splits"]["val"]["videos_missing"] == 3 * 138
    first = rows(out / "train.csv")[0]
    assert first["image"] == "crops/train/Deepfakes/054_071/00000.png"  # the documented layout


def test_crop_and_mask_stay_pixel_aligned(cache):
    out, _ = cache
    (t, s), = first_pairs("val")
    x0, y0, x1, y1 = in_crop(FAKE_RECT)  # (22, 22, 38, 38)
    for method in METHODS2:
        fake = read_image(out / f"crops/val/{method}/{t}_{s}/00010.png").astype(int)
        genuine = read_image(out / f"crops/val/pristine/{t}/00010.png").astype(int)
        diff = np.abs(fake - genuine).sum(axis=2)
        assert diff[y0 + 1:y1 - 1, x0 + 1:x1 - 1].min() > 150  # the brightened rectangle, where expected
        outside = np.ones_like(diff, bool)
        outside[y0 - 2:y1 + 2, x0 - 2:x1 + 2] = False
        assert diff[outside].max() < 60
        mask = read_mask(out / f"masks/val/{method}/{t}_{s}/00010.png", (SIZE, SIZE))
        assert mask[y0:y1, x0:x1].all()  # the mask covers the rectangle ...
        ys, xs = np.nonzero(mask)  # ... grown by at most the blur/close margin, centred on it
        assert xs.min() >= x0 - 3 and xs.max() < x1 + 3 and ys.min() >= y0 - 3 and ys.max() < y1 + 3
        assert abs((xs.min() + xs.max() + 1) / 2 - (x0 + x1) / 2) <= 1
    # the crop is the x2 box of the frame it claims to be (frame 10 of the original, half scale)
    frame = original_frames(t, 20)[10]
    expected = frame[CROP[1]:CROP[3], CROP[0]:CROP[2]].reshape(SIZE, 2, SIZE, 2, 3).mean(axis=(1, 3))
    assert np.abs(genuine - expected).mean() < 6


def test_official_masks_land_on_the_rectangle(tree, tmp_path):
    prepare(tree["root"], tmp_path, splits=["test"], face_detector=FixedFaceDetector(),
            options=PrepareOptions(size=SIZE, methods=("FaceSwap",), mask_source="official"))
    fakes = [r for r in read_manifest(tmp_path / "test.csv") if r.label]
    masks = [read_mask(r.mask, (SIZE, SIZE)) for r in fakes]
    expected = np.zeros((SIZE, SIZE), np.uint8)
    x0, y0, x1, y1 = in_crop(FAKE_RECT)
    expected[y0:y1, x0:x1] = 1
    assert len(masks) == 4 and all((m & expected).sum() / (m | expected).sum() > 0.9 for m in masks)


def test_interrupted_run_resumes_without_redoing_finished_videos(tree, cache, tmp_path):
    options = PrepareOptions(size=SIZE, methods=METHODS2)
    # videos are done in order originals, Deepfakes, FaceSwap; 20 frames each in train
    with pytest.raises(KeyboardInterrupt):
        prepare(tree["root"], tmp_path, splits=["train"], options=options,
                face_detector=FixedFaceDetector(fail_after=45))
    done = sorted(p.relative_to(tmp_path / "parts").as_posix() for p in (tmp_path / "parts").rglob("*.json"))
    assert len(done) == 2 and not (tmp_path / "train.csv").exists()
    assert len(list((tmp_path / "crops" / "train").rglob("*.png"))) == 45  # 2 videos + 5 frames of a third

    detector = FixedFaceDetector()
    progress = []
    prepare(tree["root"], tmp_path, splits=["train"], options=options, face_detector=detector,
            progress=lambda d, t: progress.append((d, t)))
    assert detector.calls == 4 * 20  # only the 4 unfinished videos were decoded again
    assert progress[0] == (2, 6) and progress[-1] == (6, 6)
    reference = cache[0] / "train.csv"
    assert (tmp_path / "train.csv").read_text() == reference.read_text()
    assert len(list((tmp_path / "crops" / "train").rglob("*.png"))) == 6 * 20  # no orphans of the half video


def test_workers_give_the_same_cache(tree, cache, tmp_path):
    prepare(tree["root"], tmp_path, splits=["val", "test"], workers=2, face_detector=FixedFaceDetector(),
            options=PrepareOptions(size=SIZE, methods=METHODS2))
    for split in ("val", "test"):
        assert (tmp_path / f"{split}.csv").read_text() == (cache[0] / f"{split}.csv").read_text()
    r = rows(tmp_path / "val.csv")[5]
    assert (tmp_path / r["image"]).read_bytes() == (cache[0] / r["image"]).read_bytes()


def test_frames_without_a_face_are_skipped_and_counted(tree, tmp_path):
    # the real HOG detector finds no face in synthetic gradients
    options = PrepareOptions(size=SIZE, methods=("FaceSwap",))
    report = prepare(tree["root"], tmp_path, splits=["val"], options=options)
    val = report["splits"]["val"]
    assert val["frames"] == 8 and val["no_face"] == 8 and val["crops"] == 0
    assert rows(tmp_path / "val.csv") == []
    assert json.loads((tmp_path / "prepare_report.json").read_text())["splits"]["val"]["no_face"] == 8


def test_resuming_with_other_options_is_refused(tree, tmp_path):
    prepare(tree["root"], tmp_path, splits=["test"], face_detector=FixedFaceDetector(),
            options=PrepareOptions(size=SIZE, methods=("FaceSwap",)))
    with pytest.raises(PrepareError, match="size was 60, now 64"):
        prepare(tree["root"], tmp_path, splits=["test"], face_detector=FixedFaceDetector(),
                options=PrepareOptions(size=64, methods=("FaceSwap",)))


def test_a_manifest_of_whole_frames_is_cropped_the_same_way(tmp_path):
    (t, _), = first_pairs("val")
    frame = original_frames(t, 1)[0]
    (tmp_path / "frames").mkdir()
    write_image(tmp_path / "frames" / "genuine.png", frame)
    fake = frame.copy()
    x0, y0, x1, y1 = FAKE_RECT
    fake[y0:y1, x0:x1] = 255
    mask = np.zeros(frame.shape[:2], np.uint8)
    mask[y0:y1, x0:x1] = 255
    write_image(tmp_path / "frames" / "fake.png", fake)
    write_image(tmp_path / "frames" / "fake_mask.png", mask)
    (tmp_path / "frames" / "broken.png").write_bytes(b"not a png")
    f = tmp_path / "frames"
    write_manifest([Record(f / "genuine.png", None, 0, "pristine", "mine"),
                    Record(f / "fake.png", f / "fake_mask.png", 1, "paint", "mine", video="v1", frame=3),
                    Record(f / "broken.png", None, 0, "pristine")], tmp_path / "mine.csv")
    out = tmp_path / "cache"
    report = prepare(tmp_path / "mine.csv", out, face_detector=FixedFaceDetector(),
                     options=PrepareOptions(size=SIZE))
    got = read_manifest(out / "mine.csv")
    assert [(r.method, r.label, r.source, r.video, r.frame) for r in got] == [
        ("paint", 1, "mine", "v1", 3), ("pristine", 0, "mine", "", -1)]
    crop_mask = read_mask(got[0].mask, (SIZE, SIZE))
    cx0, cy0, cx1, cy1 = in_crop(FAKE_RECT)
    assert crop_mask[cy0:cy1, cx0:cx1].all() and crop_mask.sum() == (cx1 - cx0) * (cy1 - cy0)
    assert report["splits"]["mine"]["rows_unreadable"] == 1


def test_real_faces_from_shared_data(tmp_path):
    """HOG on two real eval photos: a face is found in each and the fake's crop carries its mask."""
    eval_csv = SHARED_DATA / "forgeries" / "eval.csv"
    if not eval_csv.is_file():
        pytest.skip("../shared/data not present")
    records = [r for r in read_manifest(eval_csv) if r.source == "wuhuikai_faceswap"]
    pick = [next(r for r in records if r.label), next(r for r in records if not r.label)]
    write_manifest(pick, tmp_path / "two.csv")  # paths stay pointing into shared/data
    report = prepare(tmp_path / "two.csv", tmp_path / "cache", options=PrepareOptions(size=128))
    assert report["splits"]["two"]["crops"] == 2 and report["splits"]["two"]["no_face"] == 0
    fake = next(r for r in read_manifest(tmp_path / "cache" / "two.csv") if r.label)
    assert read_mask(fake.mask, (128, 128)).mean() > 0.05


# ---- the command --------------------------------------------------------------------------------------

def test_cli_prepares_whole_frames_and_reports(tree, tmp_path):
    out = tmp_path / "cache"
    args = ["prepare", str(tree["root"]), "--out", str(out), "--split", "val", "--method", "DF",
            "--no-face-crop", "--size", "32", "--workers", "1"]
    result = runner.invoke(app, args, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    got = read_manifest(out / "val.csv")
    assert len(got) == 8 and read_image(got[0].image).shape == (32, 32, 3)
    assert "val" in result.output and "276 video(s) of the split are missing" in result.output
    first = (out / "val.csv").read_text()
    crop_time = got[0].image.stat().st_mtime_ns
    again = runner.invoke(app, args, env={"COLUMNS": "160"})  # a finished cache: nothing is redone
    assert again.exit_code == 0 and (out / "val.csv").read_text() == first
    assert got[0].image.stat().st_mtime_ns == crop_time


@pytest.mark.parametrize("extra, message", [
    (["--compression", "hq"], "--compression must be one of raw, c23, c40"),
    (["--method", "StyleGAN"], "unknown FF++ method 'StyleGAN'"),
    (["--split", "training"], "unknown split 'training'"),
])
def test_cli_bad_options_fail_with_one_line(tree, tmp_path, extra, message):
    result = runner.invoke(app, ["prepare", str(tree["root"]), "--out", str(tmp_path / "c"), *extra])
    assert result.exit_code == 1 and message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_cli_bad_root_and_unwritable_out_fail_cleanly(tree, tmp_path):
    result = runner.invoke(app, ["prepare", str(tmp_path / "absent"), "--out", str(tmp_path / "c")])
    assert result.exit_code == 1 and "no such file or folder" in result.output
    (tmp_path / "plain").mkdir()
    result = runner.invoke(app, ["prepare", str(tmp_path / "plain"), "--out", str(tmp_path / "c")])
    assert result.exit_code == 1 and "neither a manifest CSV nor a FaceForensics++ root" in result.output
    (tmp_path / "file").write_text("x")
    result = runner.invoke(app, ["prepare", str(tree["root"]), "--out", str(tmp_path / "file" / "c")])
    assert result.exit_code == 1 and "cannot write there" in result.output
    assert not result.exception or isinstance(result.exception, SystemExit)


def test_cli_fails_when_no_frame_has_a_face(tmp_path):
    image = tmp_path / "wall.png"
    write_image(image, np.full((200, 300, 3), 120, np.uint8))  # a grey wall: HOG finds nothing
    manifest = write_manifest([Record(image, None, 0, "pristine")], tmp_path / "frames.csv")
    result = runner.invoke(app, ["prepare", str(manifest), "--out", str(tmp_path / "cache")])
    assert result.exit_code == 1
    assert "no face crop made: no face found in any of 1 frame(s)" in result.output
