"""Architectures (one registry) and the weights format. Importing this package registers every family."""
# registration side effect; the import order is the paper's table order (list_models() keeps it)
from . import fcn, vgg, unet, meso, xception  # noqa: F401, I001
from ._registry import TASKS, arch_info, canonical_name, create_model, list_models, register_model
from ._weights import WeightsConfig, WeightsError, default_weights, load_model, resolve_weights, save_checkpoint
from .base import FakeSegNet, read_out, scores_and_maps, smooth_maps

__all__ = [
    "TASKS", "FakeSegNet", "WeightsConfig", "arch_info", "canonical_name", "create_model", "list_models",
    "WeightsError", "default_weights", "load_model", "register_model", "resolve_weights", "save_checkpoint",
    "read_out", "scores_and_maps", "smooth_maps",
]
