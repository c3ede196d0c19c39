"""Is JPEG/resampling what keeps FN3 from learning the synthetic task? Train the same recipe on pools made
with and without the synthesiser's degradation step, same steps, and compare held-out image AUC / Fg-IoU.

    .venv/bin/python bench/ablate_compression.py --bank .gpu/facebank --out runs/ablate --minutes 6
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from fakeseg.data.facebank import FaceBank, split_by_identity
from fakeseg.data.records import write_manifest
from fakeseg.data.synth import FAMILIES
from fakeseg.data.synth.writer import PoolSpec, write_pool
from fakeseg.train import fit
from fakeseg.training.config import TrainConfig


def make_pool(bank_root: Path, identities, out: Path, n: int, seed: int, degrade: bool) -> Path:
    spec = PoolSpec(str(bank_root), tuple(identities), seed, 256, 0.35, FAMILIES, str(out), degrade=degrade)
    return write_manifest(write_pool(spec, n), out / "manifest.csv")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bank", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n-train", type=int, default=3000)
    p.add_argument("--n-val", type=int, default=400)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--arch", default="fn3")
    args = p.parse_args()
    train_bank, val_bank = split_by_identity(FaceBank.load(args.bank), 0.1, seed=0)
    results = {}
    for degrade in (False, True):
        name = "degraded" if degrade else "clean"
        root = args.out / name
        train = make_pool(args.bank, train_bank.identities(), root / "train", args.n_train, 0, degrade)
        val = make_pool(args.bank, val_bank.identities(), root / "val", args.n_val, 1, degrade)
        run = fit(TrainConfig(arch=args.arch, task="seg", data=[str(train)], val_data=[str(val)], steps=args.steps,
                              batch_size=32, epoch_size=args.n_train, workers=1, out=str(root / "run")))
        history = json.loads((run / "metrics.json").read_text())
        results[name] = history[-1] if isinstance(history, list) else history
        print(name, json.dumps(results[name]), flush=True)
    (args.out / "ablation.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
