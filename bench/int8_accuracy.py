"""What `--precision int8` (and bf16) costs in accuracy: the same crops through fp32, bf16 and int8.

    .venv/bin/python bench/int8_accuracy.py --weights fn3.synth vgg5.synth \\
        --data ../shared/data/forgeries/eval.csv .gpu/synth_val/manifest.csv

Per weights and data: max |score difference| to fp32, verdicts (score >= tau2) that change, pixels that
change side of the checkpoint's pixel threshold (tau1 of a seg checkpoint: 0.5 unless calibrated), and
image AUC in each precision. eval.csv rows are whole frames (faces cropped the
detect way); a pool of crops (synth val) is read as crops. The int8 ranges come from the weights' config
(calibrated on held-out synthetic crops, never on eval.csv).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from fakeseg.evaluation.crops import iter_samples
from fakeseg.evaluation.inputs import batches, plan_data
from fakeseg.metrics import roc_auc
from fakeseg.predict import Predictor


def run(weights: str, data: str, limit: int) -> dict:
    predictors = {p: Predictor(weights, precision=p) for p in ("fp32", "bf16", "int8")}
    cfg = predictors["fp32"].config
    plan = plan_data(data)
    scores = {p: [] for p in predictors}
    maps = {p: [] for p in predictors}
    labels: list[int] = []
    for batch in batches(iter_samples(plan.items, cfg.input_size, cfg.crop_scale, plan.face_crop, False), 16):
        crops = [s.image for s in batch]
        labels += [s.record.label for s in batch]
        for p, predictor in predictors.items():
            s, m = predictor.predict_crops(crops)
            scores[p].append(s)
            maps[p].append(m > cfg.pixel_threshold)  # "above", as eval's tally and detect count
        if len(labels) >= limit:
            break
    y = np.asarray(labels)
    tau2 = predictors["fp32"].threshold
    s32, m32 = np.concatenate(scores["fp32"]), np.concatenate(maps["fp32"])
    out = {"weights": weights, "data": data, "images": len(y), "fake": int(y.sum()), "tau2": tau2,
           "auc_fp32": roc_auc(s32, y)}
    for p in ("bf16", "int8"):
        s, m = np.concatenate(scores[p]), np.concatenate(maps[p])
        out[p] = {
            "max_abs_score_diff": float(np.abs(s - s32).max()),
            "verdict_changes": int(((s >= tau2) != (s32 >= tau2)).sum()),
            "pixel_flips": float((m != m32).mean()),
            "auc": roc_auc(s, y),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", nargs="+", default=["fn3.synth"])
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--limit", type=int, default=600, help="images per data set")
    args = ap.parse_args()
    rows = [run(w, d, args.limit) for w in args.weights for d in args.data]
    print(json.dumps(rows, indent=1))
    print("\n| weights | data (fake/all) | precision | max abs score diff | verdicts changed | pixels flipped "
          "| AUC (fp32) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        for p in ("bf16", "int8"):
            q = r[p]
            print(f"| {r['weights']} | {r['data']} ({r['fake']}/{r['images']}) | {p} | {q['max_abs_score_diff']:.1e} | "
                  f"{q['verdict_changes']} | {q['pixel_flips'] * 100:.3f} % | {q['auc']:.3f} ({r['auc_fp32']:.3f}) |")


if __name__ == "__main__":
    main()
