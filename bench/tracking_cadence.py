"""How far tracked face boxes drift from the detector's between full detections, per `--detect-every`.

    .venv/bin/python bench/tracking_cadence.py [--frames 150] [--every 10 30]

For 9 of the real videos in ../shared/data/real_videos (every 4th by name), the first N frames: HOG on
every frame gives the reference box of the largest face; FaceTracker with a full detection every E frames
(the reference detections on the grid, optical flow between) gives the tracked box. Prints the IoU of tracked
vs reference boxes (median, 10th percentile, share below 0.7). The reference itself jitters from frame to
frame, so even E=1 would not give 1.0 against a smoothed truth; compare the rows with each other.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fakeseg.data.faces import detect_faces
from fakeseg.data.sources import iter_frames
from fakeseg.tracking import FaceTracker, box_iou

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_videos"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--every", type=int, nargs="+", default=[10, 30])
    args = ap.parse_args()
    videos = sorted(VIDEOS.glob("*.mp4"))[::4][:9]
    ious: dict[int, list[float]] = {e: [] for e in args.every}
    for video in videos:
        frames = [rgb for _, (_, _, rgb) in zip(range(args.frames), iter_frames(video), strict=False)]
        reference = [detect_faces(rgb) for rgb in frames]
        for every in args.every:
            tracker = FaceTracker(detect_every=every)
            for i, rgb in enumerate(frames):
                tracker.detector = lambda _rgb, faces=reference[i]: faces  # the reference detection of frame i
                tracked = tracker.update(i, rgb)
                if reference[i] and tracked:
                    ious[every].append(box_iou(tracked[0][1], reference[i][0].box))
        print(video.name, {e: round(float(np.median(v)), 3) for e, v in ious.items()}, flush=True)
    print("\n| full detection every | frames | median IoU | 10th percentile | share < 0.7 |\n|---|---|---|---|---|")
    for every, v in ious.items():
        v = np.asarray(v)
        print(f"| {every} | {len(v)} | {np.median(v):.3f} | {np.percentile(v, 10):.3f} | {(v < 0.7).mean():.3f} |")


if __name__ == "__main__":
    main()
