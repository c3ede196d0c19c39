"""Can a full detection skip HOG's finest pyramid levels and still return detect's boxes?

    .venv/bin/python bench/hog_aligned.py [--levels 1 2 3 4 5 6]

dlib's HOG detector scans a pyramid whose levels shrink by 5/6; detect upsamples the 640 px grey copy once, so
level k finds boxes of ~43 x 1.2^k px on the copy. Resizing the copy by 2 x (5/6)^k and scanning without
upsampling starts the pyramid at level k: the same scales, without the finest levels, which hold most of the
pixels. (Scanning without upsampling at the copy's own size, bench/hog_upsample.py, shifts every scale by a
fraction of a level and moves the boxes: median IoU 0.78.)

Every 6th of the first 60 frames of every 2nd video in ../shared/data/real_videos: the IoU of the largest face's
box (detect_faces as detect runs it) with its best match in the scan from level k (0 when missed), over the
faces at least one level above the scan's smallest box, and the time per detection.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from fakeseg.data.faces import _face_recognition, detect_faces
from fakeseg.data.sources import iter_frames
from fakeseg.tracking import box_iou

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_videos"


def scan_from_level(rgb: np.ndarray, level: int, max_side: int = 640) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1, frame px) of a HOG scan that starts at `level` of detect's upsampled pyramid."""
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    factor = 2 * (5 / 6) ** level
    gray = cv2.resize(gray, (round(gray.shape[1] * factor), round(gray.shape[0] * factor)),
                      interpolation=cv2.INTER_AREA)
    sx, sy = gray.shape[1] / w, gray.shape[0] / h
    locations = _face_recognition().face_locations(gray, number_of_times_to_upsample=0)
    return [(round(left / sx), round(top / sy), round(right / sx), round(bottom / sy))
            for top, right, bottom, left in locations]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    args = parser.parse_args()
    ious = {k: [] for k in args.levels}
    seconds = {k: 0.0 for k in [0, *args.levels]}
    sizes = []
    for video in sorted(VIDEOS.glob("*.mp4"))[::2]:
        for k, (_, _, rgb) in zip(range(60), iter_frames(video), strict=False):
            if k % 6:
                continue
            start = time.perf_counter()
            found = detect_faces(rgb)
            seconds[0] += time.perf_counter() - start
            if not found:
                continue
            box = found[0].box
            sizes.append(min(box[2] - box[0], box[3] - box[1]) * min(1.0, 640 / max(rgb.shape[:2])))
            for level in args.levels:
                start = time.perf_counter()
                boxes = scan_from_level(rgb, level)
                seconds[level] += time.perf_counter() - start
                ious[level].append(max((box_iou(box, b) for b in boxes), default=0.0))
    sizes = np.asarray(sizes)
    n = len(sizes)
    print(f"{n} frames with a face; detect's scan (level 0): {1000 * seconds[0] / n:.1f} ms per detection")
    print("| scan from level | ms per detection | faces >= | frames | median IoU | 10th percentile | missed |")
    print("|---|---|---|---|---|---|---|")
    for level in args.levels:
        low = 43 * 1.2 ** (level + 1)  # one level above the scan's smallest box, as detect_faces requires
        m = sizes >= low
        iou = np.asarray(ious[level])[m]
        print(f"| {level} | {1000 * seconds[level] / n:.1f} | {low:.0f} px | {m.sum()} | {np.median(iou):.3f} | "
              f"{np.percentile(iou, 10):.3f} | {int((iou == 0).sum())} |")


if __name__ == "__main__":
    main()
