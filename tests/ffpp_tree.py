"""A tiny FaceForensics++ tree in the real layout, for tests (`from ffpp_tree import make_ffpp_tree`).

Each original is a short mp4v video of smooth moving gradients; each fake is its original with a known
rectangle brightened by +80 grey levels (strong enough that the difference-mask threshold sees it
through mp4v noise), and its official mask video paints that rectangle white. Synthetic frames hold
no face, so `FixedFaceDetector` stands in for HOG and "finds" a face at a known box.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

SPLITS_DIR = Path(__file__).resolve().parents[1] / "fakeseg" / "data" / "splits"
METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")

FRAME_WH = (160, 120)
FACE_BOX = (50, 30, 110, 90)  # x0, y0, x1, y1: a 60 px "face"; its x2 crop box is (20, 0, 140, 120)
FAKE_RECT = (64, 44, 96, 76)  # the manipulated rectangle, inside the face box


def first_pairs(split: str, n: int = 1) -> list[tuple[str, str]]:
    return [tuple(p) for p in json.loads((SPLITS_DIR / f"{split}.json").read_text())[:n]]


def write_video(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> None:
    """RGB frames -> an mp4v video at `path` (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened(), f"cannot write {path}"
    for rgb in frames:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()


def original_frames(video_id: str, n_frames: int, wh: tuple[int, int] = FRAME_WH) -> list[np.ndarray]:
    """Smooth, different per video and per frame (so a frame-index mix-up shows), mid-grey."""
    w, h = wh
    seed = int(video_id)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for i in range(n_frames):
        r = 90 + 40 * np.sin(xx / 23 + i * 0.3 + seed)
        g = 100 + 40 * np.cos(yy / 19 - i * 0.2 + seed * 0.7)
        b = 80 + 30 * np.sin((xx + yy) / 31 + i * 0.1)
        frames.append(np.clip(np.stack([r, g, b], axis=2), 0, 255).astype(np.uint8))
    return frames


def fake_frames(originals: list[np.ndarray], rect: tuple[int, int, int, int] = FAKE_RECT) -> list[np.ndarray]:
    x0, y0, x1, y1 = rect
    out = []
    for frame in originals:
        fake = frame.astype(np.int16)
        fake[y0:y1, x0:x1] += 80
        out.append(np.clip(fake, 0, 255).astype(np.uint8))
    return out


def make_ffpp_tree(root: str | Path, pairs: dict[str, list[tuple[str, str]]] | None = None,
                   methods: tuple[str, ...] = METHODS, compression: str = "raw", n_frames: int = 20,
                   official_masks: bool = True) -> dict:
    """Write originals, fakes (both directions of every pair, every method) and mask videos.

    `pairs` maps split -> [target, source] pairs; default: the first official pair of each split.
    Returns what was written: {"root", "pairs", "videos": {relative path: frame count}}.
    """
    root = Path(root)
    pairs = pairs or {split: first_pairs(split) for split in ("train", "val", "test")}
    written: dict[str, int] = {}
    cache: dict[str, list[np.ndarray]] = {}
    ids = sorted({v for ps in pairs.values() for p in ps for v in p})
    for vid in ids:
        cache[vid] = original_frames(vid, n_frames)
        path = root / "original_sequences" / "youtube" / compression / "videos" / f"{vid}.mp4"
        write_video(path, cache[vid])
        written[path.relative_to(root).as_posix()] = n_frames
    w, h = FRAME_WH
    white = np.zeros((h, w, 3), np.uint8)
    x0, y0, x1, y1 = FAKE_RECT
    white[y0:y1, x0:x1] = 255
    for method in methods:
        for ps in pairs.values():
            for t, s in ps:
                for target, source in ((t, s), (s, t)):
                    name = f"{target}_{source}.mp4"
                    path = root / "manipulated_sequences" / method / compression / "videos" / name
                    write_video(path, fake_frames(cache[target]))
                    written[path.relative_to(root).as_posix()] = n_frames
                    if official_masks:
                        mpath = root / "manipulated_sequences" / method / "masks" / "videos" / name
                        write_video(mpath, [white] * n_frames)
                        written[mpath.relative_to(root).as_posix()] = n_frames
    return {"root": root, "pairs": pairs, "videos": written}


class FixedFaceDetector:
    """Stands in for HOG on synthetic frames: one face at `box`. Picklable, so it works in workers.

    `fail_after` raises after that many calls in this process (an interrupt injected mid-run);
    `calls` counts frames seen, to prove finished videos are not decoded again.
    """

    def __init__(self, box: tuple[int, int, int, int] = FACE_BOX, fail_after: int | None = None):
        self.box = box
        self.fail_after = fail_after
        self.calls = 0

    def __call__(self, rgb: np.ndarray):
        from fakeseg.data.faces import Face

        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt("injected interrupt")
        return [Face(self.box)]
