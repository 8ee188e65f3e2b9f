"""The `bat` command line: parse, then call the stage. Nothing else lives here.

Stages are imported inside their commands so that `bat --help` and shell completion stay fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import BatError, UsageError

app = typer.Typer(
    name="bat",
    help=(
        "Teach machines where sounds are: simulate binaural scenes with questions about them.\n\n"
        "Head frame: x front, y left, z up; azimuth 0 front, 90 left, 180 behind, 270 right; "
        "elevation positive up; distance in metres from the head centre.\n\n"
        "JSONL goes to stdout, progress and logs to stderr. Exit status: 0 done, 1 bad data or "
        "runtime failure, 2 bad usage."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
_state = {"debug": False}

SET_HELP = "Override a config key: --set room.rt60_s=[0.3,0.6] (repeatable; values are YAML)."


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="Show the full traceback on errors.")) -> None:
    _state["debug"] = debug


@app.command(
    epilog=(
        "Examples:\n\n"
        "  bat simulate -o data/train --num-clips 2000\n\n"
        "  bat simulate examples/simulate.yaml -o data/test --seed 7 --set split=test\n\n"
        "  bat simulate -o data/part3 --shard 3/8          # one of 8 machines\n\n"
        "  bat simulate -o bank --num-clips 0 --set responses=500   # room responses only\n\n"
        "  bat simulate --set sounds.library=ESC-50/meta/esc50.csv -o data/esc50\n\n"
        "Rerunning a command that was interrupted resumes it."
    )
)
def simulate(
    config: Optional[str] = typer.Argument(None, help="YAML config file or built-in preset name (tiny); default: built-in defaults."),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Output folder (created; a rerun resumes)."),
    num_clips: Optional[int] = typer.Option(None, "--num-clips", "-n", help="Clips in the whole data set (config: num_clips)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of every random draw (config: seed)."),
    shard: Optional[str] = typer.Option(None, "--shard", help="K/N: render only the K-th of N parts (config: shard)."),
    workers: int = typer.Option(0, "--workers", "-j", help="Parallel processes; 0 = one per core. The output does not depend on it."),
    overrides: list[str] = typer.Option([], "--set", help=SET_HELP),
    print_config: bool = typer.Option(False, "--print-config", help="Print the resolved config as YAML and exit."),
) -> None:
    """Render binaural scenes (audio/*.wav, scenes.jsonl) and questions about them (qa.jsonl).

    Each clip places 1-2 sound sources (built-in procedural sounds, or your own labelled
    recordings) around a listener in a random shoebox room, renders them through the HRTF
    (MIT KEMAR by default) and the room's image sources plus a late reverberant tail, and writes
    the scene record and the question/answer pairs. Prints a one-line JSON summary on stdout.
    """
    from .config import dump_yaml, load_config
    from .sim.simulate import SimulateConfig, simulate as run

    flags = {"num_clips": num_clips, "seed": seed, "shard": shard}
    settings = load_config(SimulateConfig, "simulate", config, [*overrides, *(f"{k}={v}" for k, v in flags.items() if v is not None)])
    if print_config:
        sys.stdout.write(dump_yaml(settings))
        return
    if out is None:
        raise UsageError("simulate: missing option -o DIR (the output folder)")
    if workers < 0:
        raise UsageError("--workers must be 0 (one per core) or more")
    try:
        summary = run(settings, out, workers)
    except KeyboardInterrupt:
        raise BatError(f"interrupted; the finished clips in {out} are kept, and the same command resumes") from None
    sys.stdout.write(json.dumps(summary) + "\n")


def main() -> None:
    """Entry point of the `bat` executable: one line on stderr per error, the documented exit codes."""
    try:
        app()
    except BatError as err:
        if _state["debug"]:
            raise
        sys.stderr.write(f"bat: error: {err}\n")
        sys.exit(err.exit_code)


if __name__ == "__main__":
    main()
