"""`fakeseg detect` on bad input: one clear line, a non-zero exit when nothing could be processed,
a warning (and the other inputs processed) otherwise, never a traceback, no half-written files."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from fakeseg.cli import app

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "samples" / "demo.mp4"
GENUINE = REPO / "samples" / "genuine.jpg"
runner = CliRunner()


def run(weights: Path, out: Path, *args: str):
    result = runner.invoke(
        app, ["detect", *args, "--weights", str(weights), "--out", str(out)], env={"COLUMNS": "200"}
    )
    assert "Traceback" not in result.output and not isinstance(result.exception, (ValueError, OSError)), (
        result.output
    )
    return result


def error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_missing_path_alone_fails_with_one_line(weights, tmp_path):
    result = run(weights, tmp_path / "o", str(tmp_path / "nope.mp4"))
    assert result.exit_code == 1 and len(error_lines(result)) == 1 and "no such file" in result.output
    assert not (tmp_path / "o").exists()


def test_missing_path_beside_a_good_one_is_a_warning(weights, tmp_path):
    result = run(weights, tmp_path / "o", str(tmp_path / "nope.jpg"), str(GENUINE))
    assert result.exit_code == 0 and "warning:" in result.output and "nope.jpg" in result.output
    verdicts = {Path(s["source"]).name: s["verdict"] for s in summary(tmp_path / "o")["sources"]}
    assert verdicts["nope.jpg"] == "error" and verdicts["genuine.jpg"] in ("fake", "real")


def test_text_file_named_jpg(weights, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not an image\n")
    result = run(weights, tmp_path / "o", str(bad))
    assert result.exit_code == 1 and "not a readable image" in result.output and len(error_lines(result)) == 1
    assert not (tmp_path / "o").exists()  # a folder of error entries would look like a result


def test_nothing_processed_leaves_an_existing_out_folder_as_it_was(weights, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not an image\n")
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "mine.txt").write_text("a user's file")
    result = run(weights, tmp_path / "o", str(bad))
    assert result.exit_code == 1 and len(error_lines(result)) == 1
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["mine.txt"]


def test_zero_byte_and_truncated_videos(weights, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(DEMO.read_bytes()[: DEMO.stat().st_size // 2])
    result = run(weights, tmp_path / "o", str(empty), str(truncated))
    assert result.exit_code == 1 and "empty file" in result.output and "cut.mp4" in result.output
    assert not (tmp_path / "o").exists()  # nothing half-written, nothing that looks like a result


def test_video_that_breaks_off_keeps_the_frames_before(weights, tmp_path):
    # an AVI (MJPG) with its index cut off: the frames before the cut decode, then the file ends early
    clip = tmp_path / "clip.avi"
    cap = cv2.VideoCapture(str(DEMO))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25, (464, 560))
    for _ in range(20):
        writer.write(cap.read()[1])
    writer.release()
    cap.release()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(clip.read_bytes()[: int(clip.stat().st_size * 0.6)])
    result = run(weights, tmp_path / "o", str(cut), "--detect-every", "10")
    entry = summary(tmp_path / "o")["sources"][0] if (tmp_path / "o" / "summary.json").exists() else None
    if result.exit_code == 0:  # decoded part-way: a warning, partial results, a complete video file
        assert entry["warning"] and 0 < entry["frames"] < 20 and "truncated" in result.output
        assert (tmp_path / "o" / "overlays" / "cut.mp4").is_file()
    else:  # this OpenCV build refuses the file outright: still one clear line
        assert result.exit_code == 1 and "cut.avi" in result.output


@pytest.mark.parametrize("kind", ["gray", "rgba", "16bit"])
def test_gray_rgba_and_16bit_images_are_processed(weights, tmp_path, kind):
    bgr = cv2.imread(str(GENUINE))
    if kind == "gray":
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    elif kind == "rgba":
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    else:
        image = bgr.astype(np.uint16) * 257
    path = tmp_path / f"{kind}.png"
    cv2.imwrite(str(path), image)
    result = run(weights, tmp_path / "o", str(path))
    assert result.exit_code == 0, result.output
    entry = summary(tmp_path / "o")["sources"][0]
    assert entry["faces"] == 1 and entry["verdict"] in ("fake", "real")


def test_image_without_a_face_says_no_face(weights, tmp_path):
    path = tmp_path / "wall.png"
    cv2.imwrite(str(path), np.full((240, 320, 3), 127, np.uint8))
    result = run(weights, tmp_path / "o", str(path))
    assert result.exit_code == 0, result.output
    entry = summary(tmp_path / "o")["sources"][0]
    assert entry["verdict"] == "no face" and entry["score"] is None
    rows = (tmp_path / "o" / "scores.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].endswith("no face") and "no face" in result.output
    assert "wall.png: no face found, nothing checked" in result.output  # a warning line, not only a table cell


def test_huge_image_is_refused_with_one_line(weights, tmp_path):
    path = tmp_path / "huge.png"
    cv2.imwrite(str(path), np.zeros((10_001, 10_001), np.uint8))  # ~100 MP: a decode would take GBs as RGB
    result = run(weights, tmp_path / "o", str(path))
    assert result.exit_code == 1 and "too large" in result.output


def test_large_photo_is_processed(weights, tmp_path):
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), cv2.resize(cv2.imread(str(GENUINE)), (2784, 3360)))
    result = run(weights, tmp_path / "o", str(path))
    assert result.exit_code == 0 and summary(tmp_path / "o")["sources"][0]["faces"] == 1


def test_unwritable_out(weights, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run(weights, blocker / "out", str(GENUINE))
    assert result.exit_code == 1 and len(error_lines(result)) == 1 and "cannot write" in result.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["--device", "tpu"], "--device"),
        (["--arch", "vgg5"], "does not match"),
        (["--batch-size", "0"], "batch-size"),
        (["--mask-format", "gif"], "mask-format"),
        (["--threshold", "2"], "threshold"),
    ],
)
def test_wrong_options(weights, tmp_path, args, message):
    result = run(weights, tmp_path / "o", str(GENUINE), *args)
    assert result.exit_code != 0 and message in result.output


def test_bad_weights_spec(tmp_path):
    result = runner.invoke(
        app, ["detect", str(GENUINE), "--weights", str(tmp_path / "none"), "--out", str(tmp_path / "o")]
    )
    assert (
        result.exit_code == 1
        and "no such file or folder" in result.output
        and "Traceback" not in result.output
    )
