"""Does the face detector let other Python threads run while it scans? (It decides how detect is threaded.)

    .venv/bin/python bench/hog_gil.py [--video samples/demo.mp4] [--scans 10]

A thread counts in a pure-Python loop, first while the main thread sleeps, then while it runs `--scans` HOG
scans (detect_faces on the first frame of --video, as the tracker's full detections run it). If dlib held the
GIL during a scan, the counter would stall for the scan's whole duration: its rate would drop to near zero on
any number of cores. If dlib releases it, the rate stays near its idle value when a second core is free.
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

from fakeseg.data.faces import detect_faces
from fakeseg.data.sources import iter_frames

REPO = Path(__file__).resolve().parents[1]


def count_rate(work) -> tuple[float, float]:
    """(counter increments per second in a second thread while `work()` runs, seconds `work()` took)."""
    stop, counts = threading.Event(), []

    def counter() -> None:
        n = 0
        while not stop.is_set():
            n += 1
        counts.append(n)

    thread = threading.Thread(target=counter)
    thread.start()
    t = time.perf_counter()
    work()
    dt = time.perf_counter() - t
    stop.set()
    thread.join()
    return counts[0] / dt, dt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=REPO / "samples" / "demo.mp4")
    parser.add_argument("--scans", type=int, default=10)
    args = parser.parse_args()

    _, _, rgb = next(iter(iter_frames(args.video)))
    detect_faces(rgb)  # load the detector outside the timing
    idle_rate, _ = count_rate(lambda: time.sleep(1.0))
    scan_rate, dt = count_rate(lambda: [detect_faces(rgb) for _ in range(args.scans)])
    print(json.dumps({
        "frame": list(rgb.shape),
        "cores": os.cpu_count(),
        "ms_per_scan": round(1000 * dt / args.scans, 1),
        "counter_rate_idle": round(idle_rate),
        "counter_rate_during_hog": round(scan_rate),
        "ratio": round(scan_rate / idle_rate, 3),
        "verdict": "releases the GIL" if scan_rate > 0.5 * idle_rate else "holds the GIL",
    }, indent=1))


if __name__ == "__main__":
    main()
