"""Result objects of `fakeseg detect`: one per frame, each knows how to draw, save and describe itself.

FrameResult holds one decoded frame and the FaceResults found in it; nothing here keeps frames
beyond the one being written, so a run's memory does not grow with video length. Masks of a video
go to one `.npz` written in chunks (MaskArchiveWriter) and read back with `load_masks(path)`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ._fs import make_shareable, missing_dirs
from .data.faces import paste_back
from .data.sources import REFERENCE_CSV
from .encode import VideoEncoder
from .metrics import false_alarm_rate

MASK_SIDE = 64  # side of the per-face crop masks stored in a video's .npz (uint8, prob x 255)


@dataclass
class FaceResult:
    face_id: int  # track id: the same person keeps it across the frames of one video
    box: tuple[int, int, int, int]  # face box in frame pixels (detected, or shifted by tracking)
    crop_box: tuple[int, int, int, int]  # the x2 square crop the model saw (may extend past the frame)
    score: float  # mean of the predicted mask (Eq. 6 before the threshold)
    fake: bool  # score >= tau2
    fake_area: float  # share of the crop above the checkpoint's pixel threshold (as eval counts; 0.5 unless calibrated)
    mask: np.ndarray  # (S, S) float32 probabilities over the crop, S = the model's input size
    detected: bool = True  # the box came from the face detector on this frame (False: tracked)

    def to_dict(self) -> dict:
        return {
            "face_id": self.face_id,
            "box": list(self.box),
            "score": round(self.score, 6),
            "fake": self.fake,
            "fake_area": round(self.fake_area, 6),
            "detected": self.detected,
        }


@dataclass
class FrameResult:
    """One frame (or image) of a source and every face found in it."""

    source: str
    frame: int  # frame index in the video; 0 for an image
    time_s: float | None  # None for an image
    image: np.ndarray = field(repr=False)  # (H, W, 3) uint8 RGB
    faces: list[FaceResult]
    threshold: float  # tau2 used for `fake`
    is_video: bool = False

    @property
    def score(self) -> float | None:
        """The frame's score: its most suspicious face (None when there is no face)."""
        return max((f.score for f in self.faces), default=None)

    def prob_map(self) -> np.ndarray:
        """(H, W) float32 in [0, 1]: every face's mask pasted into the frame (max where crops overlap)."""
        out = np.zeros(self.image.shape[:2], np.float32)
        for face in self.faces:
            paste_back(face.mask, face.crop_box, self.image.shape[:2], out=out)
        return out

    def overlay(self, alpha: float = 0.6) -> np.ndarray:
        """RGB uint8: the heatmap blended over each face crop (opacity follows the probability, so
        genuine pixels stay visible) and each face box labelled with its id and score."""
        canvas = self.image.copy()
        h, w = canvas.shape[:2]
        for face in self.faces:  # blend only inside crop boxes: a full-frame colormap costs ~10 ms at 720p
            x0, y0, x1, y1 = face.crop_box
            fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
            if fx1 <= fx0 or fy1 <= fy0:
                continue
            prob = cv2.resize(face.mask, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
            prob = prob[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
            heat = cv2.cvtColor(cv2.applyColorMap(cv2.convertScaleAbs(prob, alpha=255), cv2.COLORMAP_JET),
                                cv2.COLOR_BGR2RGB)
            a = prob * alpha
            region = canvas[fy0:fy1, fx0:fx1]
            # one uint8 pass with per-pixel weights: 2.7x faster than float32 cv2 arithmetic (itself 4x faster
            # than float64 numpy) on a 720p face crop, within 2 grey levels of it
            region[:] = cv2.blendLinear(heat, region, a, 1 - a)
        thick = max(2, round(max(h, w) / 400))
        font = max(0.5, max(h, w) / 1400)
        for face in self.faces:
            color = (230, 40, 40) if face.fake else (40, 200, 70)
            x0, y0, x1, y1 = face.box
            cv2.rectangle(canvas, (x0, y0), (x1, y1), color, thick)
            label = f"#{face.face_id} {'FAKE' if face.fake else 'real'} {face.score:.2f}"
            (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font, thick)
            ty = y0 - base - 2 if y0 - th - base - 4 >= 0 else y1 + th + 2
            cv2.rectangle(canvas, (x0, ty - th - 2), (x0 + tw + 4, ty + base), color, -1)
            cv2.putText(
                canvas,
                label,
                (x0 + 2, ty),
                cv2.FONT_HERSHEY_SIMPLEX,
                font,
                (255, 255, 255),
                thick,
                cv2.LINE_AA,
            )
        return canvas

    def rows(self) -> list[dict]:
        """The scores.csv / scores.json rows of this frame: one per face, or one saying "no face"."""
        base = {
            "source": self.source,
            "frame": self.frame,
            "time_s": None if self.time_s is None else round(self.time_s, 4),
        }
        if not self.faces:
            return [
                {
                    **base,
                    "face_id": None,
                    "box": None,
                    "score": None,
                    "fake": None,
                    "fake_area": None,
                    "detected": None,
                    "status": "no face",
                }
            ]
        return [{**base, **f.to_dict(), "status": "face"} for f in self.faces]

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "frame": self.frame,
            "time_s": self.time_s,
            "faces": [f.to_dict() for f in self.faces],
            "threshold": self.threshold,
        }

    def save_mask(self, path: str | Path) -> None:
        """The frame's probability map as an 8-bit grey PNG (0 = genuine, 255 = certainly manipulated)."""
        from .data.io import write_image

        write_image(path, (self.prob_map() * 255).round().astype(np.uint8))

    def save_overlay(self, path: str | Path) -> None:
        from .data.io import write_image

        write_image(path, self.overlay())


# --------------------------------------------------------------------------------------------------
# video masks: one .npz per video, written in chunks


_ARCHIVE_FIELDS = {  # name -> (dtype, per-row shape)
    "frame": (np.int32, ()),
    "time_s": (np.float32, ()),
    "face_id": (np.int32, ()),
    "box": (np.int32, (4,)),
    "crop_box": (np.int32, (4,)),
    "score": (np.float32, ()),
    "mask": (np.uint8, (MASK_SIDE, MASK_SIDE)),
}


class MaskArchiveWriter:
    """Append per-face crop masks of a video; `close()` packs them into one .npz (temp name, then rename).

    Rows are appended to raw files on disk as they come, so memory stays flat however long the video;
    close() streams them into the zip. One row per face per frame; frames without a face have no row.
    """

    def __init__(self, path: str | Path, frame_hw: tuple[int, int], source: str):
        self.path = Path(path)
        self.frame_hw = frame_hw
        self.source = source
        self.rows = 0
        self._parts = Path(
            tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".parts")
        )
        self._files = {name: open(self._parts / name, "wb") for name in _ARCHIVE_FIELDS}

    def append(self, result: FrameResult) -> None:
        for face in result.faces:
            small = cv2.resize(face.mask, (MASK_SIDE, MASK_SIDE), interpolation=cv2.INTER_AREA)
            values = {
                "frame": result.frame,
                "time_s": result.time_s or 0.0,
                "face_id": face.face_id,
                "box": face.box,
                "crop_box": face.crop_box,
                "score": face.score,
                "mask": (np.clip(small, 0, 1) * 255).round(),
            }
            for name, (dtype, _) in _ARCHIVE_FIELDS.items():
                self._files[name].write(np.asarray(values[name], dtype).tobytes())
            self.rows += 1

    def close(self) -> Path:
        for f in self._files.values():
            f.close()
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
                for name, (dtype, shape) in _ARCHIVE_FIELDS.items():
                    header = {
                        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                        "fortran_order": False,
                        "shape": (self.rows, *shape),
                    }
                    with (
                        zf.open(f"{name}.npy", "w", force_zip64=True) as out,
                        open(self._parts / name, "rb") as src,
                    ):
                        np.lib.format.write_array_header_1_0(out, header)
                        shutil.copyfileobj(src, out, 1 << 20)
                for name, value in (
                    ("frame_hw", np.asarray(self.frame_hw, np.int32)),
                    ("source", np.asarray(self.source)),
                ):
                    with zf.open(f"{name}.npy", "w") as out:
                        np.lib.format.write_array(out, value)
            make_shareable(tmp)
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
            shutil.rmtree(self._parts, ignore_errors=True)
        return self.path

    def abort(self) -> None:
        for f in self._files.values():
            f.close()
        shutil.rmtree(self._parts, ignore_errors=True)


