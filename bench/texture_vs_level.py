"""Could detect find a clip's genuine score level by itself, without a reference? A measured no.

    .venv/bin/python bench/texture_vs_level.py --cache runs/reference_verdict/unet4x

`fakeseg detect --reference` needs known-genuine footage of the source. The score's level on genuine footage
follows how smooth it is (docs/weights.md), so a clip's own texture might stand in for a reference. Per genuine
clip (../shared/data/real_videos and the two forgery videos' originals): the median face score (from
bench/reference_verdict.py's cache, i.e. detect's scores) against the Immerkaer noise sigma
(bench/texture_levels.py) of the inner face and of the crop's outer ring (background, hair, neck), median of
three frames (at 20, 50 and 80 % of the clip). Spearman's rank correlation, printed with the rows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from texture_levels import INNER_FACE, texture_sigma  # bench/ is on sys.path

from fakeseg.data.faces import crop_face, detect_faces
from fakeseg.data.sources import iter_frames

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RING = np.ones((256, 256), bool)
RING[40:216, 40:216] = False  # the crop's outer 40 px: mostly not face (the crop is the face box x2)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def clip_texture(video: Path, fractions=(0.2, 0.5, 0.8)) -> tuple[float, float]:
    n = sum(1 for _ in iter_frames(video))
    picks = {int(n * f) for f in fractions}
    inner, ring = [], []
    for index, _, rgb in iter_frames(video):
        if index in picks and (faces := detect_faces(rgb)):
            crop = crop_face(rgb, faces[0].box).image
            inner.append(texture_sigma(crop, INNER_FACE))
            ring.append(texture_sigma(crop, RING))
    return float(np.nanmedian(inner)), float(np.nanmedian(ring))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, required=True, help="bench/reference_verdict.py's --cache")
    args = ap.parse_args()
    clips = [(v, f"data__{v.stem}") for v in sorted((DATA / "real_videos").glob("*.mp4"))]
    clips += [
        (DATA / "forgeries/ghost_video_swap/videos/orig.webm", "ghost_video_swap__orig"),
        (DATA / "forgeries/wav2lip_lipsync/videos/kim_7s_raw.mp4", "wav2lip_lipsync__kim_7s_raw"),
    ]
    rows = []
    for video, key in clips:
        found = json.loads((args.cache / f"{key}.json").read_text())
        if not found["rows"]:
            continue
        level = float(np.median([r[2] for r in found["rows"]]))
        inner, ring = clip_texture(video)
        rows.append((level, inner, ring))
        print(f"{key}: median score {level:.4f}, texture inner face {inner:.2f}, outer ring {ring:.2f}")
    a = np.array(rows)
    a = a[~np.isnan(a).any(axis=1)]
    print(f"{len(a)} clips: Spearman score ~ inner face {spearman(a[:, 0], a[:, 1]):.2f}, "
          f"score ~ outer ring {spearman(a[:, 0], a[:, 2]):.2f}")


if __name__ == "__main__":
    main()
