"""The `bat` command line: parse, then call the stage. Nothing else lives here.

Stages are imported inside their commands so that `bat --help` and shell completion stay fast.
"""

from __future__ import annotations

import inspect
import json
import signal
import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import BatError, Stopped, UsageError

app = typer.Typer(
    name="bat",
    help=(
        "Teach machines where sounds are: simulate binaural scenes with questions about them, train an "
        "encoder that hears what sounds where and how far, locate sounds in recordings, train a language "
        "model on the encoder to answer questions about them, ask it, score the results.\n\n"
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
        "  bat simulate tiny -o data/tiny --qa-format spatialsoundqa   # also BAT's question file\n\n"
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
    qa_format: str = typer.Option("jsonl", "--qa-format", help="jsonl: the questions in qa.jsonl; spatialsoundqa: also in spatialsoundqa.json, BAT's SpatialSoundQA layout."),
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
    if qa_format not in ("jsonl", "spatialsoundqa"):
        raise UsageError(f"--qa-format {qa_format!r}: expected jsonl or spatialsoundqa")
    try:
        summary = run(settings, out, workers)
    except Stopped as stop:
        raise BatError(f"{stop}; the finished clips in {out} are kept, and the same command resumes") from None
    if qa_format == "spatialsoundqa":
        from .formats.spatialsoundqa import write_json
        from .records import load_jsonl

        write_json(load_jsonl(out / "qa.jsonl"), out / "spatialsoundqa.json")
    sys.stdout.write(json.dumps(summary) + "\n")


def _folders(text: str, option: str) -> list[Path]:
    folders = [Path(part) for part in text.split(",") if part.strip()]
    if not folders:
        raise UsageError(f"{option}: expected DIR[,DIR...]")
    return folders


def _train(command: str, settings, print_config: bool, data: Optional[str], out: Optional[Path], run) -> None:
    """What both train commands do around the training itself: --print-config, the required
    options, a resumable Ctrl-C, the JSON summary."""
    from .config import dump_yaml

    if print_config:
        sys.stdout.write(dump_yaml(settings))
        return
    if data is None or out is None:
        raise UsageError(f"{command}: needs --data DIR[,DIR...] and -o RUNDIR")
    try:
        summary = run(_folders(data, "--data"))
    except Stopped as stop:
        raise BatError(f"{stop}; add --resume to continue from the last checkpoint in {out}") from None
    sys.stdout.write(json.dumps(summary) + "\n")


@app.command(
    "train-encoder",
    epilog=(
        "Examples:\n\n"
        "  bat simulate tiny -n 8000 -o data/train && bat train-encoder tiny --data data/train -o runs/tiny\n\n"
        "  bat train-encoder base --data data/a,data/b --responses bank -o runs/base --set data.mixed_per_epoch=20000\n\n"
        "  bat train-encoder tiny --data data/train -o runs/tiny --resume       # continue an interrupted run\n\n"
        "  bat train-encoder cpu --data data/train --responses bank --set init=batcli/data/encoder -o runs/more   # from the shipped weights\n\n"
        "  torchrun --nproc-per-node 4 -m batcli train-encoder base --data data/train -o runs/base   # 4 GPUs\n\n"
        "The run folder is a model directory: bat localize --model RUNDIR."
    ),
)
def train_encoder(
    config: Optional[str] = typer.Argument(None, help="YAML config file or built-in preset (tiny, base); default: the paper's size (base)."),
    data: Optional[str] = typer.Option(None, "--data", help="bat simulate output folder(s), comma-separated."),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Run folder: the model, checkpoint.pt, metrics.jsonl."),
    responses: Optional[str] = typer.Option(None, "--responses", help="Response bank(s), comma-separated (bat simulate --set responses=N), to mix data.mixed_per_epoch new scenes from each epoch."),
    val: Optional[str] = typer.Option(None, "--val", help="Validation folder(s); default: data.val_clips clips held out of --data."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    resume: bool = typer.Option(False, "--resume", help="Continue from RUNDIR/checkpoint.pt, exactly as if never stopped."),
    until: Optional[int] = typer.Option(None, "--until", help="Stop after this step (a later --resume goes on to optim.steps)."),
    overrides: list[str] = typer.Option([], "--set", help=SET_HELP),
    print_config: bool = typer.Option(False, "--print-config", help="Print the resolved config as YAML and exit."),
) -> None:
    """Train the spatial audio encoder: which sounds, from which direction, how far.

    Reads the clips and scene records of bat simulate folders, and optionally mixes new scenes
    from a bank of room responses on the fly. Validates on a fixed held-out set every eval_every
    steps (RUNDIR/metrics.jsonl), checkpoints every checkpoint_every steps. Prints a one-line JSON
    summary on stdout.
    """
    from .config import load_config
    from .encoder.train import EncoderTrainConfig, train

    settings = load_config(EncoderTrainConfig, "encoder", config, overrides)
    _train("train-encoder", settings, print_config, data, out,
           lambda folders: train(settings, folders, out, _folders(responses, "--responses") if responses else [], _folders(val, "--val") if val else None, device, resume, until))


@app.command(
    epilog=(
        "Examples:\n\n"
        "  bat localize examples/audio/*.wav\n\n"
        "  bat localize long.flac --window 2 --hop 1 > where.jsonl\n\n"
        "  jq -c 'select(.split==\"test\")' data/scenes.jsonl | bat localize - --model runs/tiny\n\n"
        "  bat localize examples/audio/*.wav --plot where.png        # a picture, a panel per file\n\n"
        "  bat localize long.wav --window 2 --plot frames/           # a picture per window\n\n"
        "  bat localize data/*.wav --format dcase -o csv/            # DCASE SELD CSV, one per file\n\n"
        "Output: one JSON record per file (or window) with sources sorted by score: label, score, "
        "azimuth_deg (0 front, 90 left), elevation_deg, distance_m, direction words."
    )
)
def localize(
    audio: list[str] = typer.Argument(..., help="Binaural (2-channel) audio files; - reads paths or JSONL records with an audio field from stdin."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="Encoder model directory (a train-encoder run folder); default: the shipped encoder (batcli/data/encoder)."),
    window: Optional[float] = typer.Option(None, "--window", help="Window length in seconds (at most the model's clip length, the default)."),
    hop: Optional[float] = typer.Option(None, "--hop", help="Seconds between window starts; default: the window length."),
    threshold: float = typer.Option(0.5, "--threshold", help="Presence probability from which a source is reported."),
    unknown_below: float = typer.Option(0.0, "--unknown-below", help="Report the label as 'unknown' when its class probability is below this."),
    batch_size: int = typer.Option(16, "--batch-size", help="Windows per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Write the records to this file instead of stdout (--format dcase: FILE.csv for one recording, a folder for several)."),
    output_format: str = typer.Option("jsonl", "--format", help="jsonl: localization records; dcase: DCASE SELD metadata CSV (100-ms frames, class index, azimuth -180..180, distance in cm)."),
    classes: Optional[Path] = typer.Option(None, "--classes", help="--format dcase: the class list, one label a line, whose line order gives the class index; default: the model's labels."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw where the sounds are: FILE.png (a panel per file) or a folder (a picture per window)."),
    hrtf: Optional[str] = typer.Option(None, "--hrtf", help="The recording head's HRTF set (a SOFA file, or kemar): an encoder with the evidence front end fits its cues to that head's directions instead of KEMAR's."),
) -> None:
    """Locate the sounds in binaural recordings: what, where (azimuth, elevation) and how far.

    Files at any sample rate are resampled to the model's; files longer than the model's clip are
    cut into windows, one record each with start_s and end_s; shorter ones are zero-padded. Mono
    files are refused: direction needs two ears. A silent window reports no sources.
    """
    if not 0 <= threshold <= 1 or not 0 <= unknown_below <= 1:
        raise UsageError("--threshold and --unknown-below are probabilities in [0, 1]")
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if output_format not in ("jsonl", "dcase"):
        raise UsageError(f"--format {output_format!r}: expected jsonl or dcase")
    if classes is not None and output_format != "dcase":
        raise UsageError("--classes goes with --format dcase")
    if output_format == "dcase" and len(audio) > 1 and (out is None or out.suffix.lower() == ".csv"):
        raise UsageError("--format dcase writes one recording to stdout or FILE.csv; give -o DIR for several")
    if plot is not None and plot.suffix.lower() not in ("", ".png"):
        raise UsageError(f"--plot {plot}: expected FILE.png or a folder")
    from .localize import load_encoder, localize as run
    from .records import write_jsonl

    encoder = load_encoder(str(model) if model else None, device, hrtf)
    records = run(audio, encoder, window, hop, batch_size, threshold, unknown_below)
    if plot is not None:
        records = list(records)
    if output_format == "dcase":
        from .formats.dcase import read_classes, write_recordings

        write_recordings(records, read_classes(classes) if classes else encoder.labels, out)
    else:
        write_jsonl(records, out)
    if plot is not None:
        from .plot import save_pictures

        save_pictures(records, plot)


@app.command(
    "train-llm",
    epilog=(
        "Examples:\n\n"
        "  bat train-llm tiny --data data/train --encoder runs/encoder -o runs/llm\n\n"
        "  bat train-llm --data data/train -o runs/llama --set lm.path=/models/Llama-3.2-1B --set projector.queries=64\n\n"
        "  bat train-llm tiny --data data/train -o runs/llm --until-stage 1    # then: --resume\n\n"
        "  torchrun --nproc-per-node 4 -m batcli train-llm --data data/train -o runs/llm --set lm.path=/models/qwen\n\n"
        "The run folder is a model directory: bat ask --model RUNDIR."
    ),
)
def train_llm(
    config: Optional[str] = typer.Argument(None, help="YAML config file or built-in preset (tiny); default: the embedded model, the paper's three stages."),
    data: Optional[str] = typer.Option(None, "--data", help="bat simulate output folder(s) with qa.jsonl, comma-separated."),
    encoder: Optional[Path] = typer.Option(None, "--encoder", help="Encoder model directory (frozen); default: the shipped encoder (batcli/data/encoder)."),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Run folder: the model, checkpoint.pt, metrics.jsonl, the encoder-token cache."),
    val: Optional[str] = typer.Option(None, "--val", help="Validation folder(s); default: the questions of val_clips clips held out of --data."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    resume: bool = typer.Option(False, "--resume", help="Continue from RUNDIR/checkpoint.pt."),
    until_stage: Optional[int] = typer.Option(None, "--until-stage", help="Stop after this curriculum stage (a later --resume goes on)."),
    overrides: list[str] = typer.Option([], "--set", help=SET_HELP),
    print_config: bool = typer.Option(False, "--print-config", help="Print the resolved config as YAML and exit."),
) -> None:
    """Train a language model to answer questions about where sounds are, on the frozen encoder.

    The encoder's tokens for every clip are computed once and cached in the run folder. A
    projector (learned queries cross-attending to those tokens) feeds the language model: any
    local Hugging Face causal LM (lm.path, LoRA by default) or the small embedded one (trained
    fully). Stages of question types run in order; after each, validation answers are scored into
    RUNDIR/metrics.jsonl. Prints a one-line JSON summary on stdout.
    """
    from .config import load_config
    from .llm.train import LLMTrainConfig, train

    settings = load_config(LLMTrainConfig, "llm", config, overrides)
    _train("train-llm", settings, print_config, data, out,
           lambda folders: train(settings, folders, encoder, out, _folders(val, "--val") if val else None, device, resume, until_stage))


@app.command(
    epilog=(
        "Examples:\n\n"
        "  bat ask examples/audio/two-sources.wav \"what is to my left?\"\n\n"
        "  bat ask clip.wav \"how far away is the dog?\" --model runs/llm\n\n"
        "  bat ask --questions data/test/qa.jsonl > answers.jsonl && bat eval answers.jsonl --ref data/test/qa.jsonl\n\n"
        "  bat ask --questions eval-stage3-distance.json --audio-root AudioSet --reverb-root reverb/mp3d/binaural   # SpatialSoundQA\n\n"
        "Output: one JSON record per question: audio, question, answer (question_id and question_type passed through)."
    )
)
def ask(
    audio: Optional[str] = typer.Argument(None, help="A binaural (2-channel) recording."),
    question: Optional[str] = typer.Argument(None, help="The question, e.g. \"what is to my left?\""),
    questions: Optional[str] = typer.Option(None, "--questions", "-q", help="Question records: our JSONL (audio, question), or a SpatialSoundQA .json or JSONL file; - reads stdin."),
    audio_root: Optional[Path] = typer.Option(None, "--audio-root", help="Folder that the question file's relative audio paths (SpatialSoundQA: audio_id) start from; default: the file's folder."),
    reverb_root: Optional[Path] = typer.Option(None, "--reverb-root", help="SpatialSoundQA: folder that reverb_id paths (binaural room responses, .npy) start from; default: --audio-root."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="bat train-llm run folder; default: the shipped model."),
    start: float = typer.Option(0.0, "--start", help="Seconds into the recording where the heard clip starts."),
    beams: int = typer.Option(1, "--beams", help="Beam search width (1: greedy decoding)."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Longest answer in tokens; default: the model's."),
    batch_size: int = typer.Option(32, "--batch-size", help="Questions answered together."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Write the records to this file instead of stdout."),
) -> None:
    """Answer questions about where the sounds in a binaural recording are.

    The encoder hears the model's clip length from --start (shorter recordings are zero-padded);
    the language model answers in the simulator's style: "dog; siren", "left, front; 2.5m", "Yes".
    """
    from .ask import ask as run, load_answerer, read_question_file
    from .audio import read_binaural
    from .records import write_jsonl

    if (questions is None) == (audio is None or question is None):
        raise UsageError("ask: give AUDIO and QUESTION, or --questions FILE.jsonl (not both)")
    if question is not None and not question.strip():
        raise UsageError("ask: QUESTION is empty")
    if audio is not None and not audio.strip():
        raise UsageError("ask: AUDIO is empty; give a recording's path")
    if beams < 1 or batch_size < 1 or (max_tokens is not None and max_tokens < 1) or start < 0:
        raise UsageError("--beams, --batch-size and --max-tokens must be at least 1, --start at least 0")
    if (audio_root or reverb_root) and not questions:
        raise UsageError("--audio-root and --reverb-root go with --questions FILE")
    if audio is not None:
        read_binaural(audio, None)  # a bad recording is named before the models load (seconds, or a first GGUF conversion)
    records = read_question_file(questions, audio_root, reverb_root) if questions else [{"audio": audio, "question": question}]
    write_jsonl(run(records, load_answerer(str(model) if model else None, device), start, beams, max_tokens, batch_size), out)


@app.command(
    "eval",
    epilog=(
        "Examples:\n\n"
        "  bat localize data/test/audio/*.wav > pred.jsonl && bat eval pred.jsonl --ref data/test/scenes.jsonl\n\n"
        "  bat ask --questions data/test/qa.jsonl > answers.jsonl && bat eval answers.jsonl --ref data/test/qa.jsonl\n\n"
        "  bat localize --format dcase -o pred/ dev-test/*.wav && bat eval pred/ --ref metadata_dev/dev-test   # DCASE CSV\n\n"
        "Every key of the report is explained in docs/evaluation.md."
    ),
)
def evaluate(
    predictions: str = typer.Argument(..., help="bat localize records, DCASE CSV (a .csv file or a folder of them), or bat ask answers; - reads stdin."),
    ref: Path = typer.Option(..., "--ref", help="References: scenes.jsonl or DCASE CSV (for localization), qa.jsonl or a SpatialSoundQA file (for answers)."),
    classes: Optional[Path] = typer.Option(None, "--classes", help="DCASE CSV: the class list whose line order gives the class index; answers: classes a model may name beside the data set's; default: the shipped encoder's labels."),
    audio_root: Optional[Path] = typer.Option(None, "--audio-root", help="Folder that the references' relative audio paths start from; default: the reference file's folder."),
) -> None:
    """Score predictions against references: one JSON object on stdout, a table on stderr.

    Localization (--ref scenes.jsonl): detection mAP, direction error (great-circle MAE, ER20 =
    share over 20 deg), distance MAE and DER (share more than 0.5 m off), left/right and front/back
    confusions, and a location-aware F1 (right class within 20 deg); for all clips, one-source and
    two-source clips. Answers (--ref qa.jsonl): per question type as in the paper: label-set
    precision/recall/F1 (A, C), direction-word accuracy and DER (B, D), binary reasoning accuracy
    split into direction and distance (E), and exact-match accuracy; answers are parsed tolerantly.

    With DCASE CSV on either side the report adds the DCASE 2024 scores (F20, DOA error, relative
    distance error) over 100-ms frames, under "dcase".
    """
    from .evaluate import evaluate as run

    report = run(predictions, str(ref), str(classes) if classes else None, str(audio_root) if audio_root else None)
    sys.stdout.write(json.dumps(report) + "\n")


def _reflow_help() -> None:
    """Docstrings wrap at 100 columns and rich wraps again at the terminal's width: join each
    paragraph's lines so that --help reads as paragraphs at any width."""
    for command in app.registered_commands:
        paragraphs = inspect.getdoc(command.callback).split("\n\n")
        command.help = "\n\n".join(" ".join(paragraph.split("\n")) for paragraph in paragraphs)


_reflow_help()


def _stop(number: int, _frame) -> None:
    raise Stopped(f"stopped by {signal.Signals(number).name}")


def main() -> None:
    """Entry point of the `bat` executable: one line on stderr per error, the documented exit codes.

    Ctrl-C and SIGTERM stop the command the same way, in one line; outputs are written atomically,
    so a stop leaves each of them whole or absent. An operating-system error (a full disk, a
    read-only folder) is one line naming the file."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, _stop)
    # multiprocessing's resource tracker, a process of its own started with this interpreter's warning
    # options, outlives a stopped run by a moment, cleans up the loader queues' semaphores the stop left
    # behind and says so on stderr, below bat's one-line error: nothing a user can act on.
    sys.warnoptions.append("ignore::UserWarning:multiprocessing.resource_tracker")
    try:
        app()
    except (BatError, Stopped, OSError) as err:
        if _state["debug"]:
            raise
        message = f"{err.filename}: {err.strerror}" if isinstance(err, OSError) and err.filename else str(err)
        sys.stderr.write(f"bat: error: {message}\n")
        sys.exit(getattr(err, "exit_code", 1))


if __name__ == "__main__":
    main()
