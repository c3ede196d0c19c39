"""Face tracks across video frames: a full face detection every few frames, cheap shifts in between.

HOG detection costs ~60 ms on a 640 px copy of a 720p frame, ten times the model's cost per face,
so a video pays it only every `detect_every` frames. Between detections each box moves with the
median Lucas-Kanade optical flow of corner points inside it (~1-2 ms a frame). At every detection
the new boxes are matched to the live tracks by IoU (greedy, largest overlap first): a matched box
keeps its track id, an unmatched one opens a new track, and a track left unmatched ends.

While every followed face is large, most detections skip HOG's finest pyramid levels (~4x cheaper on a
talking head, the same boxes: `data.faces.skipped_hog_levels`); at most `full_scan_every` detections apart one
scans every level, so a small face entering the shot is found within that many detections (by default 6: ~2 s
of video; the full scans are ~20 % of detect's CPU at one per second, and a new shot gets one at once, below).

A cut (the next shot) ends every track and detects at once, scanning every level: optical flow would otherwise
carry the last shot's boxes over unrelated pixels until the next detection (8 frames after each of the two cuts
in ../shared/data/real_videos/ghost__nggyup.mp4), and a new face in the old face's place would inherit its id.
A track is therefore one face within one shot. With no face followed, detection keeps the same stride: a
faceless stretch of video costs a HOG scan every `detect_every` frames, not one per frame.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from .data.faces import Face, detect_faces, grey_copy

Box = tuple[int, int, int, int]

_MIN_POINTS = 4  # below this many surviving flow points a box stays where it was until re-seeded
# A cut: the mean absolute difference of consecutive 64x36 grey thumbnails (0-255) above CUT_DIFFERENCE and above
# CUT_JUMP times its median over the frames before (fast motion raises every difference of a shot; a cut is a
# spike). Across the 35 videos of ../shared/data/real_videos the 5 cuts score 27.7-59.2, motion within a shot at
# most 20.3; a zoomed-in, fast-moving shot reached 24.7 (tests). A false cut costs one detection and splits a
# track; a missed one leaves boxes on the wrong pixels until the next detection.
CUT_DIFFERENCE = 24.0
CUT_JUMP = 2.0
_CUT_HISTORY = 5
_THUMB_WH = (64, 36)


def box_iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    id: int
    box: Box  # frame pixels
    points: np.ndarray | None = None  # (N,1,2) float32 flow points, in the small grey frame's pixels
    detected: bool = True  # this frame's box came from the detector (False: shifted by optical flow)


class FaceTracker:
    """Per-video face tracks. `update(index, rgb)` -> [(track id, box, detected)], largest face first.

    >>> tracker = FaceTracker(detect_every=10)                                   # doctest: +SKIP
    >>> for index, _, rgb in iter_frames("clip.mp4"):                             # doctest: +SKIP
    ...     for track_id, box, detected in tracker.update(index, rgb): ...
    """

    def __init__(
        self,
        detect_every: int = 10,
        iou_match: float = 0.3,
        max_side: int = 640,
        full_scan_every: int = 6,
        detector: Callable[[np.ndarray, float], list[Face]] | None = None,
    ):
        self.detect_every = max(1, int(detect_every))
        self.iou_match = iou_match
        self.max_side = max_side
        self.full_scan_every = max(1, int(full_scan_every))
        # detector(rgb, min_size): every face, or at least every face of min_size frame px or more
        self.detector = detector or self._hog
        self.tracks: list[Track] = []
        self.detections = 0  # how many full-frame detections ran (the benchmark reports it)
        self.full_scans = 0  # of which scanned every pyramid level
        self.cuts = 0  # shot changes seen
        self._coarse_in_a_row = 0  # detections since the last full scan
        self._next_id = 1
        self._last_detect: int | None = None
        self._prev_gray: np.ndarray | None = None
        self._prev_thumb: np.ndarray | None = None
        self._differences: deque[float] = deque(maxlen=_CUT_HISTORY)  # the last frame-to-frame differences
        # this frame's grey_copy() and its scale: optical flow follows it, and HOG scans it
        self._grey: tuple[np.ndarray, float] = (np.zeros((0, 0), np.uint8), 1.0)

    def update(self, index: int, rgb: np.ndarray) -> list[tuple[int, Box, bool]]:
        gray, _ = self._grey = grey_copy(rgb, self.max_side)
        cut = self._is_cut(gray)
        if cut:
            self.cuts += 1
            self.tracks = []  # nobody carries over into the next shot; with no track the detection scans every level
        if cut or self._last_detect is None or index - self._last_detect >= self.detect_every:
            self._detect(index, rgb, gray)
        else:
            self._follow(gray, rgb.shape[:2])
        self._prev_gray = gray
        return [(t.id, t.box, t.detected) for t in self.tracks]

    def _is_cut(self, gray: np.ndarray) -> bool:
        thumb = cv2.resize(gray, _THUMB_WH, interpolation=cv2.INTER_AREA).astype(np.int16)
        prev, self._prev_thumb = self._prev_thumb, thumb
        if prev is None:
            return False
        difference = float(np.abs(thumb - prev).mean())
        usual = float(np.median(self._differences)) if self._differences else 0.0
        self._differences.append(difference)
        return difference > CUT_DIFFERENCE and difference > CUT_JUMP * usual

    @property
    def _scale(self) -> float:
        """Frame px -> grey-copy px."""
        return self._grey[1]

    def _hog(self, rgb: np.ndarray, min_size: float) -> list[Face]:
        return detect_faces(rgb, max_side=self.max_side, min_size=min_size, grey=self._grey)

    def _detect(self, index: int, rgb: np.ndarray, gray: np.ndarray) -> None:
        # a detection with no face followed (the first, or the first after a cut) is a full scan, and so restarts
        # the count: a cut does not add a full scan to the schedule, it moves it
        full = not self.tracks or self._coarse_in_a_row + 1 >= self.full_scan_every
        self._coarse_in_a_row = 0 if full else self._coarse_in_a_row + 1
        min_size = 0.0 if full else min(min(t.box[2] - t.box[0], t.box[3] - t.box[1]) for t in self.tracks)
        faces = self.detector(rgb, min_size)
        self.detections += 1
        self.full_scans += full
        self._last_detect = index
        pairs = sorted(
            (
                (box_iou(t.box, f.box), ti, fi)
                for ti, t in enumerate(self.tracks)
                for fi, f in enumerate(faces)
            ),
            reverse=True,
        )
        track_of_face: dict[int, int] = {}
        used_tracks: set[int] = set()
        for iou, ti, fi in pairs:
            if iou < self.iou_match:
                break
            if ti in used_tracks or fi in track_of_face:
                continue
            used_tracks.add(ti)
            track_of_face[fi] = self.tracks[ti].id
        tracks = []
        for fi, face in enumerate(faces):  # faces come largest first, and so do tracks
            track_id = track_of_face.get(fi)
            if track_id is None:
                track_id, self._next_id = self._next_id, self._next_id + 1
            tracks.append(Track(track_id, face.box, self._seed_points(gray, face.box)))
        self.tracks = tracks

    def _seed_points(self, gray: np.ndarray, box: Box) -> np.ndarray | None:
        s = self._scale
        x0, y0, x1, y1 = (max(0, int(v * s)) for v in box)
        region = np.zeros_like(gray)
        region[y0:y1, x0:x1] = 255
        return cv2.goodFeaturesToTrack(gray, maxCorners=40, qualityLevel=0.01, minDistance=4, mask=region)

    def _follow(self, gray: np.ndarray, frame_hw: tuple[int, int]) -> None:
        h, w = frame_hw
        for track in self.tracks:
            track.detected = False
            if track.points is None or len(track.points) < _MIN_POINTS:
                track.points = self._seed_points(self._prev_gray, track.box)
                if track.points is None or len(track.points) < _MIN_POINTS:
                    continue
            moved, status, _ = cv2.calcOpticalFlowPyrLK(
                self._prev_gray, gray, track.points, None, winSize=(15, 15), maxLevel=2
            )
            good = status.ravel() == 1
            if good.sum() < _MIN_POINTS:
                track.points = None
                continue
            # the median shift ignores points that slid onto the background or an occluding hand
            dx, dy = np.median((moved[good] - track.points[good]).reshape(-1, 2), axis=0) / self._scale
            x0, y0, x1, y1 = track.box
            bw, bh = x1 - x0, y1 - y0
            nx0 = int(round(min(max(x0 + dx, -bw // 2), w - bw // 2)))
            ny0 = int(round(min(max(y0 + dy, -bh // 2), h - bh // 2)))
            track.box = (nx0, ny0, nx0 + bw, ny0 + bh)
            track.points = moved[good].reshape(-1, 1, 2)
