"""Full-frame face detection in a helper process, submitted ahead of the frames that need it.

dlib's HOG holds the GIL for its ~55 ms per 720p frame, so run in-process it stalls the rest of the
detect pipeline (the model, paste-back, overlays) every `detect_every` frames. In a helper process it
runs on the other core while this one works. Full detections fall on a fixed grid of frames
(FaceTracker: every `detect_every`-th frame), so the reader thread submits them as soon as it decodes
such a frame, up to 8 frames ahead of the model; the tracker collects the result and waits only when
it is not back yet. Off-grid detections (while no face is tracked) are submitted and collected at once.

The helper is `python -m fakeseg.detector_process`, fed through pipes (a JSON header line, then the
raw pixels of the detection copy; one JSON line back per frame): no multiprocessing start method, so
nothing re-imports the caller's script. It runs the same function on the same pixels
(`locate_faces` on `detection_copy`), so boxes are identical to detecting in-process; if the helper
cannot start or dies, this process detects by itself from then on.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np

from .data.faces import Face, detection_copy, locate_faces


class DetectorProcess:
    """`submit(key, rgb)` from any thread, `result(key)` -> [Face] (largest first).

    >>> with DetectorProcess() as det:                                    # doctest: +SKIP
    ...     det.submit(0, frame0); faces = det.result(0)
    """

    def __init__(self, max_side: int = 640):
        self.max_side = max_side
        self._cond = threading.Condition()
        self._pending: dict = {}  # key -> (small, scale), kept until its result is collected
        self._done: dict = {}  # key -> list of boxes, or None when the helper failed on it
        self._ids: dict = {}  # wire id -> key
        self._next_id = 0
        self._write_lock = threading.Lock()
        self.failed = False
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "fakeseg.detector_process"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            self._proc, self.failed = None, True
            return
        self._reader = threading.Thread(target=self._read, name="fakeseg-detector-results", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._proc.stdout:
            msg = json.loads(line)
            with self._cond:
                key = self._ids.pop(msg["id"])
                self._done[key] = msg.get("boxes")  # None: the helper failed on this frame
                self._cond.notify_all()
        with self._cond:  # EOF: the helper is gone; whatever is still pending is detected here
            self.failed = True
            self._cond.notify_all()

    def submit(self, key, rgb: np.ndarray) -> None:
        small, scale = detection_copy(rgb, self.max_side)
        with self._cond:
            self._pending[key] = (small, scale)
            if self.failed:
                return
            wire, self._next_id = self._next_id, self._next_id + 1
            self._ids[wire] = key
        header = json.dumps({"id": wire, "h": small.shape[0], "w": small.shape[1], "scale": scale})
        try:
            with self._write_lock:
                self._proc.stdin.write(header.encode() + b"\n" + small.tobytes())
                self._proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            with self._cond:
                self.failed = True
                self._cond.notify_all()

    def result(self, key) -> list[Face]:
        with self._cond:
            while key not in self._done and not self.failed:
                self._cond.wait()
            small, scale = self._pending.pop(key)
            boxes = self._done.pop(key, None)
        if boxes is None:  # the helper is gone or failed on this frame: detect here
            return locate_faces(small, scale)
        return [Face(tuple(b)) for b in boxes]

    def detect(self, key, rgb: np.ndarray) -> list[Face]:
        self.submit(key, rgb)
        return self.result(key)

    def close(self) -> None:
        if self._proc is None:
            return
        try:
            self._proc.stdin.close()
            self._proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()
        self._proc.stdout.close()

    def __enter__(self) -> DetectorProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _serve() -> None:  # pragma: no cover - runs in the helper process
    stdin, stdout = sys.stdin.buffer, sys.stdout
    while True:
        header = stdin.readline()
        if not header:
            return
        msg = json.loads(header)
        h, w = msg["h"], msg["w"]
        small = np.frombuffer(stdin.read(h * w * 3), np.uint8).reshape(h, w, 3)
        try:
            boxes = [list(f.box) for f in locate_faces(small, msg["scale"])]
        except Exception:  # the parent detects this frame itself
            boxes = None
        stdout.write(json.dumps({"id": msg["id"], "boxes": boxes}) + "\n")
        stdout.flush()


if __name__ == "__main__":
    _serve()
