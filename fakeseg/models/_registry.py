"""One registry of architectures, filled by decorators when the family modules are imported."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn as nn

TASKS = ("seg", "cls")


@dataclass(frozen=True)
class ArchInfo:
    name: str
    builder: Callable[..., nn.Module]  # builder(task=...) -> FakeSegNet
    aliases: tuple[str, ...]
    family: str
    paper_depth: int  # conv layers counted as in the paper's Table 3
    # faces per forward pass in detect unless --batch-size says otherwise: smaller for nets that hold
    # much memory per crop, so a long video stays within detect's memory budget (docs/benchmarks.md)
    detect_batch: int = 16


_ARCHS: dict[str, ArchInfo] = {}
_ALIASES: dict[str, str] = {}


def register_model(name: str, *, aliases: tuple[str, ...] = (), family: str, depth: int, detect_batch: int = 16):
    """Register `fn(task) -> nn.Module` under `name` (and its paper aliases). Twice is an error."""

    def wrap(fn):
        for key in (name, *aliases):
            if key in _ARCHS or key in _ALIASES:
                raise ValueError(f"model name {key!r} is registered twice")
        _ARCHS[name] = ArchInfo(name, fn, aliases, family, depth, detect_batch)
        for alias in aliases:
            _ALIASES[alias] = name
        return fn

    return wrap


def canonical_name(name: str) -> str:
    name = name.lower()
    name = _ALIASES.get(name, name)
    if name not in _ARCHS:
        raise KeyError(f"unknown architecture {name!r}; choose one of: {', '.join(list_models())}")
    return name


def list_models() -> list[str]:
    return list(_ARCHS)


def arch_info(name: str) -> ArchInfo:
    return _ARCHS[canonical_name(name)]


def create_model(name: str, task: str = "seg") -> nn.Module:
    """Build an untrained model.

    >>> m = create_model("fn3", task="seg")
    >>> m(torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 1, 64, 64])
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    info = arch_info(name)
    return info.builder(task=task)
