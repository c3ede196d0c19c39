"""The evaluation engine: a checkpoint and a data set in, the paper's tables (and what they leave out) out.

Three predictors are scored on the same face crops with the same metrics: the model, an all-background
predictor and an untrained face-hull predictor (the landmark hull of each face). On face swaps the
manipulated region is the face, so the face hull alone scores mIoU ~0.82 (FINDINGS); a model is good
only where it beats that row on the fakes AND keeps genuine faces clean.

>>> result = evaluate("fn3.synth", "../shared/data/forgeries/eval.csv")          # doctest: +SKIP
>>> result.columns["model"]["fakes"]["miou"], result.overall["model"]["auc"]      # doctest: +SKIP
>>> write_report(result, "runs/eval/fn3.synth")                                   # doctest: +SKIP
"""

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import __version__
from ._fs import atomic_write
from .data.records import Record
from .data.transforms import to_tensor
from .evaluation.calibrate import Calibration, calibrate, save_reference, save_thresholds
from .evaluation.crops import iter_samples
from .evaluation.inputs import (
    EvalError,
    LoadedModel,
    ProgressFn,
    SkipFn,
    batches,
    load_for_eval,
    pick_device,
    plan_data,
    weights_for_arch,
)
from .evaluation.report import MODEL, EvalResult
from .evaluation.tally import Tally
from .models import scores_and_maps

__all__ = [
    "Calibration",
    "EvalError",
    "EvalResult",
    "LoadedModel",
    "calibrate",
    "default_out_dir",
    "evaluate",
    "load_for_eval",
    "pick_device",
    "plan_data",
    "save_reference",
    "save_thresholds",
    "weights_for_arch",
    "write_report",
]


def _video_key(record: Record) -> str:
    # the same FF++ id (071_054) names one fake video per method: key videos by method too
    return f"{record.method}/{record.video}" if record.video else ""


def evaluate(
    weights_or_model,
    data: str | Path | list[Record],
    *,
    split: str | None = None,
    face_crop: bool | None = None,
    device: str | None = None,
    batch_size: int = 16,
    tau1: float | None = None,
    tau2: float | None = None,
    mask_sigma: float | None = None,
    references: bool = True,
    by_source: bool = False,
    on_skip: SkipFn | None = None,
    progress: ProgressFn | None = None,
    threshold_origin: str = "given",
) -> EvalResult:
    """Evaluate a checkpoint on a manifest, a prepared cache or an FF++ root; returns every figure.

    tau1/tau2/mask_sigma default to the checkpoint's config; `face_crop=None` crops faces from whole frames
    (manifests, FF++) and takes prepared-cache images as crops. Rows that cannot be used are passed to
    `on_skip(image, reason)` and counted; no usable row at all is an EvalError.
    """
    dev = pick_device(device)
    loaded = load_for_eval(weights_or_model, dev)
    cfg = loaded.config
    tau1 = cfg.tau1 if tau1 is None else tau1
    mask_sigma = cfg.mask_sigma if mask_sigma is None else mask_sigma
    origin = "checkpoint" if tau2 is None else threshold_origin
    tau2 = cfg.tau2 if tau2 is None else tau2
    plan = plan_data(data, split)
    crop = plan.face_crop if face_crop is None else face_crop

    pixel = replace(cfg, tau1=tau1).pixel_threshold  # the checkpoint's rule, with tau1 as given
    tallies = {MODEL: Tally(pixel)}
    if references:
        tallies.update(all_background=Tally(), face_hull=Tally())
    skipped: list[dict] = []
    records_seen = 0

    def skip(record: Record, reason: str) -> None:
        skipped.append({"image": str(record.image), "reason": reason})
        if on_skip:
            on_skip(str(record.image), reason)

    samples = iter_samples(plan.items, cfg.input_size, cfg.crop_scale, crop, references, skip)
    for batch in batches(samples, batch_size):
        x = to_tensor([s.image for s in batch], cfg.mean, cfg.std).to(dev)
        scores, maps = scores_and_maps(loaded.model, x, tau1, tau2, mask_sigma)
        scores, maps = scores.cpu().numpy(), maps.cpu().numpy()
        for i, s in enumerate(batch):
            r = s.record
            meta = (r.label, r.method, r.source, _video_key(r))
            tallies[MODEL].add(scores[i], maps[i], s.mask, *meta, image=str(r.image))
            if references:
                zeros = np.zeros_like(s.mask, dtype=np.float32)
                tallies["all_background"].add(0.0, zeros, s.mask, *meta)
                tallies["face_hull"].add(float(s.hull.mean()), s.hull.astype(np.float32), s.mask, *meta)
        records_seen = len(tallies[MODEL]) + len(skipped)
        if progress:
            progress(records_seen, plan.total)
    if not len(tallies[MODEL]):
        raise EvalError(
            f"no usable image in {plan.description['path']} ({len(skipped)} skipped"
            + (f"; first: {skipped[0]['reason']}" if skipped else "")
            + ")"
        )

    labels = np.asarray(tallies[MODEL].labels)
    return EvalResult(
        model={
            "name": loaded.name,
            "arch": cfg.arch,
            "task": cfg.task,
            "weights": loaded.weights,
            "sha256": cfg.sha256,
            "input_size": cfg.input_size,
            "crop_scale": cfg.crop_scale,
            "training_data": cfg.training_data,
        },
        data={**plan.description, "face_crop": crop},
        thresholds={"tau1": tau1, "tau2": tau2, "mask_sigma": mask_sigma, "origin": origin, "pixel": pixel},
        counts={
            "records": len(tallies[MODEL]) + len(skipped),
            "evaluated": len(tallies[MODEL]),
            "fake": int((labels == 1).sum()),
            "genuine": int((labels == 0).sum()),
            "skipped": len(skipped),
            "no_face": sum("no face" in s["reason"] for s in skipped),
        },
        columns={name: t.columns(tau2) for name, t in tallies.items()},
        overall={name: t.overall(tau2) for name, t in tallies.items()},
        by_source={name: t.by_source(tau2) for name, t in tallies.items()} if by_source else {},
        skipped=skipped,
        fakeseg_version=__version__,
        images=tallies[MODEL].rows(),
    )


def default_out_dir(name: str, root: str | Path = "runs/eval") -> Path:
    """runs/eval/<name>, then <name>2, <name>3 ... (never overwrites an earlier run)."""
    root = Path(root)
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "eval"
    candidate, n = root / safe, 2
    while candidate.exists():
        candidate, n = root / f"{safe}{n}", n + 1
    return candidate


SCORE_COLUMNS = ("image", "label", "method", "source", "score")


def write_report(result: EvalResult, out: str | Path) -> tuple[Path, Path]:
    """metrics.json (every figure), metrics.md (the tables) and scores.csv (the model's score of each
    evaluated image) in `out`, each written atomically."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "metrics.json", out / "metrics.md"
    atomic_write(json_path, json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
    atomic_write(md_path, result.to_markdown())
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(SCORE_COLUMNS)
    writer.writerows([row[k] for k in SCORE_COLUMNS] for row in result.images)
    atomic_write(out / "scores.csv", table.getvalue())
    return json_path, md_path
