"""`fakeseg train`: learning, the run folder, checkpoints, resume, data views and the CLI (tiny and fast)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from fakeseg.cli import app
from fakeseg.data.augment import Augment, eval_view, train_view
from fakeseg.data.datasets import EpochPlan, StepBatchSampler, face_boxes, read_training_data
from fakeseg.models import load_model
from fakeseg.train import TrainConfig, TrainEvent, fit, resume_config, soft_dice_loss

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SIZE = 64


def make_crops(root: Path, n: int = 16, size: int = SIZE) -> Path:
    """n square face-crop-like images; odd ones carry a bright square that their mask marks."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    (root / "mask").mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        img = rng.integers(60, 120, (size, size, 3), dtype=np.uint8)
        mask = np.zeros((size, size), np.uint8)
        if i % 2:
            x, y = rng.integers(0, size // 2, 2)
            mask[y : y + size // 3, x : x + size // 3] = 255
            img[mask > 0] = rng.integers(180, 255, (int((mask > 0).sum()), 3), dtype=np.uint8)
            cv2.imwrite(str(root / "mask" / f"{i}.png"), mask)
        cv2.imwrite(str(root / "img" / f"{i}.png"), img)
        rows.append([f"img/{i}.png", f"mask/{i}.png" if i % 2 else "", i % 2, "box" if i % 2 else "pristine"])
    with open(root / "train.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "mask", "label", "method"])
        w.writerows(rows)
    return root / "train.csv"


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    return make_crops(tmp_path_factory.mktemp("crops"))


def config(data: Path, out: Path, **kw) -> TrainConfig:
    base = dict(
        arch="fn3",
        data=[str(data)],
        val_data=[str(data)],
        batch_size=4,
        input_size=SIZE,
        workers=0,
        out=str(out),
    )
    return TrainConfig(**{**base, **kw})


def test_overfits_a_few_fixed_samples(crops, tmp_path):
    data = make_crops(tmp_path / "d", n=8)  # 8 fixed samples, seen 10 times per epoch
    run = fit(config(data, tmp_path / "run", steps=40, batch_size=8, epoch_size=80, augment=False, lr=3e-3))
    history = json.loads((run / "metrics.json").read_text())
    assert len(history) == 4
    first, last = history[0]["train_loss"], history[-1]["train_loss"]
    assert last < 0.5 * first, (first, last)
    assert history[-1]["val_fg_iou"] > 0.5  # the bright squares are found, on pixels it trained on


def test_dice_term_rewards_overlap_and_charges_genuine_pixels():
    """Over the batch as one set: an exact mask scores ~0, a mask that misses half the region pays about a
    third, and flagging pixels of a genuine image (empty target) costs even when another image is fake."""
    target = torch.zeros(2, 8, 8)
    target[0, :4] = 1  # image 0 fake (half its pixels), image 1 genuine
    sure = lambda m: (m * 2 - 1) * 20.0  # noqa: E731  logits of a confident prediction of mask m
    assert float(soft_dice_loss(sure(target), target)) < 0.01
    half = target.clone()
    half[0, :2] = 0
    assert 0.3 < float(soft_dice_loss(sure(half), target)) < 0.4
    flags_genuine = target.clone()
    flags_genuine[1, :4] = 1
    assert float(soft_dice_loss(sure(flags_genuine), target)) > 0.3


def test_bce_plus_dice_learns_and_is_kept_in_the_run_config(tmp_path):
    data = make_crops(tmp_path / "d", n=8)
    run = fit(config(data, tmp_path / "run", steps=40, batch_size=8, epoch_size=80, augment=False, lr=3e-3,
                     loss="bce+dice"))
    history = json.loads((run / "metrics.json").read_text())
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["val_fg_iou"] > 0.5
    assert resume_config(run).loss == "bce+dice"  # a resumed run goes on with the same loss


def test_run_folder_and_checkpoints(crops, tmp_path):
    events: list[TrainEvent] = []
    run = fit(config(crops, tmp_path / "run", epochs=2), on_event=events.append)
    for name in ("train_config.json", "metrics.csv", "metrics.json", "metrics.png", "last", "best", "resume"):
        assert (run / name).exists(), name
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [4, 8]  # 16 images / batch 4 = 4 steps per epoch
    assert {"train_loss", "val_loss", "val_miou", "val_fg_iou", "val_auc"} <= set(rows[0])
    assert cv2.imread(str(run / "metrics.png")) is not None
    saved = json.loads((run / "train_config.json").read_text())
    assert saved["arch"] == "fn3" and saved["out"] == str(run) and saved["batch_size"] == 4

    model, cfg = load_model(run / "last")
    assert cfg.arch == "fn3" and cfg.task == "seg" and cfg.input_size == SIZE and cfg.metrics["val_miou"] >= 0
    trained = next(e.model for e in events if e.kind == "end")
    x = torch.randn(1, 3, SIZE, SIZE)
    torch.testing.assert_close(model(x), trained.cpu().float().eval()(x))  # trained may sit on a GPU
    best = json.loads((run / "best" / "config.json").read_text())
    assert best["metrics"]["val_miou"] == pytest.approx(max(float(r["val_miou"]) for r in rows), rel=1e-5)
    assert [e.step for e in events if e.kind == "step"][-1] == 8


class _Interrupt(Exception):
    pass


def _stop_after(step: int):
    def on_event(e: TrainEvent) -> None:
        if e.kind == "checkpoint" and e.step >= step:
            raise _Interrupt

    return on_event


@pytest.mark.parametrize("task", ["seg", "cls"])
def test_resume_ends_like_an_uninterrupted_run(crops, tmp_path, task):
    # on CPU (bit-exact kernels); loader workers on, so prefetching must not change what a step sees
    kw = dict(task=task, steps=6, save_every=3, epoch_size=8, workers=1, device="cpu")
    whole = fit(config(crops, tmp_path / "whole", **kw))
    cut = config(crops, tmp_path / "cut", **kw)
    with pytest.raises(_Interrupt):
        fit(cut, on_event=_stop_after(3))
    state = json.loads((tmp_path / "cut" / "resume" / "state.json").read_text())
    assert state["step"] == 3
    assert not (tmp_path / "cut" / "resume" / "optimizer.pt").exists()  # no pickles anywhere
    resumed = fit(resume_config(tmp_path / "cut"), resume=True)
    for name in ("metrics.csv",):
        a = (whole / name).read_text().splitlines()
        b = (resumed / name).read_text().splitlines()
        assert a[0] == b[0] and len(a) == len(b) == 4  # header + epochs ending at steps 2, 4, 6
        assert [r.split(",")[1] for r in a] == [r.split(",")[1] for r in b]
    w1, w2 = (
        load_file(str(whole / "last" / "model.safetensors")),
        load_file(str(resumed / "last" / "model.safetensors")),
    )
    for key in w1:
        torch.testing.assert_close(w1[key], w2[key], rtol=0, atol=0, msg=key)


def test_resume_can_extend_and_refuses_a_fresh_start_over_a_run(crops, tmp_path):
    run = fit(config(crops, tmp_path / "run", steps=2, epoch_size=4))
    with pytest.raises(ValueError, match="already holds a run"):
        fit(config(crops, tmp_path / "run", steps=2, epoch_size=4))
    state_file = run / "resume" / "state.json"
    state = json.loads(state_file.read_text())
    state["elapsed_s"] = 1000.0  # as if the first session had trained for 1000 s before the interrupt
    state_file.write_text(json.dumps(state))
    fit(resume_config(run, steps=3), resume=True)
    state = json.loads(state_file.read_text())
    assert state["step"] == 3
    # wall time goes on from the interrupted session's, in the metrics and in the state
    rows_after = [r["elapsed_s"] >= 1000.0 for r in state["history"]]
    assert rows_after[-1] and not any(rows_after[:-1])
    assert state["elapsed_s"] >= 1000.0
    state["elapsed_s"] = "an hour"  # a mangled state is one clear error, not a traceback
    state_file.write_text(json.dumps(state))
    with pytest.raises(ValueError, match="cannot resume"):
        fit(resume_config(run, steps=4), resume=True)


def test_max_minutes_stops_with_a_checkpoint(crops, tmp_path):
    run = fit(config(crops, tmp_path / "run", steps=1000, max_minutes=0.0))
    state = json.loads((run / "resume" / "state.json").read_text())
    assert state["step"] == 1  # stopped after the first step, not 1000
    assert (run / "last" / "model.safetensors").is_file() and len(state["history"]) == 1


# --------------------------------------------------------------------------------------------------
# data: paired views, epoch plans, face boxes


def test_train_view_moves_image_and_mask_together():
    rng = np.random.default_rng(1)
    image = np.zeros((90, 120, 3), np.uint8)
    mask = np.zeros((90, 120), np.uint8)
    image[20:60, 30:100] = 255
    mask[20:60, 30:100] = 1
    for _ in range(20):
        img, m = train_view(image, mask, SIZE, rng, Augment(jpeg_prob=0.0, scale=(1.0, 1.5)))
        assert img.shape == (SIZE, SIZE, 3) and m.shape == (SIZE, SIZE) and set(np.unique(m)) <= {0, 1}
        agree = ((img[..., 0] > 127) == (m > 0)).mean()
        assert agree > 0.97, agree
    img, m = eval_view(image, mask, SIZE)
    assert img.shape == (SIZE, SIZE, 3) and ((img[..., 0] > 127) == (m > 0)).mean() > 0.97


def test_epoch_plan_shards_ranks_and_restarts_anywhere():
    plan = EpochPlan.build(n_real=10, synth=True, synth_fraction=0.5, epoch_size=None, seed=3)
    assert plan.epoch_size == 20 and plan.n_synth == 10
    full = list(StepBatchSampler(plan, 2, total_steps=12))
    assert list(StepBatchSampler(plan, 2, total_steps=12, start_step=7)) == full[7:]
    r0 = list(StepBatchSampler(plan, 2, total_steps=4, world=2, rank=0))
    r1 = list(StepBatchSampler(plan, 2, total_steps=4, world=2, rank=1))
    slots0 = {k[:2] for batch in r0 for k in batch}
    slots1 = {k[:2] for batch in r1 for k in batch}
    assert not slots0 & slots1
    items = [k[2] for batch in full[:10] for k in batch]  # epoch 0: every real item once, synth 10..19
    assert sorted(items) == list(range(20))
    epoch1 = {k[2] for batch in full[10:] for k in batch}
    assert all(i >= 20 for i in epoch1 if i >= 10)  # new forgeries every epoch


def test_face_boxes_found_once_then_cached(tmp_path, monkeypatch):
    pairs = SHARED / "forgeries" / "eval.csv"
    if not pairs.is_file():
        pytest.skip("../shared/data not present")
    import fakeseg.data.datasets as ds

    records = [r for r in read_training_data([pairs])[0] if r.label == 1][:2]
    cache = tmp_path / "boxes.json"
    boxes = face_boxes(records, face_crop=None, cache=cache)
    assert all(isinstance(b, tuple) and len(b) == 4 for b in boxes)

    def no_detection(*a, **k):
        raise AssertionError("detected again")

    monkeypatch.setattr(ds, "detect_faces", no_detection)
    assert face_boxes(records, face_crop=None, cache=cache) == boxes


def test_trains_on_whole_frames(tmp_path):
    pairs = SHARED / "forgeries" / "eval.csv"
    if not pairs.is_file():
        pytest.skip("../shared/data not present")
    rows = list(csv.DictReader(open(pairs)))
    rows = [r for r in rows if r["label"] == "1"][:2] + [r for r in rows if r["label"] == "0"][:2]
    manifest = tmp_path / "frames.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["image", "mask", "label", "method"], extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(
                {
                    k: (str(pairs.parent / r[k]) if k in ("image", "mask") and r[k] else r[k])
                    for k in w.fieldnames
                }
            )
    run = fit(config(manifest, tmp_path / "run", steps=1, batch_size=4, face_crop=False))
    assert json.loads((run / "face_boxes.json").read_text())
    assert json.loads((run / "metrics.json").read_text())[0]["val_images"] == 4


# --------------------------------------------------------------------------------------------------
# CLI


def test_cli_trains_and_writes_a_run(crops, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--arch",
            "fn3",
            "--data",
            str(crops),
            "--steps",
            "2",
            "--batch-size",
            "4",
            "--workers",
            "0",
            "--input-size",
            "64",
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "last" / "model.safetensors").is_file()
    # the input size travels with the weights, so eval and detect crop faces as training did
    assert load_model(tmp_path / "run" / "last")[1].input_size == 64
    assert not (tmp_path / "run" / "best").exists()  # no validation data: nothing to pick a best by
    assert "no validation data" in result.output and "run folder" in result.output


@pytest.mark.parametrize("native_bf16, precision", [(True, "bf16 autocast"), (False, "fp32")])
def test_cpu_training_autocasts_only_where_bf16_is_native(native_bf16, precision, crops, tmp_path, monkeypatch):
    """A CPU without native bf16 (AVX2 only) emulates it: with autocast FN3 trained at 0.64 images/s against 6.2 in
    fp32 on an AMD Zen 3. The run says which it uses."""
    import fakeseg.train

    monkeypatch.setattr(fakeseg.train, "cpu_has_native_bf16", lambda: native_bf16)
    result = CliRunner().invoke(app, ["train", "--arch", "fn3", "--data", str(crops), "--steps", "1", "--batch-size",
                                      "2", "--workers", "0", "--input-size", "64", "--device", "cpu",
                                      "--out", str(tmp_path / "run")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"training fn3-seg on cpu ({precision})," in result.output


def test_cli_prints_plain_progress_lines_where_no_bar_can_be_drawn(crops, tmp_path, monkeypatch):
    """In a log file rich draws no bar, so a background run would say nothing between epochs."""
    import sys

    monkeypatch.setattr(sys.modules["fakeseg.cli.train"], "PLAIN_LINE_EVERY_S", 0.0)
    result = CliRunner().invoke(app, ["train", "--arch", "fn3", "--data", str(crops), "--steps", "3",
                                      "--batch-size", "4", "--workers", "0", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("step ")]
    assert lines and lines[-1].startswith("step 3/3  epoch") and "img/s" in lines[-1], result.output


def test_plain_progress_lines_after_a_face_finding_phase(monkeypatch, capsys):
    """Whole-frame data first reports finding faces, then trains: the plain line must follow the train phase."""
    import sys

    from fakeseg.train import TrainEvent

    view_module = sys.modules["fakeseg.cli.train"]
    monkeypatch.setattr(view_module, "PLAIN_LINE_EVERY_S", 0.0)
    with view_module._ProgressView() as view:
        view.plain = True
        view(TrainEvent("prepare", step=2, total_steps=3, message="finding faces"))
        view(TrainEvent("start", step=0, total_steps=10, message="fn3-seg", run=Path("run")))
        for step in (1, 2):
            view(TrainEvent("step", step=step, total_steps=10, epoch=step / 10, loss=0.5, images_per_s=3.0))
        assert view._current().description == "train" and view._current().total == 10
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step ")]
    assert lines and lines[-1].startswith("step 2/10  epoch 0.20"), lines


@pytest.mark.parametrize(
    "args, message",
    [
        (["--arch", "nope"], "unknown architecture"),
        (["--arch", "fn3", "--task", "det"], "unknown task"),
        (["--arch", "fn3", "--data", "/nonexistent/train.csv"], "no such manifest"),
        (["--arch", "fn3"], "no training data"),
        (["--resume", "/nonexistent/run"], "not a training run folder"),
        (["--arch", "vgg5", "--init", "fn3.synth"], "is fn3 seg, not vgg5 seg"),
        (["--arch", "fn3", "--init", "/nonexistent/weights"], "--init"),
        (["--arch", "fn3", "--loss", "dice"], "unknown loss"),
        (["--arch", "fn3", "--input-size", "100"], "multiple of 32"),
        (["--arch", "fn3", "--task", "cls", "--loss", "bce+dice"], "is for seg"),
    ],
)
def test_cli_bad_input_is_one_error_line(args, message, crops, tmp_path):
    if "--arch" in args and "--data" not in args and message != "no training data":
        args = [*args, "--data", str(crops)]
    result = CliRunner().invoke(app, ["train", *args, "--out", str(tmp_path / "run")])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1, result.output
    if message == "no such manifest":  # unusable data leaves no empty run folder behind
        assert not (tmp_path / "run").exists()


def test_init_starts_from_the_given_weights(crops, tmp_path):
    """Fine-tuning: step 0 is the checkpoint (a tiny lr keeps the convolutions as loaded)."""
    init, _ = load_model("fn3.synth")
    run = fit(config(crops, tmp_path / "run", steps=1, lr=1e-12, init="fn3.synth", val_data=[]))
    tuned = load_file(str(run / "last" / "model.safetensors"))
    for name, value in init.state_dict().items():
        if name.endswith("weight") and value.dim() == 4:
            assert torch.allclose(tuned[name], value, atol=1e-9), name
    assert json.loads((run / "train_config.json").read_text())["init"] == "fn3.synth"


def test_cli_missing_image_fails_before_training(tmp_path):
    manifest = make_crops(tmp_path / "d", n=4)
    (tmp_path / "d" / "img" / "2.png").unlink()
    result = CliRunner().invoke(
        app, ["train", "--arch", "fn3", "--data", str(manifest), "--out", str(tmp_path / "run")]
    )
    assert result.exit_code != 0 and "2.png: no such file" in result.output
    assert not (tmp_path / "run" / "last").exists()


# --------------------------------------------------------------------------------------------------
# forgeries made on the fly


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    try:
        from test_synth import bank as synth_bank_fixture  # the synth tests' tiny synthetic face bank
    except ImportError:
        pytest.skip("tests/test_synth.py (the synthetic face bank) is not available")
    return synth_bank_fixture.__wrapped__(tmp_path_factory)


def test_trains_on_synth_mixed_with_a_manifest(bank, crops, tmp_path):
    run = fit(
        TrainConfig(
            arch="fn3",
            data=[str(crops)],
            val_data=[str(crops)],
            synth=str(bank.root),
            synth_fraction=0.5,
            batch_size=4,
            input_size=SIZE,
            steps=2,
            workers=0,
            out=str(tmp_path / "run"),
        )
    )
    cfg = json.loads((run / "last" / "config.json").read_text())
    assert "synth" in cfg["training_data"] and "16 images" in cfg["training_data"]
    assert json.loads((run / "resume" / "state.json").read_text())["step"] == 2


def test_synth_only_epoch_and_samples_are_reproducible(bank, tmp_path):
    from fakeseg.data.datasets import SynthSource, TrainDataset
    from fakeseg.data.synth import Synthesizer

    ds = TrainDataset(
        None, SynthSource(Synthesizer(bank, seed=0, size=SIZE)), SIZE, seed=0, augment=Augment()
    )
    a, b = ds[(0, 5, 5)], ds[(0, 5, 5)]
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[0].shape == (SIZE, SIZE, 3)
    plan = EpochPlan.build(0, synth=True, synth_fraction=1.0, epoch_size=None, seed=0)
    assert plan.epoch_size == 10_000 and plan.items(1)[0] == 10_000


def test_unusable_data_leaves_no_run_config(tmp_path):
    """A run folder with train_config.json looks like a run; data that cannot train must not leave one."""
    image = tmp_path / "wall.png"
    cv2.imwrite(str(image), np.full((200, 300, 3), 120, np.uint8))  # a whole frame without a face
    manifest = tmp_path / "frames.csv"
    manifest.write_text("image,mask,label,method\nwall.png,,0,pristine\n")
    result = CliRunner().invoke(app, ["train", "--arch", "fn3", "--data", str(manifest), "--steps", "2",
                                      "--out", str(tmp_path / "runs" / "run")])
    assert result.exit_code == 1 and "no face found" in result.output
    # neither the run folder (with its face-box cache) nor the parent that --out created is left behind
    assert not (tmp_path / "runs").exists()
    (tmp_path / "mine").mkdir()  # a folder the user made is theirs: only what the call created goes
    result = CliRunner().invoke(app, ["train", "--arch", "fn3", "--data", str(manifest), "--steps", "2",
                                      "--out", str(tmp_path / "mine" / "run")])
    assert result.exit_code == 1 and (tmp_path / "mine").is_dir() and not (tmp_path / "mine" / "run").exists()
