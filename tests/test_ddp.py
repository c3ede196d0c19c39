"""DDP: two CPU processes (gloo) train on different samples and must end with identical replicas."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file
from test_train import SIZE, make_crops


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, data: str, out: str, dump: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(world),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world),
    )
    torch.set_num_threads(1)
    from fakeseg.train import TrainConfig, fit

    def on_event(event) -> None:
        if event.kind == "end":
            state = {k: v.detach().cpu().contiguous() for k, v in event.model.state_dict().items()}
            save_file(state, f"{dump}/rank{rank}.safetensors")

    config = TrainConfig(
        arch="fn3",
        data=[data],
        val_data=[data],
        batch_size=2,
        input_size=SIZE,
        steps=3,
        epoch_size=8,
        workers=0,
        out=out,
        device="cpu",
    )
    fit(config, on_event=on_event)


@pytest.mark.slow
def test_two_gloo_ranks_stay_identical(tmp_path):
    data = make_crops(tmp_path / "d", n=8)
    world = 2
    mp.spawn(
        _worker,
        args=(world, _free_port(), str(data), str(tmp_path / "run"), str(tmp_path)),
        nprocs=world,
        join=True,
    )
    r0, r1 = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in range(world))
    from fakeseg.models import create_model

    torch.manual_seed(0)  # the seed fit draws the initial weights with
    start = create_model("fn3").state_dict()
    for key in r0:
        torch.testing.assert_close(r0[key], r1[key], rtol=0, atol=0, msg=key)  # replicas equal
    assert any(not torch.equal(r0[k], start[k]) for k in r0 if r0[k].is_floating_point())  # and they trained
    run = Path(tmp_path / "run")
    state = json.loads((run / "resume" / "state.json").read_text())
    assert (
        state["step"] == 3 and state["world"] == 2
    )  # rank 0 wrote the run; 2 steps per epoch of 8 / (2 x 2)
    assert len(json.loads((run / "metrics.json").read_text())) == 2
