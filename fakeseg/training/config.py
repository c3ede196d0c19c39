"""The training config: every option of `fakeseg train`, resolved, saved in the run folder as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .._fs import atomic_write
from ..constants import INPUT_SIZE

CONFIG_FILE = "train_config.json"
DEFAULT_EPOCHS = 20
LOSSES = ("bce", "bce+dice")  # seg: the paper's per-pixel BCE (Eq. 5), or BCE plus batch soft Dice


class TrainError(ValueError):
    """A training run that cannot start or continue; the message is one line meant for users."""


@dataclass
class TrainConfig:
    """Defaults are the paper's: Adam(0.9, 0.999), lr 1e-3, no decay, batch 64, 256 px."""

    arch: str = "fn3"
    task: str = "seg"
    data: list[str] = field(default_factory=list)  # manifest CSVs or prepared cache folders
    val_data: list[str] = field(default_factory=list)
    synth: str | None = None  # face bank folder for forgeries made on the fly
    synth_fraction: float | None = None  # share of synth samples when mixed with --data (default 0.5)
    face_crop: bool | None = None  # None: per image, square <= 512 px is a crop
    epochs: int | None = None  # default DEFAULT_EPOCHS unless steps is given
    steps: int | None = None  # total optimiser steps; overrides epochs
    epoch_size: int | None = None  # samples per epoch (default: the manifests' size; 10000 for synth only)
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    pos_weight: float | None = None  # BCE weight of the fake class
    loss: str = "bce"  # seg: "bce" (Eq. 5) or "bce+dice"
    init: str | None = None  # weights spec (folder, shipped tag, hf://) to start from instead of random weights
    augment: bool = True
    amp: bool = True
    workers: int | None = None
    device: str | None = None
    input_size: int = INPUT_SIZE
    max_minutes: float | None = None
    save_every: int = 500  # steps between resume checkpoints (and at every epoch end)
    val_size: int = 512  # synthesised validation samples
    val_fraction: float = 0.1  # identities of the face bank held out for synth validation
    out: str | None = None
    name: str = "exp"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def check(self) -> None:
        from ..models import TASKS, canonical_name

        try:
            self.arch = canonical_name(self.arch)
        except KeyError as e:
            raise TrainError(e.args[0]) from None
        if self.task not in TASKS:
            raise TrainError(f"unknown task {self.task!r}; choose one of: {', '.join(TASKS)}")
        if not self.data and not self.synth:
            raise TrainError("no training data: give --data MANIFEST_OR_CACHE and/or --synth FACE_BANK")
        if self.synth_fraction is not None and not 0.0 < self.synth_fraction <= 1.0:
            raise TrainError(f"--synth-fraction must be in (0, 1], got {self.synth_fraction}")
        if self.synth_fraction is not None and not self.synth:
            raise TrainError("--synth-fraction needs --synth")
        for name in ("batch_size", "save_every", "input_size"):
            if getattr(self, name) < 1:
                raise TrainError(f"--{name.replace('_', '-')} must be >= 1")
        if self.input_size < 32 or self.input_size % 32:
            raise TrainError(f"--input-size must be a multiple of 32 (>= 32), got {self.input_size}")
        for name in ("steps", "epochs", "epoch_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise TrainError(f"--{name.replace('_', '-')} must be >= 1")
        if self.lr <= 0:
            raise TrainError("--lr must be > 0")
        if self.loss not in LOSSES:
            raise TrainError(f"unknown loss {self.loss!r}; choose one of: {', '.join(LOSSES)}")
        if self.loss != "bce" and self.task != "seg":
            raise TrainError(f"--loss {self.loss} is for seg; cls trains on the per-image BCE (Eq. 1)")
        if self.pos_weight is not None and self.pos_weight <= 0:
            raise TrainError("--pos-weight must be > 0")


def new_run_dir(config: TrainConfig) -> Path:
    """`--out` as given, else runs/train/<name>, <name>2, <name>3 ... (the first that does not exist)."""
    if config.out:
        return Path(config.out).expanduser()
    root = Path("runs") / "train"
    for n in range(1, 10_000):
        path = root / (config.name if n == 1 else f"{config.name}{n}")
        if not path.exists():
            return path
    raise TrainError(f"{root}: too many runs named {config.name!r}")


def save_config(config: TrainConfig, run: Path) -> None:
    atomic_write(run / CONFIG_FILE, json.dumps(config.to_dict(), indent=2) + "\n")


def load_config(run: Path) -> TrainConfig:
    path = Path(run) / CONFIG_FILE
    if not path.is_file():
        raise TrainError(f"{run}: not a training run folder (no {CONFIG_FILE})")
    try:
        return TrainConfig.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError) as e:
        raise TrainError(f"{path}: unreadable ({e})") from None
