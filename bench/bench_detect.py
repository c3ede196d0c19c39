"""Benchmark `fakeseg detect` on one video: where the time goes, against a FaceForensics++-style reference.

    .venv/bin/python bench/bench_detect.py --video ../shared/data/real_videos/ghost__nggyup.mp4 \
        --weights /tmp/fn3-random [--long-minutes 10]

(a) decoding alone (fakeseg.data.sources.iter_frames), frames/s
(b) the model alone on face crops of that video (Predictor.predict_crops, batched, --precision: bf16 on
    this CPU by default, or int8), crops/s, and how far its outputs move from fp32
(c) `fakeseg detect` end to end (a subprocess: start-up, model load, every output written), frames/s
(d) a reference built like FaceForensics++'s detect_from_video.py: dlib HOG on every full frame
    (upsample 1), the largest face cropped x1.3, one face per forward pass, batch 1, fp32, the box and score
    drawn and every frame written to an MJPG video (its cv2.imshow / waitKey(33) preview is left out: it needs
    a display and would cap the reference at 30 frames/s)
and the peak RSS of (c). --long-minutes N loops the video into an N-minute file in /tmp and runs (c) on
it too, to show that memory does not grow with video length, then times (d), (a) and (b) again: `long_vs_d`
divides the long run's frames/s by the mean of the two (d) figures and `long_vs_min_ab` by min(mean (a), mean
(b)), so that a machine whose speed drifts during the run (a shared one does) moves both sides alike. The
figures are printed as JSON (and written to --json).

The whole script runs with `fakeseg._memory.reuse_freed_memory()`, as `fakeseg detect` does (since stop 27):
without it (b) spends 10-15 % of its time in page faults that the CLI no longer has.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def bench_decode(video: Path) -> tuple[int, float]:
    from fakeseg.data.sources import iter_frames

    t = time.perf_counter()
    n = sum(1 for _ in iter_frames(video))
    return n, time.perf_counter() - t


def bench_model(
    video: Path, weights: str, n_crops: int, precision: str = "auto", compare_fp32: bool = True
) -> tuple[int, float, dict]:
    """(crops, seconds, how far the outputs move from fp32: {} unless `compare_fp32`)."""
    from fakeseg.data.faces import crop_face, detect_faces
    from fakeseg.data.sources import iter_frames
    from fakeseg.predict import Predictor

    predictor = Predictor(weights, precision=precision)
    crops = []
    for _, _, rgb in iter_frames(video, every=5):
        faces = detect_faces(rgb)
        if faces:
            crops.append(crop_face(rgb, faces[0].box, size=predictor.config.input_size).image)
        if len(crops) >= 32:
            break
    crops = (crops * (n_crops // len(crops) + 1))[:n_crops]
    predictor.predict_crops(crops[: predictor.batch_size])  # warm-up (oneDNN picks kernels on first call)
    t = time.perf_counter()
    s_auto, m_auto = predictor.predict_crops(crops)
    dt = time.perf_counter() - t
    if not compare_fp32:
        return n_crops, dt, {}
    fp32 = Predictor(weights, precision="fp32")
    s32, m32 = fp32.predict_crops(crops[:64])
    accuracy = {
        "precision": predictor.precision,
        "max_abs_score_diff": float(np.abs(s32 - s_auto[:64]).max()),
        "max_abs_mask_diff": float(np.abs(m32 - m_auto[:64]).max()),
        "mean_abs_mask_diff": float(np.abs(m32 - m_auto[:64]).mean()),
        "fake_pixel_flips": float(((m32 >= 0.5) != (m_auto[:64] >= 0.5)).mean()),
    }
    return n_crops, dt, accuracy


def bench_reference(video: Path, weights: str, n_frames: int) -> tuple[int, float]:
    """FF++ detect_from_video: dlib on every grey full frame, get_boundingbox(scale 1.3), batch 1, fp32, the
    box and score drawn on the frame, every frame written to an MJPG .avi (as its test_full_image_network)."""
    import dlib

    from fakeseg.data.transforms import to_tensor
    from fakeseg.models import load_model, scores_and_maps

    model, cfg = load_model(weights, "cpu")
    detector = dlib.get_frontal_face_detector()
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    writer = None
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        while n < n_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            n += 1
            h, w = bgr.shape[:2]
            if writer is None:
                writer = cv2.VideoWriter(str(Path(tmp) / "reference.avi"), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
            gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
            faces = detector(gray, 1)
            if faces:
                face = max(faces, key=lambda f: f.width() * f.height())
                size = int(max(face.width(), face.height()) * 1.3)
                cx, cy = (face.left() + face.right()) // 2, (face.top() + face.bottom()) // 2
                x0, y0 = max(cx - size // 2, 0), max(cy - size // 2, 0)
                crop = cv2.cvtColor(bgr[y0 : min(y0 + size, h), x0 : min(x0 + size, w)], cv2.COLOR_BGR2RGB)
                crop = cv2.resize(crop, (cfg.input_size, cfg.input_size))
                with torch.no_grad():
                    score, _ = scores_and_maps(model, to_tensor([crop], cfg.mean, cfg.std))
                fake = float(score[0]) >= cfg.tau2
                color = (0, 0, 255) if fake else (0, 255, 0)
                cv2.putText(bgr, f"{float(score[0]):.2f}=>{'fake' if fake else 'real'}",
                            (face.left(), face.bottom() + 30), cv2.FONT_HERSHEY_SIMPLEX, 1, color, 2, 2)
                cv2.rectangle(bgr, (face.left(), face.top()), (face.right(), face.bottom()), color, 2)
            writer.write(bgr)
        if writer is not None:
            writer.release()
        dt = time.perf_counter() - t
    cap.release()
    return n, dt


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, from /proc."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if int(entry.name) == pid or ppid == pid:
                rss = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("VmRSS"))
                total += int(rss.split()[1])
        except (OSError, ValueError, IndexError, StopIteration):
            continue
    return total / 1024


def bench_cli(video: Path, weights: str, out: Path, precision: str = "auto") -> tuple[float, float, dict]:
    """Run `fakeseg detect` in a child process; (wall seconds, peak RSS in MB, summary). The peak is the
    larger of the process's own peak and the sampled sum over it and any child process."""
    cmd = [
        sys.executable,
        "-m",
        "fakeseg",
        "detect",
        str(video),
        "--weights",
        weights,
        "--out",
        str(out),
        "--overwrite",
        "--json",
        "--precision",
        precision,
    ]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO)
    tree_peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.25):
            tree_peak[0] = max(tree_peak[0], _tree_rss_mb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout = proc.stdout.read()
    done.set()
    sampler.join()
    _, status, usage = os.wait4(proc.pid, 0)
    dt = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"fakeseg detect failed ({proc.returncode}): {' '.join(cmd)}")
    return dt, max(usage.ru_maxrss / 1024, tree_peak[0]), json.loads(stdout)


