"""The weights format and the one resolve order.

A checkpoint is a folder: `config.json` (WeightsConfig) + `model.safetensors`. Loading never
unpickles, and the sha256 of the tensor file written in the config must match.

resolve_weights(spec), in this order:
  1. a local folder (or a `model.safetensors` / `config.json` file inside one);
  2. a registry tag `arch.tag` shipped in weights/ (inside the installed package, or the source tree);
  3. `hf://org/repo[@revision]` through huggingface_hub (cached; offline from the cache with
     HF_HUB_OFFLINE=1; pin `@revision` for reproducibility).
A spec that looks like a path (has a separator, starts with . or ~, ends in .safetensors/.json) but
does not exist is an error, never a silent fallback to a registry tag.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .._fs import atomic_write, temp_dir_beside
from ..constants import CROP_SCALE, IMAGENET_MEAN, IMAGENET_STD, INPUT_SIZE
from ._registry import canonical_name, create_model

CONFIG_NAME = "config.json"
TENSORS_NAME = "model.safetensors"


class WeightsError(RuntimeError):
    """A weights spec that cannot be resolved or loaded; the message is one line meant for users."""


@dataclass
class WeightsConfig:
    arch: str
    task: str = "seg"
    input_size: int = INPUT_SIZE
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    crop_scale: float = CROP_SCALE
    # the pixel threshold: on the normalised CAM for cls (Eq. 4), on the predicted probability for seg (the
    # paper's 0.5; `fakeseg eval --calibrate` may pick another: BCE on small masks gives shy probabilities)
    tau1: float = 0.5
    tau2: float = 0.5  # image threshold on the mean of the mask (Eq. 6)
    # seg: Gaussian smoothing (px at input_size) of the probability map before tau1; 0 = the paper's read-out
    # (models.base.smooth_maps; picked with tau1 by `fakeseg eval --calibrate`)
    mask_sigma: float = 0.0
    training_data: str = ""
    metrics: dict = field(default_factory=dict)
    license: str = ""
    sha256: str = ""
    fakeseg_version: str = ""
    int8: dict = field(default_factory=dict)  # {"ranges": {...}, "data": ...} for --precision int8 (models/int8.py)
    extra: dict = field(default_factory=dict)

    @property
    def pixel_threshold(self) -> float:
        """Where a pixel of the map `scores_and_maps` returns counts as manipulated: the cls map is already
        binary (tau1 applied), the seg map is a probability."""
        return self.tau1 if self.task == "seg" else 0.5

    @classmethod
    def from_dict(cls, d: dict) -> WeightsConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for key in ("mean", "std"):
            if key in known:
                known[key] = tuple(known[key])
        sigma = known.get("mask_sigma", 0.0)
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 <= sigma <= 64:
            raise TypeError(f"mask_sigma must be a number of pixels in [0, 64], not {sigma!r}")
        return cls(**known)

    def to_dict(self) -> dict:
        return asdict(self)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(model: torch.nn.Module, folder: str | Path, config: WeightsConfig) -> Path:
    """Write `folder/` atomically: tensors and config go to a temp folder which is then renamed."""
    from .. import __version__

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(folder)
    try:
        module = getattr(model, "module", model)  # unwrap DDP
        state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
        save_file(state, str(tmp / TENSORS_NAME))
        config.sha256 = sha256_file(tmp / TENSORS_NAME)
        config.fakeseg_version = __version__
        atomic_write(tmp / CONFIG_NAME, json.dumps(config.to_dict(), indent=2) + "\n")
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def read_config(folder: Path) -> WeightsConfig:
    try:
        return WeightsConfig.from_dict(json.loads((folder / CONFIG_NAME).read_text()))
    except FileNotFoundError:
        raise WeightsError(f"{folder}: no {CONFIG_NAME}; not a fakeseg checkpoint folder") from None
    except (json.JSONDecodeError, TypeError) as e:
        raise WeightsError(f"{folder / CONFIG_NAME}: unreadable config ({e})") from None


def load_model(spec: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, WeightsConfig]:
    """Resolve `spec`, check the checksum, build the architecture and load the tensors (no pickle).

    >>> model, cfg = load_model("fn3.synth")  # doctest: +SKIP
    """
    folder = resolve_weights(spec)
    config = read_config(folder)
    tensors = folder / TENSORS_NAME
    if not tensors.is_file():
        raise WeightsError(f"{folder}: no {TENSORS_NAME}")
    digest = sha256_file(tensors)
    if config.sha256 and digest != config.sha256:
        raise WeightsError(
            f"{tensors}: sha256 mismatch (file {digest[:12]}..., config {config.sha256[:12]}...); "
            "the weights are corrupt or were modified"
        )
    if not config.sha256:
        raise WeightsError(f"{folder / CONFIG_NAME}: no sha256; refusing unverified weights")
    try:
        state = load_file(str(tensors))
    except Exception as e:  # safetensors raises its own error types for truncated files
        raise WeightsError(f"{tensors}: unreadable safetensors ({e})") from None
    model = create_model(config.arch, task=config.task)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:  # missing / unexpected keys or shape mismatches
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise WeightsError(f"{tensors}: does not match {config.arch}-{config.task} ({first})") from None
    return model.to(device).eval(), config


# --------------------------------------------------------------------------------------------------
# resolve order


def shipped_weights_dir() -> Path:
    """weights/ inside an installed wheel (fakeseg/weights), else the source tree's top-level weights/."""
    pkg = Path(__file__).resolve().parents[1]
    inside = pkg / "weights"
    return inside if inside.is_dir() else pkg.parent / "weights"


