"""Training engine: `fit(config) -> run folder`. One flat loop, readable top to bottom (nanoGPT-style).

The paper's recipe: Adam(0.9, 0.999), lr 1e-3 without decay, batch 64, 256 px; per-pixel BCE (Eq. 5)
for seg, per-image BCE on the mean of the activation map (Eq. 1) for cls.

Run folder (rank 0 writes everything):
    train_config.json     the resolved TrainConfig (what `--resume RUN` reads back)
    metrics.csv / .json   one row per epoch end (and per early stop)
    metrics.png           loss and validation mIoU
    last/ best/           checkpoints in the weights format (`load_model("RUN/best")`); best by val mIoU
    resume/               model + optimiser tensors (safetensors) and step / RNG (JSON); no pickles
    face_boxes.json       face boxes of whole-frame images, found once

>>> from fakeseg.training.config import TrainConfig
>>> run = fit(TrainConfig(arch="fn3", data=["train.csv"], epochs=1, out="runs/train/demo"))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from .data.datasets import Collate, StepBatchSampler
from .data.transforms import normalize
from .device import cpu_has_native_bf16
from .models import FakeSegNet, WeightsConfig, WeightsError, canonical_name, create_model, load_model, save_checkpoint
from .training.config import DEFAULT_EPOCHS, TrainConfig, TrainError, load_config, new_run_dir, save_config
from .training.data import build_data
from .training.distributed import (
    Dist,
    any_rank,
    barrier,
    broadcast_object,
    init_distributed,
    shutdown,
    sync_buffers,
)
from .training.report import plot_history, write_metrics
from .training.state import RESUME_DIR, load_state, save_state
from .training.validate import validate

LOG_EVERY = 10  # steps between loss read-outs: .item() waits for the GPU, so not every step

__all__ = ["TrainConfig", "TrainError", "TrainEvent", "fit", "resume_config"]


@dataclass
class TrainEvent:
    """What the loop reports to its caller (the CLI draws a progress bar from these)."""

    kind: str  # "prepare", "note", "start", "step", "val", "checkpoint", "end"
    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    loss: float | None = None
    images_per_s: float | None = None
    message: str = ""
    metrics: dict = field(default_factory=dict)
    run: Path | None = None
    model: torch.nn.Module | None = None  # "end" only: the trained (unwrapped) model


def resume_config(run: str | Path, **overrides) -> TrainConfig:
    """The saved config of RUN with `overrides` (steps, epochs, max_minutes, workers, device) applied."""
    config = load_config(Path(run))
    for key, value in overrides.items():
        if value is not None:
            setattr(config, key, value)
    config.out = str(run)
    return config


def _autocast(device: torch.device, enabled: bool) -> Callable[[], contextlib.AbstractContextManager]:
    """bf16 autocast where it pays: CUDA with bf16 support and a CPU with native bf16 (with channels_last ~4x
    for FN3). A CPU that emulates bf16 trains in fp32: autocast there is ~10x slower (fakeseg.device)."""
    native = device.type == "cpu" and cpu_has_native_bf16()
    ok = enabled and (native or (device.type == "cuda" and torch.cuda.is_bf16_supported()))
    if not ok:
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _loss(
    out: torch.Tensor,
    mask: torch.Tensor,
    label: torch.Tensor,
    task: str,
    pos_weight: torch.Tensor | None,
    loss: str = "bce",
) -> torch.Tensor:
    if task == "seg":  # Eq. 5: BCE per pixel against the difference mask
        logits, target = out[:, 0].float(), mask.float()
        bce = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight)
        return bce + soft_dice_loss(logits, target) if loss == "bce+dice" else bce
    # Eq. 1: BCE per image on the mean of the activation map (GAP after the per-location classifier)
    return F.binary_cross_entropy_with_logits(FakeSegNet.image_logit(out), label, pos_weight=pos_weight)


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft Dice of the fake class over the whole batch as one set of pixels.

    Beyond the paper (its loss is BCE alone): BCE on masks that cover a few % of a batch's pixels learns
    probabilities too low to reach tau1 over the whole region, so thresholded masks come out too small;
    Dice scores the region's overlap instead of each pixel. Over the batch, not per image, so a genuine
    image (empty mask) still pays for every pixel it flags and contributes no 0/0. Measured on vgg5
    (docs/weights.md, "A lower learning rate, and BCE + Dice"): higher image AUC on held-out synthetic and
    forgery-video frames, masks no better once tau1 is calibrated.
    """
    prob = torch.sigmoid(logits)
    overlap = (prob * target).sum()
    return 1.0 - (2.0 * overlap + smooth) / (prob.sum() + target.sum() + smooth)