def loop_video(video: Path, minutes: float, path: Path) -> Path:
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr)
    cap.release()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, frames[0].shape[1::-1])
    total = int(minutes * 60 * fps)
    for i in range(total):  # forwards then backwards, so the loop has no jump cut
        k = i % (2 * len(frames) - 2)
        writer.write(frames[k if k < len(frames) else 2 * len(frames) - 2 - k])
    writer.release()
    return path


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(
            line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")
        )
    except (OSError, StopIteration):
        return platform.processor()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=REPO.parent / "shared/data/real_videos/ghost__nggyup.mp4")
    ap.add_argument("--weights", required=True, help="checkpoint (a random-init fn3 is fine: speed only)")
    ap.add_argument("--crops", type=int, default=256, help="crops timed in (b)")
    ap.add_argument("--ref-frames", type=int, default=40, help="frames timed in (d) (it is slow)")
    ap.add_argument("--long-minutes", type=float, default=0, help="also run (c) on a looped N-minute video")
    ap.add_argument(
        "--precision",
        default="auto",
        help="detect --precision for (b) and (c): auto (bf16 on a CPU with native bf16, else fp32) or int8",
    )
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args()

    from fakeseg._memory import reuse_freed_memory
    from fakeseg.data.sources import video_info
    from fakeseg.device import cpu_has_native_bf16
    from fakeseg.models.int8 import activation_levels

    reuse_freed_memory()  # (a), (b) and (d) in this process run like (c), the CLI, does
    info = video_info(args.video)
    res = {
        "video": str(args.video),
        "resolution": f"{info.width}x{info.height}",
        "fps": info.fps,
        "cpu": cpu_model(),
        # "AMD EPYC" names three machine kinds here; what decides the speed is what the CPU runs natively
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": cpu_has_native_bf16(),
        "int8_activation_levels": activation_levels(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_before": os.getloadavg()[0],
    }
    n, dt = bench_decode(args.video)
    res["a_decode_fps"] = n / dt
    n, dt, res["accuracy_vs_fp32"] = bench_model(args.video, args.weights, args.crops, args.precision)
    res["b_model_crops_per_s"] = n / dt
    with tempfile.TemporaryDirectory() as tmp:
        dt, rss, summary = bench_cli(args.video, args.weights, Path(tmp) / "run", args.precision)
        frames = summary["counts"]["frames"]
        res.update(c_detect_fps=frames / dt, c_frames=frames, c_seconds=dt, c_peak_rss_mb=rss)
        n, dt = bench_reference(args.video, args.weights, args.ref_frames)
        res["d_reference_fps"] = n / dt
        if args.long_minutes:
            long_video = loop_video(args.video, args.long_minutes, Path(tmp) / "long.mp4")
            dt, rss, summary = bench_cli(long_video, args.weights, Path(tmp) / "long_run", args.precision)
            res.update(
                long_minutes=args.long_minutes,
                long_frames=summary["counts"]["frames"],
                long_detect_fps=summary["counts"]["frames"] / dt,
                long_peak_rss_mb=rss,
            )
            # (d) again, after the long run: on a shared machine the speed drifts over the ~10 minutes between
            # the two, and (c) / (d) of figures taken that far apart would measure the drift as well
            n, dt = bench_reference(args.video, args.weights, args.ref_frames)
            res["d_reference_fps_after"] = n / dt
            d_mean = (res["d_reference_fps"] + res["d_reference_fps_after"]) / 2
            res["long_vs_d"] = res["long_detect_fps"] / d_mean
            # (a) and (b) again for the same reason: (b) alone has moved from 130 to 225 crops/s between runs here
            n, dt = bench_decode(args.video)
            res["a_decode_fps_after"] = n / dt
            n, dt, _ = bench_model(args.video, args.weights, args.crops, args.precision, compare_fp32=False)
            res["b_model_crops_per_s_after"] = n / dt
    res["load_after"] = os.getloadavg()[0]
    min_ab = min(res["a_decode_fps"], res["b_model_crops_per_s"])
    res["c_vs_min_ab"] = res["c_detect_fps"] / min_ab
    if args.long_minutes:
        a_mean = (res["a_decode_fps"] + res["a_decode_fps_after"]) / 2
        b_mean = (res["b_model_crops_per_s"] + res["b_model_crops_per_s_after"]) / 2
        res["long_vs_min_ab"] = res["long_detect_fps"] / min(a_mean, b_mean)
    res["c_vs_d"] = res["c_detect_fps"] / res["d_reference_fps"]
    print(json.dumps(res, indent=2))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
