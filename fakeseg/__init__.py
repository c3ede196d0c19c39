"""fakeseg: find which pixels of a face were manipulated (Li et al., "Zooming into Face Forensics").

>>> import fakeseg
>>> for frame in fakeseg.detect("clip.mp4"):  # doctest: +SKIP
...     print(frame.frame, [face.score for face in frame.faces])
"""
__version__ = "0.1.0"

__all__ = ["__version__", "create_model", "detect", "fit", "list_models", "load_model"]

# Everything here pulls in torch (~2 s) or more (the face detector, video decoding, data loading): import it only
# when used, so that `fakeseg --help`, `--version` and a mistyped option answer at once.
# (Evaluation is `fakeseg.evaluate.evaluate`: a lazy attribute would be shadowed by that module.)
_LAZY = {
    "create_model": ("models", "create_model"),
    "list_models": ("models", "list_models"),
    "load_model": ("models", "load_model"),
    "detect": ("predict", "detect"),
    "fit": ("train", "fit"),
}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        module, attr = _LAZY[name]
        return getattr(import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'fakeseg' has no attribute {name!r}")
