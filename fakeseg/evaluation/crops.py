"""From manifest rows to evaluation samples: the face crop every model sees, its mask, and the face hull.

Faces are found and cropped exactly as `fakeseg detect` does (HOG on a <= 640 px copy, `pick_faces`,
`crop_face` x2 square at the model's input size, mask cut alike with nearest); rows that cannot be
used (unreadable file, no face) are reported through `on_skip` and never stop the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ..data.faces import Face, add_landmarks, crop_face, detect_faces, landmark_hull_mask, pick_faces
from ..data.io import BadInput, read_image, read_mask
from ..data.records import Record

SkipFn = Callable[[Record, str], None]


@dataclass
class EvalSample:
    record: Record
    image: np.ndarray  # (S, S, 3) uint8 RGB: the network input before normalisation
    mask: np.ndarray  # (S, S) uint8 {0,1}: manipulated pixels (all zero on genuine rows)
    hull: np.ndarray | None  # (S, S) uint8 {0,1}: landmark hull (points 0-26) of the face, or None


def _hull_in_crop(face: Face, cbox: tuple[int, int, int, int], size: int) -> np.ndarray:
    """The hull painted at crop resolution: landmarks moved into the crop's frame and scaled."""
    x0, y0, x1, _ = cbox
    points = (face.landmarks - np.array([x0, y0], np.float32)) * (size / (x1 - x0))
    return landmark_hull_mask((size, size), points)


def _sample_from_frame(
    record: Record, rgb: np.ndarray, mask: np.ndarray, size: int, scale: float, hull: bool
) -> EvalSample | None:
    faces = detect_faces(rgb, max_side=640)
    if not faces:
        return None
    face = pick_faces(faces, mask, record.label)[0]
    crop = crop_face(rgb, face.box, size=size, scale=scale, mask=mask)
    hull_mask = None
    if hull:
        add_landmarks(rgb, [face])
        hull_mask = _hull_in_crop(face, crop.box, size)
    return EvalSample(record, crop.image, crop.mask, hull_mask)


def _sample_from_crop(record: Record, rgb: np.ndarray, mask: np.ndarray, size: int, hull: bool) -> EvalSample:
    h, w = rgb.shape[:2]
    crop = crop_face(rgb, (0, 0, w, h), size=size, scale=1.0, mask=mask)  # square it, resize like the rest
    hull_mask = None
    if hull:
        # the reference needs landmarks, hence a face in the crop; where none is found it paints nothing
        faces = detect_faces(crop.image, max_side=640, landmarks=True)
        hull_mask = (
            landmark_hull_mask((size, size), faces[0].landmarks)
            if faces
            else np.zeros((size, size), np.uint8)
        )
    return EvalSample(record, crop.image, crop.mask, hull_mask)


def sample_from_array(
    record: Record,
    rgb: np.ndarray,
    mask: np.ndarray | None,
    size: int,
    scale: float,
    face_crop: bool = True,
    hull: bool = True,
) -> EvalSample | None:
    """The sample of one decoded frame (or crop); None when `face_crop` finds no face."""
    mask = np.zeros(rgb.shape[:2], np.uint8) if mask is None else mask
    if face_crop:
        return _sample_from_frame(record, rgb, mask, size, scale, hull)
    return _sample_from_crop(record, rgb, mask, size, hull)


def iter_samples(
    items: Iterable[Record | tuple[Record, np.ndarray, np.ndarray | None]],
    size: int,
    scale: float,
    face_crop: bool = True,
    hull: bool = True,
    on_skip: SkipFn | None = None,
) -> Iterator[EvalSample]:
    """One EvalSample per usable item, in order; unusable ones go to `on_skip(record, reason)`.

    An item is a Record (read from disk here) or an already decoded (record, rgb, mask) frame.
    """
    for item in items:
        if isinstance(item, Record):
            record = item
            try:
                rgb = read_image(record.image)
                mask = read_mask(record.mask, rgb.shape[:2])
            except BadInput as e:
                if on_skip:
                    on_skip(record, str(e))
                continue
        else:
            record, rgb, mask = item
        sample = sample_from_array(record, rgb, mask, size, scale, face_crop, hull)
        if sample is None:
            if on_skip:
                on_skip(record, f"{record.image}: no face found")
            continue
        yield sample
