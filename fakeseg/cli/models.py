"""`fakeseg models`: every architecture, both tasks, size and cost, and the weights shipped for it."""
from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ._common import console


def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON.")] = False,
) -> None:
    """List architectures (paper's names) with parameters, GFLOPs at 256x256 and shipped weights."""
    from ..models.summary import model_rows  # torch: imported here, so that --help needs none of it

    rows = model_rows()
    if as_json:
        import json

        console.print_json(json.dumps(rows))
        return
    table = Table(title="fakeseg models (GFLOPs: one 256x256 forward; stride: feature map, seg upsamples to input)")
    for col in ("name", "aliases", "task", "params", "GFLOPs", "stride", "weights"):
        table.add_column(col, justify="right" if col in ("params", "GFLOPs", "stride") else "left")
    for r in rows:
        table.add_row(r["name"], ",".join(r["aliases"]), r["task"], f"{r['params']:,}", f"{r['gflops']:.2f}",
                      str(r["out_stride"]), r["weights_text"])
    console.print(table)