@dataclass
class MaskArchive:
    """A video's masks read back: one row per face per frame (see MaskArchiveWriter)."""

    source: str
    frame_hw: tuple[int, int]
    frame: np.ndarray  # (N,) frame index of each row
    time_s: np.ndarray
    face_id: np.ndarray
    box: np.ndarray  # (N, 4)
    crop_box: np.ndarray  # (N, 4)
    score: np.ndarray
    mask: np.ndarray  # (N, 64, 64) uint8: probability x 255 over the crop box

    def frame_map(self, frame: int) -> np.ndarray:
        """(H, W) float32 probability map of one frame (all its faces pasted back); zeros if no face."""
        out = np.zeros(self.frame_hw, np.float32)
        for i in np.flatnonzero(self.frame == frame):
            paste_back(
                self.mask[i].astype(np.float32) / 255.0, tuple(self.crop_box[i]), self.frame_hw, out=out
            )
        return out


def load_masks(path: str | Path) -> MaskArchive | np.ndarray:
    """Read masks written by `fakeseg detect`.

    A `.npz` (a video) -> MaskArchive; a `.png` (an image or one video frame) -> (H, W) float32 in [0, 1].

    >>> masks = load_masks("runs/demo/masks/demo.npz")                       # doctest: +SKIP
    >>> masks.frame_map(10).shape                                             # doctest: +SKIP
    (560, 464)
    """
    path = Path(path)
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        return MaskArchive(
            source=str(data.pop("source")), frame_hw=tuple(int(v) for v in data.pop("frame_hw")), **data
        )
    from .data.io import read_image

    return read_image(path)[:, :, 0].astype(np.float32) / 255.0


