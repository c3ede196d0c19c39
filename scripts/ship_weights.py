"""Copy a trained checkpoint into weights/<tag>/ with the provenance its model card and config need.

    .venv/bin/python scripts/ship_weights.py RUN/last fn3.synth --run-dir RUN [--default | --preferred]

The tensors are copied byte for byte (the sha256 in config.json stays valid); config.json gains the
training data description, a research-only license, the run's training recipe and, with --default, the
flag that makes `fakeseg detect` pick these weights when no --weights is given. A run started with `--init
OTHER_RUN/last` is followed back through its own run folder, so the recipe lists every stage, first to last.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from fakeseg._fs import atomic_write
from fakeseg.models import load_model
from fakeseg.models._weights import CONFIG_NAME, TENSORS_NAME, WeightsError

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
# from each stage's train_config.json; "steps" is the step count the stage trained to
RECIPE_KEYS = ("steps", "lr", "batch_size", "epoch_size", "augment", "amp", "pos_weight", "loss", "seed", "init")
LICENSE = ("research-only, non-commercial: trained on forgeries synthesised from research-only face photos and "
           "videos (UTKFace, CelebA-HQ, HDTF and others; see ../shared/data/README.md); not for redistribution "
           "or production use")


def recipe_stages(run_dir: Path, checkpoint: Path) -> list[dict]:
    """The training recipe of every stage that led to `checkpoint` (written by the run in run_dir), first to last.

    "steps" is the step the stage's checkpoint was saved at (a run stopped by --max-minutes trains fewer than it
    asked for). A stage whose `init` is another run's checkpoint folder (RUN/last, RUN/best) is preceded by that
    run's stages, and its `init` becomes "stage N" (a local path means nothing to whoever downloads the
    weights); a shipped tag or hf:// spec is kept as it is."""
    cfg = json.loads((run_dir / "train_config.json").read_text())
    stage = {k: cfg.get(k) for k in RECIPE_KEYS}
    stage["steps"] = json.loads((checkpoint / CONFIG_NAME).read_text()).get("extra", {}).get("step", cfg.get("steps"))
    earlier: list[dict] = []
    init = Path(cfg["init"]) if cfg.get("init") else None
    if init is not None and (init.parent / "train_config.json").is_file() and (init / CONFIG_NAME).is_file():
        earlier = recipe_stages(init.parent, init)
        stage["init"] = f"stage {len(earlier)} ({init.name})"
    return [*earlier, stage]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("tag")
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--default", action="store_true", help="fakeseg detect's default when no --weights is given")
    p.add_argument("--preferred", action="store_true",
                   help="the best shipped weights of their arch: what `fakeseg detect --arch ARCH` picks")
    p.add_argument("--trained-on", default="1x NVIDIA H100 shared by 4 runs, scripts/train_shipped.sh",
                   help="the machine and script, for the card")
    p.add_argument("--data", default="forgeries synthesised by `fakeseg synth --bank` (seed 0, 70,000 crops, "
                   "train identities of a 1,250-face / 845-identity bank built from ../shared/data/real_faces and "
                   "real_videos; never ../shared/data/forgeries)")
    args = p.parse_args()
    try:
        load_model(args.checkpoint)  # refuse to ship anything that does not load and verify
    except WeightsError as e:
        raise SystemExit(f"error: {e}") from None
    run_config = args.run_dir / "train_config.json"
    if not run_config.is_file():
        raise SystemExit(f"error: {run_config}: no such file (--run-dir is the training run's folder)")
    cfg = json.loads((args.checkpoint / CONFIG_NAME).read_text())
    out = WEIGHTS / args.tag
    out.mkdir(parents=True, exist_ok=True)
    # tensors first, config last and atomically: a folder without config.json is not a checkpoint
    atomic_write(out / TENSORS_NAME, (args.checkpoint / TENSORS_NAME).read_bytes())
    cfg["training_data"] = args.data
    cfg["license"] = LICENSE
    cfg["extra"] = {**cfg.get("extra", {}), "default": args.default,
                    "preferred": args.preferred or args.default, "tag": args.tag,
                    "recipe": recipe_stages(args.run_dir, args.checkpoint),
                    "trained_on": args.trained_on}
    cfg["extra"].pop("run", None)
    atomic_write(out / CONFIG_NAME, json.dumps(cfg, indent=2) + "\n")
    load_model(out)
    # one default and one preferred tag per arch (tests/test_weights.py): the new one takes the flags over
    for other in sorted(WEIGHTS.glob(f"*/{CONFIG_NAME}")):
        if other.parent == out:
            continue
        previous = json.loads(other.read_text())
        extra = previous.get("extra", {})
        dropped = [k for k in ("default", "preferred") if extra.get(k) and cfg["extra"][k]
                   and (k == "default" or previous.get("arch") == cfg["arch"])]
        if dropped:
            extra.update({k: False for k in dropped})
            atomic_write(other, json.dumps(previous, indent=2) + "\n")
            print(f"{other.parent.name}: no longer {' / '.join(dropped)}")
    print(f"shipped {args.checkpoint} as {out}")


if __name__ == "__main__":
    main()
