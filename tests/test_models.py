"""Every registered architecture, both tasks: shapes, gradients, documented sizes, the CAM read-out."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from fakeseg.models import TASKS, create_model, list_models, scores_and_maps
from fakeseg.models._registry import canonical_name, register_model
from fakeseg.models.summary import count_params

DOCS = Path(__file__).resolve().parents[1] / "docs" / "models.md"
ARCHS = list_models()
SMALL = 64  # every arch accepts 64 px (xception's stride is 32)


def test_registry_holds_the_papers_eight_architectures():
    assert ARCHS == ["fn3", "vgg3", "vgg5", "vgg8", "unet4x", "unet8x", "mesoinception4", "xception"]
    for alias, name in [("conv3", "fn3"), ("vgg4", "vgg5"), ("vgg7", "vgg8"), ("mesonet", "mesoinception4")]:
        assert canonical_name(alias) == name


def test_registering_a_name_twice_is_an_error():
    with pytest.raises(ValueError, match="registered twice"):
        register_model("fn3", family="fcn", depth=3)(lambda task="seg": None)


def test_unknown_names_and_tasks_are_refused():
    with pytest.raises(KeyError, match="unknown architecture"):
        create_model("resnet50")
    with pytest.raises(ValueError, match="unknown task"):
        create_model("fn3", task="det")


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("arch", ARCHS)
def test_forward_backward(arch, task):
    torch.manual_seed(0)
    model = create_model(arch, task).train()
    x = torch.randn(2, 3, SMALL, SMALL + 32)  # non-square on purpose
    out = model(x)
    if task == "seg":
        assert out.shape == (2, 1, SMALL, SMALL + 32), "seg logits must be at the input resolution"
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out, torch.rand_like(out).round())
    else:
        s = model.out_stride
        assert out.shape == (2, 1, -(-SMALL // s), -(-(SMALL + 32) // s))
        logit = model.image_logit(out)
        assert logit.shape == (2,)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, torch.tensor([0.0, 1.0]))
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def _documented_params() -> dict[str, int]:
    rows = {}
    for line in DOCS.read_text().splitlines():
        m = re.match(r"\|\s*`?(\w+)`?\s*\|.*?\|\s*([\d,]+)\s*\|", line)
        if m and m.group(1) in ARCHS:
            rows[m.group(1)] = int(m.group(2).replace(",", ""))
    return rows


@pytest.mark.parametrize("arch", ARCHS)
def test_parameter_counts_match_docs(arch):
    documented = _documented_params()
    assert arch in documented, f"docs/models.md has no row for {arch}"
    for task in TASKS:  # both tasks share one body and head
        assert count_params(create_model(arch, task)) == documented[arch]


def test_cam_readout_follows_equations_3_and_4():
    x = torch.zeros(1, 3, 32, 32)

    class Ramp(torch.nn.Module):
        task, out_stride = "cls", 4

        def forward(self, inp):
            m = torch.linspace(-1, 3, 64).view(1, 1, 8, 8)  # mean 1 -> score sigmoid(1) > 0.5
            return m.expand(inp.shape[0], -1, -1, -1)

    score, mask = scores_and_maps(Ramp(), x, tau1=0.75, tau2=0.5)
    assert torch.allclose(score, torch.sigmoid(torch.tensor([1.0])))
    normalised = (torch.linspace(-1, 3, 64) + 1) / 4
    expected = (normalised >= 0.75).float().view(8, 8).repeat_interleave(4, 0).repeat_interleave(4, 1)
    assert torch.equal(mask[0], expected)
    # judged real (score < tau2) -> all-zero mask (paper, Fig. 2)
    _, mask_real = scores_and_maps(Ramp(), x, tau1=0.75, tau2=0.99)
    assert mask_real.sum() == 0


def test_seg_readout_is_the_mean_of_the_probability_map():
    model = create_model("fn3", "seg").eval()
    x = torch.randn(3, 3, 64, 64)
    score, prob = scores_and_maps(model, x)
    assert prob.shape == (3, 64, 64)
    assert torch.allclose(score, prob.mean(dim=(1, 2)))
    assert ((prob >= 0) & (prob <= 1)).all()


def test_smoothed_seg_map_fills_scattered_evidence_and_keeps_the_score():
    """mask_sigma: a map of scattered hits over a region becomes one region, an isolated speck disappears, and
    the score (Eq. 6) is the mean of the unsmoothed map; the torch path (GPUs) equals OpenCV's (CPU)."""
    from fakeseg.models.base import _gaussian_conv, smooth_maps

    prob = torch.full((1, 64, 64), 0.01)
    prob[0, 16:48:2, 16:48:2] = 0.99  # a quarter of the region's pixels, evenly spread
    prob[0, 4, 56] = 0.99  # one speck on clean skin

    class Fixed(torch.nn.Module):
        task = "seg"

        def forward(self, inp):
            return torch.logit(prob)[:, None].expand(inp.shape[0], -1, -1, -1)

    x = torch.zeros(2, 3, 64, 64)
    raw_score, raw = scores_and_maps(Fixed(), x)
    score, smoothed = scores_and_maps(Fixed(), x, mask_sigma=2.0)
    assert torch.allclose(score, raw_score)
    region = torch.zeros(64, 64, dtype=torch.bool)
    region[16:48, 16:48] = True
    assert (raw[0][region] > 0.2).float().mean() == 0.25
    assert (smoothed[0][20:44, 20:44] > 0.2).all()  # the region's interior is one blob
    assert smoothed[0, 4, 56] < 0.2  # the speck is gone
    assert torch.equal(smooth_maps(raw, 0.0), raw)
    assert torch.allclose(smooth_maps(raw, 2.0), _gaussian_conv(raw, 2.0, 8), atol=1e-6)


@pytest.mark.parametrize("arch", ARCHS)
def test_folding_batchnorm_keeps_the_outputs(arch):
    from fakeseg.models.base import fold_batchnorm

    torch.manual_seed(0)
    model = create_model(arch, "seg").eval()
    with torch.no_grad():
        for m in model.modules():  # non-trivial statistics, or folding would be a no-op
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        x = torch.randn(2, 3, 64, 64)
        before = model(x)
        n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
        fold_batchnorm(model)
        after = model(x)
    if arch == "fn3":
        assert n_bn == 2 and not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)
