"""What an evaluation reads: the model (spec, module or pair), the device, and the rows of a data set."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.records import Record, read_manifest
from ..device import pick_device as _pick_device
from ..models import FakeSegNet, WeightsConfig, load_model
from ..models._weights import WeightsError, default_weights
from .crops import EvalSample

SPLITS = ("train", "val", "test")
ProgressFn = Callable[[int, int | None], None]  # (images done, total or None)
SkipFn = Callable[[str, str], None]  # (image, one-line reason)


class EvalError(ValueError):
    """Evaluation that cannot run as asked; the message is one line meant for users."""


@dataclass
class LoadedModel:
    model: FakeSegNet
    config: WeightsConfig
    name: str  # what the report calls it: a shipped tag, a folder name, or arch-task
    weights: str  # the spec it came from ("" for an in-memory model)


def weights_for_arch(arch: str) -> str:
    """The shipped weights `--arch` means: the same choice detect makes (`default_weights`)."""
    try:
        return default_weights(arch)
    except KeyError as e:
        raise EvalError(str(e.args[0])) from None
    except WeightsError as e:
        raise EvalError(str(e)) from None


def load_for_eval(weights_or_model, device: str | torch.device = "cpu") -> LoadedModel:
    """A weights spec (folder, shipped tag, hf://), a FakeSegNet, a (model, config) pair or a LoadedModel."""
    if isinstance(weights_or_model, LoadedModel):
        weights_or_model.model.to(device).eval()
        return weights_or_model
    if isinstance(weights_or_model, tuple):
        model, config = weights_or_model
        return LoadedModel(model.to(device).eval(), config, f"{config.arch}-{config.task}", "")
    if isinstance(weights_or_model, torch.nn.Module):
        model = weights_or_model
        config = WeightsConfig(arch=model.arch, task=model.task)
        return LoadedModel(model.to(device).eval(), config, f"{model.arch}-{model.task}", "")
    spec = str(weights_or_model)
    model, config = load_model(spec, device)  # WeightsError carries its own one-line message
    name = (
        Path(spec).name if Path(spec).expanduser().exists() else spec.removeprefix("hf://").replace("/", "_")
    )
    return LoadedModel(model, config, name, spec)


def pick_device(device: str | None) -> torch.device:
    """`fakeseg.device.pick_device`, with its one-line error as an EvalError."""
    try:
        return _pick_device(device)
    except ValueError as err:
        raise EvalError(str(err)) from None


@dataclass
class DataPlan:
    items: Iterable  # Records, or (record, rgb, mask) FF++ frames decoded on the fly
    total: int | None
    face_crop: bool  # whole frames (crop faces) or ready crops
    description: dict


def _ffpp_items(root: Path, split: str) -> Iterator[tuple[Record, np.ndarray, np.ndarray | None]]:
    from .data.ffpp import SHORT_NAMES, ffpp_records

    for frame in ffpp_records(root, split):
        method = SHORT_NAMES.get(frame.method, frame.method)
        yield (
            Record(
                image=root / f"{frame.method}:{frame.video}#{frame.frame}",
                mask=None,
                label=frame.label,
                method=method,
                source="ffpp",
                video=frame.video,
                frame=frame.frame,
            ),
            frame.image,
            frame.mask,
        )


def plan_data(data: str | Path | list[Record], split: str | None = None) -> DataPlan:
    """Where the rows come from: a manifest CSV (whole frames), a prepared cache (`<split>.csv` of
    face crops) or a FaceForensics++ root (decoded with fakeseg.data.ffpp, faces cropped here)."""
    if isinstance(data, list):
        return DataPlan(data, len(data), True, {"path": "<records>", "split": split})
    path = Path(data).expanduser()
    if split is not None and split not in SPLITS:
        raise EvalError(f"--split {split!r}: choose one of {', '.join(SPLITS)}")
    if path.is_file():
        if split is not None:
            raise EvalError(
                f"--split applies to a prepared cache or an FF++ root, not to the manifest {path}"
            )
        records = read_manifest(path)
        return DataPlan(records, len(records), True, {"path": str(path), "split": None, "kind": "manifest"})
    if path.is_dir():
        split = split or "test"
        manifest = path / f"{split}.csv"
        if manifest.is_file():
            records = read_manifest(manifest)
            return DataPlan(
                records,
                len(records),
                False,
                {"path": str(manifest), "split": split, "kind": "prepared cache"},
            )
        try:
            from .data.ffpp import is_ffpp_root
        except ModuleNotFoundError:  # the FF++ reader ships separately
            is_ffpp_root = None
        if is_ffpp_root is not None and is_ffpp_root(path):
            return DataPlan(
                _ffpp_items(path, split), None, True, {"path": str(path), "split": split, "kind": "ffpp"}
            )
        raise EvalError(f"{path}: no {split}.csv (prepared cache) and not a FaceForensics++ root")
    raise EvalError(f"{path}: no such manifest or folder")


def batches(samples: Iterable[EvalSample], batch_size: int) -> Iterator[list[EvalSample]]:
    batch: list[EvalSample] = []
    for sample in samples:
        batch.append(sample)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
