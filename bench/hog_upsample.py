"""Could full detections run HOG without upsampling when every face is large (about 4x cheaper)?

    .venv/bin/python bench/hog_upsample.py

Every 6th of the first 60 frames of every 2nd video in ../shared/data/real_videos: `detect_faces` as detect
runs it (640 px grey copy, upsample 1) against the same without upsampling; the IoU of the largest face's box
with its best match (0 when missed), by face size on the 640 px copy, and the time per detection.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from fakeseg.data.faces import detect_faces
from fakeseg.data.sources import iter_frames
from fakeseg.tracking import box_iou

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_videos"


def main() -> None:
    ious, sizes, seconds = [], [], {0: 0.0, 1: 0.0}
    for video in sorted(VIDEOS.glob("*.mp4"))[::2]:
        for k, (_, _, rgb) in zip(range(60), iter_frames(video), strict=False):
            if k % 6:
                continue
            found = {}
            for upsample in (1, 0):
                start = time.perf_counter()
                found[upsample] = detect_faces(rgb, upsample=upsample)
                seconds[upsample] += time.perf_counter() - start
            if not found[1]:
                continue
            box = found[1][0].box
            sizes.append((box[2] - box[0]) * min(1.0, 640 / max(rgb.shape[:2])))
            ious.append(max((box_iou(box, f.box) for f in found[0]), default=0.0))
    ious, sizes = np.asarray(ious), np.asarray(sizes)
    n = len(ious)
    print(f"{n} frames with a face; per detection: upsample 1 {1000 * seconds[1] / n:.1f} ms, "
          f"upsample 0 {1000 * seconds[0] / n:.1f} ms")
    print("| largest face on the 640 px copy | frames | median IoU | 10th percentile | missed |\n|---|---|---|---|---|")
    for low in (0, 80, 120, 160):
        m = sizes >= low
        print(f"| >= {low} px | {m.sum()} | {np.median(ious[m]):.3f} | {np.percentile(ious[m], 10):.3f} | "
              f"{int((ious[m] == 0).sum())} |")


if __name__ == "__main__":
    main()
