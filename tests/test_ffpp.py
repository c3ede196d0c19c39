"""FF++ layout, splits and frame protocol (fakeseg.data.ffpp), and frame decoding (fakeseg.data.sources)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from ffpp_tree import FAKE_RECT, FRAME_WH, first_pairs, make_ffpp_tree, original_frames

from fakeseg.data.ffpp import (
    SPLITS,
    binarize_mask_frame,
    ffpp_records,
    ffpp_videos,
    method_name,
    split_pairs,
    split_video_ids,
    video_frames,
)
from fakeseg.data.io import BadInput
from fakeseg.data.sources import expand_sources, iter_frames, video_info

SHARED_SPLITS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ffpp_splits"


def rect_mask(rect=FAKE_RECT, wh=FRAME_WH) -> np.ndarray:
    m = np.zeros((wh[1], wh[0]), np.uint8)
    x0, y0, x1, y1 = rect
    m[y0:y1, x0:x1] = 1
    return m


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return (a & b).sum() / max(1, (a | b).sum())


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    # one official pair per split, two methods: 6 originals and 12 fakes of 20 frames
    return make_ffpp_tree(tmp_path_factory.mktemp("ffpp"), methods=("Deepfakes", "NeuralTextures"))


# ---- splits -------------------------------------------------------------------------------------------

def test_split_sizes_follow_the_paper():
    for split, n in (("train", 720), ("val", 140), ("test", 140)):
        originals, fakes = split_video_ids(split)
        assert len(split_pairs(split)) == n // 2
        assert len(originals) == n and len(fakes) == n  # fakes per method
        # every fake is made of two originals of the same split, both directions present
        for fake in fakes:
            target, source = fake.split("_")
            assert target in originals and source in originals and f"{source}_{target}" in fakes


def test_splits_share_no_identity():
    ids = {split: set(split_video_ids(split)[0]) for split in SPLITS}
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"] and not ids["val"] & ids["test"]
    assert len(ids["train"] | ids["val"] | ids["test"]) == 1000


def test_shipped_splits_are_the_official_lists():
    if not SHARED_SPLITS.is_dir():
        pytest.skip("../shared/data not present")
    for split in SPLITS:
        official = json.loads((SHARED_SPLITS / f"{split}.json").read_text())
        assert split_pairs(split) == [tuple(p) for p in official]


def test_unknown_split_and_method_are_refused():
    with pytest.raises(ValueError, match="unknown split"):
        split_pairs("training")
    assert method_name("nt") == "NeuralTextures" and method_name("face2face") == "Face2Face"
    with pytest.raises(ValueError, match="unknown FF"):
        method_name("StyleGAN")


# ---- the layout ---------------------------------------------------------------------------------------

def test_videos_of_each_split_are_found_and_missing_ones_counted(tree):
    for split in SPLITS:
        (t, s), = first_pairs(split)
        videos, missing = ffpp_videos(tree["root"], split, methods=("Deepfakes", "NeuralTextures"))
        got = {(v.method, v.video, v.label) for v in videos}
        assert got == ({("pristine", t, 0), ("pristine", s, 0)} |
                       {(m, f, 1) for m in ("Deepfakes", "NeuralTextures") for f in (f"{t}_{s}", f"{s}_{t}")})
        n = 720 if split == "train" else 140
        assert len(missing) == 3 * (n - 2)  # originals + fakes of the two methods not in the tree
        fake = next(v for v in videos if v.video == f"{s}_{t}")
        assert fake.original.name == f"{s}.mp4" and fake.mask_video is not None
    # a method not downloaded at all: its fakes are missing, nothing crashes
    videos, missing = ffpp_videos(tree["root"], "val", methods=("FaceSwap",))
    assert [v.method for v in videos] == ["pristine", "pristine"] and len(missing) == 140 - 2 + 140


def test_other_compression_is_another_folder(tree):
    videos, missing = ffpp_videos(tree["root"], "test", compression="c23")
    assert videos == [] and all("/c23/" in p.as_posix() for p in missing)
    with pytest.raises(ValueError, match="compression"):
        ffpp_videos(tree["root"], "test", compression="hq")


def test_difference_mask_marks_the_manipulated_rectangle(tree):
    (t, s), = first_pairs("val")
    videos, _ = ffpp_videos(tree["root"], "val", methods=("Deepfakes",))
    fake = next(v for v in videos if v.video == f"{t}_{s}")
    frames = list(video_frames(fake, every=10))
    assert [f.frame for f in frames] == [0, 10]
    expected = rect_mask()
    grown = cv2.dilate(expected, np.ones((9, 9), np.uint8))  # blur + close widen the edge by a few px
    for f in frames:
        assert f.label == 1 and f.mask.shape == f.image.shape[:2]
        assert (f.mask >= expected).all() and (f.mask <= grown).all()
        # the image is the fake: the rectangle is ~80 levels brighter than the original's frame
        orig = original_frames(t, 20)[f.frame].astype(int)
        x0, y0, x1, y1 = FAKE_RECT
        assert 60 < (f.image.astype(int) - orig)[y0 + 2:y1 - 2, x0 + 2:x1 - 2].mean() < 100


def test_official_masks_are_binarised(tree):
    videos, _ = ffpp_videos(tree["root"], "test", mask_source="official", methods=("NeuralTextures",))
    fake = next(v for v in videos if v.label)
    frames = list(video_frames(fake, every=10, mask_source="official"))
    assert len(frames) == 2 and all(iou(f.mask, rect_mask()) > 0.95 for f in frames)
    coloured = np.zeros((4, 4, 3), np.uint8)
    coloured[1:3, 1:3] = (200, 30, 10)  # a red mask with codec noise elsewhere
    coloured[0, 0] = (20, 20, 20)
    assert binarize_mask_frame(coloured).sum() == 4


def test_records_follow_the_protocol_and_warn_on_missing(tree):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = list(ffpp_records(tree["root"], "val", methods=("Deepfakes",)))
    assert any("276 expected video(s) missing" in str(w.message) for w in caught)
    assert len(items) == 4 * 2  # 2 originals + 2 fakes, frames 0 and 10
    assert {(i.method, i.frame) for i in items} == {(m, f)
                                                   for m in ("pristine", "Deepfakes") for f in (0, 10)}
    assert all((i.mask is None) == (i.label == 0) for i in items)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train = [i.frame for i in ffpp_records(tree["root"], "train", methods=("Deepfakes",)) if i.label == 0]
    assert sorted(train) == sorted(list(range(20)) * 2)  # all frames of both originals


def test_a_fake_without_its_original_is_missing(tmp_path):
    pair = first_pairs("test")[0]
    info = make_ffpp_tree(tmp_path, pairs={"test": [pair]}, methods=("FaceSwap",), n_frames=3,
                          official_masks=False)
    (info["root"] / "original_sequences/youtube/raw/videos" / f"{pair[0]}.mp4").unlink()
    videos, missing = ffpp_videos(tmp_path, "test", methods=("FaceSwap",))
    kept = [(v.method, v.video) for v in videos]
    assert kept == [("pristine", pair[1]), ("FaceSwap", f"{pair[1]}_{pair[0]}")]
    assert any(p.name == f"{pair[0]}.mp4" for p in missing)
    _, missing = ffpp_videos(tmp_path, "test", methods=("FaceSwap",), mask_source="official")
    assert any(p.parts[-3:] == ("masks", "videos", f"{pair[1]}_{pair[0]}.mp4") for p in missing)


# ---- decoding (fakeseg.data.sources) ------------------------------------------------------------------

@pytest.fixture
def clip(tmp_path) -> Path:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (48, 32))
    for i in range(23):
        writer.write(np.full((32, 48, 3), i * 10, np.uint8))
    writer.release()
    return path


def test_iter_frames_streams_the_requested_indices(clip):
    info = video_info(clip)
    assert (info.fps, info.n_frames, info.width, info.height) == (10.0, 23, 48, 32)
    got = list(iter_frames(clip, every=10, start=1))
    assert [(i, t) for i, t, _ in got] == [(1, 0.1), (11, 1.1), (21, 2.1)]
    for i, _, rgb in got:  # the frame decoded is the frame asked for, not a keyframe nearby
        assert rgb.shape == (32, 48, 3) and abs(int(rgb.mean()) - i * 10) <= 3
    assert len(list(iter_frames(clip))) == 23


@pytest.mark.parametrize("content", [b"", b"not a video" * 20, "half"])
def test_broken_videos_raise_one_clear_error(tmp_path, clip, content):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2] if content == "half" else content)
    for call in (lambda: video_info(bad), lambda: list(iter_frames(bad))):
        with pytest.raises(BadInput) as e:
            call()
        assert str(bad) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(BadInput, match="no such file"):
        video_info(tmp_path / "absent.mp4")


def test_expand_sources_handles_files_folders_and_globs(tmp_path, clip):
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "b.JPG").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.webp").write_bytes(b"x")
    folder = expand_sources([tmp_path])
    assert [p.name for p in folder] == ["a.png", "b.JPG", "clip.avi"]  # sorted, not recursive, no .txt
    both = expand_sources([clip, tmp_path, str(tmp_path / "**" / "*.webp")])
    assert [p.name for p in both] == ["clip.avi", "a.png", "b.JPG", "c.webp"]  # order kept, no duplicates
    for spec, msg in ((tmp_path / "absent.png", "no such file"), (tmp_path / "notes.txt", "unsupported"),
                      (str(tmp_path / "*.gif"), "matches no")):
        with pytest.raises(BadInput, match=msg):
            expand_sources([spec])
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInput, match="no images or videos"):
        expand_sources([tmp_path / "empty"])
