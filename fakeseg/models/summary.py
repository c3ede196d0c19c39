"""Size and cost of every registered architecture, and the shipped weights for each (for `fakeseg models`)."""
from __future__ import annotations

import json

import torch
from torch.utils.flop_counter import FlopCounterMode

from ._registry import TASKS, arch_info, create_model, list_models
from ._weights import CONFIG_NAME, list_shipped_weights


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def gflops(model: torch.nn.Module, size: int = 256) -> float:
    """FLOPs (2 x multiply-adds) of one forward at size x size, counted by torch's FlopCounterMode."""
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.zeros(1, 3, size, size))
    return counter.get_total_flops() / 1e9


def _headline(cfg: dict) -> str:
    m = cfg.get("metrics") or {}
    parts = [f"{k}={v:.3f}" for k, v in list(m.get("headline", {}).items())[:3] if isinstance(v, (int, float))]
    return ", ".join(parts)


def model_rows() -> list[dict]:
    shipped = {}
    for tag, folder in list_shipped_weights().items():
        cfg = json.loads((folder / CONFIG_NAME).read_text())
        shipped.setdefault((cfg["arch"], cfg.get("task", "seg")), []).append((tag, _headline(cfg)))
    rows = []
    for name in list_models():
        info = arch_info(name)
        for task in TASKS:
            model = create_model(name, task)
            weights = shipped.get((name, task), [])
            rows.append({
                "name": name, "aliases": list(info.aliases), "task": task, "params": count_params(model),
                "gflops": gflops(model), "out_stride": model.out_stride,
                "weights": [t for t, _ in weights],
                "weights_text": "; ".join(f"{t} ({h})" if h else t for t, h in weights) or "-",
            })
    return rows
