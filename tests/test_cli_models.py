"""`fakeseg models` and the CLI root, through Typer's CliRunner."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from fakeseg import __version__
from fakeseg.cli import app
from fakeseg.models import list_models

runner = CliRunner()


def test_models_lists_every_architecture_in_both_tasks():
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {(r["name"], r["task"]) for r in rows} == {(a, t) for a in list_models() for t in ("seg", "cls")}
    fn3 = next(r for r in rows if r["name"] == "fn3" and r["task"] == "seg")
    assert fn3["params"] == 412_353 and 3.0 < fn3["gflops"] < 4.0 and fn3["out_stride"] == 4


def test_models_table_is_readable():
    result = runner.invoke(app, ["models"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in list_models():
        assert name in result.output


def test_version_and_unknown_command():
    assert runner.invoke(app, ["--version"]).output.strip() == f"fakeseg {__version__}"
    bad = runner.invoke(app, ["frobnicate"])
    assert bad.exit_code != 0 and "No such command" in bad.output


def test_help_texts_survive_rich_markup():
    """Typer renders help through rich, which takes "[...]" for markup and drops it from --help silently."""
    import typer.main
    from rich.text import Text

    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        assert Text.from_markup(command.help or "").plain == (command.help or ""), f"fakeseg {name}'s docstring"
        for param in command.params:
            text = getattr(param, "help", None) or ""
            assert Text.from_markup(text).plain == text, f"fakeseg {name} {param.opts[0]}: {text!r}"


def test_help_and_option_errors_do_not_load_torch(tmp_path):
    """`fakeseg --help`, `--version`, a mistyped option or path answer in well under a second: building the CLI
    imports neither torch nor the engines (they cost ~2-3 s), only a command that gets to run does."""
    import subprocess
    import sys

    code = (
        "import sys; from fakeseg.cli import app; from typer.testing import CliRunner; "
        "r = CliRunner().invoke(app, sys.argv[1:]); "
        "print(r.exit_code, 'torch' in sys.modules, 'fakeseg.predict' in sys.modules)"
    )
    cases = [(["--help"], 0), (["detect", "--help"], 0), (["eval", "--help"], 0), (["train", "--help"], 0),
             (["--version"], 0), (["detect", "x.mp4", "--precision", "fp8"], 2),
             (["detect", "/no/such/clip.mp4"], 1), (["train"], 1), (["eval"], 1)]
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"not read before the reference is checked")
    cases.append((["detect", str(photo), "--reference", "/no/such/genuine.mp4"], 1))
    for args, exit_code in cases:
        out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
        assert out.stdout.split() == [str(exit_code), "False", "False"], (args, out.stdout, out.stderr[-500:])
