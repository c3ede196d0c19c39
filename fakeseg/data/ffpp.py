"""FaceForensics++ in its own download layout, its official splits, and the paper's frame protocol.

    ROOT/original_sequences/youtube/<compression>/videos/071.mp4
    ROOT/manipulated_sequences/<Method>/<compression>/videos/071_054.mp4
    ROOT/manipulated_sequences/<Method>/masks/videos/071_054.mp4      (official masks, optional)

A split pair ["071", "054"] gives the originals 071 and 054 and, per method, the fakes 071_054 (054's
face on 071's video) and 054_071; 360/70/70 pairs -> 720/140/140 originals and as many fakes per
method. The paper trains on all frames of the four methods and the originals together (mixed
training) and validates and tests on every 10th frame.

>>> videos, missing = ffpp_videos("/data/FF++", "test", compression="raw")     # doctest: +SKIP
>>> for item in ffpp_records("/data/FF++", "test"):                            # doctest: +SKIP
...     item.video, item.method, item.frame, item.label, item.image.shape, item.mask.mean()
"""
from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .io import BadInput
from .masks import difference_mask
from .sources import iter_frames

METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")  # the paper's four
KNOWN_METHODS = METHODS + ("FaceShifter",)  # FaceShifter came later; same splits, same layout
PRISTINE = "pristine"
SHORT_NAMES = {"Deepfakes": "DF", "Face2Face": "F2F", "FaceSwap": "FS", "NeuralTextures": "NT",
               "FaceShifter": "FSh", PRISTINE: PRISTINE}
COMPRESSIONS = ("raw", "c23", "c40")
SPLITS = ("train", "val", "test")
FRAME_EVERY = {"train": 1, "val": 10, "test": 10}  # the paper: all frames to train, every 10th to evaluate
MASK_SOURCES = ("difference", "official")

_SPLIT_DIR = Path(__file__).with_name("splits")


@dataclass(frozen=True)
class FFVideo:
    video: str  # "071" (original) or "071_054" (fake)
    method: str  # an FF++ method or "pristine"
    label: int  # 1 manipulated, 0 genuine
    path: Path
    original: Path | None = None  # the original of a fake: 071.mp4 for 071_054 (same frame indices)
    mask_video: Path | None = None  # the official mask video of a fake


@dataclass
class FFFrame:
    video: str
    method: str
    label: int
    frame: int  # index in the video, counted from 0
    image: np.ndarray  # (H, W, 3) uint8 RGB, the whole frame
    mask: np.ndarray | None  # (H, W) uint8 {0,1} for fakes, None for originals (all zeros)


def split_pairs(split: str) -> list[tuple[str, str]]:
    """The official [target, source] pairs of a split (shipped with the package)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    return [(t, s) for t, s in json.loads((_SPLIT_DIR / f"{split}.json").read_text())]


def split_video_ids(split: str) -> tuple[list[str], list[str]]:
    """(original ids, fake ids) of a split, sorted: 720 + 720 for train, 140 + 140 for val and test."""
    pairs = split_pairs(split)
    originals = sorted({v for pair in pairs for v in pair})
    fakes = sorted({f"{t}_{s}" for t, s in pairs} | {f"{s}_{t}" for t, s in pairs})
    return originals, fakes


def method_name(name: str) -> str:
    """An FF++ method's folder name from itself or its short name, any case: "df" -> "Deepfakes"."""
    for method in KNOWN_METHODS:
        if name.lower() in (method.lower(), SHORT_NAMES[method].lower()):
            return method
    raise ValueError(f"unknown FF++ method {name!r}; choose from {', '.join(KNOWN_METHODS)} "
                     f"or {', '.join(SHORT_NAMES[m] for m in KNOWN_METHODS)}")


def check_options(compression: str, mask_source: str, methods: Sequence[str]) -> None:
    if compression not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}; choose from {', '.join(COMPRESSIONS)}")
    if mask_source not in MASK_SOURCES:
        raise ValueError(f"unknown mask source {mask_source!r}; choose from {', '.join(MASK_SOURCES)}")
    unknown = [m for m in methods if m not in KNOWN_METHODS]
    if unknown:
        raise ValueError(f"unknown FF++ method(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(KNOWN_METHODS)}")


def is_ffpp_root(root: str | Path) -> bool:
    root = Path(root)
    return (root / "original_sequences").is_dir() or (root / "manipulated_sequences").is_dir()


