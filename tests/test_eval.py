"""`fakeseg eval` and fakeseg.evaluate end to end on tiny generated crops, the face-hull reference on
the shared eval set, and every bad input ending in one error line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from fakeseg.cli import app
from fakeseg.data.records import Record, read_manifest, write_manifest
from fakeseg.evaluate import calibrate, default_out_dir, evaluate, save_thresholds
from fakeseg.evaluation.inputs import EvalError
from fakeseg.models import WeightsConfig, create_model, load_model, save_checkpoint

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SIZE = 64
runner = CliRunner()


def _write(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)
    return path


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    """4 fake crops (a 16x16 square manipulated) of two methods and 3 genuine crops, as a manifest."""
    root = tmp_path_factory.mktemp("crops")
    rng = np.random.default_rng(0)
    records = []
    for i in range(7):
        label = int(i < 4)
        image = _write(root / f"img{i}.png", rng.integers(0, 255, (SIZE, SIZE, 3), np.uint8))
        mask = None
        if label:
            m = np.zeros((SIZE, SIZE), np.uint8)
            m[16:32, 16:32] = 255
            mask = _write(root / f"mask{i}.png", m)
        method = ("swap" if i < 2 else "lipsync") if label else "pristine"
        records.append(Record(image, mask, label, method, source=f"src{i % 2}", video=f"v{i // 2}"))
    return write_manifest(records, root / "eval.csv")


def _checkpoint(folder: Path, task: str = "seg", bias: float | None = None) -> Path:
    torch.manual_seed(0)
    model = create_model("fn3", task)
    if bias is not None:  # a constant predictor whose every figure is known
        with torch.no_grad():
            model.head.weight.zero_()
            model.head.bias.fill_(bias)
    return save_checkpoint(model, folder, WeightsConfig(arch="fn3", task=task, input_size=SIZE))


def test_eval_cli_writes_metrics_json_and_md(crops, tmp_path):
    ckpt = _checkpoint(tmp_path / "fn3_rand")
    out = tmp_path / "run"
    res = runner.invoke(
        app,
        [
            "eval",
            "--weights",
            str(ckpt),
            "--data",
            str(crops),
            "--no-face-crop",
            "--no-references",
            "--by",
            "source",
            "--batch-size",
            "3",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "Pixel level" in res.output and "swap" in res.output
    report = json.loads((out / "metrics.json").read_text())
    assert report["model"]["arch"] == "fn3" and report["model"]["weights"] == str(ckpt)
    assert report["thresholds"]["tau2"] == 0.5 and report["thresholds"]["origin"] == "checkpoint"
    assert report["counts"] == {
        "records": 7,
        "evaluated": 7,
        "fake": 4,
        "genuine": 3,
        "skipped": 0,
        "no_face": 0,
    }
    assert report["fakeseg_version"]
    columns = report["columns"]["model"]
    assert list(columns) == ["lipsync", "swap", "pristine", "fakes", "avg"]
    assert columns["swap"]["n_fake"] == 2 and columns["pristine"]["n_genuine"] == 3
    assert (
        columns["pristine"]["fg_iou"] is None and columns["pristine"]["miou"] == columns["pristine"]["bg_iou"]
    )
    assert columns["fakes"]["pixels"] == 4 * SIZE * SIZE
    for key in (
        "accuracy",
        "miou",
        "bg_iou",
        "fg_iou",
        "flagged",
        "pixel_auc",
        "auc",
        "ap",
        "eer",
        "video_auc",
    ):
        assert key in columns["fakes"]
    assert columns["fakes"]["video_auc"] is not None  # the rows carry video ids
    assert set(report["by_source"]["model"]) == {"src0", "src1"}
    md = (out / "metrics.md").read_text()
    assert "## Image level" in md and "## Pixel level" in md and "## Per source" in md


def test_constant_fake_predictor_gives_the_known_figures(crops, tmp_path):
    """All pixels called fake: Fg-IoU = mask share, every genuine pixel flagged, every image fake."""
    ckpt = _checkpoint(tmp_path / "all_fake", bias=10.0)
    result = evaluate(str(ckpt), crops, face_crop=False, references=False, device="cpu")
    cols = result.columns["model"]
    assert cols["fakes"]["fg_iou"] == pytest.approx(16 * 16 / SIZE**2)
    assert cols["fakes"]["bg_iou"] == 0.0
    assert cols["pristine"]["flagged"] == 1.0 and cols["pristine"]["accuracy"] == 0.0
    assert cols["fakes"]["accuracy"] == 1.0 and cols["fakes"]["auc"] == 0.5
    assert result.overall["model"]["balanced_accuracy"] == 0.5
    assert cols["avg"]["accuracy"] == pytest.approx((1 + 1 + 0) / 3)  # the paper's mean over columns
    # --threshold semantics through the API: tau2 above every score judges every image real
    strict = evaluate(str(ckpt), crops, face_crop=False, references=False, device="cpu", tau2=1.0)
    assert strict.columns["model"]["pristine"]["accuracy"] == 1.0


def test_calibrate_and_save_thresholds_keep_the_checkpoint_loadable(crops, tmp_path):
    ckpt = _checkpoint(tmp_path / "cls", task="cls")
    res = runner.invoke(
        app,
        ["eval", "--weights", str(ckpt), "--calibrate", str(crops), "--no-face-crop", "--save-thresholds"],
    )
    assert res.exit_code == 0, res.output
    cal = calibrate(str(ckpt), crops, face_crop=False, device="cpu")
    assert cal.tau1 is not None and 0 <= cal.tau2 <= 1 and cal.n_fake == 4 and cal.n_genuine == 3
    _, config = load_model(ckpt)  # sha256 still valid: only config.json changed
    assert config.tau2 == pytest.approx(cal.tau2) and config.tau1 == pytest.approx(cal.tau1)
    assert config.extra["calibration"]["n_fake"] == 4
    # the same pass measured the int8 activation ranges that `detect --precision int8` rebuilds the model from
    from fakeseg.models.int8 import quantize

    assert config.int8["ranges"] and "(7 crops)" in config.int8["data"]
    quantize(load_model(ckpt)[0], config.int8["ranges"])


def test_calibrate_at_a_false_alarm_rate_bounds_the_genuine_called_fake(crops, tmp_path):
    """--target-fpr: tau2 set so that at most that share of the genuine faces is called fake, also from
    genuine footage alone (where the balanced rule has nothing to balance)."""
    ckpt = _checkpoint(tmp_path / "fpr")
    none_flagged = calibrate(str(ckpt), crops, face_crop=False, device="cpu", target_fpr=0.0)
    one_flagged = calibrate(str(ckpt), crops, face_crop=False, device="cpu", target_fpr=0.34)  # floor(0.34*3)=1
    assert none_flagged.false_alarm_rate == 0.0 and one_flagged.false_alarm_rate == pytest.approx(1 / 3)
    assert one_flagged.tau2 < none_flagged.tau2 and none_flagged.rule == "false-alarm rate 0"
    assert none_flagged.balanced_accuracy is not None  # fakes present: still reported, and tau1 still picked
    at = evaluate(str(ckpt), crops, face_crop=False, references=False, device="cpu", tau2=none_flagged.tau2)
    assert at.columns["model"]["pristine"]["accuracy"] == 1.0

    genuine_only = write_manifest([r for r in read_manifest(crops) if r.label == 0], tmp_path / "genuine.csv")
    with pytest.raises(EvalError, match="fake and genuine"):
        calibrate(str(ckpt), genuine_only, face_crop=False, device="cpu")
    res = runner.invoke(app, ["eval", "--weights", str(ckpt), "--calibrate", str(genuine_only), "--no-face-crop",
                              "--target-fpr", "0", "--save-thresholds"])
    assert res.exit_code == 0, res.output
    _, config = load_model(ckpt)
    assert config.tau2 == pytest.approx(none_flagged.tau2) and config.tau1 == 0.5  # tau1 kept: no fakes to pick on
    assert config.extra["calibration"]["n_fake"] == 0 and config.extra["calibration"]["miou"] is None


def test_scores_csv_and_save_reference_store_the_genuine_scores(crops, tmp_path):
    """scores.csv holds each evaluated image's score; --save-reference stores the genuine ones, sorted, as the
    checkpoint's reference (what detect's false-alarm rates are measured against); the sha256 stays valid."""
    ckpt = _checkpoint(tmp_path / "ref")
    res = runner.invoke(app, ["eval", "--weights", str(ckpt), "--data", str(crops), "--no-face-crop",
                              "--no-references", "--save-reference", "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    with open(tmp_path / "run" / "scores.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["label"] for r in rows] == ["1"] * 4 + ["0"] * 3 and rows[0]["method"] == "swap"
    genuine = sorted(float(r["score"]) for r in rows if r["label"] == "0")
    _, config = load_model(ckpt)
    ref = config.extra["reference"]
    assert ref["n"] == 3 and ref["scores"] == pytest.approx(genuine, abs=1e-6) and ref["data"] == str(crops)
    assert "reference of 3 genuine faces saved" in res.output
    import fakeseg.evaluation.calibrate as calibrate_module

    def read_only(path, text):
        raise PermissionError(13, "Permission denied", str(path))

    with pytest.MonkeyPatch.context() as mp:  # an installed package's weights folder may be read-only
        mp.setattr(calibrate_module, "atomic_write", read_only)
        _fails(["--weights", str(ckpt), "--data", str(crops), "--no-face-crop", "--no-references",
                "--save-reference", "--out", str(tmp_path / "run2")], "cannot write its config.json")
    fakes_only = write_manifest([r for r in read_manifest(crops) if r.label == 1], tmp_path / "fakes.csv")
    _fails(["--weights", str(ckpt), "--data", str(fakes_only), "--no-face-crop", "--save-reference"],
           "no genuine image")


def test_prepared_cache_folder_is_read_as_crops(crops, tmp_path):
    cache = crops.parent
    (cache / "test.csv").write_text(crops.read_text())  # a cache: <split>.csv of face crops
    ckpt = _checkpoint(tmp_path / "ck")
    result = evaluate(str(ckpt), cache, split="test", references=False, device="cpu")
    assert result.data["kind"] == "prepared cache" and result.data["face_crop"] is False
    assert result.counts["evaluated"] == 7


def test_default_out_dir_auto_numbers(tmp_path):
    first = default_out_dir("fn3.synth", tmp_path)
    assert first == tmp_path / "fn3.synth"
    first.mkdir()
    assert default_out_dir("fn3.synth", tmp_path) == tmp_path / "fn3.synth2"


@pytest.mark.shared_data
@pytest.mark.slow
def test_face_hull_reference_reproduces_findings_on_eval_csv(tmp_path):
    manifest = SHARED / "forgeries" / "eval.csv"
    if not manifest.is_file():
        pytest.skip("../shared/data not present")
    ckpt = _checkpoint(tmp_path / "fn3_256")
    config = json.loads((ckpt / "config.json").read_text())
    config["input_size"] = 256  # the paper's crop, as FINDINGS measured it
    (ckpt / "config.json").write_text(json.dumps(config))
    result = evaluate(str(ckpt), manifest, device="cpu", batch_size=8)
    hull = result.columns["face_hull"]["fakes"]
    assert hull["miou"] == pytest.approx(0.82, abs=0.03)
    assert hull["n_fake"] == 45 and result.counts["evaluated"] == 69
    assert result.overall["face_hull"]["genuine_flagged"] == pytest.approx(0.198, abs=0.03)
    background = result.columns["all_background"]["fakes"]
    assert background["fg_iou"] == 0.0 and background["miou"] == pytest.approx(0.406, abs=0.03)


# --------------------------------------------------------------------------------------------------
# bad input: one error line, non-zero exit, no traceback


def _fails(args: list[str], *needles: str) -> str:
    res = runner.invoke(app, ["eval", *args])
    assert res.exit_code != 0, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    for needle in needles:
        assert needle in res.output, res.output
    return res.output


def test_cli_errors(crops, tmp_path):
    ckpt = _checkpoint(tmp_path / "ok")
    data = ["--data", str(crops), "--no-face-crop", "--no-references"]
    _fails(["--data", str(crops)], "--weights")
    _fails(["--weights", str(ckpt), "--data", str(tmp_path / "nope.csv")], "no such")
    _fails(["--weights", str(ckpt), *data, "--split", "test"], "--split")
    _fails(["--weights", str(ckpt), "--data", str(tmp_path), "--split", "holdout"], "--split")
    _fails(["--arch", "resnet9000", *data], "unknown architecture")
    _fails(["--weights", str(tmp_path / "missing_ckpt"), *data], "no such file")
    _fails(["--weights", str(ckpt), *data, "--by", "colour"], "--by")
    _fails(["--weights", str(ckpt), *data, "--save-thresholds"], "--calibrate")
    _fails(["--weights", str(ckpt), *data, "--target-fpr", "0.05"], "--calibrate")
    _fails(["--weights", str(ckpt), "--calibrate", str(crops), "--save-reference"], "--data")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(128, 256)) * 4)  # not text: one line naming the file, no traceback
    _fails(["--weights", str(ckpt), "--data", str(binary), "--no-face-crop"], "binary.csv", "not a readable CSV")
    _fails(["--weights", str(ckpt), "--calibrate", str(crops), "--no-face-crop", "--target-fpr", "1.5"], "[0, 1)")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    _fails(["--weights", str(ckpt), *data, "--out", str(blocker / "sub")], "cannot write")


def test_cli_corrupt_weights(crops, tmp_path):
    ckpt = _checkpoint(tmp_path / "bad")
    tensors = ckpt / "model.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:-16] + b"\0" * 16)
    _fails(["--weights", str(ckpt), "--data", str(crops), "--no-face-crop"], "sha256")


def test_cli_missing_images_warn_and_continue_then_fail_when_none_left(crops, tmp_path):
    ckpt = _checkpoint(tmp_path / "ok")
    rows = crops.read_text().splitlines()
    partial = crops.parent / "partial.csv"  # manifest paths are relative to the CSV
    partial.write_text("\n".join([rows[0], rows[1].replace("img0.png", "gone.png"), *rows[2:]]) + "\n")
    out = tmp_path / "partial_run"
    res = runner.invoke(
        app,
        [
            "eval",
            "--weights",
            str(ckpt),
            "--data",
            str(partial),
            "--no-face-crop",
            "--no-references",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "gone.png" in res.output and "1 skipped" in res.output
    assert json.loads((out / "metrics.json").read_text())["counts"]["skipped"] == 1
    empty = tmp_path / "empty.csv"
    empty.write_text("image,mask,label,method\nmissing1.png,,0,pristine\nmissing2.png,,1,swap\n")
    _fails(["--weights", str(ckpt), "--data", str(empty), "--no-face-crop"], "no usable image")


class _ShySeg(torch.nn.Module):
    """A seg model that finds the manipulated square of every crop but never says so above 0.3 (as BCE on
    small masks tends to), and marks the same square on genuine crops, so a threshold has a price."""

    arch, task = "fn3", "seg"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # a per-crop offset (< 0.005, far below any threshold) keeps scores apart: with all scores tied, their
        # order, and so AUC, hung on rounding that varies between runs under load
        offset = 0.005 * torch.sigmoid(x.mean(dim=(1, 2, 3)))[:, None, None, None]
        prob = torch.full((x.shape[0], 1, SIZE, SIZE), 0.02) + offset
        prob[..., 16:32, 16:32] = 0.3
        return torch.logit(prob)


def test_seg_pixel_threshold_is_calibrated_and_used_by_eval(crops):
    shy = (_ShySeg(), WeightsConfig(arch="fn3", task="seg", input_size=SIZE))
    at_half = evaluate(shy, crops, face_crop=False, references=False, device="cpu")
    assert at_half.columns["model"]["fakes"]["fg_iou"] == 0.0 and at_half.thresholds["pixel"] == 0.5
    cal = calibrate(shy, crops, face_crop=False, device="cpu")
    # below 0.3 every fake pixel is found and 3 x 256 genuine pixels flagged: mIoU over all pixels rises
    assert 0.02 < cal.tau1 < 0.3 and cal.miou > 0.75
    assert cal.mask_sigma == 0.0  # the map is exact already: smoothing would only blur its edges
    calibrated = evaluate(shy, crops, face_crop=False, references=False, device="cpu", tau1=cal.tau1)
    cols = calibrated.columns["model"]
    assert cols["fakes"]["fg_iou"] == 1.0 and cols["pristine"]["flagged"] == pytest.approx(256 / SIZE**2)
    assert calibrated.thresholds["pixel"] == cal.tau1
    assert calibrated.columns["model"]["fakes"]["auc"] == at_half.columns["model"]["fakes"]["auc"]  # Eq. 6 unchanged


class _RampCls(torch.nn.Module):
    """A cls model whose class map M peaks on the manipulated square and falls off around it, so that each
    tau1 gives a different CAM mask, and whose image score follows the crop's brightness."""

    arch, task = "fn3", "cls"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        yy, xx = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
        ramp = -((yy - 2.2) ** 2 + (xx - 2.9) ** 2).sqrt()  # 8x8 cells of 8 px; the square is cells 2-3
        return ramp + 1.5 + 40 * x.mean(dim=(1, 2, 3))[:, None, None, None]


