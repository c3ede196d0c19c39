"""Faces: find them, crop them the paper's way, and paste predictions back. ONE crop for train, eval, detect.

The crop is the detector's box enlarged x`scale` (2 in the paper) around its centre, made square so
that resizing to the network's input never distorts the face. Where the enlarged box leaves the frame
the image is padded by reflection (BORDER_REFLECT_101) and the mask with zeros; training, evaluation
and detection all pad the same way, so a net never sees black borders it did not train on.
Masks are resized with nearest-neighbour, never bilinear, so they stay binary and aligned.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import cv2
import numpy as np


class FaceToolsMissing(RuntimeError):
    pass


@dataclass
class Face:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels (x1, y1 exclusive)
    landmarks: np.ndarray | None = None  # (68, 2) float32, frame pixels, dlib order

    @property
    def area(self) -> int:
        return max(0, self.box[2] - self.box[0]) * max(0, self.box[3] - self.box[1])


@dataclass
class FaceCrop:
    image: np.ndarray  # (S, S, 3) uint8 RGB
    mask: np.ndarray | None  # (S, S) uint8 {0,1}, or None
    box: tuple[int, int, int, int]  # the square crop box in frame pixels (may extend past the frame)


def _face_recognition():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # face_recognition_models imports the deprecated pkg_resources
            import face_recognition
    except ImportError as e:  # pragma: no cover - depends on the install
        raise FaceToolsMissing(
            f"face_recognition is not importable ({e}); install it with "
            "`pip install dlib-bin 'setuptools<81' && pip install --no-deps face_recognition`"
        ) from None
    return face_recognition


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Grayscale, RGBA and 16-bit images -> contiguous uint8 RGB (what every model and detector expects)."""
    if image.dtype == np.uint16:
        image = (image / 257.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    elif image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image)


# dlib's HOG detector scans an image pyramid whose levels shrink by 5/6; with one upsampling its boxes on the
# scanned copy come in sizes of ~43 px x 1.2^k (k = the level). A scan that starts at level k of the upsampled
# pyramid, run on a copy resized by 2 x (5/6)^k without upsampling, skips the finest levels, which hold most of
# the pixels. Measured against the full scan (bench/hog_aligned.py, 163 frames of the real videos): from level 3
# or 4 the boxes match (median IoU 0.996, 10th percentile 0.982) at a third / a quarter of the time; from levels
# 1-2 and 5-6 the 10th percentile falls to 0.81-0.95, so only 3 and 4 are used.
_HOG_SMALLEST_BOX = 43.0  # px on the scanned copy, at upsample 1
_HOG_LEVEL_STEP = 6 / 5
_SKIPPABLE_LEVELS = (4, 3)


def skipped_hog_levels(min_size: float, scale: float) -> int:
    """How many fine pyramid levels a scan may skip and still find every face of at least `min_size` frame px
    (detected on a copy resized by `scale`), keeping one level of margin below it: 4, 3, or 0 (a full scan)."""
    if min_size <= 0:
        return 0
    levels = np.log(min_size * scale / (_HOG_SMALLEST_BOX * _HOG_LEVEL_STEP)) / np.log(_HOG_LEVEL_STEP)
    return next((k for k in _SKIPPABLE_LEVELS if k <= levels), 0)


def _downscaled(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """(the frame with its long side at most `max_side` (INTER_AREA), the scale applied)."""
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return rgb, scale
    return cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA), scale


def grey_copy(rgb: np.ndarray, max_side: int = 640) -> tuple[np.ndarray, float]:
    """(the grey copy HOG scans, long side at most `max_side`; its scale). The tracker follows faces on the same
    copy and hands it to `detect_faces(grey=...)`, so a detection frame computes it once."""
    small, scale = _downscaled(rgb, max_side)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), scale


def detect_faces(rgb: np.ndarray, model: str = "hog", max_side: int = 640, upsample: int = 1,
                 landmarks: bool = False, min_size: float = 0,
                 grey: tuple[np.ndarray, float] | None = None) -> list[Face]:
    """All faces in an RGB uint8 frame, largest first.

    HOG costs ~0.5 s on a 720p frame but ~25 ms at quarter size, so we detect on a copy whose long
    side is at most `max_side` and map the boxes back. Landmarks (68 points) are computed on the
    full-resolution frame inside the mapped boxes. `min_size` (frame px, HOG with upsample 1 only): faces
    smaller than this may be missed, in exchange for a cheaper scan that returns the same boxes for the
    others (see `skipped_hog_levels`); the tracker passes it while every face it follows is large.
    `grey`: `grey_copy(rgb, max_side)` when the caller already has it (HOG only).
    """
    fr = _face_recognition()
    h, w = rgb.shape[:2]
    if model == "hog":
        # dlib's HOG takes the strongest gradient over the channels; on grey it finds the same faces (72 of 72
        # on 70 frames of ../shared/data/real_videos, median box IoU 1.0) in 28 % less time.
        small, scale = grey if grey is not None else grey_copy(rgb, max_side)
        sx = sy = scale
        skip = skipped_hog_levels(min_size, scale) if upsample == 1 else 0
        if skip:
            factor = 2 * (5 / 6) ** skip  # the upsampling, then `skip` pyramid steps, done by one resize
            sh, sw = small.shape
            small = cv2.resize(small, (round(sw * factor), round(sh * factor)), interpolation=cv2.INTER_AREA)
            sx, sy, upsample = small.shape[1] / w, small.shape[0] / h, 0
    else:
        small, scale = _downscaled(rgb, max_side)
        sx = sy = scale
    locations = fr.face_locations(np.ascontiguousarray(small), number_of_times_to_upsample=upsample, model=model)
    faces = []
    for top, right, bottom, left in locations:
        box = (int(round(left / sx)), int(round(top / sy)),
               int(round(right / sx)), int(round(bottom / sy)))
        faces.append(Face(box))
    faces.sort(key=lambda f: f.area, reverse=True)
    if landmarks and faces:
        add_landmarks(rgb, faces)
    return faces


