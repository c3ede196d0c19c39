"""Rebuild the bundled samples from ../shared/data (see samples/README.md for provenance).

.venv/bin/python samples/make_samples.py                    # all three
.venv/bin/python samples/make_samples.py reference.mp4      # one of them
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
GHOST = DATA / "forgeries/ghost_video_swap"
FAKE_VIDEO = GHOST / "videos/elon.webm"  # GHOST swap, 66 frames, 25 fps, 464x560
ORIGINAL_VIDEO = GHOST / "videos/orig.webm"  # the genuine shot the swap was made from, frame for frame
GENUINE_FRAME = GHOST / "original/orig_f0001.png"  # its first frame, decoded losslessly
REFERENCE_FRAMES = range(33, 66)  # the original's second half (0-based): genuine.jpg (frame 0) is not in it


def reencode(src: Path, dst: Path, frames: range | None = None) -> int:
    """Decode `src` and write the chosen frames, unchanged, as MPEG-4 Part 2 (mp4v, which every OpenCV
    build reads); return how many were written."""
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    tmp = dst.with_name(f".{dst.stem}.tmp.mp4")
    writer, index, n = None, 0, 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if frames is None or index in frames:
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
            writer.write(frame)  # only the codec changes (VP9 -> MPEG-4 Part 2)
            n += 1
        index += 1
    writer.release()
    os.replace(tmp, dst)
    print(f"{dst.name}: {n} frames at {fps} fps")
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("only", nargs="*", choices=["demo.mp4", "genuine.jpg", "reference.mp4"])
    wanted = set(ap.parse_args().only or ["demo.mp4", "genuine.jpg", "reference.mp4"])
    if not FAKE_VIDEO.is_file():
        sys.exit(f"{FAKE_VIDEO} not found: the samples are rebuilt from ../shared/data")
    if "demo.mp4" in wanted:
        reencode(FAKE_VIDEO, HERE / "demo.mp4")
    if "reference.mp4" in wanted:
        reencode(ORIGINAL_VIDEO, HERE / "reference.mp4", REFERENCE_FRAMES)
    if "genuine.jpg" in wanted:
        genuine = cv2.imread(str(GENUINE_FRAME))
        cv2.imwrite(str(HERE / "genuine.jpg"), genuine, [cv2.IMWRITE_JPEG_QUALITY, 92])
        print(f"genuine.jpg: {genuine.shape[1]}x{genuine.shape[0]}")


if __name__ == "__main__":
    main()
