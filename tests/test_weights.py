"""The weights format (safetensors + config.json + sha256) and the one resolve order, hub included."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hub_server import LocalHub

from fakeseg.models import create_model, list_models, load_model, resolve_weights, save_checkpoint
from fakeseg.models._weights import (
    CONFIG_NAME,
    TENSORS_NAME,
    WeightsConfig,
    WeightsError,
    default_weights,
    list_shipped_weights,
)

REPO = Path(__file__).resolve().parents[1]


def _trained_like(arch: str, task: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = create_model(arch, task)
    with torch.no_grad():  # non-trivial BN buffers, so the round trip covers them too
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.num_batches_tracked.fill_(7)
    return model.eval()


def _assert_same_state(a: torch.nn.Module, b: torch.nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.mark.parametrize("task", ["seg", "cls"])
@pytest.mark.parametrize("arch", list_models())
def test_save_load_round_trip_is_bit_exact(tmp_path, arch, task):
    model = _trained_like(arch, task)
    folder = save_checkpoint(model, tmp_path / "ckpt", WeightsConfig(arch=arch, task=task, tau2=0.3))
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_NAME, TENSORS_NAME]
    loaded, cfg = load_model(folder)
    _assert_same_state(model, loaded)
    assert (cfg.arch, cfg.task, cfg.tau2) == (arch, task, 0.3)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_tampered_tensors_are_refused(tmp_path):
    folder = save_checkpoint(_trained_like("fn3", "seg"), tmp_path / "ckpt", WeightsConfig(arch="fn3"))
    data = bytearray((folder / TENSORS_NAME).read_bytes())
    data[-5] ^= 0xFF  # flip bits inside a weight, the file still parses
    (folder / TENSORS_NAME).write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        load_model(folder)


def test_config_without_checksum_is_refused(tmp_path):
    folder = save_checkpoint(_trained_like("fn3", "seg"), tmp_path / "ckpt", WeightsConfig(arch="fn3"))
    cfg = json.loads((folder / CONFIG_NAME).read_text())
    cfg["sha256"] = ""
    (folder / CONFIG_NAME).write_text(json.dumps(cfg))
    with pytest.raises(WeightsError, match="no sha256"):
        load_model(folder)


@pytest.mark.parametrize("sigma", ["12", -1.0, 1e9, True])
def test_a_mangled_mask_sigma_is_an_unreadable_config(tmp_path, sigma):
    """A hand-edited config must fail when loaded (one WeightsError line), not as a traceback mid-run."""
    folder = save_checkpoint(_trained_like("fn3", "seg"), tmp_path / "ckpt", WeightsConfig(arch="fn3"))
    cfg = json.loads((folder / CONFIG_NAME).read_text())
    cfg["mask_sigma"] = sigma
    (folder / CONFIG_NAME).write_text(json.dumps(cfg))
    with pytest.raises(WeightsError, match="unreadable config.*mask_sigma"):
        load_model(folder)
    cfg.pop("mask_sigma")  # configs written before mask_sigma existed: the paper's read-out
    (folder / CONFIG_NAME).write_text(json.dumps(cfg))
    assert load_model(folder)[1].mask_sigma == 0.0


def test_weights_of_another_architecture_are_refused(tmp_path):
    folder = save_checkpoint(_trained_like("fn3", "seg"), tmp_path / "ckpt", WeightsConfig(arch="fn3"))
    cfg = json.loads((folder / CONFIG_NAME).read_text())
    cfg["arch"] = "vgg5"
    (folder / CONFIG_NAME).write_text(json.dumps(cfg))
    with pytest.raises(WeightsError, match="does not match vgg5-seg"):
        load_model(folder)


def test_saving_over_an_existing_checkpoint_replaces_it_whole(tmp_path):
    target = tmp_path / "ckpt"
    save_checkpoint(_trained_like("fn3", "seg", seed=0), target, WeightsConfig(arch="fn3"))
    second = _trained_like("fn3", "seg", seed=1)
    save_checkpoint(second, target, WeightsConfig(arch="fn3"))
    _assert_same_state(second, load_model(target)[0])
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"], "no temp folders left behind"


# ---------------------------------------------------------------------------------------------- resolve


def test_resolve_accepts_a_folder_or_a_file_inside_it(tmp_path):
    folder = save_checkpoint(_trained_like("fn3", "seg"), tmp_path / "ckpt", WeightsConfig(arch="fn3"))
    assert resolve_weights(folder) == folder
    assert resolve_weights(str(folder / TENSORS_NAME)) == folder


@pytest.mark.parametrize("spec", ["./nope", "runs/train/exp1/best", "missing.safetensors", "~/no/such"])
def test_a_path_that_does_not_exist_is_an_error_not_a_fallback(spec):
    with pytest.raises(WeightsError, match="no such file or folder"):
        resolve_weights(spec)


def test_unknown_tag_lists_what_is_shipped():
    with pytest.raises(WeightsError, match="not a folder, a shipped tag"):
        resolve_weights("fn3.no_such_tag")


def test_a_folder_without_config_is_not_a_checkpoint(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(WeightsError, match="not a fakeseg checkpoint"):
        resolve_weights(tmp_path / "x")


@pytest.mark.parametrize("tag", sorted(list_shipped_weights()))
def test_every_shipped_tag_loads_and_matches_its_card(tag):
    model, cfg = load_model(tag)
    folder = resolve_weights(tag)
    assert tag.split(".")[0] == cfg.arch
    assert (folder / "README.md").is_file(), "every shipped checkpoint has a model card"
    assert "research" in cfg.license.lower()
    assert (folder / TENSORS_NAME).stat().st_size < 8 * 2**20, "shipped weights stay small"


def test_one_default_and_at_most_one_preferred_tag_per_arch():
    """`fakeseg detect` with no --weights runs the default; `--arch ARCH` runs that arch's preferred tag."""
    configs = {tag: json.loads((folder / CONFIG_NAME).read_text()) for tag, folder in list_shipped_weights().items()}
    defaults = [tag for tag, c in configs.items() if c["extra"].get("default")]
    assert len(defaults) == 1 and default_weights() == defaults[0]
    for arch in {c["arch"] for c in configs.values()}:
        preferred = [tag for tag, c in configs.items() if c["arch"] == arch and c["extra"].get("preferred")]
        assert len(preferred) <= 1, preferred
        if preferred:
            assert default_weights(arch) == preferred[0]
        assert configs[default_weights(arch)]["task"] == "seg"


