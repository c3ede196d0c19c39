"""A picture for a model card: `fakeseg.detect` overlays on real fakes and genuine frames, ground truth beside.

    .venv/bin/python scripts/overlay_sheet.py fn3.synth docs/img/fn3.synth_overlays.jpg
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

import fakeseg

FORGERIES = Path(__file__).resolve().parents[2] / "shared" / "data" / "forgeries"
# (image, ground truth) pairs: one fake per source and genuine originals; fixed, not picked by score
PICKS = [
    ("ghost_video_swap/fake/elon_f0033.png", "fake"),
    ("ghost_video_swap/fake/mark_f0009.png", "fake"),
    ("ghost_video_swap/original/orig_f0033.png", "genuine"),
    ("ghost_image_swap/fake/result.png", "fake"),
    ("wav2lip_lipsync/fake/" + sorted((FORGERIES / "wav2lip_lipsync/fake").glob("*.png"))[0].name, "fake"),
    ("wav2lip_lipsync/original/" + sorted((FORGERIES / "wav2lip_lipsync/original").glob("*.png"))[0].name, "genuine"),
    ("wuhuikai_faceswap/fake/" + sorted((FORGERIES / "wuhuikai_faceswap/fake").glob("*"))[0].name, "fake"),
    ("wuhuikai_faceswap/original/" + sorted((FORGERIES / "wuhuikai_faceswap/original").glob("*"))[0].name, "genuine"),
]
TILE = 300


def main(weights: str, out: Path) -> None:
    tiles = []
    for rel, truth in PICKS:
        path = FORGERIES / rel
        result = next(iter(fakeseg.detect([str(path)], weights=weights)))
        overlay = result.overlay()
        h, w = overlay.shape[:2]
        f = TILE / max(h, w)
        tile = np.full((TILE, TILE, 3), 255, np.uint8)
        small = cv2.resize(overlay, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
        tile[: small.shape[0], : small.shape[1]] = small
        cv2.rectangle(tile, (0, TILE - 22), (TILE, TILE), (0, 0, 0), -1)
        cv2.putText(tile, f"truth: {truth}  ({rel.split('/')[0]})", (4, TILE - 6), cv2.FONT_HERSHEY_SIMPLEX,
                    0.42, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    grid = np.vstack([np.hstack(tiles[i:i + 4]) for i in range(0, len(tiles), 4)])
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