def add_landmarks(rgb: np.ndarray, faces: list[Face]) -> list[Face]:
    """Fill `face.landmarks` (68 points, dlib order) for each face, in place.

    We read dlib's shapes directly: face_recognition's `face_landmarks` regroups the lips into 24
    points (with repeats and a different order), which would corrupt every index from 48 on.
    """
    fr = _face_recognition()
    rects = [fr.api._css_to_rect((f.box[1], f.box[2], f.box[3], f.box[0])) for f in faces]
    for face, rect in zip(faces, rects, strict=True):
        shape = fr.api.pose_predictor_68_point(rgb, rect)
        face.landmarks = np.array([(p.x, p.y) for p in shape.parts()], np.float32)
    return faces


def crop_box(box: tuple[int, int, int, int], scale: float = 2.0) -> tuple[int, int, int, int]:
    """The detector box enlarged `scale` times around its centre, made square (side = longer edge)."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * scale
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = side / 2
    return (int(round(cx - half)), int(round(cy - half)), int(round(cx + half)), int(round(cy + half)))


def _cut(array: np.ndarray, box: tuple[int, int, int, int], border: int) -> np.ndarray:
    """array[y0:y1, x0:x1] where the box may leave the array; outside pixels padded with `border`."""
    h, w = array.shape[:2]
    x0, y0, x1, y1 = box
    inner = array[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)]
    pads = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))
    if not any(pads):
        return inner
    if border == cv2.BORDER_REFLECT_101 and (inner.shape[0] < 2 or inner.shape[1] < 2 or
                                             max(pads[:2]) >= inner.shape[0] or max(pads[2:]) >= inner.shape[1]):
        border = cv2.BORDER_REPLICATE  # reflection needs more pixels than the pad; replicate instead
    return cv2.copyMakeBorder(inner, *pads, border, value=0)


def crop_face(image: np.ndarray, box: tuple[int, int, int, int], size: int | None = 256, scale: float = 2.0,
              mask: np.ndarray | None = None) -> FaceCrop:
    """Crop a face the paper's way. `box` is the detector's face box; returns image (and mask) at size x size.

    >>> img = np.zeros((100, 100, 3), np.uint8)
    >>> crop_face(img, (40, 40, 60, 60), size=64).image.shape
    (64, 64, 3)
    """
    cbox = crop_box(box, scale)
    img = _cut(image, cbox, cv2.BORDER_REFLECT_101)
    m = None if mask is None else _cut((mask > 0).astype(np.uint8), cbox, cv2.BORDER_CONSTANT)
    if size is not None and img.shape[0] != size:
        interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_LINEAR
        img = cv2.resize(img, (size, size), interpolation=interp)
        if m is not None:
            m = cv2.resize(m, (size, size), interpolation=cv2.INTER_NEAREST)  # masks: nearest, never bilinear
    return FaceCrop(np.ascontiguousarray(img), m, cbox)


def paste_back(prob: np.ndarray, cbox: tuple[int, int, int, int], frame_hw: tuple[int, int],
               out: np.ndarray | None = None) -> np.ndarray:
    """Paste a crop's probability map (S, S) float into a frame-sized map at its crop box (max-merge)."""
    h, w = frame_hw
    x0, y0, x1, y1 = cbox
    out = np.zeros((h, w), np.float32) if out is None else out
    side = x1 - x0
    resized = cv2.resize(prob.astype(np.float32), (side, y1 - y0), interpolation=cv2.INTER_LINEAR)
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if fx1 <= fx0 or fy1 <= fy0:
        return out
    part = resized[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
    np.maximum(out[fy0:fy1, fx0:fx1], part, out=out[fy0:fy1, fx0:fx1])
    return out


def pick_faces(faces: list[Face], mask: np.ndarray | None = None, label: int = 0,
               all_faces: bool = False) -> list[Face]:
    """Which faces a record uses: on a fake, the face whose crop overlaps its mask most; on a genuine
    frame, the largest (faces are sorted largest first); `all_faces` keeps every one."""
    if not faces or all_faces:
        return faces
    if label == 1 and mask is not None and mask.any():
        def overlap(f: Face) -> int:
            x0, y0, x1, y1 = crop_box(f.box, 1.0)
            return int(mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)].astype(bool).sum())
        return [max(faces, key=overlap)]
    return [faces[0]]


def landmark_hull_mask(shape_hw: tuple[int, int], landmarks: np.ndarray, points=slice(0, 27)) -> np.ndarray:
    """uint8 {0,1} mask of the convex hull of landmarks (default: jaw + brows, points 0-26)."""
    m = np.zeros(shape_hw, np.uint8)
    hull = cv2.convexHull(np.round(landmarks[points]).astype(np.int32))
    cv2.fillConvexPoly(m, hull, 1)
    return m
