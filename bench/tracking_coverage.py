"""How many of the faces a per-frame detector finds does FaceTracker follow, and at what HOG cost?

    .venv/bin/python bench/tracking_coverage.py [--full-scan-every 3 6] [--cache runs/hog_reference]

Every video in ../shared/data/real_videos, every frame: a full HOG scan of the frame (what FF++'s
detect_from_video would find; cached as JSON per video, ~17 min on 2 cores the first time) is the reference.
FaceTracker at detect's default stride (10 frames at 30 fps), with the real HOG detector, runs once per
`--full-scan-every` value. Per frame, a tracked box "covers" a reference face at IoU >= 0.5; a tracked box that
covers none is off-face (after a cut: the last shot's box carried over new pixels). Small faces (shorter side
under 178 px, the size below which a coarse scan may miss them) are counted apart: they are what the full scans
are for. Prints one row per value, and the cuts the tracker saw.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fakeseg.data.faces import detect_faces
from fakeseg.data.sources import iter_frames
from fakeseg.tracking import FaceTracker, box_iou

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_videos"
SMALL = 178  # px: below this the tracker's coarse scans may miss a face (data.faces.skipped_hog_levels at 720p)


def reference_boxes(video: Path, frames: list, cache: Path) -> list[list[tuple[int, int, int, int]]]:
    path = cache / f"{video.name}.json"
    if path.exists():
        return [[tuple(b) for b in boxes] for boxes in json.loads(path.read_text())]
    boxes = [[f.box for f in detect_faces(rgb)] for rgb in frames]
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(boxes))
    return boxes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full-scan-every", type=int, nargs="+", default=[3, 6])
    ap.add_argument("--detect-every", type=int, default=10)
    ap.add_argument("--cache", type=Path, default=Path("runs/hog_reference"))
    args = ap.parse_args()
    keys = ("faces", "covered", "off_face", "small", "small_covered", "detections", "full_scans", "cuts")
    totals = {n: dict.fromkeys(keys, 0) for n in args.full_scan_every}
    for video in sorted(VIDEOS.glob("*.mp4")):
        frames = [rgb for _, _, rgb in iter_frames(video)]
        reference = reference_boxes(video, frames, args.cache)
        for n in args.full_scan_every:
            tracker, t = FaceTracker(detect_every=args.detect_every, full_scan_every=n), totals[n]
            for i, rgb in enumerate(frames):
                tracked = [box for _, box, _ in tracker.update(i, rgb)]
                on_face = [any(box_iou(b, r) >= 0.5 for r in reference[i]) for b in tracked]
                t["faces"] += len(reference[i])
                t["covered"] += sum(on_face)
                t["off_face"] += len(on_face) - sum(on_face)
                small = [r for r in reference[i] if min(r[2] - r[0], r[3] - r[1]) < SMALL]
                t["small"] += len(small)
                t["small_covered"] += sum(any(box_iou(b, r) >= 0.5 for b in tracked) for r in small)
            t["detections"] += tracker.detections
            t["full_scans"] += tracker.full_scans
            t["cuts"] += getattr(tracker, "cuts", 0)  # trackers before stop 27 had no cuts
        print(video.name, {n: (t["covered"], t["off_face"], t["full_scans"]) for n, t in totals.items()}, flush=True)
    print("\n| full scan every | reference faces | tracked boxes on one | boxes on none | small faces covered "
          "| HOG scans | full scans | cuts |\n|---|---|---|---|---|---|---|---|")
    for n, t in totals.items():
        print(f"| {n} | {t['faces']:,} | {t['covered']:,} | {t['off_face']:,} | {t['small_covered']:,} of "
              f"{t['small']:,} | {t['detections']:,} | {t['full_scans']:,} | {t['cuts']} |")


if __name__ == "__main__":
    main()
