"""fakeseg: find which pixels of a face were manipulated (Li et al., "Zooming into Face Forensics")."""
__version__ = "0.1.0"

from .models import create_model, list_models, load_model  # noqa: E402

__all__ = ["__version__", "create_model", "list_models", "load_model"]
