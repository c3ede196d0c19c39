"""fakeseg: find which pixels of a face were manipulated (Li et al., "Zooming into Face Forensics")."""
__version__ = "0.1.0"

from .models import create_model, list_models, load_model  # noqa: E402

__all__ = ["__version__", "create_model", "detect", "list_models", "load_model"]


def __getattr__(name: str):
    # detect pulls in the face detector and video decoding; import it only when asked for
    if name == "detect":
        from .predict import detect

        return detect
    raise AttributeError(f"module 'fakeseg' has no attribute {name!r}")
