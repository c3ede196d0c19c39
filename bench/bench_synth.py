"""Speed of `Synthesizer.sample` per core, what it draws, and the contact sheet in docs/synth.md.

    .venv/bin/python bench/bench_synth.py --bank .gpu/facebank --n 300
    .venv/bin/python bench/bench_synth.py --bank .gpu/facebank \
        --contact-sheet docs/img/synth_contact_sheet.jpg

One process, cv2 limited to one thread: the figure is ms per sample per core (workers scale it).
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import time
from pathlib import Path

import cv2
import numpy as np

from fakeseg.data.facebank import FaceBank
from fakeseg.data.synth import Synthesizer


def contact_sheet(
    synth: Synthesizer, indices: list[int], path: Path, tile: int = 160, per_row: int = 4
) -> None:
    """image | mask | overlay per sample, `per_row` samples per row, labelled with method and index."""
    cells = []
    for i in indices:
        s = synth.sample(i)
        img = cv2.resize(s.image, (tile, tile), interpolation=cv2.INTER_AREA)
        m = cv2.resize(s.mask * 255, (tile, tile), interpolation=cv2.INTER_NEAREST)
        over = img.copy()
        red = m > 0
        over[red] = (0.5 * over[red] + 0.5 * np.array([255, 0, 0])).astype(np.uint8)
        contours, _ = cv2.findContours((m > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(over, contours, -1, (255, 255, 0), 1)
        cell = np.hstack([img, np.repeat(m[..., None], 3, 2), over])
        detail = s.meta.get("part") or s.meta.get("region") or ""
        cv2.putText(
            cell,
            f"#{i} {s.method} {detail}",
            (4, 14),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.42,
            (255, 255, 0),
            1,
            cv2.LINE_AA,
        )
        cells.append(np.pad(cell, ((2, 2), (2, 2), (0, 0))))
    while len(cells) % per_row:
        cells.append(np.zeros_like(cells[0]))
    sheet = np.vstack([np.hstack(cells[r : r + per_row]) for r in range(0, len(cells), per_row)])
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bank", type=Path, required=True)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--contact-sheet", type=Path)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    synth = Synthesizer(FaceBank.load(args.bank), seed=args.seed, size=args.size)
    if args.contact_sheet:
        rng = np.random.default_rng(args.seed)
        contact_sheet(synth, sorted(rng.choice(100_000, 24, replace=False).tolist()), args.contact_sheet)
        print(f"wrote {args.contact_sheet}")
        return
    synth.sample(0)  # warm the image cache's first entry and numpy's lazy imports
    methods, rejected, attempts, per_method = collections.Counter(), collections.Counter(), [], {}
    t_all = time.perf_counter()
    for i in range(args.n):
        t = time.perf_counter()
        s = synth.sample(i)
        dt = time.perf_counter() - t
        methods[s.method] += 1
        per_method.setdefault(s.method, []).append(dt)
        if "rejected" in s.meta:
            rejected[s.meta["rejected"]] += 1
        if "attempts" in s.meta:
            attempts.append(s.meta["attempts"])
    total = time.perf_counter() - t_all
    print(
        f"machine: {platform.machine()} x{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"cv2 {cv2.__version__}"
    )
    print(
        f"{args.n} samples at {args.size} px: {1000 * total / args.n:.1f} ms/sample/core "
        f"({args.n / total:.0f} samples/s/core)"
    )
    for m, ts in sorted(per_method.items()):
        print(
            f"  {m:10s} n={len(ts):4d}  mean {1000 * np.mean(ts):5.1f} ms  "
            f"p95 {1000 * np.percentile(ts, 95):5.1f} ms"
        )
    print(
        f"rejected after max tries (became genuine): {dict(rejected)}; "
        f"mean attempts of accepted fakes {np.mean(attempts):.2f}"
    )


if __name__ == "__main__":
    main()
