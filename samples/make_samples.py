"""Rebuild the bundled samples from ../shared/data (see samples/README.md for provenance).

.venv/bin/python samples/make_samples.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
FAKE_VIDEO = DATA / "forgeries/ghost_video_swap/videos/elon.webm"  # GHOST swap, 66 frames, 25 fps, 464x560
GENUINE_FRAME = DATA / "forgeries/ghost_video_swap/original/orig_f0001.png"  # the same shot before the swap


def main() -> None:
    if not FAKE_VIDEO.is_file():
        sys.exit(f"{FAKE_VIDEO} not found: the samples are rebuilt from ../shared/data")
    cap = cv2.VideoCapture(str(FAKE_VIDEO))
    fps = cap.get(cv2.CAP_PROP_FPS)
    tmp = HERE / ".demo.tmp.mp4"
    writer = None
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        writer.write(frame)  # every frame, unchanged: only the codec changes (VP9 -> MPEG-4 Part 2)
        n += 1
    writer.release()
    os.replace(tmp, HERE / "demo.mp4")
    genuine = cv2.imread(str(GENUINE_FRAME))
    cv2.imwrite(str(HERE / "genuine.jpg"), genuine, [cv2.IMWRITE_JPEG_QUALITY, 92])
    print(f"demo.mp4: {n} frames at {fps} fps; genuine.jpg: {genuine.shape[1]}x{genuine.shape[0]}")


if __name__ == "__main__":
    main()
