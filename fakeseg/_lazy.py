"""Package attributes imported on first use (PEP 562), so that `import fakeseg` and `fakeseg --help` do not pay
for torch (~2 s) before anything needs it."""
from __future__ import annotations

from collections.abc import Callable
from importlib import import_module


def lazy_attributes(package: str, where: dict[str, str]) -> Callable[[str], object]:
    """A module-level `__getattr__` for `package`: attribute `name` is `name` of its submodule `where[name]`."""

    def __getattr__(name: str) -> object:
        if name in where:
            return getattr(import_module(f".{where[name]}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
