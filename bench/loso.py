"""Leave one source out on the real forgery videos: train on one tool's aligned fake/original frames, evaluate
on the eval.csv rows of the *other* sources only (never a row of the tool trained on).

    .venv/bin/python bench/loso.py prepare                 # frames + difference masks -> runs/loso/<source>/
    .venv/bin/fakeseg train --arch fn3 --init fn3.synth --data runs/loso/ghost_video_swap/manifest.csv ...
    .venv/bin/fakeseg eval --weights RUN/last --data runs/loso/eval_without_ghost.csv --by-source

Sources with videos (../shared/data/forgeries/*/videos, see its README):
- ghost_video_swap: orig.webm and three GHOST swaps of it (elon, khabenskii, mark), 66 frames each, aligned
  frame by frame -> 198 fake + 66 genuine frames. Held out with it: ghost_image_swap (same tool).
- wav2lip_lipsync: kim_lip_synced.mp4 (240 frames) against kim_7s_raw.mp4 (223), fake frame j (1-based)
  matching original ((j - 1) mod 223) + 1 -> 240 fake + 223 genuine frames.
Masks: fakeseg.data.masks.difference_mask, the rule of every other mask in this project.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from fakeseg.data.io import write_image
from fakeseg.data.masks import difference_mask
from fakeseg.data.records import Record, write_manifest
from fakeseg.data.sources import iter_frames

FORGERIES = Path(__file__).resolve().parents[2] / "shared" / "data" / "forgeries"
OUT = Path("runs/loso")
HELD_OUT_WITH = {"ghost_video_swap": {"ghost_video_swap", "ghost_image_swap"}, "wav2lip_lipsync": {"wav2lip_lipsync"}}


def _frames(path: Path) -> list:
    return [rgb for _, _, rgb in iter_frames(path)]


def _write(out: Path, name: str, rgb, mask) -> tuple[Path, Path | None]:
    for sub in ("images", "masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    image = out / "images" / f"{name}.png"
    write_image(image, rgb)
    if mask is None:
        return image, None
    mask_path = out / "masks" / f"{name}.png"
    write_image(mask_path, mask * 255)
    return image, mask_path


# per source: the original video and the fake videos (file name prefix -> video) aligned with it frame by frame
PAIRS = {
    "ghost_video_swap": ("orig.webm", {"elon": "elon.webm", "khabenskii": "khabenskii.webm", "mark": "mark.webm"}),
    "wav2lip_lipsync": ("kim_7s_raw.mp4", {"fake": "kim_lip_synced.mp4"}),
}


def prepare(source: str) -> Path:
    """Every original frame as genuine, every fake frame with its difference mask against the original frame it
    was made from: fake frame j <-> original frame j mod len(original) (the GHOST swaps are as long as the
    original; Wav2Lip's lip-synced video loops the 223-frame original: ((j - 1) mod 223) + 1, 1-based)."""
    out, videos = OUT / source, FORGERIES / source / "videos"
    original_video, fakes = PAIRS[source]
    orig = _frames(videos / original_video)
    rows = []
    for i, rgb in enumerate(orig):
        image, _ = _write(out, f"orig_{i:04d}", rgb, None)
        rows.append(Record(image, None, 0, "pristine", source))
    for prefix, video in fakes.items():
        for j, rgb in enumerate(_frames(videos / video)):
            image, mask = _write(out, f"{prefix}_{j:04d}", rgb, difference_mask(rgb, orig[j % len(orig)]))
            rows.append(Record(image, mask, 1, source, source))
    return write_manifest(rows, out / "manifest.csv")


def eval_without(source: str) -> Path:
    """eval.csv without the rows of `source` (and of its tool), paths made absolute."""
    out = OUT / f"eval_without_{source}.csv"
    with open(FORGERIES / "eval.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    keep = [r for r in rows if r["source"] not in HELD_OUT_WITH[source]]
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in keep:
            r["image"] = str(FORGERIES / r["image"])
            r["mask"] = str(FORGERIES / r["mask"]) if r["mask"] else ""
            w.writerow(r)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["prepare"])
    p.parse_args()
    for source in PAIRS:
        print(source, prepare(source), eval_without(source))


if __name__ == "__main__":
    main()
