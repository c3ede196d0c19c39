"""Does dlib's HOG find the same faces on a grey copy of the frame as on the RGB one, and how much faster?

    .venv/bin/python bench/hog_channels.py [--side 640] [--upsample 1]

Two frames (the first and the middle) of every video in ../shared/data/real_videos, scaled to the long side
`detect_faces` uses, detected once on RGB (dlib takes the strongest gradient over the channels) and once on
grey. Prints faces found each way, RGB faces with no grey box at IoU >= 0.5, the IoU of matched boxes, and
the detector's time per frame each way.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import dlib
import numpy as np

from fakeseg.tracking import box_iou

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_videos"


def sample_frames(folder: Path, fractions: tuple[float, ...] = (0.0, 0.5)) -> list[np.ndarray]:
    """RGB frames at these fractions of every .mp4 in `folder` (also used by bench/texture_levels.py)."""
    frames = []
    for video in sorted(folder.glob("*.mp4")):
        cap = cv2.VideoCapture(str(video))
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        for fraction in fractions:
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(count * fraction))
            ok, bgr = cap.read()
            if ok:
                frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        cap.release()
    return frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=VIDEOS)
    ap.add_argument("--side", type=int, default=640, help="long side of the copy HOG runs on (detect_faces')")
    ap.add_argument("--upsample", type=int, default=1)
    args = ap.parse_args()

    detector = dlib.get_frontal_face_detector()
    frames = sample_frames(args.videos)
    if not frames:
        raise SystemExit(f"error: no readable .mp4 in {args.videos}")
    boxes: dict[str, list] = {"rgb": [], "grey": []}
    seconds = {"rgb": 0.0, "grey": 0.0}
    for rgb in frames:
        scale = min(1.0, args.side / max(rgb.shape[:2]))
        small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
        for name, image in (("rgb", small), ("grey", cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))):
            start = time.perf_counter()
            found = detector(np.ascontiguousarray(image), args.upsample)
            seconds[name] += time.perf_counter() - start
            boxes[name].append([(d.left(), d.top(), d.right(), d.bottom()) for d in found])

    matched, unmatched = [], 0
    for rgb_boxes, grey_boxes in zip(boxes["rgb"], boxes["grey"], strict=True):
        for box in rgb_boxes:
            best = max((box_iou(box, other) for other in grey_boxes), default=0.0)
            if best >= 0.5:
                matched.append(best)
            else:
                unmatched += 1
    count = {name: sum(map(len, found)) for name, found in boxes.items()}
    print(f"{len(frames)} frames of {args.videos}; HOG on the {args.side} px copy, upsample {args.upsample}")
    print(f"faces found: RGB {count['rgb']}, grey {count['grey']}; RGB faces without a grey match: {unmatched}")
    if matched:
        print(f"IoU of matched boxes: median {np.median(matched):.3f}, min {min(matched):.3f}")
    for name in seconds:
        print(f"HOG {name}: {seconds[name] / len(frames) * 1000:.1f} ms per frame")


if __name__ == "__main__":
    main()
