"""`fakeseg detect` and its engine: outputs, formats, tracking, the verdict rule, the Python API.

The full pipeline runs on the bundled sample (samples/demo.mp4, a real GHOST face swap, and
samples/genuine.jpg) with a random-init FN3 checkpoint: the weights' quality is not under test here,
the plumbing (crops, read-out, files, verdicts) is.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from fakeseg.cli import app
from fakeseg.data.faces import crop_face
from fakeseg.data.transforms import to_tensor
from fakeseg.models import create_model, scores_and_maps
from fakeseg.results import (
    MASK_SIDE,
    FaceResult,
    FrameResult,
    MaskArchiveWriter,
    load_masks,
    source_verdict,
    track_summary,
)
from fakeseg.tracking import FaceTracker, box_iou

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "samples" / "demo.mp4"
GENUINE = REPO / "samples" / "genuine.jpg"
REFERENCE = REPO / "samples" / "reference.mp4"  # genuine frames of demo.mp4's shot, none of them genuine.jpg
runner = CliRunner()


@pytest.fixture(scope="module")
def demo_run(weights, tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("run") / "demo"
    result = runner.invoke(
        app,
        [
            "detect",
            str(DEMO),
            str(GENUINE),
            "--weights",
            str(weights),
            "--out",
            str(out),
            "--detect-every",
            "5",
        ],
        env={"COLUMNS": "200"},
    )
    return out, result


def test_sample_clip_is_small_short_and_readable():
    cap = cv2.VideoCapture(str(DEMO))
    n, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    assert DEMO.stat().st_size < 1.5e6 and 2.0 <= n / fps <= 4.0


def test_detect_writes_every_output(demo_run):
    out, result = demo_run
    assert result.exit_code == 0, result.output
    for name in (
        "scores.csv",
        "scores.json",
        "summary.json",
        "report.html",
        "masks/demo.npz",
        "masks/genuine.png",
        "overlays/demo.mp4",
        "overlays/genuine.png",
    ):
        assert (out / name).is_file(), name
    assert not [p.name for p in out.rglob(".*")], "temp files left behind"
    assert "verdict" in result.output and "demo.mp4" in result.output  # the rich verdict table
    summary = json.loads((out / "summary.json").read_text())
    # said before the run: `auto` is fp32, 5-10x slower, on a CPU without native bf16
    ran = f"{summary['model']['weights']}, {summary['precision']} on {summary['device']}"
    assert result.output.startswith(f"model: {ran}\n")


def test_scores_one_row_per_frame_and_face(demo_run):
    out, _ = demo_run
    rows = list(csv.DictReader(open(out / "scores.csv")))
    video = [r for r in rows if r["source"].endswith("demo.mp4")]
    # the swapped face is one track over all 66 frames: the tracker kept its id between detections
    assert [int(r["frame"]) for r in video if r["face_id"] == "1"] == list(range(66))
    assert all(r["status"] == "face" for r in video)
    detected = [int(r["frame"]) for r in video if r["face_id"] == "1" and r["detected"] == "1"]
    assert detected == list(range(0, 66, 5))  # --detect-every 5
    for r in video:
        score, area = float(r["score"]), float(r["fake_area"])
        assert 0 <= score <= 1 and 0 <= area <= 1 and r["fake"] == str(int(score >= 0.5))
    assert abs(float(video[25]["time_s"]) - 1.0) < 1e-6  # 25 fps
    as_json = json.loads((out / "scores.json").read_text())
    assert len(as_json) == len(rows) and as_json[3]["score"] == pytest.approx(float(video[3]["score"]))
    assert len(as_json[3]["box"]) == 4


def test_summary_verdicts_follow_the_rule(demo_run):
    out, _ = demo_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["arch"] == "fn3" and summary["model"]["tau2"] == 0.5 and summary["rule"]
    assert summary["fakeseg_version"] and summary["counts"]["processed"] == 2
    video = next(s for s in summary["sources"] if s["kind"] == "video")
    assert video["frames"] == video["frames_with_face"] == 66
    assert video["cuts"] == 0  # one shot: the swapped face's track runs through it
    track = video["tracks"][0]
    assert track["face_id"] == 1 and track["frames"] == 66 and track["detections"] == 14 and track["counted"]
    # HOG finds a hand as a face at frame 30 only; tracked for a few frames, it must not count
    assert all(not t["counted"] for t in video["tracks"][1:])
    scores = [
        float(r["score"])
        for r in csv.DictReader(open(out / "scores.csv"))
        if r["source"] == video["source"] and r["face_id"] == "1"
    ]
    assert track["median"] == pytest.approx(float(np.median(scores)), abs=1e-5)
    assert video["verdict"] == ("fake" if track["median"] >= 0.5 else "real")
    assert len(video["outputs"]["top_frames"]) == 3
    assert max(scores) <= video["outputs"]["top_frames"][0]["score"] + 1e-6


def test_npz_masks_read_back_with_one_call(demo_run):
    out, _ = demo_run
    masks = load_masks(out / "masks" / "demo.npz")
    rows = [r for r in csv.DictReader(open(out / "scores.csv")) if r["source"].endswith("demo.mp4")]
    assert masks.mask.shape == (len(rows), MASK_SIDE, MASK_SIDE) and masks.mask.dtype == np.uint8
    assert masks.frame_hw == (560, 464) and list(masks.frame) == [int(r["frame"]) for r in rows]
    assert list(masks.face_id) == [int(r["face_id"]) for r in rows]
    # the stored masks are the masks that were scored: their mean is the score (up to 8-bit + resizing)
    assert np.allclose(masks.mask.mean(axis=(1, 2)) / 255, [float(r["score"]) for r in rows], atol=0.01)
    full = masks.frame_map(10)
    assert full.shape == (560, 464) and full.max() > 0 and (masks.frame_map(999) == 0).all()
    image_mask = load_masks(out / "masks" / "genuine.png")
    assert image_mask.shape == (560, 464) and 0 < image_mask.max() <= 1


def test_overlay_video_and_report(demo_run):
    out, _ = demo_run
    cap = cv2.VideoCapture(str(out / "overlays" / "demo.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 66 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
    cap.release()
    html = (out / "report.html").read_text()
    assert "<svg" in html and "data:image/jpeg;base64," in html and "genuine.jpg" in html
    assert "src='http" not in html and 'src="http' not in html and "<link" not in html  # self-contained


def test_json_flag_prints_only_the_summary(demo_run, weights, tmp_path):
    result = runner.invoke(
        app, ["detect", str(GENUINE), "--weights", str(weights), "--out", str(tmp_path / "j"), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["sources"][0]["kind"] == "image" and summary["sources"][0]["faces"] == 1


def test_existing_run_is_not_overwritten(demo_run, weights):
    out, _ = demo_run
    before = (out / "summary.json").read_text()
    result = runner.invoke(app, ["detect", str(GENUINE), "--weights", str(weights), "--out", str(out)])
    assert result.exit_code == 1 and "--overwrite" in result.output
    assert (out / "summary.json").read_text() == before


def test_python_api_scores_equal_the_model_on_the_shared_crop(weights):
    import fakeseg

    results = list(fakeseg.detect(GENUINE, weights=weights, precision="fp32"))
    assert len(results) == 1 and len(results[0].faces) == 1
    face = results[0].faces[0]
    model = create_model("fn3", "seg")
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(weights / "model.safetensors")))
    crop = crop_face(results[0].image, face.box, size=256, scale=2.0)
    score, prob = scores_and_maps(model.eval(), to_tensor([crop.image]))
    assert face.crop_box == crop.box
    assert face.score == pytest.approx(float(score[0]), abs=1e-5)
    assert np.allclose(face.mask, prob[0].numpy(), atol=1e-5)
    overlay = results[0].overlay()
    assert overlay.shape == results[0].image.shape and not np.array_equal(overlay, results[0].image)


def test_bf16_stays_close_to_fp32(weights):
    from fakeseg.predict import Predictor

    rgb = cv2.cvtColor(cv2.imread(str(GENUINE)), cv2.COLOR_BGR2RGB)
    fp32, auto = Predictor(weights, precision="fp32"), Predictor(weights, precision="auto")
    crop = crop_face(rgb, (180, 120, 290, 230), size=256).image
    s32, m32 = fp32.predict_crops([crop, crop[::-1].copy()])
    s16, m16 = auto.predict_crops([crop, crop[::-1].copy()])
    assert np.abs(s32 - s16).max() < 0.01 and np.abs(m32 - m16).max() < 0.1


# ---- tracking, verdicts and the mask archive, without the face detector -------------------------


def _moving_square_frames(n: int, step: int = 3):
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, (60, 60, 3), dtype=np.uint8)
    texture = cv2.GaussianBlur(texture, (5, 5), 0)
    for i in range(n):
        frame = np.full((240, 320, 3), 90, np.uint8)
        x = 40 + step * i
        frame[80:140, x : x + 60] = texture
        yield i, frame, (x, 80, x + 60, 140)


def test_tracker_detects_on_a_stride_and_follows_the_face_between():
    min_sizes = []

    def detector(rgb, min_size):
        from fakeseg.data.faces import Face

        min_sizes.append(min_size)
        x = int(np.argmax(rgb[110, :, 0] != 90))
        return [Face((x, 80, x + 60, 140))]

    tracker = FaceTracker(detect_every=5, full_scan_every=3, detector=detector)
    for i, frame, truth in _moving_square_frames(32):
        ((track_id, box, detected),) = tracker.update(i, frame)
        assert detected == (i % 5 == 0)
        assert track_id == 1
        assert abs(box[0] - truth[0]) <= 2, (i, box, truth)  # optical flow kept up with the 3 px/frame motion
    # frames 0, 5, ..., 30; every third detection scans for faces of any size, the others only for faces
    # down to the smallest one followed (60 px here)
    assert min_sizes == [0, 60, 60, 0, 60, 60, 0]
    assert (tracker.detections, tracker.full_scans) == (7, 3)


def test_tracker_new_face_gets_a_new_id():
    faces = [[(10, 10, 50, 50)], [(10, 10, 50, 50), (200, 100, 240, 140)], [(200, 100, 240, 140)]]
    from fakeseg.data.faces import Face

    it = iter(faces)
    tracker = FaceTracker(detect_every=1, detector=lambda rgb, min_size: [Face(b) for b in next(it)])
    frame = np.zeros((240, 320, 3), np.uint8)
    assert [t for t, *_ in tracker.update(0, frame)] == [1]
    assert [t for t, *_ in tracker.update(1, frame)] == [1, 2]
    assert [t for t, *_ in tracker.update(2, frame)] == [2]


def test_a_cut_ends_the_tracks_and_detects_at_once():
    """At the next shot the old box must not be carried over the new pixels by optical flow until the next
    scheduled detection, and a face there is a new track (found by a scan of every pyramid level)."""
    from fakeseg.data.faces import Face

    calls = []

    def detector(rgb, min_size):
        calls.append(min_size)
        x = int(np.argmax(rgb[110, :, 0] != rgb[0, 0, 0]))  # the textured square's left edge
        return [Face((x, 80, x + 60, 140))]

    tracker = FaceTracker(detect_every=10, detector=detector)
    shot_one = list(_moving_square_frames(14))
    for i, frame, _ in shot_one:
        tracker.update(i, frame)
    assert tracker.detections == 2 and tracker.cuts == 0  # frames 0 and 10: slow motion is no cut
    # the next shot: another background, the square further right
    cut_frame = np.full((240, 320, 3), 200, np.uint8)
    cut_frame[80:140, 230:290] = shot_one[0][1][80:140, 40:100]
    ((track_id, box, detected),) = tracker.update(14, cut_frame)
    assert (track_id, box, detected) == (2, (230, 80, 290, 140), True)
    assert tracker.cuts == 1 and calls[-1] == 0  # a full scan
    ((track_id, _, detected),) = tracker.update(15, cut_frame)
    assert (track_id, detected) == (2, False)  # the stride restarts at the cut


def test_a_faceless_stretch_keeps_the_detection_stride():
    """With no face to follow, HOG runs every `detect_every` frames, not on every frame (a full scan of a 720p
    frame costs ~0.2 s of CPU: b-roll would run 10x slower than the shots with faces)."""
    calls = []
    tracker = FaceTracker(detect_every=10, detector=lambda rgb, min_size: calls.append(min_size) or [])
    frame = np.full((240, 320, 3), 90, np.uint8)
    for i in range(25):
        assert tracker.update(i, frame) == []
    assert calls == [0, 0, 0] and tracker.detections == 3  # frames 0, 10 and 20, each a full scan


def test_a_cut_in_a_real_video_starts_new_face_tracks(weights, tmp_path):
    """demo.mp4's first 15 frames, then a cut to a 1.6x close-up of the same frames (a jump to another camera):
    the face after the cut is a new track, detected on the cut's frame, and the summary counts the cut."""
    from ffpp_tree import write_video

    from fakeseg.data.sources import iter_frames

    frames = [rgb for i, _, rgb in iter_frames(DEMO) if i < 15]
    h, w = frames[0].shape[:2]
    zoom = [cv2.resize(f[h // 5 : h - h // 5, w // 5 : w - w // 5], (w, h)) for f in frames]
    video = tmp_path / "two_shots.mp4"
    write_video(video, frames + zoom)
    out = tmp_path / "run"
    result = runner.invoke(app, ["detect", str(video), "--weights", str(weights), "--out", str(out)])
    assert result.exit_code == 0, result.output
    (source,) = json.loads((out / "summary.json").read_text())["sources"]
    assert source["cuts"] == 1
    rows = [r for r in csv.DictReader(open(out / "scores.csv")) if r["status"] == "face"]
    before = {r["face_id"] for r in rows if int(r["frame"]) < 15}
    after = {r["face_id"] for r in rows if int(r["frame"]) >= 15}
    assert before and after and not before & after  # no id crosses the cut
    assert any(int(r["frame"]) == 15 and r["detected"] == "1" for r in rows)


def test_coarse_hog_scan_finds_the_same_faces():
    """Skipping HOG's finest pyramid levels (what the tracker does while every face is large) must return the
    boxes of the full scan, not merely boxes near them: crops and calibration were made with the full scan's."""
    from fakeseg.data.faces import detect_faces, skipped_hog_levels
    from fakeseg.data.sources import iter_frames

    frames = [rgb for i, _, rgb in iter_frames(DEMO) if i in (0, 30, 60)]
    frames.append(cv2.cvtColor(cv2.imread(str(GENUINE)), cv2.COLOR_BGR2RGB))
    for rgb in frames:
        (full,) = detect_faces(rgb)  # one face in each
        side = min(full.box[2] - full.box[0], full.box[3] - full.box[1])
        assert skipped_hog_levels(side, min(1.0, 640 / max(rgb.shape[:2]))) > 0  # the scan is really coarser
        (coarse,) = detect_faces(rgb, min_size=side)
        assert box_iou(full.box, coarse.box) > 0.95, (full.box, coarse.box)
    assert skipped_hog_levels(0, 0.5) == 0 and skipped_hog_levels(40, 0.5) == 0  # small faces: every level


def test_verdict_rule_median_min_frames_and_no_face():
    def track(i, scores):
        return track_summary(i, np.arange(len(scores)), np.asarray(scores, np.float32), 0.5)

    # a 2-frame spurious track is ignored when a long track exists; a robust median ignores one spike
    tracks = [track(1, [0.1, 0.2, 0.9, 0.1, 0.2]), track(2, [0.9, 0.95])]
    verdict, score = source_verdict(tracks)
    assert verdict == "real" and score == pytest.approx(0.2) and tracks[1]["counted"] is False
    assert source_verdict([track(1, [0.6, 0.7, 0.4])])[0] == "fake"
    assert source_verdict([track(1, [0.7])])[0] == "fake"  # an image: one frame is enough
    assert source_verdict([]) == ("no face", None)


def test_mask_archive_round_trip(tmp_path):
    writer = MaskArchiveWriter(tmp_path / "v.npz", (120, 160), "v.mp4")
    for frame in range(3):
        mask = np.zeros((256, 256), np.float32)
        mask[64:192, 64:192] = 0.8
        face = FaceResult(1, (50, 30, 90, 70), (30, 10, 110, 90), float(mask.mean()), True, 0.25, mask)
        writer.append(
            FrameResult("v.mp4", frame, frame / 25, np.zeros((120, 160, 3), np.uint8), [face], 0.5, True)
        )
    assert not (tmp_path / "v.npz").exists()  # nothing that looks complete before close()
    writer.close()
    masks = load_masks(tmp_path / "v.npz")
    assert (
        masks.source == "v.mp4"
        and list(masks.frame) == [0, 1, 2]
        and masks.box[0].tolist() == [50, 30, 90, 70]
    )
    full = masks.frame_map(1)
    assert full[50, 70] == pytest.approx(0.8, abs=0.01) and full[12, 32] == 0 and full[100, 150] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["v.npz"]


def test_real_video_one_track(shared_data, weights, tmp_path):
    clip = shared_data / "real_videos" / "liveportrait__driving_d1.mp4"  # 16 frames, one face
    if not clip.is_file():
        pytest.skip(f"{clip} not present")
    from fakeseg.predict import Predictor

    results = list(Predictor(weights, detect_every=4).stream(clip))
    assert len(results) == 16 and all(len(r.faces) == 1 for r in results)
    assert {r.faces[0].face_id for r in results} == {1}


def test_video_stages_stop_when_the_caller_stops_early(weights):
    """Decoding and face finding run in threads beside the model; a caller that stops reading (an API user
    taking the first frames, or an interrupt) must not leave them running in its process."""
    import threading

    from fakeseg.predict import Predictor

    def stages():
        return [t for t in threading.enumerate() if t.name in ("fakeseg-reader", "fakeseg-faces")]

    predictor = Predictor(weights, batch_size=2)
    stream = predictor.stream(DEMO)
    first = [next(stream) for _ in range(3)]
    assert [r.frame for r in first] == [0, 1, 2] and len(stages()) == 2  # both stages were running
    stream.close()
    assert stages() == []
    # and a full run afterwards gives every frame, in order, as before
    frames = [r.frame for r in predictor.stream(DEMO)]
    assert frames == list(range(len(frames))) and stages() == []


def test_a_stage_whose_consumer_stopped_ends_even_with_its_queue_full():
    """The producer has finished and waits to hand over its end marker while the queue is full; the consumer
    stops reading. The stage's thread must still end (not block forever on the full queue)."""
    import threading
    import time

    from fakeseg.predict import _prefetch

    stage = _prefetch(iter(range(2)), maxsize=1, name="fakeseg-test-stage")
    assert next(stage) == 0
    time.sleep(0.3)  # the producer queues 1, then waits to queue its end marker
    stage.close()
    assert not [t for t in threading.enumerate() if t.name == "fakeseg-test-stage"]


def test_video_encoder_writes_every_frame_in_order_and_abort_leaves_nothing_running(tmp_path):
    from fakeseg.encode import VideoEncoder

    frames = [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(12)]  # more than its queue holds
    enc = VideoEncoder(tmp_path / "a.mp4", fps=10)
    for f in frames:
        enc.write(f)
    enc.close()
    cap = cv2.VideoCapture(str(tmp_path / "a.mp4"))
    means = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        means.append(bgr.mean())
    assert len(means) == 12 and means == sorted(means)  # every frame, in order (brightness rises)

    enc = VideoEncoder(tmp_path / "b.mp4", fps=10)
    for f in frames:
        enc.write(f)
    enc.abort()
    assert not enc._thread.is_alive()


def test_video_encoder_unwritable_folder_fails_at_the_first_frame(tmp_path):
    from fakeseg.encode import VideoEncoder

    enc = VideoEncoder(tmp_path / "missing" / "a.mp4", fps=10)
    with pytest.raises(OSError, match="cannot write"):
        enc.write(np.zeros((32, 32, 3), np.uint8))
    enc.close()  # nothing was started: nothing to finish


def test_fake_area_uses_the_checkpoint_pixel_threshold(weights, tmp_path):
    import shutil

    import fakeseg

    face = next(iter(fakeseg.detect(GENUINE, weights=weights, precision="fp32"))).faces[0]
    assert face.fake_area == pytest.approx(float((face.mask > 0.5).mean()))  # "above", as eval counts
    calibrated = tmp_path / "calibrated"
    shutil.copytree(weights, calibrated)
    config = json.loads((calibrated / "config.json").read_text())
    config["tau1"] = float(np.quantile(face.mask, 0.25))  # as `eval --calibrate --save-thresholds` stores it
    (calibrated / "config.json").write_text(json.dumps(config))
    again = next(iter(fakeseg.detect(GENUINE, weights=calibrated, precision="fp32"))).faces[0]
    assert again.score == pytest.approx(face.score)  # Eq. 6 does not depend on the pixel threshold
    assert again.fake_area == pytest.approx(0.75, abs=0.01)

    # a calibrated mask smoothing reaches detect's masks (and so its overlays and fake_area), not its score
    import torch

    from fakeseg.models import smooth_maps

    config["mask_sigma"] = 8.0
    (calibrated / "config.json").write_text(json.dumps(config))
    smoothed = next(iter(fakeseg.detect(GENUINE, weights=calibrated, precision="fp32"))).faces[0]
    assert smoothed.score == pytest.approx(face.score)
    expected = smooth_maps(torch.from_numpy(face.mask)[None], 8.0)[0].numpy()
    assert np.abs(smoothed.mask - expected).max() < 1e-3


def test_false_alarm_rate_against_the_weights_reference(weights, tmp_path):
    """Weights carrying known-genuine scores (`eval --save-reference`): each track and source gets the share
    of them scoring at least its score, shown in the verdict table and the report."""
    import shutil

    import fakeseg
    from fakeseg.evaluate import save_reference

    score = next(iter(fakeseg.detect(GENUINE, weights=weights))).faces[0].score
    with_ref = tmp_path / "with_ref"
    shutil.copytree(weights, with_ref)
    save_reference(str(with_ref), [score - 0.01, score + 0.01, score + 0.02], "genuine.csv")
    out = tmp_path / "run"
    res = runner.invoke(app, ["detect", str(GENUINE), "--weights", str(with_ref), "--out", str(out)],
                        env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reference"] == {"kind": "weights", "data": "genuine.csv", "n": 3}  # scores stay in the weights
    assert summary["model"]["tau2_from"] == "weights" and not (out / "reference.csv").exists()
    source = summary["sources"][0]
    assert source["false_alarm_rate"] == pytest.approx(2 / 3, abs=1e-4)  # two of three score at least as high
    assert source["tracks"][0]["false_alarm_rate"] == source["false_alarm_rate"]
    assert "genuine as high" in res.output and "67%" in res.output
    assert "Genuine as high" in (out / "report.html").read_text()


def test_batch_size_defaults_per_architecture_and_does_not_change_results(weights, tmp_path):
    from fakeseg.predict import Predictor

    # the U-Net default holds ~2x vgg5's memory per crop: detect passes 8 faces at a time (docs/benchmarks.md)
    unet = Predictor("unet4x.rendered_video_ft", precision="fp32")
    assert unet.batch_size == 8 and unet.info()["batch_size"] == 8
    assert Predictor(weights).batch_size == 16
    one_by_one = Predictor(weights, batch_size=1, precision="fp32")
    crops = [crop.image for crop in _demo_crops(12)]
    s8, m8 = Predictor(weights, batch_size=8, precision="fp32").predict_crops(crops)
    s1, m1 = one_by_one.predict_crops(crops)
    assert len(s8) == 12 and np.allclose(s8, s1, atol=1e-5) and np.allclose(m8, m1, atol=1e-4)


def test_scores_do_not_depend_on_how_faces_are_batched(weights):
    """A face's score and mask must not depend on --batch-size or on which faces share its batch (the last
    batch of a video is a part one): image means accumulate in float64 (models.base.read_out)."""
    from fakeseg.predict import Predictor

    crops = [crop.image for crop in _demo_crops(12)]
    for w in (weights, "fn3.synth_cls"):
        whole, *split = [Predictor(w, batch_size=b).predict_crops(crops) for b in (12, 5, 1)]
        for scores, maps in split:
            assert np.array_equal(scores, whole[0]) and np.array_equal(maps, whole[1]), w


def _demo_crops(n: int):
    from fakeseg.data.faces import detect_faces
    from fakeseg.data.sources import iter_frames

    crops = []
    for _, _, rgb in iter_frames(DEMO):
        crops += [crop_face(rgb, face.box, size=256, scale=2.0) for face in detect_faces(rgb)]
        if len(crops) >= n:
            break
    return crops[:n]


def test_reference_footage_sets_tau2_at_its_false_alarm_rate(weights, tmp_path):
    """`--reference GENUINE`: every face of known-genuine footage is scored as detect scores faces, tau2 goes
    where at most --false-alarm of them reach it, verdicts follow the usual rule at that tau2, each verdict's
    "genuine as high" is measured against that footage, and its scores are left in reference.csv."""
    from fakeseg.metrics import false_alarm_rate, threshold_at_false_alarm_rate

    out = tmp_path / "run"
    res = runner.invoke(
        app,
        ["detect", str(GENUINE), str(DEMO), "--reference", str(REFERENCE), "--false-alarm", "0.1",
         "--weights", str(weights), "--out", str(out), "--detect-every", "5", "--no-video"],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    with open(out / "reference.csv") as f:
        rows = list(csv.DictReader(f))
    reference = np.array([float(r["score"]) for r in rows])
    assert len(rows) >= 30 and {r["source"] for r in rows} == {str(REFERENCE)}  # a face in (nearly) every frame
    assert summary["reference"] == {"kind": "footage", "data": [str(REFERENCE)], "n": len(rows), "false_alarm": 0.1}
    tau2 = summary["model"]["tau2"]
    assert summary["model"]["tau2_from"] == "reference" and "set from the reference" in summary["threshold"]
    assert tau2 == threshold_at_false_alarm_rate(reference, 0.1)
    assert false_alarm_rate(tau2, reference) <= 0.1 < false_alarm_rate(tau2 - 1e-5, reference)
    for source in summary["sources"]:
        assert source["verdict"] == ("fake" if source["score"] >= tau2 else "real")
        assert source["false_alarm_rate"] == pytest.approx(false_alarm_rate(source["score"], reference), abs=0.04)
    assert f"the reference holds {len(rows)} faces" in res.output  # under 100: the rate is looser than it says
    report = (out / "report.html").read_text()
    assert "from the reference" in res.output and "your reference footage" in report
    lo, hi = np.quantile(reference, [0.05, 0.95])
    assert f"5th-95th percentile: {lo:.3f}-{hi:.3f}" in report  # the band shaded in the video's score plot

    # the same folder again, without a reference: the old reference.csv is not left looking like this run's
    res = runner.invoke(app, ["detect", str(GENUINE), "--weights", str(weights), "--out", str(out), "--overwrite"])
    assert res.exit_code == 0, res.output
    assert not (out / "reference.csv").exists()
    assert json.loads((out / "summary.json").read_text())["model"]["tau2_from"] == "weights"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--reference", "missing.mp4"], "reference: "),
        (["--reference", str(GENUINE)], "needs at least 20"),  # one face: no 5 % quantile to speak of
        (["--reference", str(DEMO), "--threshold", "0.2"], "leave out --threshold"),
        (["--false-alarm", "0.1"], "--false-alarm needs --reference"),
    ],
)
def test_reference_bad_input_is_one_error_line_and_no_output(weights, tmp_path, args, message):
    out = tmp_path / "run"
    res = runner.invoke(app, ["detect", str(GENUINE), "--weights", str(weights), "--out", str(out), *args],
                        env={"COLUMNS": "200"})
    assert res.exit_code == 1 and message in res.output, res.output
    assert "Traceback" not in res.output and not out.exists()
    if args == ["--reference", str(GENUINE)]:  # checked and reference at once: said before anything runs
        assert "both checked and the reference" in res.output


def test_shipped_default_with_the_bundled_reference_gets_both_samples_right(tmp_path):
    """The README's reference example: against known-genuine footage of the same shot, the default weights
    call the swap fake and the genuine frame real, each with its false-alarm rate against that footage."""
    out = tmp_path / "run"
    res = runner.invoke(
        app,
        ["detect", str(DEMO), str(GENUINE), "--reference", str(REFERENCE), "--out", str(out), "--no-video"],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reference"]["n"] >= 30 and summary["model"]["tau2_from"] == "reference"
    verdicts = {Path(s["source"]).name: s for s in summary["sources"]}
    assert verdicts["demo.mp4"]["verdict"] == "fake" and verdicts["demo.mp4"]["false_alarm_rate"] <= 0.05
    assert verdicts["genuine.jpg"]["verdict"] == "real" and verdicts["genuine.jpg"]["false_alarm_rate"] > 0.05


def test_python_api_takes_a_reference_too(weights):
    import fakeseg
    from fakeseg.predict import Predictor

    predictor = Predictor(weights, detect_every=5)
    tau2 = predictor.use_reference([REFERENCE], false_alarm=0.2)
    assert predictor.threshold == tau2 and predictor.info()["model"]["tau2_from"] == "reference"
    assert np.mean(predictor.reference_scores >= tau2) <= 0.2
    frame = next(iter(fakeseg.detect(GENUINE, weights=weights, detect_every=5, reference=[REFERENCE], false_alarm=0.2)))
    assert frame.threshold == tau2 and frame.faces[0].fake == (frame.faces[0].score >= tau2)


def test_an_earlier_run_is_reused_as_the_reference_only_by_the_same_weights(weights, tmp_path):
    """`--reference RUN`: the faces scored into RUN/reference.csv are reused, not rescored; other weights,
    whose scores would sit at another level, are refused with one line."""
    from fakeseg.metrics import threshold_at_false_alarm_rate

    first, second = tmp_path / "first", tmp_path / "second"
    args = ["--weights", str(weights), "--detect-every", "5", "--no-video"]
    res = runner.invoke(app, ["detect", str(GENUINE), "--reference", str(REFERENCE), "--out", str(first), *args])
    assert res.exit_code == 0, res.output
    # mark the saved scores, so that a rescored reference would show
    with open(first / "reference.csv") as f:
        rows = list(csv.DictReader(f))
    marked = [float(r["score"]) / 2 for r in rows]
    with open(first / "reference.csv", "w", newline="") as f:
        f.write("source,frame,face_id,score\n")
        f.writelines(f"{r['source']},{r['frame']},{r['face_id']},{m!r}\n" for r, m in zip(rows, marked, strict=True))
    res = runner.invoke(app, ["detect", str(GENUINE), "--reference", str(first), "--out", str(second), *args])
    assert res.exit_code == 0, res.output
    summary = json.loads((second / "summary.json").read_text())
    assert summary["model"]["tau2"] == threshold_at_false_alarm_rate(marked, 0.05)
    assert summary["reference"]["data"] == [str(first)] and summary["reference"]["n"] == len(rows)

    res = runner.invoke(app, ["detect", str(GENUINE), "--reference", str(first), "--out", str(tmp_path / "x"),
                              "--weights", "fn3.rendered"])
    assert res.exit_code == 1 and "scored by other weights" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x").exists()


def test_score_plot_axis_fits_the_scores_and_shades_the_reference_band():
    """Scores of the shipped weights sit around 0.02-0.2: on a fixed 0-1 axis every track would lie on the
    floor. The axis tops out at a round value above the highest of scores, tau2 and the band."""
    import re

    from fakeseg.report import score_plot_svg

    times = np.arange(10) / 25.0
    svg = score_plot_svg({1: (times, np.full(10, 0.09))}, tau2=0.06, band=(0.03, 0.05))
    labels = re.findall(r'text-anchor="end">([0-9.]+)</text>', svg)
    assert labels == ["0", "0.05", "0.1"]  # 0.09 * 1.1 fits under 0.1
    band = re.search(r'<rect x="40" y="([0-9.]+)" width="850" height="([0-9.]+)" fill="#2e7d32"', svg)
    top, height = float(band.group(1)), float(band.group(2))
    assert top == pytest.approx(10 + 162 * (1 - 0.5)) and height == pytest.approx(162 * 0.2, abs=0.1)
    higher = score_plot_svg({1: (times, np.full(10, 0.4))}, 0.3)
    assert re.findall(r'text-anchor="end">([0-9.]+)</text>', higher) == ["0", "0.25", "0.5"]


def test_overlay_shows_genuine_pixels_and_paints_flagged_ones():
    # the overlay's promise: where the mask is 0 the frame is untouched, where it is 1 the heatmap covers 60 %
    import cv2

    from fakeseg.results import FaceResult, FrameResult

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), np.float32)
    mask[:, 32:] = 1.0
    face = FaceResult(1, (50, 30, 90, 70), (20, 0, 120, 100), 0.5, True, 0.5, mask)
    frame = FrameResult("x.png", 0, None, image, [face], threshold=0.3)
    out = frame.overlay().astype(int)
    # crop box x 20-120 (mask 0 left of x 70, 1 right of it); face box x 50-90, y 30-70, its label above it
    left, right = (slice(0, 100), slice(22, 46)), (slice(32, 98), slice(94, 118))
    assert np.array_equal(out[left], image[left])
    jet_top = cv2.applyColorMap(np.full((1, 1), 255, np.uint8), cv2.COLORMAP_JET)[0, 0, ::-1].astype(int)
    expected = 0.4 * image[right] + 0.6 * jet_top
    assert np.abs(out[right] - expected).max() <= 2
    outside = (slice(0, 120), slice(0, 20))
    assert np.array_equal(out[outside], image[outside])


_FAULTS_PER_BATCH = """
import resource, sys
import numpy as np
from fakeseg._memory import reuse_freed_memory
applied = reuse_freed_memory() if sys.argv[1] == "on" else False
for i in range(6):  # a batch's activations: twelve 4 MB tensors, written, then freed together
    if i == 1:
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    sum(a.sum() for a in [np.ones(1 << 20, np.float32) for _ in range(12)])
print(applied, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start) // 5)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning")
def test_freed_batches_are_reused_without_page_faults():
    """detect's CLI keeps freed blocks in the heap: otherwise glibc hands a batch's freed 48 MB back to the kernel
    and the next batch faults in fresh pages (~6,000 faults here), 10-20 % of the CPU in the model's loop
    (fakeseg/_memory.py)."""
    def faults(mode: str) -> tuple[str, int]:
        out = subprocess.run([sys.executable, "-c", _FAULTS_PER_BATCH, mode], capture_output=True, text=True,
                             check=True).stdout.split()
        return out[0], int(out[1])

    applied, tuned = faults("on")
    if applied != "True":
        pytest.skip("not glibc: mallopt unavailable")
    assert faults("off")[1] > 3_000 and tuned < 100