def list_shipped_weights() -> dict[str, Path]:
    root = shipped_weights_dir()
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if (p / CONFIG_NAME).is_file()}


def default_weights(arch: str | None = None) -> str:
    """The shipped weights detect uses when --weights is not given: among tags of `arch` (any arch when
    None), the one whose config says `extra.default: true`, else the one marked `extra.preferred` (the best
    of its arch), else the first seg tag in name order."""
    wanted = canonical_name(arch) if arch else None
    candidates = []
    for tag, folder in list_shipped_weights().items():
        config = read_config(folder)
        if wanted is None or canonical_name(config.arch) == wanted:
            candidates.append((not config.extra.get("default", False), not config.extra.get("preferred", False),
                               config.task != "seg", tag))
    if not candidates:
        which = f"for {wanted} " if wanted else ""
        raise WeightsError(
            f"no shipped weights {which}in this install; pass --weights FOLDER|TAG|hf://org/repo"
        )
    return min(candidates)[-1]


def _looks_like_path(spec: str) -> bool:
    return (os.sep in spec or "/" in spec or spec.startswith((".", "~"))
            or spec.endswith((".safetensors", ".json")))


def _from_hub(spec: str) -> Path:
    """Download (or reuse from the cache) config.json + model.safetensors of hf://org/repo[@revision]."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    repo, _, revision = spec[len("hf://"):].partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise WeightsError(f"{spec!r}: expected hf://org/repo[@revision]")
    try:
        paths = [hf_hub_download(repo_id=repo, filename=name, revision=revision or None)
                 for name in (CONFIG_NAME, TENSORS_NAME)]
    except LocalEntryNotFoundError:
        raise WeightsError(f"{spec}: not in the local cache and the hub cannot be reached") from None
    except EntryNotFoundError:
        raise WeightsError(f"{spec}: the repo has no {CONFIG_NAME} / {TENSORS_NAME}") from None
    except HfHubHTTPError as e:
        raise WeightsError(f"{spec}: hub error ({str(e).splitlines()[0]})") from None
    except Exception as e:  # connection errors surface as many types
        raise WeightsError(f"{spec}: download failed ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    folder = Path(paths[0]).parent
    if Path(paths[1]).parent != folder:
        raise WeightsError(f"{spec}: hub cache is inconsistent ({folder})")
    return folder


def resolve_weights(spec: str | Path) -> Path:
    """Turn a weights spec into a local checkpoint folder (see the module docstring for the order)."""
    spec_str = str(spec)
    if spec_str.startswith("hf://"):
        return _from_hub(spec_str)
    path = Path(spec_str).expanduser()
    if path.exists():
        folder = path if path.is_dir() else path.parent
        if not (folder / CONFIG_NAME).is_file():
            raise WeightsError(f"{path}: no {CONFIG_NAME} next to the weights; not a fakeseg checkpoint")
        return folder
    if isinstance(spec, Path) or _looks_like_path(spec_str):
        raise WeightsError(f"{spec_str}: no such file or folder")
    shipped = list_shipped_weights()
    if spec_str in shipped:
        return shipped[spec_str]
    arch, _, tag = spec_str.partition(".")
    try:
        canonical = canonical_name(arch)
    except KeyError:
        canonical = None
    if canonical and tag and f"{canonical}.{tag}" in shipped:
        return shipped[f"{canonical}.{tag}"]
    known = ", ".join(shipped) or "none shipped"
    raise WeightsError(f"{spec_str!r}: not a folder, a shipped tag ({known}) or hf://org/repo")
