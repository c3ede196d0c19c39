"""The `fakeseg` command: a Typer app; each command lives in its own module and is registered here."""
from __future__ import annotations

import sys

import typer

from . import models as models_cmd

app = typer.Typer(
    name="fakeseg",
    help="Find which pixels of a face were manipulated, in images and videos.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"fakeseg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_print_version),
) -> None:
    """Find which pixels of a face were manipulated, in images and videos."""


app.command("models")(models_cmd.models)

# Commands added by their own modules (kept in one place so the app stays readable):
for _name in ("detect", "train", "eval", "prepare", "synth"):
    try:
        _mod = __import__(f"fakeseg.cli.{_name}", fromlist=[_name])
    except ModuleNotFoundError as _e:  # a command whose module is not written yet
        if _e.name != f"fakeseg.cli.{_name}":
            raise
        continue
    app.command(_name)(getattr(_mod, _name if _name != "eval" else "eval_cmd"))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        print("fakeseg: interrupted", file=sys.stderr)
        sys.exit(130)