def test_cls_calibration_reports_the_miou_that_eval_then_prints(crops):
    """calibrate counts pixels its own way (every tau1 in one pass); the figure it reports and picks by must be
    the one eval gives at the picked thresholds, including fakes judged real (an empty mask)."""
    ramp = (_RampCls(), WeightsConfig(arch="fn3", task="cls", input_size=SIZE))
    # no genuine crop called fake: tau2 then lies above 3 of the 4 fakes, whose masks must count as empty
    cal = calibrate(ramp, crops, face_crop=False, device="cpu", target_fpr=0.0)
    at = evaluate(ramp, crops, face_crop=False, references=False, device="cpu", tau1=cal.tau1, tau2=cal.tau2)
    assert at.columns["model"]["fakes"]["accuracy"] == 0.25
    assert cal.miou == pytest.approx(at.columns["model"]["fakes"]["miou"], abs=1e-12)
    for tau1 in (cal.tau1 - 0.05, cal.tau1 + 0.05):  # its neighbours on the grid do worse: a true maximum
        other = evaluate(ramp, crops, face_crop=False, references=False, device="cpu", tau1=tau1, tau2=cal.tau2)
        assert other.columns["model"]["fakes"]["miou"] < cal.miou


class _SpeckledSeg(torch.nn.Module):
    """A seg model whose evidence is scattered: it hits one pixel in four of the manipulated square (as a
    small receptive field does inside a swapped face) and one stray pixel elsewhere."""

    arch, task = "fn3", "seg"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        prob = torch.full((x.shape[0], 1, SIZE, SIZE), 0.02)
        prob[..., 16:32:2, 16:32:2] = 0.9
        prob[..., 50, 10] = 0.9
        return torch.logit(prob)


