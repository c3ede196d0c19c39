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
from ._lazy import lazy_attributes  # noqa: E402

__getattr__ = lazy_attributes(__name__, {
    "create_model": "models", "list_models": "models", "load_model": "models", "detect": "predict", "fit": "train",
})
