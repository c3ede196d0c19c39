"""Shared fixtures. ../shared/data is optional: tests that need it skip cleanly in a user's clone."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FAKESEG_SHARED_DATA", REPO.parent / "shared" / "data"))

# Tests are CPU-bound on small machines; one torch thread per process keeps parallel helpers honest.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data not present (research data is not part of the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def weights(tmp_path_factory) -> Path:
    """A random-init fn3-seg checkpoint (tau2 0.5): for tests of the pipeline, not of accuracy."""
    import torch

    from fakeseg.models import WeightsConfig, create_model, save_checkpoint

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("w") / "fn3-random"
    save_checkpoint(create_model("fn3", "seg"), folder, WeightsConfig(arch="fn3", task="seg", tau2=0.5))
    return folder