# --------------------------------------------------------------------------------------------------
# verdicts: the rule is written out in docs/detect.md and in every summary.json


MIN_TRACK_FRAMES = 3
MIN_TRACK_DETECTIONS = 2
VERDICT_RULE = (
    "frame: a face is fake when its score (mean of its predicted mask, Eq. 6) >= tau2. "
    "track: fake when the median of its frame scores >= tau2; tracks seen in fewer than "
    f"{MIN_TRACK_FRAMES} frames or found by fewer than {MIN_TRACK_DETECTIONS} full detections (the others "
    "are tracked) are ignored unless no track of the source passes both. "
    "source: fake when any counted track is fake, real when it has faces and none is fake, "
    "'no face' when no frame has a face."
)


def track_summary(
    face_id: int, frames: np.ndarray, scores: np.ndarray, tau2: float, detections: int | None = None
) -> dict:
    median = float(np.median(scores))
    return {
        "face_id": face_id,
        "frames": int(len(scores)),
        "detections": int(len(scores) if detections is None else detections),
        "first_frame": int(frames[0]),
        "last_frame": int(frames[-1]),
        "median": round(median, 6),
        "p90": round(float(np.quantile(scores, 0.9)), 6),
        "max": round(float(scores.max()), 6),
        "fake_frames": int((scores >= tau2).sum()),
        "verdict": "fake" if median >= tau2 else "real",
    }


def add_false_alarm_rates(entry: dict, reference: np.ndarray) -> None:
    """Give each track of a source entry, and the source, its false-alarm rate against the reference's
    genuine scores: the share of them at or above its median (the source's: at or above its score, the
    highest counted median, on which its verdict rests)."""
    for t in entry.get("tracks", []):
        t["false_alarm_rate"] = round(false_alarm_rate(t["median"], reference), 4)
    if entry.get("score") is not None:
        entry["false_alarm_rate"] = round(false_alarm_rate(entry["score"], reference), 4)


