"""Genuine face crops from the genuine videos of *training* identities, for calibrating tau1 / tau2.

    .venv/bin/python bench/genuine_video_pool.py --bank .gpu/facebank --out runs/calib_video \
        --with runs/learnability/all_rendered_video/calib/manifest.csv

Why: tau2 and tau1 picked on synthetic crops alone are too low for real footage. On two frames of each of
the 35 genuine videos, the vgg5 'video' checkpoint at its synthetic tau2 calls every face fake
(bench/genuine_texture.py). The genuine half of a synthetic pool is bank faces (58 % UTKFace photos) through
the synthesiser's degradation; detect sees video frames. This pool adds what detect sees: frames of the
genuine videos, cropped by detect's own function, from identities on the training side of the bank's split
(`split_by_identity(bank, 0.1, seed=0)`, the split every pool of bench/learnability.py uses), so held-out
identities and every forgery stay unseen. `--with` appends another manifest's rows (the synthetic fakes and
genuine crops) into one calibration manifest.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from fakeseg.data.facebank import FaceBank, FaceBankError, split_by_identity
from fakeseg.data.faces import crop_face, detect_faces
from fakeseg.data.io import write_image
from fakeseg.data.records import Record, read_manifest, write_manifest
from fakeseg.data.sources import iter_frames

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_videos"


def video_identities(bank: FaceBank) -> set[str]:
    return {i.split("/", 1)[1] for i in bank.identities() if i.startswith("real_videos/")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bank", type=Path, required=True, help="the face bank whose identity split to follow")
    ap.add_argument("--videos", type=Path, default=VIDEOS)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--frames-per-video", type=int, default=8, help="evenly spaced over each video")
    ap.add_argument("--split", choices=["train", "val"], default="train")
    ap.add_argument("--with", dest="with_", type=Path, help="append this manifest's rows (e.g. synthetic fakes)")
    args = ap.parse_args()
    try:
        train, val = split_by_identity(FaceBank.load(args.bank), 0.1, seed=0)
    except FaceBankError as e:
        raise SystemExit(f"error: {e}") from None
    wanted = video_identities(train if args.split == "train" else val)
    videos = sorted(v for v in args.videos.glob("*.mp4") if v.stem in wanted)
    if not videos:
        raise SystemExit(f"error: no video of the {args.split} identities in {args.videos}")
    records = []
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    for video in videos:
        count = int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT))
        picks = set(np.linspace(0, max(count - 1, 0), args.frames_per_video).round().astype(int).tolist())
        for index, _, rgb in iter_frames(video):
            if index not in picks:
                continue
            faces = detect_faces(rgb)
            if not faces:
                continue
            path = args.out / "images" / f"{video.stem}_{index:05d}.png"
            write_image(path, crop_face(rgb, faces[0].box).image)
            records.append(Record(image=path, mask=None, label=0, method="pristine", source="real_videos",
                                  video=video.stem, frame=index))
    n_own = len(records)
    if args.with_:
        records += read_manifest(args.with_)
    write_manifest(records, args.out / "manifest.csv")
    print(f"{n_own} genuine crops from {len(videos)} {args.split}-identity videos"
          + (f" + {len(records) - n_own} rows of {args.with_}" if args.with_ else "") + f" -> {args.out}/manifest.csv")


if __name__ == "__main__":
    main()
