"""Turn a TrainConfig into the training dataset, its epoch plan and the validation dataset."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..data.augment import Augment
from ..data.datasets import (
    EpochPlan,
    EvalDataset,
    ManifestSource,
    SynthSource,
    TrainDataset,
    check_files,
    face_boxes,
    pooled_rows,
    read_training_data,
    usable,
)
from ..data.records import Record, read_manifest
from .config import TrainConfig, TrainError
from .distributed import Dist, barrier

BOX_CACHE = "face_boxes.json"


@dataclass
class TrainingData:
    train: TrainDataset
    plan: EpochPlan
    val: EvalDataset | None
    description: str
    notes: list[str] = field(default_factory=list)  # things the user should hear about (warnings)


def _manifest_files(specs: list[str]) -> list[Path]:
    """The manifest CSVs behind --data / --val-data specs (a cache folder stands for its train/val.csv)."""
    paths = [Path(s).expanduser() for s in specs]
    return [m for p in paths for m in ([p / "train.csv", p / "val.csv"] if p.is_dir() else [p]) if m.is_file()]


def _manifest_source(
    records: list[Record], config: TrainConfig, run: Path, d: Dist, what: str, notes: list[str], on_progress
) -> ManifestSource:
    check_files(records)
    # rank 0 detects faces and writes the cache; the others then read it instead of detecting again
    if not d.is_main:
        barrier(d)
    boxes = face_boxes(
        records,
        config.face_crop,
        run / BOX_CACHE,
        on_progress=(lambda n, total: on_progress(f"finding faces ({what})", n, total))
        if on_progress and d.is_main
        else None,
    )
    if d.is_main:
        barrier(d)
    records, boxes, dropped = usable(records, boxes)
    if dropped:
        notes.append(f"{dropped} {what} frame(s) without a detectable face were left out")
    if not records:
        raise TrainError(f"no usable {what} images: no face found in any whole frame")
    pooled = pooled_rows(records, _manifest_files([*config.data, *config.val_data]))
    if any(p is not None for p in pooled):
        notes.append(f"{sum(p is not None for p in pooled)} {what} crops read from decoded pools")
    return ManifestSource(records, boxes, pooled)


def _synthesizers(spec: str, config: TrainConfig, run: Path, d: Dist, need_val: bool, notes: list[str]):
    try:
        from ..data.synth import Synthesizer
    except ImportError as e:
        raise TrainError(
            f"--synth needs the synthesiser (fakeseg.data.synth), which cannot be imported ({e})"
        ) from None
    from ..data.facebank import FaceBank, FaceBankError, build_facebank, split_by_identity

    path = Path(spec).expanduser()
    if not path.exists():
        raise TrainError(f"{path}: no such face bank or folder of real faces")
    try:
        if not (path / "index.json").is_file():
            # a folder of real photos / videos: build its face bank once, inside the run
            path = run / "facebank"
            if d.is_main:
                build_facebank([Path(spec).expanduser()], path)
            barrier(d)
        bank = FaceBank.load(path)
        train_bank, val_bank = split_by_identity(bank, config.val_fraction if need_val else 0.0, config.seed)
    except FaceBankError as e:
        raise TrainError(str(e)) from None
    try:
        train = Synthesizer(train_bank, seed=config.seed, size=config.input_size)
    except ValueError as e:
        raise TrainError(f"{path}: cannot synthesise from this face bank ({e})") from None
    val = None
    if need_val and len(val_bank):
        try:  # another seed: validation forgeries are not the training recipe replayed on other faces
            val = Synthesizer(val_bank, seed=config.seed + 1_000_003, size=config.input_size)
        except ValueError as e:
            notes.append(f"no synth validation: the held-out identities cannot make forgeries ({e})")
    elif need_val:
        notes.append("no synth validation: the face bank has too few identities to hold some out")
    return train, val, f"synth:{path}"


def build_data(
    config: TrainConfig, run: Path, d: Dist, on_progress: Callable[[str, int, int], None] | None = None
) -> TrainingData:
    notes: list[str] = []
    parts = []
    real = None
    cache_val: list[Record] = []
    if config.data:
        records, cache_val = read_training_data(config.data)
        if records:
            real = _manifest_source(records, config, run, d, "training", notes, on_progress)
            parts.append(f"{len(real)} images from {', '.join(Path(p).name for p in config.data)}")
    explicit_val = [r for spec in config.val_data for r in read_manifest(Path(spec).expanduser())]
    val_records = explicit_val or cache_val
    synth_train = synth_val = None
    if config.synth:
        synth_train, synth_val, name = _synthesizers(
            config.synth, config, run, d, need_val=not val_records, notes=notes
        )
        parts.append(name)
    fraction = 1.0 if real is None else (config.synth_fraction or 0.5)
    plan = EpochPlan.build(
        len(real) if real else 0, synth_train is not None, fraction, config.epoch_size, config.seed
    )
    augment = Augment() if config.augment else Augment.off()
    train = TrainDataset(
        real, SynthSource(synth_train) if synth_train else None, config.input_size, config.seed, augment
    )
    val = None
    if val_records:
        val = EvalDataset(
            _manifest_source(val_records, config, run, d, "validation", notes, on_progress), config.input_size
        )
    elif synth_val is not None:
        val = EvalDataset(SynthSource(synth_val), config.input_size, list(range(config.val_size)))
    else:
        notes.append(
            "no validation data (--val-data, a cache's val.csv or --synth): no best/ checkpoint, "
            "no validation metrics"
        )
    if synth_train is not None and real is not None:
        parts.append(f"synth fraction {fraction:g}")
    return TrainingData(train, plan, val, "; ".join(parts), notes)
