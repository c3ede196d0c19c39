"""What a detect verdict's false-alarm rate tells apart: the weights' reference (known-genuine faces stored by
`fakeseg eval --save-reference`) against the scores of other evaluations, from their scores.csv.

    .venv/bin/python bench/verdict_strength.py --weights vgg5.rendered_video \
        --scores held-out_genuine_video=E1/scores.csv ghost_frames=E2/scores.csv ...

Per set and label (fake / genuine): how many images, their median false-alarm rate, and the share at or
below 1 %, 5 % and 20 %: a fake at 1 % scores above all but 1 % of the reference's genuine faces. No set
given here should hold a face of the reference's identities (the shipped reference is training identities'
genuine video; evaluate held-out identities and the forgery videos).
"""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np

from fakeseg.metrics import false_alarm_rate
from fakeseg.models import load_model

LEVELS = (0.01, 0.05, 0.20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True, help="weights whose config holds extra.reference")
    ap.add_argument("--scores", nargs="+", required=True, metavar="NAME=SCORES.CSV")
    ap.add_argument("--json", help="also write the table here")
    args = ap.parse_args()
    _, config = load_model(args.weights)
    ref = config.extra.get("reference")
    if not ref:
        raise SystemExit(f"error: {args.weights} holds no reference (fakeseg eval --data G.csv --save-reference)")
    reference = np.asarray(ref["scores"], np.float64)
    print(f"reference: {ref['n']} genuine faces of {ref['data']}; tau2 {config.tau2:.4f} is at a false-alarm "
          f"rate of {false_alarm_rate(config.tau2, reference):.0%} on it")
    header = f"{'set':28s} {'label':8s} {'n':>4s} {'median rate':>12s} " + " ".join(f"{'<=' + format(v, '.0%'):>6s}"
                                                                                   for v in LEVELS)
    print(header)
    rows = []
    for item in args.scores:
        name, _, path = item.partition("=")
        with open(path) as f:
            table = list(csv.DictReader(f))
        for label, word in ((1, "fake"), (0, "genuine")):
            scores = [float(r["score"]) for r in table if int(r["label"]) == label]
            if not scores:
                continue
            rates = np.array([false_alarm_rate(s, reference) for s in scores])
            row = {"set": name, "label": word, "n": len(rates), "median_rate": float(np.median(rates)),
                   **{f"share_at_most_{v:g}": float((rates <= v).mean()) for v in LEVELS}}
            rows.append(row)
            print(f"{name:28s} {word:8s} {len(rates):4d} {row['median_rate']:12.0%} "
                  + " ".join(f"{row[f'share_at_most_{v:g}']:6.0%}" for v in LEVELS))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"weights": args.weights, "reference": {k: ref[k] for k in ("data", "n")}, "rows": rows}, f,
                      indent=2)


if __name__ == "__main__":
    main()
