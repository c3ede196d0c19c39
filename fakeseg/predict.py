"""The detect engine: frames stream in, FrameResults stream out; nothing is collected in memory.

Per video, three stages run side by side, joined by small bounded queues (memory stays flat):
a reader thread decodes frames; a faces thread follows them with FaceTracker (full HOG detection every
`detect_every` frames, optical flow between) and crops each face with THE shared `crop_face` at the
checkpoint's input size and crop scale; the caller's thread batches crops from consecutive frames through
`scores_and_maps` (THE read-out shared with eval) under bf16 autocast + channels_last on CPU, fp16 on CUDA,
and writes the results (the annotated MP4 is encoded in a fourth thread, fakeseg.encode).

>>> import fakeseg
>>> for result in fakeseg.detect(["samples/demo.mp4"], weights="fn3.synth"):   # doctest: +SKIP
...     print(result.frame, [(f.face_id, round(f.score, 3), f.fake) for f in result.faces])
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from .data.faces import crop_face
from .data.io import BadInput, read_image
from .data.sources import REFERENCE_CSV, expand_sources, is_video, iter_frames, split_reference, video_info
from .data.transforms import normalize
from .device import cpu_has_native_bf16, pick_device
from .metrics import threshold_at_false_alarm_rate
from .models import arch_info, canonical_name, load_model, scores_and_maps
from .models._weights import WeightsError, default_weights
from .models.base import fold_batchnorm
from .models.int8 import quantize
from .results import FaceResult, FrameResult, RunWriter
from .tracking import FaceTracker

DETECT_INTERVAL_S = 0.33  # default: a full face detection about three times a second of video
_QUEUE_FRAMES = 8  # decoded frames waiting for the model; bounds the reader's memory
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
# --reference: tau2 where at most this share of the reference's genuine faces is called fake ...
DEFAULT_FALSE_ALARM = 0.05
# ... from at least this many faces: with fewer, a 5 % quantile is one or no face (a second of video is 25-30)
MIN_REFERENCE_FACES = 20
# ... and a warning below this many: with ~1 s of reference 22 % of genuine clips were called fake, from ~4 s on
# 6 % (bench/reference_verdict.py, docs/detect.md)
ADVISED_REFERENCE_FACES = 100


def resolve_precision(device: torch.device, precision: str = "auto") -> str:
    """'auto' -> bf16 on a CPU with native bf16, fp16 on CUDA, else fp32. 'int8' is CPU only and never
    automatic: it is ~2x as fast as bf16 (or fp32 on a CPU without native bf16) but moves scores ~10x more than
    bf16 does (docs/detect.md)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "int8" and device.type != "cpu":
        raise ValueError(f"--precision int8 runs on the CPU only, not on {device.type}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "fp16"
    if device.type == "cpu" and cpu_has_native_bf16():
        return "bf16"
    return "fp32"


def _prefetch(items: Iterator, maxsize: int = _QUEUE_FRAMES, name: str = "fakeseg-reader") -> Iterator:
    """Run `items` in a thread; yield them here through a bounded queue. Exceptions raised by `items`
    (e.g. BadInput for a truncated video) are re-raised here, after the items before them. `items` is
    closed in its own thread when this generator ends, so a chain of stages shuts down stage by stage."""
    q: queue.Queue = queue.Queue(maxsize=maxsize)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        """Queue `item` unless the consumer has stopped (then a full queue is never drained): False."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as e:  # handed to the consumer, which raises it in its own thread
            put(e)
        finally:
            if hasattr(items, "close"):
                items.close()

    thread = threading.Thread(target=reader, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _int8_model(model: torch.nn.Module, config, weights: str) -> torch.nn.Module:
    ranges = (config.int8 or {}).get("ranges")
    if not ranges:
        raise WeightsError(
            f"{weights} has no int8 calibration; store one with "
            f"`fakeseg eval --weights FOLDER --calibrate VAL.csv --save-thresholds`"
        )
    try:
        return quantize(model, ranges)
    except ValueError as e:
        raise WeightsError(f"{weights}: {e}") from None


class Predictor:
    """Loads a checkpoint once and turns sources into streams of FrameResults.

    >>> predictor = Predictor(weights="fn3.synth")                            # doctest: +SKIP
    >>> for result in predictor.stream("clip.mp4"):                          # doctest: +SKIP
    ...     result.save_overlay(f"frame{result.frame}.png")
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        arch: str | None = None,
        device: str | None = None,
        batch_size: int | None = None,
        threshold: float | None = None,
        detect_every: int | None = None,
        precision: str = "auto",
    ):
        """batch_size: faces per forward pass; None takes the architecture's (`ArchInfo.detect_batch`)."""
        self.device = pick_device(device)
        self.weights = str(weights) if weights is not None else default_weights(arch)
        self.model, self.config = load_model(self.weights, self.device)
        if arch and canonical_name(arch) != canonical_name(self.config.arch):
            raise WeightsError(f"--arch {arch} does not match the weights' architecture {self.config.arch}")
        self.precision = resolve_precision(self.device, precision)
        if self.precision == "int8":
            self.model = _int8_model(self.model, self.config, self.weights)
        else:
            fold_batchnorm(self.model)  # inference only: ~25 % faster FN3 on CPU (docs/benchmarks.md)
        if self.device.type in ("cpu", "cuda"):
            self.model = self.model.to(memory_format=torch.channels_last)
        self.batch_size = max(1, int(arch_info(self.config.arch).detect_batch if batch_size is None else batch_size))
        self.threshold = float(self.config.tau2 if threshold is None else threshold)
        self.tau2_from = "weights" if threshold is None else "--threshold"
        self.detect_every = detect_every
        self.last_tracker: FaceTracker | None = None
        # known-genuine faces each verdict's false-alarm rate is measured against: the weights' own
        # (`fakeseg eval --save-reference`) until use_reference() replaces them with the user's footage
        ref = self.config.extra.get("reference")
        self.reference: dict | None = None if not ref else {
            "kind": "weights", **{k: v for k, v in ref.items() if k != "scores"},
            "scores": np.asarray(ref["scores"], np.float64),
        }
        self.reference_rows: list[tuple[str, int, int, float]] = []  # (source, frame, face_id, score)

    def use_reference(
        self,
        sources: Iterable[str | Path],
        false_alarm: float = DEFAULT_FALSE_ALARM,
        on_source: Callable[[Path, int], None] | None = None,
        on_frame: Callable[[FrameResult], None] | None = None,
    ) -> float:
        """Score every face of known-genuine footage of the source under test (same camera, channel or
        person) and set tau2 where at most `false_alarm` of those faces are called fake; return tau2.

        Why: one tau2 cannot serve every source (the score's level moves from one clip to the next, while
        within a clip fake frames score above genuine ones; docs/weights.md), so the footage itself says
        where genuine faces of this source lie. Every face is found, tracked and cropped as detect does.
        A detect run folder that holds a reference.csv scored by these weights at this precision is reused
        instead of scoring its footage again. Raises BadInput when a reference cannot be read or used, or
        holds fewer than MIN_REFERENCE_FACES faces.
        """
        if not 0.0 <= false_alarm < 1.0:
            raise ValueError(f"the false-alarm rate must be in [0, 1), got {false_alarm}")
        saved, paths = split_reference(sources)
        rows = []
        for run in saved:
            rows += self._saved_reference_rows(run)
        for path in paths:
            try:  # all of it or nothing: a reference cut short would move tau2 without a word
                is_vid, fps, frames = self.frames(path)
                if on_source:
                    on_source(path, video_info(path).n_frames if is_vid else 1)
                for result in self.stream(path, frames, is_vid, fps):
                    rows += [(str(path), result.frame, face.face_id, face.score) for face in result.faces]
                    if on_frame:
                        on_frame(result)
            except BadInput as e:
                raise BadInput(f"reference: {e}") from None
        if len(rows) < MIN_REFERENCE_FACES:
            n_in = len(saved) + len(paths)
            raise BadInput(
                f"reference: {len(rows)} face{'s' * (len(rows) != 1)} found in {n_in} input{'s' * (n_in != 1)}; "
                f"it needs at least {MIN_REFERENCE_FACES} (a second or more of video of the same source)"
            )
        scores = np.array([r[3] for r in rows], np.float64)
        self.threshold = threshold_at_false_alarm_rate(scores, false_alarm)
        self.tau2_from = "reference"
        self.reference = {
            "kind": "footage",
            "data": [str(p) for p in (*saved, *paths)],
            "n": len(rows),
            "false_alarm": false_alarm,
            "scores": scores,
        }
        self.reference_rows = rows
        return self.threshold

    def _saved_reference_rows(self, run: Path) -> list[tuple[str, int, int, float]]:
        """The reference faces of an earlier detect run, if these weights at this precision scored them."""
        import csv
        import json

        try:
            summary = json.loads((run / "summary.json").read_text())
            scored_by = (summary["model"]["sha256"], summary["precision"])
            with open(run / REFERENCE_CSV, newline="") as f:
                rows = [(r["source"], int(r["frame"]), int(r["face_id"]), float(r["score"])) for r in csv.DictReader(f)]
        except (OSError, ValueError, KeyError, TypeError) as e:
            why = f"no {e} in it" if isinstance(e, KeyError) else str(e)
            raise BadInput(f"reference: {run}: not a readable detect run with a reference ({why})") from None
        if scored_by != (self.config.sha256, self.precision):
            by = f"{summary['model'].get('weights')}, {summary['precision']}"
            raise BadInput(
                f"reference: {run} was scored by other weights or another precision ({by}; this run: "
                f"{self.weights}, {self.precision}); give its footage instead"
            )
        return rows

    def info(self) -> dict:
        """What summary.json records about the model and how it ran."""
        c = self.config
        return {
            "model": {
                "weights": self.weights,
                "arch": c.arch,
                "task": c.task,
                "input_size": c.input_size,
                "crop_scale": c.crop_scale,
                "tau1": c.tau1,
                "mask_sigma": c.mask_sigma,
                "tau2": self.threshold,
                "tau2_from": self.tau2_from,
                "checkpoint_tau2": c.tau2,
                "training_data": c.training_data,
                "sha256": c.sha256,
            },
            "device": str(self.device),
            "precision": self.precision,
            "batch_size": self.batch_size,
            "detect_every": self.detect_every if self.detect_every else f"auto ({DETECT_INTERVAL_S} s)",
            **({"reference": {k: v for k, v in self.reference.items() if k != "scores"}} if self.reference else {}),
        }

    @property
    def reference_scores(self) -> np.ndarray | None:
        """Scores of the known-genuine faces false-alarm rates are measured against: the user's reference
        footage (use_reference) or the weights' (`fakeseg eval --save-reference`)."""
        return None if self.reference is None else self.reference["scores"]

    def _autocast(self):
        if self.precision == "bf16" and self.device.type == "cpu":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        if self.precision in ("fp16", "bf16") and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16 if self.precision == "fp16" else torch.bfloat16)
        return contextlib.nullcontext()

    def predict_crops(self, crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """RGB uint8 crops at the model's input size -> (scores (N,), probability maps (N, S, S) float32)."""
        scores, maps = [], []
        for i in range(0, len(crops), self.batch_size):
            # uint8 to the device (4x less to copy than float), normalised there; the result is a view of
            # NHWC memory, i.e. already the channels_last layout the model runs in on cpu and cuda.
            batch = torch.from_numpy(np.stack(crops[i : i + self.batch_size])).to(self.device, non_blocking=True)
            x = normalize(batch, self.config.mean, self.config.std)
            if self.device.type not in ("cpu", "cuda"):
                x = x.contiguous()
            with self._autocast():
                score, prob = scores_and_maps(
                    self.model, x, self.config.tau1, self.threshold, self.config.mask_sigma
                )
            scores.append(score.float().cpu().numpy())
            maps.append(prob.float().cpu().numpy())
        if not scores:
            s = self.config.input_size
            return np.zeros(0, np.float32), np.zeros((0, s, s), np.float32)
        return np.concatenate(scores), np.concatenate(maps)

    def frames(
        self, source: str | Path
    ) -> tuple[bool, float, Iterator[tuple[int, float | None, np.ndarray]]]:
        """(is_video, fps, frames) of one file; raises BadInput when it cannot be read at all."""
        path = Path(source)
        if is_video(path):
            info = video_info(path)  # fails early on unreadable / zero-frame videos
            return True, info.fps, _prefetch(iter_frames(path))
        return False, 0.0, iter([(0, None, read_image(path))])

    def stream(
        self,
        source: str | Path,
        frames: Iterator | None = None,
        is_video: bool | None = None,
        fps: float = 0.0,
    ) -> Iterator[FrameResult]:
        """FrameResults of one image or video, in frame order. A video that breaks off part-way
        raises BadInput after the frames decoded before the break have been yielded."""
        if frames is None:
            is_video, fps, frames = self.frames(source)
        every = self.detect_every or max(1, round((fps or 25.0) * DETECT_INTERVAL_S))
        tracker = FaceTracker(detect_every=every if is_video else 1)
        self.last_tracker = tracker
        found = self._find_faces(frames, tracker)
        if is_video:
            # finding faces (HOG, which releases the GIL, optical flow, crops) runs in its own thread beside the
            # model and the writers: 6-15 % more frames/s on 2 cores, the same outputs (docs/benchmarks.md)
            found = _prefetch(found, name="fakeseg-faces")
        pending: list[tuple[int, float | None, np.ndarray, list]] = []
        n_crops = 0
        for index, time_s, rgb, faces in found:
            pending.append((index, time_s, rgb, faces))
            n_crops += len(faces)
            if n_crops >= self.batch_size or len(pending) >= self.batch_size:
                yield from self._flush(str(source), pending, bool(is_video))
                pending, n_crops = [], 0
        yield from self._flush(str(source), pending, bool(is_video))

    def _find_faces(self, frames: Iterator, tracker: FaceTracker) -> Iterator[tuple]:
        """(index, time_s, rgb, [(track id, box, detected, crop)]) per frame, crops at the model's input.
        Closes `frames` when it ends, early or not, so that a decoding thread behind it stops too."""
        size, scale = self.config.input_size, self.config.crop_scale
        try:
            for index, time_s, rgb in frames:
                faces = [
                    (track_id, box, detected, crop_face(rgb, box, size=size, scale=scale))
                    for track_id, box, detected in tracker.update(index, rgb)
                ]
                yield index, time_s, rgb, faces
        finally:
            if hasattr(frames, "close"):
                frames.close()

    def _flush(self, source: str, pending: list, is_video: bool) -> Iterator[FrameResult]:
        crops = [crop.image for _, _, _, faces in pending for *_, crop in faces]
        scores, maps = self.predict_crops(crops)
        k = 0
        for index, time_s, rgb, faces in pending:
            results = []
            for track_id, box, detected, crop in faces:
                score, prob = float(scores[k]), maps[k]
                results.append(
                    FaceResult(
                        face_id=track_id,
                        box=box,
                        crop_box=crop.box,
                        score=score,
                        fake=score >= self.threshold,
                        fake_area=float((prob > self.config.pixel_threshold).mean()),
                        mask=prob,
                        detected=detected,
                    )
                )
                k += 1
            yield FrameResult(
                source=source,
                frame=index,
                time_s=time_s,
                image=rgb,
                faces=results,
                threshold=self.threshold,
                is_video=is_video,
            )

    def __call__(self, sources: Iterable[str | Path] | str | Path) -> Iterator[FrameResult]:
        if isinstance(sources, (str, Path)):
            sources = [sources]
        for path in expand_sources(sources):
            yield from self.stream(path)


def detect(
    sources: Iterable[str | Path] | str | Path,
    weights: str | Path | None = None,
    arch: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    threshold: float | None = None,
    detect_every: int | None = None,
    precision: str = "auto",
    reference: Iterable[str | Path] | None = None,
    false_alarm: float = DEFAULT_FALSE_ALARM,
) -> Iterator[FrameResult]:
    """Stream FrameResults (the objects `fakeseg detect` writes) for images, folders, globs and videos.
    `reference`: known-genuine footage of the same source; tau2 is set from it (Predictor.use_reference).

    Raises BadInput for a source that cannot be read; use Predictor.stream per file to skip bad ones.

    >>> import fakeseg
    >>> results = fakeseg.detect("samples/demo.mp4")                          # doctest: +SKIP
    >>> next(results).faces[0].score                                           # doctest: +SKIP
    0.41
    """
    predictor = Predictor(
        weights=weights,
        arch=arch,
        device=device,
        batch_size=batch_size,
        threshold=threshold,
        detect_every=detect_every,
        precision=precision,
    )
    if reference is not None:
        predictor.use_reference(reference, false_alarm)
    yield from predictor(sources)


def _cuts(predictor: Predictor, is_video: bool) -> int | None:
    """Shot changes the tracker saw in the video just streamed (a face_id never crosses one)."""
    return predictor.last_tracker.cuts if is_video and predictor.last_tracker is not None else None


def detect_to_folder(
    paths: list[Path],
    out: str | Path,
    predictor: Predictor,
    overwrite: bool = False,
    mask_format: str = "npz",
    save_video: bool = True,
    on_source: Callable[[Path, int], None] | None = None,
    on_frame: Callable[[FrameResult], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    errors: Iterable[tuple[str, str]] = (),
    reference: list[Path] | None = None,
    false_alarm: float = DEFAULT_FALSE_ALARM,
    on_reference: Callable[[Path, int], None] | None = None,
) -> dict:
    """Run `predictor` over files and write the run folder (see docs/detect.md); return the summary.

    A file that cannot be read becomes a warning and an "error" entry; the others go on. `errors`
    are sources that already failed before (e.g. a missing path) and are recorded the same way.
    `reference`: known-genuine footage of the same source; tau2 is set from it first (Predictor.use_reference).
    Raises OutputError when `out` cannot be written or holds a run and `overwrite` is False, and
    BadInput when no source at all could be processed or the reference cannot be used (then nothing is
    left in `out`).
    """
    warn = on_warning or (lambda message: None)
    with RunWriter(out, overwrite=overwrite, mask_format=mask_format, save_video=save_video) as run:
        if reference:  # after RunWriter has checked `out`: no one waits for a reference to learn it is unwritable
            try:
                predictor.use_reference(reference, false_alarm, on_source=on_reference, on_frame=on_frame)
            except BadInput:
                run.discard()
                raise
            if (n := predictor.reference["n"]) < ADVISED_REFERENCE_FACES:
                warn(f"the reference holds {n} faces; with fewer than {ADVISED_REFERENCE_FACES} (about 4 s of "
                     "video) genuine footage is called fake more often than --false-alarm says (docs/detect.md)")
        for source, message in errors:
            run.add_error(source, message)
        for path in paths:
            try:
                is_vid, fps, frames = predictor.frames(path)
            except BadInput as e:
                warn(str(e))
                run.add_error(str(path), str(e))
                continue
            if on_source:
                on_source(path, video_info(path).n_frames if is_vid else 1)
            writer = run.start_source(path, is_vid, fps)
            try:
                for result in predictor.stream(path, frames, is_vid, fps):
                    writer.add(result)
                    if on_frame:
                        on_frame(result)
            except BadInput as e:  # broke off part-way: keep what was decoded, and say so
                warn(f"{e}; kept the {writer.frames} frames before the break")
                if writer.frames == 0:
                    writer.abort()
                    run.add_error(str(path), str(e))
                    continue
                writer.close(warning=str(e), cuts=_cuts(predictor, is_vid))
                continue
            except BaseException:
                writer.abort()
                raise
            writer.close(cuts=_cuts(predictor, is_vid))
        failed = [entry for entry in run.sources if entry["verdict"] == "error"]
        if len(failed) == len(run.sources):  # a folder of error entries would only look like a result
            run.discard()
            raise BadInput(f"no input could be processed ({len(failed)} failed, see the warnings)")
        return run.finish(predictor.info(), predictor.reference_scores, predictor.reference_rows)


__all__ = [
    "BadInput",
    "DEFAULT_FALSE_ALARM",
    "DETECT_INTERVAL_S",
    "MIN_REFERENCE_FACES",
    "PRECISIONS",
    "Predictor",
    "detect",
    "detect_to_folder",
    "resolve_precision",
    "split_reference",
]
