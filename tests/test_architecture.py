"""Imports go one way: cli -> engine (train, evaluate, predict) -> models, data, metrics."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "fakeseg"


def _imports(path: Path) -> set[str]:
    """Absolute names of fakeseg modules imported by `path` (relative imports resolved)."""
    module = ".".join(path.relative_to(PKG.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("fakeseg")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("fakeseg"):
                found.add(name)
    return found


def _files(sub: str):
    return sorted((PKG / sub).rglob("*.py"))


def test_models_never_import_data_and_data_never_imports_models():
    for f in _files("models"):
        bad = {m for m in _imports(f) if m.startswith(("fakeseg.data", "fakeseg.cli"))}
        assert not bad, f"{f} imports {bad}"
    for f in _files("data"):
        bad = {m for m in _imports(f) if m.startswith(("fakeseg.models", "fakeseg.cli"))}
        assert not bad, f"{f} imports {bad}"


def test_nothing_below_the_cli_imports_the_cli():
    for f in PKG.rglob("*.py"):
        if "cli" in f.relative_to(PKG).parts or f.name == "__main__.py":
            continue
        bad = {m for m in _imports(f) if m.startswith("fakeseg.cli")}
        assert not bad, f"{f} imports {bad}"
