"""Resume state without pickles: model and optimiser tensors in safetensors, everything else in JSON.

    RUN/resume/model.safetensors      model.state_dict() (parameters and batch-norm buffers)
    RUN/resume/optimizer.safetensors  per-parameter optimiser tensors, keyed "<param index>.<name>"
    RUN/resume/state.json             step, history, best score, RNG states as lists, optimiser groups

The folder is written to a temp name and renamed, so a crash mid-write leaves the previous state.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .._fs import temp_dir_beside
from .config import TrainError

RESUME_DIR = "resume"
STATE_VERSION = 1


def _optimizer_split(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, per_param in sd["state"].items():
        for name, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{name}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _optimizer_join(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in [*tensors.items(), *meta["scalars"].items()]:
        idx, _, name = key.partition(".")
        state.setdefault(int(idx), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state().tolist()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


def save_state(run: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, info: dict) -> Path:
    """Write RUN/resume atomically; `info` (JSON-able) holds step, history and the like."""
    folder = Path(run) / RESUME_DIR
    tmp = temp_dir_beside(folder)
    try:
        module = getattr(model, "module", model)
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()},
            str(tmp / "model.safetensors"),
        )
        tensors, meta = _optimizer_split(optimizer)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        doc = {"version": STATE_VERSION, **info, "optimizer": meta, "rng": rng_state()}
        (tmp / "state.json").write_text(json.dumps(doc) + "\n")
        old = folder.with_name(f".{RESUME_DIR}.old")
        if folder.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def load_state(run: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """Load RUN/resume into `model` and `optimizer` (in place); returns the JSON info (step, history ...)."""
    folder = Path(run) / RESUME_DIR
    if not (folder / "state.json").is_file():
        raise TrainError(
            f"{run}: no resume state ({RESUME_DIR}/state.json); the run never reached a checkpoint"
        )
    try:
        info = json.loads((folder / "state.json").read_text())
        missing = [k for k in ("step", "history", "best", "carry", "rng", "optimizer") if k not in info]
        if missing:
            raise KeyError(f"state.json lacks {', '.join(missing)}")
        info["elapsed_s"] = float(info.get("elapsed_s", 0.0))  # wall time so far; states before stop 18 lack it
        model.load_state_dict(load_file(str(folder / "model.safetensors")))
        device = next(model.parameters()).device
        tensors = {
            k: v.to(device) if not k.endswith(".step") else v
            for k, v in load_file(str(folder / "optimizer.safetensors")).items()
        }
        optimizer.load_state_dict(_optimizer_join(tensors, info["optimizer"]))
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TrainError(f"{folder}: cannot resume ({first})") from None
    if info.get("version") != STATE_VERSION:
        raise TrainError(f"{folder}: resume state version {info.get('version')} is not {STATE_VERSION}")
    set_rng_state(info["rng"])
    return info