@pytest.fixture(scope="module")
def faces_found_once():
    """eval finds the same faces in the same 69 images for every tag: detect them once per test module
    (HOG is deterministic; ~40 % of this test's time was repeated detection). Keyed on the pixels."""
    import hashlib

    from fakeseg.evaluation import crops

    found: dict = {}
    detect = crops.detect_faces

    def cached(rgb, **kw):
        key = (hashlib.sha1(rgb.tobytes()).hexdigest(), rgb.shape, tuple(sorted(kw.items())))
        if key not in found:
            found[key] = detect(rgb, **kw)
        return [dataclasses.replace(face) for face in found[key]]  # callers add landmarks to their copy

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(crops, "detect_faces", cached)
        yield


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.parametrize("tag", sorted(list_shipped_weights()))
def test_eval_reproduces_the_cards_real_forgery_figures(tag, shared_data, faces_found_once):
    """Each card's (b) rows come from docs/results/<tag>/real/metrics.json; `fakeseg eval` must give them again."""
    from fakeseg.evaluate import evaluate

    card = json.loads((REPO / "docs" / "results" / tag / "real" / "metrics.json").read_text())
    result = evaluate(tag, shared_data / "forgeries" / "eval.csv", device="cpu", batch_size=8, references=False)
    assert result.counts["evaluated"] == card["counts"]["evaluated"] == 69
    for key in ("auc", "accuracy", "genuine_flagged"):
        assert result.overall["model"][key] == pytest.approx(card["overall"]["model"][key], abs=1e-6), key
    for key in ("miou", "fg_iou"):
        assert result.columns["model"]["fakes"][key] == pytest.approx(card["columns"]["model"]["fakes"][key],
                                                                       abs=1e-6), key


# ---------------------------------------------------------------------------------------------- hub


def _load_in_subprocess(spec: str, env: dict) -> subprocess.CompletedProcess:
    code = (
        "import sys, torch\n"
        "from fakeseg.models import load_model\n"
        "from fakeseg.models._weights import WeightsError\n"
        "try:\n"
        "    m, cfg = load_model(sys.argv[1])\n"
        "except WeightsError as e:\n"
        "    print('ERR', e); sys.exit(3)\n"
        "x = torch.load(sys.argv[2], weights_only=True)\n"
        "print('OUT', float(m(x).double().sum()), cfg.arch, cfg.tau2)\n"
    )
    return subprocess.run([sys.executable, "-c", code, spec, env["_X"]], env=env, capture_output=True,
                          text=True, timeout=120)


def test_hub_download_round_trip_pinned_and_offline(tmp_path):
    """The real huggingface_hub code path against a local server that speaks the hub's download endpoints."""
    model = _trained_like("fn3", "seg")
    v1 = save_checkpoint(model, tmp_path / "v1", WeightsConfig(arch="fn3", tau2=0.25))
    v2 = save_checkpoint(_trained_like("fn3", "seg", seed=5), tmp_path / "v2", WeightsConfig(arch="fn3", tau2=0.75))
    x = torch.randn(1, 3, 64, 64)
    torch.save(x, tmp_path / "x.pt")
    with torch.no_grad():
        expected = float(model(x).double().sum())

    with LocalHub() as hub:
        first = hub.add("fakeseg/fn3-test", v1)
        hub.add("fakeseg/fn3-test", v2)  # main now points to a newer commit
        env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp_path / "hf"),
               "HF_HUB_DISABLE_TELEMETRY": "1", "_X": str(tmp_path / "x.pt")}
        pinned = _load_in_subprocess(f"hf://fakeseg/fn3-test@{first}", env)
        assert pinned.returncode == 0, pinned.stdout + pinned.stderr
        out, arch, tau2 = pinned.stdout.split("OUT ")[1].split()
        assert float(out) == expected and arch == "fn3" and float(tau2) == 0.25, "pinned revision, bit-exact"

        latest = _load_in_subprocess("hf://fakeseg/fn3-test", env)
        assert latest.returncode == 0 and latest.stdout.split()[-1] == "0.75", latest.stdout + latest.stderr

        missing = _load_in_subprocess("hf://fakeseg/no-such-repo", env)
        assert missing.returncode == 3 and missing.stdout.startswith("ERR hf://fakeseg/no-such-repo")
        n_requests = len(hub.requests)

    # the server is gone: the pinned revision still loads from the cache, offline
    offline = _load_in_subprocess(f"hf://fakeseg/fn3-test@{first}", {**env, "HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert float(offline.stdout.split("OUT ")[1].split()[0]) == expected
    assert n_requests > 0
    # not cached and no hub: one clear error
    never = _load_in_subprocess("hf://fakeseg/other", {**env, "HF_HUB_OFFLINE": "1"})
    assert never.returncode == 3 and "cannot be reached" in never.stdout


def test_malformed_hub_spec_is_refused():
    with pytest.raises(WeightsError, match="expected hf://org/repo"):
        resolve_weights("hf://just-a-name")
