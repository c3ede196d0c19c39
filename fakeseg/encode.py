"""The annotated MP4 of `fakeseg detect`, encoded in a background thread.

Encoding a 720p frame (mp4v) costs ~3 ms of one core, as much as the model's share of a frame in int8.
OpenCV releases the GIL while it encodes, so a writer thread overlaps it with detection and inference;
a small bounded queue keeps memory flat (the producer waits when the encoder falls behind).
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import cv2
import numpy as np

_QUEUE_FRAMES = 8
_DONE = object()


class VideoEncoder:
    """`write(rgb)` frames in order; `close()` waits for the last one; `abort()` drops everything.

    The first frame fixes the size. Errors of the encoder thread are raised by the next write/close.
    """

    def __init__(self, path: str | Path, fps: float, fourcc: str = "mp4v"):
        self.path, self.fps, self.fourcc = Path(path), float(fps), fourcc
        self._queue: queue.Queue = queue.Queue(maxsize=_QUEUE_FRAMES)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._cancel = threading.Event()

    def _open(self, size_wh: tuple[int, int]) -> cv2.VideoWriter:
        writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, size_wh)
        if not writer.isOpened():
            raise OSError(f"{self.path.parent}: cannot write an {self.fourcc} video there")
        return writer

    def _run(self, writer: cv2.VideoWriter) -> None:
        try:
            while True:
                frame = self._queue.get()
                if frame is _DONE or self._cancel.is_set():
                    return
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        except BaseException as e:  # raised in the producer's thread by the next write/close
            self._error = e
        finally:
            writer.release()

    def write(self, rgb: np.ndarray) -> None:
        if self._error is not None:
            raise self._error
        if self._thread is None:
            writer = self._open((rgb.shape[1], rgb.shape[0]))  # fails here, in the caller, if unwritable
            self._thread = threading.Thread(target=self._run, args=(writer,), name="fakeseg-encoder", daemon=True)
            self._thread.start()
        if not self._put(rgb) and self._error is not None:
            raise self._error

    def close(self) -> None:
        """Flush and finish the file (nothing to do when no frame was written)."""
        if self._thread is None:
            return
        self._stop()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Stop without finishing; the caller removes the partial file."""
        self._cancel.set()
        if self._thread is not None:
            self._stop()

    def _put(self, item) -> bool:
        """Queue `item` for the encoder thread; False when the thread has ended (error or cancel)."""
        while self._thread.is_alive():
            try:
                self._queue.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def _stop(self) -> None:
        self._put(_DONE)
        self._thread.join()

    @property
    def started(self) -> bool:
        return self._thread is not None
