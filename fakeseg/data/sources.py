"""Where frames come from: image files, folders, globs and videos, decoded one frame at a time.

Shared by `fakeseg prepare` and `fakeseg detect`. Videos are streamed with cv2.VideoCapture and never
loaded whole (a 10-minute 1080p clip is ~100 GB of RGB). Every failure is a `BadInput` with one line.

>>> from fakeseg.data.sources import expand_sources, is_video, iter_frames
>>> for path in expand_sources(["clip.mp4", "photos/", "shots/*.png"]):      # doctest: +SKIP
...     if is_video(path):
...         for index, time_s, rgb in iter_frames(path, every=10):
...             ...
"""
from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .io import BadInput

REFERENCE_CSV = "reference.csv"  # what a detect run keeps of its reference; --reference RUN reuses it
VIDEO_EXTS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm"})
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})

# Our one-line BadInput replaces ffmpeg's own stderr chatter ("moov atom not found"); read when the
# ffmpeg backend first opens a file, and a user's own setting wins.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

# Container headers estimate the frame count (webm/mkv from duration x fps), so a video is called
# truncated only when it ends clearly short of it, not one or two frames short.
_TRUNCATION_SLACK = 0.05


@dataclass(frozen=True)
class VideoInfo:
    fps: float  # 0.0 when the container does not say
    n_frames: int  # from the header; an estimate for some containers
    width: int
    height: int


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTS


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTS


def _open(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise BadInput(f"{path}: empty file")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise BadInput(f"{path}: not a readable video (corrupt, truncated or unsupported codec)")
    return cap


def video_info(path: str | Path) -> VideoInfo:
    """fps, frame count, width and height of a video; raises BadInput unless its first frame decodes."""
    path = Path(path)
    cap = _open(path)
    try:
        ok, frame = cap.read()
        if not ok or frame is None:
            raise BadInput(f"{path}: video has no decodable frames")
        fps = cap.get(cv2.CAP_PROP_FPS)
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        return VideoInfo(fps=float(fps) if fps and fps > 0 else 0.0, n_frames=max(n, 1),
                         width=frame.shape[1], height=frame.shape[0])
    finally:
        cap.release()


def iter_frames(path: str | Path, every: int = 1, start: int = 0) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield (frame index, time in seconds, RGB uint8 frame) for frames start, start+every, ...

    Skipped frames are only grabbed, not converted; we grab instead of seeking because seeking
    lands on keyframes in many codecs and would shift frame indices (FF++ pairs frames by index).
    Raises BadInput for an unreadable, zero-frame or clearly truncated video.
    """
    if every < 1 or start < 0:
        raise ValueError(f"every must be >= 1 and start >= 0, got every={every}, start={start}")
    path = Path(path)
    cap = _open(path)
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        expected = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        index = 0
        while True:
            wanted = index >= start and (index - start) % every == 0
            if wanted:
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    break
                time_s = index / fps if fps > 0 else cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                yield index, float(time_s), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            elif not cap.grab():
                break
            index += 1
        if index == 0:
            raise BadInput(f"{path}: video has no decodable frames")
        if expected > 0 and index < expected * (1 - _TRUNCATION_SLACK) - 1:
            raise BadInput(f"{path}: video is truncated (decoded {index} of {expected} frames)")
    finally:
        cap.release()


def _supported(path: Path) -> bool:
    return is_image(path) or is_video(path)


def expand_sources(specs: Iterable[str | Path]) -> list[Path]:
    """Image files, video files, folders (their images and videos, not recursive) and globs
    (`**` allowed) -> a list of files, in the order given, each folder or glob sorted, no duplicates."""
    out: list[Path] = []
    for spec in specs:
        text = str(spec)
        path = Path(text).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and _supported(p))
            if not found:
                raise BadInput(f"{path}: folder has no images or videos "
                               f"({', '.join(sorted(IMAGE_EXTS | VIDEO_EXTS))})")
        elif path.is_file():
            if not _supported(path):
                raise BadInput(f"{path}: unsupported file type {path.suffix or '(none)'!r}")
            found = [path]
        elif glob.has_magic(text):
            found = sorted(p for p in map(Path, glob.glob(str(path), recursive=True))
                           if p.is_file() and _supported(p))
            if not found:
                raise BadInput(f"{text}: pattern matches no images or videos")
        else:
            raise BadInput(f"{path}: no such file or folder")
        out.extend(found)
    return list(dict.fromkeys(out))


def split_reference(specs: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """--reference specs -> (earlier detect runs whose reference.csv is reused, footage files to score).
    Raises BadInput (prefixed "reference:") for a spec that is neither."""
    saved: list[Path] = []
    footage: list[Path] = []
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_dir() and (path / REFERENCE_CSV).is_file() and (path / "summary.json").is_file():
            saved.append(path)
            continue
        try:
            footage += [p for p in expand_sources([spec]) if p not in footage]
        except BadInput as e:
            raise BadInput(f"reference: {e}") from None
    return saved, footage
