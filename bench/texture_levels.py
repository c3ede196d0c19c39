"""How much fine texture (sensor grain, codec noise) do face crops carry: genuine video frames against
synthesised genuine faces and the inside of synthesised forgeries, at the 256 px crop the nets see.

    .venv/bin/python bench/texture_levels.py --bank .gpu/facebank [--noise 1.5 4] [--jpeg 55 92] [--degrade]
    .venv/bin/python bench/texture_levels.py --bank .gpu/facebank --degrade video --after-jpeg 70 97 --skip-real

Texture level = Immerkaer's noise estimate (sigma, grey levels) on the grey crop: the inner face (the
central 96 x 96 px of the x2 crop) for genuine faces, the eroded mask for forgeries. The real reference is
two frames (at 1/4 and 3/4) of every video in ../shared/data/real_videos, cropped with detect's own
function. `--noise` / `--jpeg` override the grain and codec-quality ranges of `as_captured` (calibration);
`--degrade [NAME]` measures the crops after the synthesiser's degradation too (what training sees; NAME one of
generator.DEGRADATIONS, default upload); `--after-*` override that degradation's ranges (calibration).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from hog_channels import sample_frames  # bench/ is on sys.path when a script here runs

from fakeseg.data.facebank import FaceBank, FaceBankError
from fakeseg.data.faces import crop_face, detect_faces
from fakeseg.data.synth import Synthesizer, generator

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_videos"
LAPLACE = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
# Skin, eyes and nose only: a noise estimate must not see the face's outline or hair, so this is tighter
# than the "inner face" of local_evidence.py (the crop's middle half), whose statistics are relative anyway.
INNER_FACE = np.zeros((256, 256), bool)
INNER_FACE[80:176, 80:176] = True


def texture_sigma(rgb: np.ndarray, region: np.ndarray) -> float:
    """Immerkaer (1996) fast noise estimate over `region` (eroded so edges of the region do not count)."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    response = np.abs(cv2.filter2D(grey, -1, LAPLACE))
    inside = cv2.erode(region.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if inside.sum() < 200:
        return float("nan")
    return float(np.sqrt(np.pi / 2) / 6 * response[inside].mean())


def real_video_crops(folder: Path) -> list[np.ndarray]:
    """256 px crops (detect's crop) of the first face at 1/4 and 3/4 of every video in `folder`."""
    crops = []
    for rgb in sample_frames(folder, fractions=(0.25, 0.75)):
        faces = detect_faces(rgb)
        if faces:
            crops.append(crop_face(rgb, faces[0].box).image)
    return crops


def real_video_levels(folder: Path) -> list[float]:
    return [texture_sigma(crop, INNER_FACE) for crop in real_video_crops(folder)]


def synth_levels(
    bank: FaceBank, n: int, captured: bool, degrade: bool, degradation: generator.Degradation
) -> tuple[list[float], list[float]]:
    synth = Synthesizer(bank, seed=3, families=("rerender", "swap"), captured=captured, degrade=degrade,
                        degradation=degradation)
    genuine, fake_inside = [], []
    for index in range(n):
        sample = synth.sample(index)
        if sample.label == 0:
            genuine.append(texture_sigma(sample.image, INNER_FACE))
        else:
            fake_inside.append(texture_sigma(sample.image, sample.mask > 0))
    return genuine, fake_inside


def describe(name: str, levels: list[float]) -> None:
    v = np.array([x for x in levels if np.isfinite(x)])
    print(f"{name:44s} n={len(v):4d}  median {np.median(v):.2f}  (25-75 %: {np.percentile(v, 25):.2f}"
          f"-{np.percentile(v, 75):.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bank", type=Path, required=True)
    ap.add_argument("--videos", type=Path, default=VIDEOS)
    ap.add_argument("--n", type=int, default=300, help="synthesised samples per setting")
    ap.add_argument("--noise", type=float, nargs=2, help="as_captured grain sigma range (default: the library's)")
    ap.add_argument("--jpeg", type=int, nargs=2, help="as_captured JPEG quality range (default: the library's)")
    ap.add_argument("--degrade", nargs="?", const="upload", choices=sorted(generator.DEGRADATIONS),
                    help="after the synthesiser's degradation (resample, JPEG), by name (default upload)")
    ap.add_argument("--after-jpeg", type=int, nargs=2, help="override the degradation's JPEG quality range")
    ap.add_argument("--after-jpeg-p", type=float, help="override how often the degradation JPEG-encodes")
    ap.add_argument("--after-rescale", type=float, nargs=2, help="override the down/up-scale factor range")
    ap.add_argument("--after-rescale-p", type=float, help="override how often it down/up-scales")
    ap.add_argument("--captured-only", action="store_true", help="skip the targets without `captured`")
    ap.add_argument("--skip-real", action="store_true")
    args = ap.parse_args()
    try:
        bank = FaceBank.load(args.bank)
    except FaceBankError as e:
        raise SystemExit(f"error: {e}") from None
    overrides = {k: v for k, v in (("jpeg", args.after_jpeg), ("jpeg_p", args.after_jpeg_p),
                                   ("rescale", args.after_rescale), ("rescale_p", args.after_rescale_p),
                                   ("capture_noise", args.noise), ("capture_jpeg", args.jpeg))
                 if v is not None}
    if not args.degrade and set(overrides) - {"capture_noise", "capture_jpeg"}:
        raise SystemExit("error: --after-* override the degradation: give --degrade too")
    name = args.degrade or "upload"  # without --degrade, only its capture ranges count
    d = replace(generator.DEGRADATIONS[name], **{k: tuple(v) if isinstance(v, list) else v
                                                 for k, v in overrides.items()})
    if not args.skip_real:
        describe(f"genuine video frames ({args.videos.name})", real_video_levels(args.videos))
    for captured in (True,) if args.captured_only else (False, True):
        genuine, fake_inside = synth_levels(bank, args.n, captured, bool(args.degrade), d)
        label = f"captured {d.capture_noise} q{d.capture_jpeg}" if captured else "not captured"
        label += f", degraded ({args.degrade}{' ' + str(overrides) if overrides else ''})" if args.degrade else ""
        describe(f"synth genuine, {label}", genuine)
        describe(f"synth fake inside the mask, {label}", fake_inside)


if __name__ == "__main__":
    main()