def ffpp_videos(root: str | Path, split: str, compression: str = "raw", methods: Sequence[str] = METHODS,
                mask_source: str = "difference") -> tuple[list[FFVideo], list[Path]]:
    """The videos of a split found under `root`, and the paths it expected but did not find.

    A fake is usable only with what its mask needs: its original (difference masks) or its official
    mask video; otherwise it counts as missing. Order: originals first, then each method, by id.
    """
    check_options(compression, mask_source, methods)
    root = Path(root)
    originals, fakes = split_video_ids(split)
    orig_dir = root / "original_sequences" / "youtube" / compression / "videos"
    videos: list[FFVideo] = []
    missing: list[Path] = []
    for vid in originals:
        path = orig_dir / f"{vid}.mp4"
        if path.is_file():
            videos.append(FFVideo(vid, PRISTINE, 0, path))
        else:
            missing.append(path)
    for method in methods:
        method_dir = root / "manipulated_sequences" / method
        for vid in fakes:
            path = method_dir / compression / "videos" / f"{vid}.mp4"
            original = orig_dir / f"{vid.split('_')[0]}.mp4"
            mask_video = method_dir / "masks" / "videos" / f"{vid}.mp4"
            needed = [path, original if mask_source == "difference" else mask_video]
            absent = [p for p in needed if not p.is_file()]
            if absent:
                missing.extend(p for p in absent if p not in missing)
                continue
            videos.append(FFVideo(vid, method, 1, path, original=original,
                                  mask_video=mask_video if mask_video.is_file() else None))
    return videos, missing


def binarize_mask_frame(rgb: np.ndarray) -> np.ndarray:
    """An official FF++ mask frame -> uint8 {0,1}.

    The mask videos are lossy mp4s, some white-on-black and some coloured, so take the brightest
    channel (a pure red or green mask counts) and cut half-way: codec ringing of a few grey levels
    around the edges cannot cross 127.
    """
    return (rgb.max(axis=2) > 127).astype(np.uint8)


def video_frames(video: FFVideo, every: int = 1, mask_source: str = "difference") -> Iterator[FFFrame]:
    """Decode one video's frames (every `every`-th from 0) with their masks, streaming.

    A fake's mask is the pixel-difference rule against its original's frame of the same index, or the
    official mask video's frame. Decoding stops at the shorter of the paired videos.
    """
    if mask_source not in MASK_SOURCES:
        raise ValueError(f"unknown mask source {mask_source!r}; choose from {', '.join(MASK_SOURCES)}")
    frames = iter_frames(video.path, every=every)
    if video.label == 0:
        for index, _, rgb in frames:
            yield FFFrame(video.video, video.method, 0, index, rgb, None)
        return
    partner_path = video.original if mask_source == "difference" else video.mask_video
    if partner_path is None:
        raise BadInput(f"{video.path}: no {'original' if mask_source == 'difference' else 'mask'} video")
    for (index, _, rgb), (_, _, other) in zip(frames, iter_frames(partner_path, every=every), strict=False):
        if mask_source == "official":
            mask = binarize_mask_frame(other)
            if mask.shape != rgb.shape[:2]:
                raise BadInput(f"{partner_path}: mask video is {mask.shape[1]}x{mask.shape[0]}, "
                               f"fake is {rgb.shape[1]}x{rgb.shape[0]}")
        else:
            if other.shape != rgb.shape:
                raise BadInput(f"{video.path}: fake is {rgb.shape[1]}x{rgb.shape[0]} but its original "
                               f"{partner_path.name} is {other.shape[1]}x{other.shape[0]}")
            mask = difference_mask(rgb, other)
        yield FFFrame(video.video, video.method, 1, index, rgb, mask)


def ffpp_records(root: str | Path, split: str, compression: str = "raw", mask_source: str = "difference",
                 methods: Sequence[str] = METHODS, every: int | None = None) -> Iterator[FFFrame]:
    """Every frame of a split that the paper's protocol uses (all frames for train, every 10th for
    val/test unless `every` says otherwise), originals first, then each method's fakes.

    Missing videos are skipped with one warning that counts them; use `ffpp_videos` for the list.
    """
    videos, missing = ffpp_videos(root, split, compression, methods, mask_source)
    if missing:
        warnings.warn(f"FF++ {split}/{compression}: {len(missing)} expected video(s) missing under {root} "
                      f"(first: {missing[0]})", stacklevel=2)
    step = FRAME_EVERY[split] if every is None else every
    for video in videos:
        yield from video_frames(video, step, mask_source)