def test_calibration_picks_a_mask_smoothing_that_eval_and_the_checkpoint_then_use(crops, tmp_path):
    folder = _checkpoint(tmp_path / "speckled")
    speckled = (_SpeckledSeg(), WeightsConfig(arch="fn3", task="seg", input_size=SIZE))
    raw = calibrate(speckled, crops, face_crop=False, device="cpu")
    with pytest.MonkeyPatch.context() as mp:  # the sigma grid without smoothing: what the paper's read-out gets
        mp.setattr("fakeseg.evaluation.calibrate.MASK_SIGMA_GRID", (0.0,))
        unsmoothed = calibrate(speckled, crops, face_crop=False, device="cpu")
    assert unsmoothed.mask_sigma == 0.0 and raw.mask_sigma > 0 and raw.miou > unsmoothed.miou + 0.1
    at_sigma = evaluate(speckled, crops, face_crop=False, references=False, device="cpu", tau1=raw.tau1,
                        mask_sigma=raw.mask_sigma)
    plain = evaluate(speckled, crops, face_crop=False, references=False, device="cpu", tau1=unsmoothed.tau1)
    assert at_sigma.columns["model"]["fakes"]["fg_iou"] > plain.columns["model"]["fakes"]["fg_iou"] + 0.2
    assert at_sigma.columns["model"]["fakes"]["auc"] == plain.columns["model"]["fakes"]["auc"]  # Eq. 6 unchanged
    assert at_sigma.thresholds["mask_sigma"] == raw.mask_sigma

    save_thresholds(str(folder), raw)
    _, config = load_model(folder)
    assert config.mask_sigma == raw.mask_sigma and config.tau1 == raw.tau1
