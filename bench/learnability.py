"""What keeps a small FCN from learning the synthetic task: the data (is there evidence inside the region?),
the degradation, or the network (receptive field)? One recipe per run, same step budget, own held-out val.

    .venv/bin/python bench/learnability.py --bank .gpu/facebank --name rerender_clean --families rerender --clean
    .venv/bin/python bench/learnability.py --bank .gpu/facebank --name all_degraded
    .venv/bin/python bench/learnability.py --bank .gpu/facebank --name rerender_curriculum --families rerender \
        --clean --stages 3:250,1:250        # exaggerated forgeries first (Synthesizer exaggerate=3)

Pools go to runs/learnability/NAME/{train,val} (val from the 10 % of identities held out of the bank, seed 1)
and are reused on a rerun (an exaggerated pool: NAME/train_xK); the run folder is runs/learnability/NAME/run,
or NAME/run<i>_x<K> per --stages stage (resumable with the same command).
Prints the last validation row (image AUC, Fg-IoU, ...) as JSON and appends it to runs/learnability/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from fakeseg.data.facebank import FaceBank, FaceBankError, split_by_identity
from fakeseg.data.records import write_manifest
from fakeseg.data.synth import FAMILIES
from fakeseg.data.synth.families import check_finishes
from fakeseg.data.synth.generator import DEGRADATIONS
from fakeseg.data.synth.writer import PoolSpec, write_pool
from fakeseg.train import fit, resume_config
from fakeseg.training.config import TrainConfig

ROOT = Path("runs/learnability")


def make_pool(bank_root: Path, identities, out: Path, n: int, seed: int, families, clean: bool,
              genuine_fraction: float, exaggerate: float = 1.0, workers: int = 2, **options) -> Path:
    """A pool of `n` samples (reused when its manifest exists), written by the synthesiser's own pool writer;
    `options` are PoolSpec's synthesis switches (captured, finishes, rendered, degradation)."""
    manifest = out / "manifest.csv"
    if manifest.exists():
        return manifest
    spec = PoolSpec(str(bank_root), tuple(identities), seed, 256, genuine_fraction, tuple(families), str(out),
                    degrade=not clean, exaggerate=exaggerate, **options)
    return write_manifest(write_pool(spec, n, workers), manifest)


def parse_stages(text: str) -> list[tuple[float, int]]:
    """"3:250,1:250" -> [(3.0, 250), (1.0, 250)]: (exaggeration of the training pool, steps)."""
    stages = [(float(k), int(n)) for k, n in (part.split(":") for part in text.split(","))]
    if stages[-1][0] != 1.0:
        raise SystemExit("--stages: the last stage must train at exaggeration 1 (the task itself)")
    return stages


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bank", type=Path, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--clean", action="store_true", help="no degradation (resampling, noise, JPEG)")
    p.add_argument("--captured", action="store_true",
                   help="targets carry a source frame's noise and codec texture before the manipulation")
    p.add_argument("--finishes", help="comma-separated looks a re-rendered region may get (default: all of "
                   "families.FINISHES), e.g. smooth,none: generator output without texture put back")
    p.add_argument("--degradation", default="upload", choices=sorted(DEGRADATIONS),
                   help="the degradation's (and --captured's) ranges: upload (the first) or video (calibrated)")
    p.add_argument("--rendered", action="store_true",
                   help="every family re-renders what it changes (swaps and reenactments too)")
    p.add_argument("--arch", default="fn3")
    p.add_argument("--task", default="seg", choices=["seg", "cls"],
                   help="seg: per-pixel BCE (Eq. 5); cls: per-image BCE (Eq. 1), masks by CAM")
    p.add_argument("--loss", default="bce", choices=["bce", "bce+dice"], help="seg loss (docs/training.md)")
    p.add_argument("--init", help="start from these weights (fine-tuning) instead of random ones")
    p.add_argument("--n-train", type=int, default=8000)
    p.add_argument("--n-val", type=int, default=600)
    p.add_argument("--genuine-fraction", type=float, default=0.5)
    p.add_argument("--steps", type=int, default=1000, help="steps of a single stage (without --stages)")
    p.add_argument("--stages", help="curriculum, e.g. 3:250,1:250: train on a pool exaggerated 3x for 250 steps, "
                   "then from there on the real task; validation is always on the real task (exaggeration 1)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (the paper's: 1e-3)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--input-size", type=int, default=256, help="network input (crops are resized to it)")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="train in fp32 (default: bf16 autocast)")
    args = p.parse_args()
    families = tuple(args.families.split(","))
    try:
        finishes = check_finishes(args.finishes.split(",")) if args.finishes else None
    except ValueError as e:
        p.error(f"--finishes: {e}")
    options = dict(captured=args.captured, finishes=finishes, rendered=args.rendered, degradation=args.degradation)
    stages = parse_stages(args.stages) if args.stages else [(1.0, args.steps)]
    root = ROOT / args.name
    try:
        bank = FaceBank.load(args.bank)
    except FaceBankError as e:
        raise SystemExit(f"error: {e}") from None
    train_bank, val_bank = split_by_identity(bank, 0.1, seed=0)
    t = time.time()
    val = make_pool(args.bank, val_bank.identities(), root / "val", args.n_val, 1, families, args.clean,
                    args.genuine_fraction, **options)
    pools = {k: make_pool(args.bank, train_bank.identities(), root / ("train" if k == 1 else f"train_x{k:g}"),
                          args.n_train, 0, families, args.clean, args.genuine_fraction, exaggerate=k,
                          **options)
             for k in dict(stages)}
    pools_s = time.time() - t
    t, init = time.time(), args.init
    for i, (k, steps) in enumerate(stages):
        run = root / ("run" if len(stages) == 1 else f"run{i}_x{k:g}")
        config = TrainConfig(arch=args.arch, task=args.task, data=[str(pools[k])], val_data=[str(val)], steps=steps,
                             batch_size=args.batch_size, lr=args.lr, epoch_size=args.n_train // 2, workers=args.workers,
                             input_size=args.input_size, amp=args.amp, init=init, loss=args.loss,
                             out=str(run))
        if (run / "last").exists():
            fit(resume_config(run, steps=steps), resume=True)
        else:
            fit(config)
        init = str(run / "last")
    history = json.loads((run / "metrics.json").read_text())
    last = history[-1] if isinstance(history, list) else history
    row = {"name": args.name, "arch": args.arch, "task": args.task, "loss": args.loss, "init": args.init,
           "input_size": args.input_size, "amp": args.amp,
           "families": args.families, "clean": args.clean, "captured": args.captured,
           "finishes": args.finishes, "rendered": args.rendered, "degradation": args.degradation,
           "stages": args.stages or f"1:{args.steps}",
           "steps": sum(n for _, n in stages), "batch_size": args.batch_size, "lr": args.lr, "pools_s": round(pools_s),
           "train_s": round(time.time() - t),
           **{k: v for k, v in last.items() if k.startswith("val_")}}
    print(json.dumps(row), flush=True)
    with open(ROOT / "results.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
