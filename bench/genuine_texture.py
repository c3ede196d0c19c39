"""Does a genuine face's score follow how smooth its skin is? Texture (Immerkaer sigma of the inner face, as
bench/texture_levels.py measures it) against the model's score and flagged share, on genuine faces only:
frames of every genuine video in ../shared/data/real_videos and the genuine frames of the forgery videos
(`bench/loso.py prepare`).

    .venv/bin/python bench/genuine_texture.py --weights fn3.rendered [--weights W2 ...]

A model that learned "smooth skin = re-rendered" scores smooth genuine faces high; then the score's level
moves with the source's texture (studio lighting, make-up, strong compression), and no single tau2 serves
every clip.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from texture_levels import INNER_FACE, VIDEOS, real_video_crops, texture_sigma  # bench/ is on sys.path

from fakeseg.data.faces import crop_face, detect_faces
from fakeseg.data.io import read_image
from fakeseg.predict import Predictor

LOSO = Path("runs/loso")


def genuine_crops(per_source: int) -> list[tuple[str, np.ndarray]]:
    """(source, 256 px crop): two frames of each genuine video, and `per_source` genuine loso frames each."""
    crops = [("real_videos", crop) for crop in real_video_crops(VIDEOS)]
    for source in ("ghost_video_swap", "wav2lip_lipsync"):
        manifest = LOSO / source / "manifest.csv"
        if not manifest.is_file():
            raise SystemExit(f"error: {manifest} missing; run bench/loso.py prepare first")
        rows = [r for r in csv.DictReader(open(manifest)) if r["label"] == "0"]
        for row in rows[:: max(1, len(rows) // per_source)][:per_source]:
            rgb = read_image(manifest.parent / row["image"])
            faces = detect_faces(rgb)
            if faces:
                crops.append((source, crop_face(rgb, faces[0].box).image))
    return crops


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", action="append", required=True)
    ap.add_argument("--per-source", type=int, default=12, help="genuine frames per forgery video")
    args = ap.parse_args()
    crops = genuine_crops(args.per_source)
    sources = np.array([s for s, _ in crops])
    sigma = np.array([texture_sigma(c, INNER_FACE) for _, c in crops])
    print(f"{len(crops)} genuine faces; texture median per source: "
          + ", ".join(f"{s} {np.median(sigma[sources == s]):.2f} (n={int((sources == s).sum())})"
                      for s in dict.fromkeys(sources)))
    for weights in args.weights:
        predictor = Predictor(weights=weights, device="cpu")
        scores, maps = predictor.predict_crops([c for _, c in crops])
        flagged = (maps > predictor.config.pixel_threshold).mean(axis=(1, 2))
        rho = np.corrcoef(np.argsort(np.argsort(sigma)), np.argsort(np.argsort(scores)))[0, 1]
        print(f"{weights}: Spearman(texture, score) {rho:+.2f}; tau2 {predictor.threshold:.3f}")
        for s in dict.fromkeys(sources):
            m = sources == s
            print(f"  {s:18s} score median {np.median(scores[m]):.3f}  flagged {flagged[m].mean():.3f}  "
                  f"called fake {(scores[m] >= predictor.threshold).mean():.2f}")
        smooth = sigma <= np.median(sigma)
        print(f"  smoother half of all genuine: score median {np.median(scores[smooth]):.3f}, flagged "
              f"{flagged[smooth].mean():.3f}; grainier half: {np.median(scores[~smooth]):.3f}, "
              f"{flagged[~smooth].mean():.3f}")


if __name__ == "__main__":
    main()