def tau2_note(model: dict, reference: dict | None) -> str:
    """Where the run's tau2 came from, in one sentence (summary.json, the verdict table, report.html)."""
    tau2 = model.get("tau2", 0.5)
    if model.get("tau2_from") == "reference" and reference:
        return (
            f"tau2 = {tau2:.4g}, set from the reference: the lowest score at which at most "
            f"{reference['false_alarm']:.0%} of its {reference['n']} known-genuine faces are called fake"
        )
    if model.get("tau2_from") == "--threshold":
        return f"tau2 = {tau2:.4g}, set by --threshold"
    return f"tau2 = {tau2:.4g}, calibrated with the weights"


def reference_note(reference: dict, detail: bool = True) -> str:
    """What the "genuine as high" figure is measured against (detail=False: the weights' reference is not
    described, only pointed to, which keeps the verdict table short)."""
    whose = "your reference footage" if reference.get("kind") == "footage" else "the weights' reference"
    data = reference.get("data")
    data = ", ".join(map(str, data)) if isinstance(data, list) else str(data)
    if not detail and reference.get("kind") != "footage":
        data = "summary.json: reference"
    return (
        f"genuine as high: the share of the {reference['n']} known-genuine faces of {whose} ({data}) that score "
        "at least as high, i.e. how often calling such a face fake at this score would be a false alarm"
    )


def source_verdict(tracks: list[dict]) -> tuple[str, float | None]:
    """Mark which tracks count (see VERDICT_RULE) and return (verdict, score of the source)."""
    if not tracks:
        return "no face", None
    # one-off detections (a hand, a poster) are tracked for a few frames and then lost: leave them out
    long_enough = [
        t for t in tracks if t["frames"] >= MIN_TRACK_FRAMES and t["detections"] >= MIN_TRACK_DETECTIONS
    ]
    counted = long_enough or tracks
    for t in tracks:
        t["counted"] = t in counted
    verdict = "fake" if any(t["verdict"] == "fake" for t in counted) else "real"
    return verdict, max(t["median"] for t in counted)


# --------------------------------------------------------------------------------------------------
# a run folder: scores.csv/json, summary.json, masks/, overlays/, report.html


class OutputError(OSError):
    """The output folder cannot be used (unwritable, or holds a previous run without --overwrite)."""


CSV_COLUMNS = (
    "source",
    "frame",
    "time_s",
    "face_id",
    "x0",
    "y0",
    "x1",
    "y1",
    "score",
    "fake",
    "fake_area",
    "detected",
    "status",
)
RUN_FILES = ("scores.csv", "scores.json", "summary.json", "report.html", "reference.csv", "masks", "overlays")
REPORT_FRAMES = 24  # most suspicious frames shown in report.html, over the whole run