def _default_workers() -> int:
    per_process = (os.cpu_count() or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(0, min(8, per_process - 1))


def fit(
    config: TrainConfig, on_event: Callable[[TrainEvent], None] | None = None, resume: bool = False
) -> Path:
    """Train `config.arch` for `config.task` and return the run folder (see the module docstring).

    resume=True continues the run in `config.out` from its last resume checkpoint (use `resume_config`).
    Launched by torchrun, every rank calls fit; rank 0 writes the files.
    """
    config.check()
    d, device = init_distributed(config.device)
    try:
        run = _fit(config, on_event or (lambda event: None), resume, d, device)
    except BaseException:
        shutdown(d, wait=False)  # a rank that failed must not wait for the others at a barrier
        raise
    shutdown(d, wait=True)
    return run


def _only_end(emit):
    def wrapped(event: TrainEvent) -> None:
        if event.kind == "end":
            emit(event)

    return wrapped


def _init_state(config: TrainConfig) -> dict[str, torch.Tensor]:
    """Fine-tuning: the tensors of a checkpoint of the same architecture and task (its sha256 is checked)."""
    try:
        init, init_config = load_model(config.init)
    except WeightsError as e:
        raise TrainError(f"--init: {e}") from None
    if (canonical_name(init_config.arch), init_config.task) != (canonical_name(config.arch), config.task):
        raise TrainError(
            f"--init {config.init} is {init_config.arch} {init_config.task}, not {config.arch} {config.task}"
        )
    return init.state_dict()


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of `path` that does not exist yet (None when `path` exists)."""
    missing = None
    for folder in [path, *path.parents]:
        if folder.exists():
            return missing
        missing = folder
    return missing


def _fit(config: TrainConfig, emit, resume: bool, d: Dist, device: torch.device) -> Path:
    start_time = time.monotonic()
    init_state = _init_state(config) if config.init and not resume else None  # fail before any data work
    if not d.is_main:  # one progress bar, not one per rank; "end" carries each rank's model
        emit = _only_end(emit)
    run = Path(broadcast_object(str(new_run_dir(config)) if d.is_main else None, d))
    if not resume and (run / RESUME_DIR).exists():
        raise TrainError(f"{run}: already holds a run; continue it with --resume {run} or pick another --out")
    config.out = str(run)
    # the outermost folder this call creates (--out a/b may create a too): removed again if the data is unusable
    created = _first_missing(run) if d.is_main else None
    if d.is_main:
        try:
            run.mkdir(parents=True, exist_ok=True)  # train_config.json only once the data is usable (below)
        except OSError as e:
            raise TrainError(f"{run}: cannot write the run folder ({e.strerror or e})") from None
    barrier(d)

    torch.manual_seed(config.seed)  # the initial weights depend on the seed only
    emit(TrainEvent("prepare", message="preparing data", run=run))
    try:
        data = build_data(
            config,
            run,
            d,
            on_progress=lambda what, n, total: emit(
                TrainEvent("prepare", step=n, total_steps=total, message=what, run=run)
            ),
        )
    except Exception:
        if created is not None:  # unusable data: leave no run folder (nor its face-box cache) behind
            shutil.rmtree(created, ignore_errors=True)
        raise
    for note in data.notes:
        emit(TrainEvent("note", message=note, run=run))
    if d.is_main:
        try:
            save_config(config, run)
        except OSError as e:
            raise TrainError(f"{run}: cannot write the run folder ({e.strerror or e})") from None

    model = create_model(config.arch, task=config.task)
    if init_state is not None:  # a resumed run restores its own weights below
        model.load_state_dict(init_state)
    model = model.to(device)
    amp = _autocast(device, config.amp)
    in_bf16 = amp is not contextlib.nullcontext
    channels_last = in_bf16  # the layout oneDNN's bf16 kernels want
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.999))
    step, history, best, carry = 0, [], None, {"loss_sum": 0.0, "loss_steps": 0}
    elapsed_before = 0.0  # wall time of the run's earlier sessions, up to their last checkpoint
    if resume:
        info = load_state(run, model, optimizer)
        step, history, best, carry = info["step"], info["history"], info["best"], info["carry"]
        elapsed_before = info["elapsed_s"]
        if info.get("world", 1) != d.world:
            raise TrainError(
                f"{run}: was trained on {info.get('world', 1)} process(es), not {d.world}; resume it "
                "with the same number (the data order depends on it)"
            )
        for group in optimizer.param_groups:
            group["lr"] = config.lr

    sampler = StepBatchSampler(
        data.plan, config.batch_size, total_steps=1, start_step=step, rank=d.rank, world=d.world
    )
    spe = sampler.steps_per_epoch
    total = config.steps or (config.epochs or DEFAULT_EPOCHS) * spe
    sampler.total_steps = total
    workers = _default_workers() if config.workers is None else config.workers
    pin = device.type == "cuda"
    loader = torch.utils.data.DataLoader(
        data.train,
        batch_sampler=sampler,
        num_workers=workers,
        collate_fn=Collate(),
        pin_memory=pin,
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
    )
    val_loader = (
        None
        if data.val is None
        else torch.utils.data.DataLoader(
            data.val,
            batch_size=config.batch_size,
            shuffle=False,
            num_workers=min(workers, 4),
            collate_fn=Collate(),
            pin_memory=pin,
        )
    )

    net = model
    if d.enabled:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    pos_weight = None if config.pos_weight is None else torch.tensor(config.pos_weight, device=device)
    deadline = None if config.max_minutes is None else start_time + 60.0 * config.max_minutes

    def elapsed() -> float:
        """Wall seconds of the whole run, counted across --resume (time lost after a kill is not)."""
        return round(elapsed_before + time.monotonic() - start_time, 1)

    def weights_config(metrics: dict) -> WeightsConfig:
        return WeightsConfig(
            arch=config.arch,
            task=config.task,
            input_size=config.input_size,
            training_data=data.description,
            metrics=metrics,
            license="research only: inherits the terms of its training data",
            extra={
                "run": run.name,
                "step": step,
                "epoch": round(step / spe, 4),
                "lr": config.lr,
                "batch_size": config.batch_size * d.world,
            },
        )

    def checkpoint(row: dict | None) -> None:
        """rank 0: last/ (+ best/ when `row` improves val mIoU), metrics files and the resume state."""
        nonlocal best
        if not d.is_main:
            return
        metrics = {k: v for k, v in (row or {}).items() if k.startswith("val_")}
        save_checkpoint(model, run / "last", weights_config(metrics))
        if row is not None and row.get("val_miou") is not None and (best is None or row["val_miou"] > best):
            best = row["val_miou"]
            save_checkpoint(model, run / "best", weights_config(metrics))
        if row is not None:
            write_metrics(run, history)
            plot_history(history, run / "metrics.png")
        save_state(
            run,
            model,
            optimizer,
            {
                "step": step,
                "history": history,
                "best": best,
                "carry": carry,
                "steps_per_epoch": spe,
                "world": d.world,
                "elapsed_s": elapsed(),
            },
        )
        emit(TrainEvent("checkpoint", step=step, total_steps=total, run=run))

    emit(
        TrainEvent(
            "start",
            step=step,
            total_steps=total,
            epoch=step / spe,
            run=run,
            message=f"{config.arch}-{config.task} on {device.type} "
            f"({'bf16 autocast' if in_bf16 else 'fp32'}), {spe} steps/epoch, "
            f"{data.train.n_real} manifest images, "
            f"{workers} loader workers",
        )
    )
    if step >= total:
        emit(TrainEvent("end", step=step, total_steps=total, run=run, model=model))
        return run

    net.train()
    loss_acc = torch.zeros((), device=device)  # summed on the device: no sync per step
    window_t, window_steps = time.perf_counter(), 0
    seen_images, train_seconds = 0, 0.0
    for x, mask, label in loader:
        x = normalize(x.to(device, non_blocking=True))  # NHWC view: already channels_last
        if not channels_last:
            x = x.contiguous()
        mask, label = mask.to(device, non_blocking=True), label.to(device, non_blocking=True)
        with amp():
            out = net(x)
        loss = _loss(out, mask, label, config.task, pos_weight, config.loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        window_steps += 1
        loss_acc += loss.detach()

        epoch_end = step % spe == 0 or step == total
        stop = any_rank(deadline is not None and time.monotonic() > deadline, d, device)
        if step % LOG_EVERY == 0 or epoch_end or stop or step % config.save_every == 0:
            carry["loss_sum"] += float(loss_acc)  # the one sync point of the step
            carry["loss_steps"] += window_steps
            loss_acc.zero_()
            now = time.perf_counter()
            # over the whole run so far, validation excluded: a window right after validation would
            # only measure how fast the prefetched batches are consumed
            seen_images += window_steps * config.batch_size * d.world
            train_seconds += now - window_t
            rate = seen_images / max(train_seconds, 1e-9)
            window_t, window_steps = now, 0
            emit(
                TrainEvent(
                    "step",
                    step=step,
                    total_steps=total,
                    epoch=step / spe,
                    loss=float(loss.detach()),
                    images_per_s=rate,
                )
            )
        if epoch_end or stop:
            row = {
                "epoch": round(step / spe, 4),
                "step": step,
                "train_loss": carry["loss_sum"] / max(carry["loss_steps"], 1),
                "images_per_s": round(rate, 1),
                "elapsed_s": elapsed(),
            }
            carry = {"loss_sum": 0.0, "loss_steps": 0}
            if val_loader is not None and d.is_main:
                row.update(
                    validate(model, val_loader, device, config.pos_weight, amp, channels_last=channels_last)
                )
                net.train()
            history.append(row)
            emit(TrainEvent("val", step=step, total_steps=total, epoch=step / spe, metrics=row))
            checkpoint(row)
            barrier(d)  # the other ranks wait while rank 0 validates and writes
            window_t = time.perf_counter()
        elif step % config.save_every == 0:
            checkpoint(None)
            barrier(d)
        if stop:
            emit(
                TrainEvent(
                    "note",
                    step=step,
                    total_steps=total,
                    message=f"--max-minutes {config.max_minutes:g} reached at step {step}/{total}; "
                    f"continue with --resume {run}",
                )
            )
            break
    sync_buffers(model, d)
    if history and not math.isfinite(history[-1]["train_loss"]):
        emit(TrainEvent("note", message="the training loss is not finite; try a lower --lr"))
    emit(TrainEvent("end", step=step, total_steps=total, epoch=step / spe, run=run, model=model))
    return run