def _csv_line(row: dict) -> str:
    box = row["box"] or (None,) * 4
    values = {**row, "x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3]}
    cells = []
    for col in CSV_COLUMNS:
        v = values[col]
        cells.append("" if v is None else str(int(v)) if isinstance(v, bool) else str(v))
    text = ",".join(c if "," not in c and '"' not in c else '"' + c.replace('"', '""') + '"' for c in cells)
    return text + "\n"


def _temp_beside(path: Path, suffix: str = ".tmp") -> Path:
    return path.with_name(f".{path.name}{suffix}")


class RunWriter:
    """Writes everything `fakeseg detect` leaves in DIR. Files are written under hidden temp names and
    renamed when complete, so an interrupted run never leaves a file that looks finished.

    >>> with RunWriter("runs/x") as run:                                          # doctest: +SKIP
    ...     src = run.start_source("clip.mp4", is_video=True, fps=25.0)
    ...     for result in predictor.stream("clip.mp4"): src.add(result)
    ...     src.close()
    ...     summary = run.finish(model_info)
    """

    def __init__(
        self,
        out: str | Path,
        overwrite: bool = False,
        mask_format: str = "npz",
        save_video: bool = True,
        top_k: int = 3,
    ):
        if mask_format not in ("npz", "png"):
            raise ValueError(f"mask_format must be npz or png, got {mask_format!r}")
        self.out = Path(out)
        self.mask_format, self.save_video, self.top_k = mask_format, save_video, top_k
        existing = [n for n in RUN_FILES if (self.out / n).exists()]
        if existing and not overwrite:
            raise OutputError(
                f"{self.out} already holds a run ({', '.join(existing)}); pass --overwrite "
                "or choose another --out"
            )
        # the folders this run creates, outermost first: discard() removes them again when left empty
        self._created = missing_dirs(self.out)
        self._created += [self.out / sub for sub in ("masks", "overlays") if not (self.out / sub).exists()]
        try:
            for sub in ("", "masks", "overlays"):
                (self.out / sub).mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.out, prefix=".write-test.")
            probe.close()
        except OSError as e:
            raise OutputError(f"{self.out}: cannot write there ({e.strerror or e})") from None
        self.sources: list[dict] = []
        self.series: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
        self.highlights: list[tuple[float, str, str, bytes]] = []  # (score, source, caption, jpeg)
        self._names: set[str] = set()
        self._csv = open(_temp_beside(self.out / "scores.csv"), "w", newline="")
        self._csv.write(",".join(CSV_COLUMNS) + "\n")
        self._json = open(_temp_beside(self.out / "scores.json"), "w")
        self._json.write("[")
        self._json_rows = 0

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.abort()

    def unique_name(self, path: str | Path) -> str:
        stem = Path(path).stem or "source"
        name, n = stem, 1
        while name in self._names:
            n += 1
            name = f"{stem}_{n}"
        self._names.add(name)
        return name

    def start_source(self, path: str | Path, is_video: bool, fps: float = 0.0) -> SourceWriter:
        return SourceWriter(self, str(path), self.unique_name(path), is_video, fps)

    def add_rows(self, rows: list[dict]) -> None:
        import json

        for row in rows:
            self._csv.write(_csv_line(row))
            self._json.write(("\n" if self._json_rows == 0 else ",\n") + json.dumps(row))
            self._json_rows += 1

    def add_error(self, source: str, message: str) -> None:
        self.sources.append({"source": source, "verdict": "error", "error": message})

    def finish(
        self,
        run_info: dict,
        reference: np.ndarray | None = None,
        reference_rows: list[tuple[str, int, int, float]] = (),
    ) -> dict:
        """Close the score files, write summary.json and report.html; return the summary.

        reference: scores of known-genuine faces (the checkpoint's `extra.reference`, or the user's footage);
        each track and source then gets its false-alarm rate against them. reference_rows: (source, frame,
        face_id, score) of the user's reference footage, written to reference.csv."""
        import csv
        import json

        from . import __version__
        from .report import write_report

        self._csv.close()
        self._json.write("\n]\n")
        self._json.close()
        os.replace(_temp_beside(self.out / "scores.csv"), self.out / "scores.csv")
        os.replace(_temp_beside(self.out / "scores.json"), self.out / "scores.json")
        ref_csv = self.out / REFERENCE_CSV
        if reference_rows:
            tmp = _temp_beside(ref_csv)
            with open(tmp, "w", newline="") as f:
                table = csv.writer(f)
                table.writerow(("source", "frame", "face_id", "score"))
                table.writerows(reference_rows)  # full precision: tau2 sits between two of these scores
            os.replace(tmp, ref_csv)
        elif ref_csv.exists():  # left by an --overwrite'n run that had a reference; not this run's
            ref_csv.unlink()
        done = [s for s in self.sources if s["verdict"] != "error"]
        if reference is not None and len(reference):
            for entry in done:
                add_false_alarm_rates(entry, reference)
        summary = {
            "fakeseg_version": __version__,
            **run_info,
            "rule": VERDICT_RULE,
            "threshold": tau2_note(run_info.get("model", {}), run_info.get("reference")),
            "counts": {
                "sources": len(self.sources),
                "processed": len(done),
                "errors": len(self.sources) - len(done),
                "fake": sum(s["verdict"] == "fake" for s in done),
                "real": sum(s["verdict"] == "real" for s in done),
                "no_face": sum(s["verdict"] == "no face" for s in done),
                "frames": sum(s["frames"] for s in done),
                "faces": sum(s["faces"] for s in done),
            },
            "sources": self.sources,
        }
        tmp = _temp_beside(self.out / "summary.json")
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
        os.replace(tmp, self.out / "summary.json")
        highlights = sorted(self.highlights, key=lambda h: -h[0])
        band = None
        if reference is not None and len(reference):
            band = (float(np.quantile(reference, 0.05)), float(np.quantile(reference, 0.95)))
        write_report(self.out / "report.html", summary, self.series, highlights, band)
        return summary

    def abort(self) -> None:
        """Drop the unfinished score files (after finish() this does nothing)."""
        for f in (self._csv, self._json):
            if not f.closed:
                f.close()
        for name in ("scores.csv", "scores.json"):
            tmp = _temp_beside(self.out / name)
            if tmp.exists():
                tmp.unlink()

    def discard(self) -> None:
        """Leave no trace of a run that produced nothing: drop the temp files and the folders this
        writer created (only while they are empty, so nothing of anyone else's is touched)."""
        self.abort()
        for d in reversed(self._created):
            with contextlib.suppress(OSError):
                d.rmdir()

    def _keep_highlight(self, score: float, source: str, caption: str, overlay: np.ndarray) -> None:
        import heapq

        if len(self.highlights) >= REPORT_FRAMES and score <= self.highlights[0][0]:
            return
        h, w = overlay.shape[:2]
        scale = min(1.0, 480 / max(h, w))
        small = cv2.resize(overlay, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", small[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
        item = (score, source, caption, buf.tobytes())
        if len(self.highlights) >= REPORT_FRAMES:
            heapq.heapreplace(self.highlights, item)
        else:
            heapq.heappush(self.highlights, item)


class SourceWriter:
    """Outputs of one source: masks, overlays, its rows in the score files, and its summary entry."""

    def __init__(self, run: RunWriter, source: str, name: str, is_video: bool, fps: float):
        self.run, self.source, self.name, self.is_video = run, source, name, is_video
        self.fps = fps if fps and fps > 0 else 25.0
        self.frames = 0
        self.frames_with_face = 0
        self.faces = 0
        self.threshold: float | None = None
        self._track_frames: dict[int, list[int]] = {}
        self._track_times: dict[int, list[float]] = {}
        self._track_scores: dict[int, list[float]] = {}
        self._track_detections: dict[int, int] = {}
        self._top: list[tuple[float, int, np.ndarray]] = []  # (score, frame, overlay): the k worst frames
        self._archive: MaskArchiveWriter | None = None
        self._video_tmp = run.out / "overlays" / f".{name}.tmp.mp4"
        self._video = VideoEncoder(self._video_tmp, self.fps) if is_video and run.save_video else None
        self.outputs: dict = {}

    def add(self, result: FrameResult) -> None:
        import heapq

        self.frames += 1
        self.threshold = result.threshold
        self.frames_with_face += bool(result.faces)
        self.faces += len(result.faces)
        self.run.add_rows(result.rows())
        for face in result.faces:
            self._track_frames.setdefault(face.face_id, []).append(result.frame)
            self._track_times.setdefault(face.face_id, []).append(result.time_s or 0.0)
            self._track_scores.setdefault(face.face_id, []).append(face.score)
            self._track_detections[face.face_id] = self._track_detections.get(face.face_id, 0) + face.detected
        if not self.is_video:
            self._save_image(result)
            return
        overlay = None
        if self.run.save_video:
            overlay = result.overlay()
            self._write_video_frame(overlay)
        if self.run.mask_format == "png":
            folder = self.run.out / "masks" / self.name
            folder.mkdir(exist_ok=True)
            result.save_mask(folder / f"{result.frame:06d}.png")
        elif result.faces:
            if self._archive is None:
                self._archive = MaskArchiveWriter(
                    self.run.out / "masks" / f"{self.name}.npz", result.image.shape[:2], self.source
                )
            self._archive.append(result)
        score = result.score
        if score is not None and (len(self._top) < self.run.top_k or score > self._top[0][0]):
            item = (score, result.frame, overlay if overlay is not None else result.overlay())
            if len(self._top) < self.run.top_k:
                heapq.heappush(self._top, item)
            else:
                heapq.heapreplace(self._top, item)

    def _save_image(self, result: FrameResult) -> None:
        from .data.io import write_image

        mask_path = self.run.out / "masks" / f"{self.name}.png"
        overlay_path = self.run.out / "overlays" / f"{self.name}.png"
        result.save_mask(mask_path)
        overlay = result.overlay()
        write_image(overlay_path, overlay)
        self.outputs = {
            "mask": str(mask_path.relative_to(self.run.out)),
            "overlay": str(overlay_path.relative_to(self.run.out)),
        }
        if result.score is not None:
            self.run._keep_highlight(result.score, self.source, Path(self.source).name, overlay)

    def _write_video_frame(self, overlay: np.ndarray) -> None:
        try:
            self._video.write(overlay)  # encoded in a background thread (fakeseg.encode)
        except OSError as e:
            raise OutputError(str(e)) from None

    def close(self, warning: str | None = None, cuts: int | None = None) -> dict:
        """Finish this source's files (renamed into place) and add its entry to the run summary (`cuts`: a
        video's shot changes, which end every face track)."""
        from .data.io import write_image

        out = self.run.out
        if self._video is not None and self._video.started:
            self._video.close()
            os.replace(self._video_tmp, out / "overlays" / f"{self.name}.mp4")
            self.outputs["overlay_video"] = f"overlays/{self.name}.mp4"
        if self._archive is not None:
            self._archive.close()
            self.outputs["masks"] = f"masks/{self.name}.npz"
        elif self.is_video and self.run.mask_format == "png":
            self.outputs["masks"] = f"masks/{self.name}/"
        top_files = []
        for score, frame, overlay in sorted(self._top, key=lambda t: -t[0]):
            path = out / "overlays" / f"{self.name}_f{frame:06d}.png"
            write_image(path, overlay)
            top_files.append(
                {"frame": frame, "score": round(score, 6), "overlay": str(path.relative_to(out))}
            )
            self.run._keep_highlight(score, self.source, f"{Path(self.source).name}, frame {frame}", overlay)
        if top_files:
            self.outputs["top_frames"] = top_files
        self._top = []
        tau2 = self.threshold if self.threshold is not None else 0.5
        tracks, series = [], {}
        for face_id in sorted(self._track_scores):
            frames = np.asarray(self._track_frames[face_id])
            scores = np.asarray(self._track_scores[face_id], np.float32)
            tracks.append(track_summary(face_id, frames, scores, tau2, self._track_detections[face_id]))
            series[face_id] = (np.asarray(self._track_times[face_id], np.float32), scores)
        verdict, score = source_verdict(tracks)
        entry = {
            "source": self.source,
            "kind": "video" if self.is_video else "image",
            "verdict": verdict,
            "score": None if score is None else round(score, 6),
            "frames": self.frames,
            "frames_with_face": self.frames_with_face,
            "faces": self.faces,
            "tracks": tracks,
            "outputs": self.outputs,
            "warning": warning,
        }
        if self.is_video:
            entry["fps"] = self.fps
            if cuts is not None:
                entry["cuts"] = cuts
            self.run.series[self.source] = series
        self.run.sources.append(entry)
        return entry

    def abort(self) -> None:
        """Drop what this source had started (its rows already written stay, flagged by the error entry)."""
        if self._video is not None:
            self._video.abort()
            self._video_tmp.unlink(missing_ok=True)
        if self._archive is not None:
            self._archive.abort()
