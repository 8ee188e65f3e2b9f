"""A corpus of bad inputs, each given to `bat` as a user would give it: broken or unsuitable audio,
configs, JSONL records, model and data folders, and questions.

Each must end with the documented exit status (2: bad usage, options or config; 1: bad data) and
one line on stderr, `bat: error: ...`, that names the file or option at fault; never a traceback,
never output on stdout. docs/reliability.md counts them.
"""

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile

from batcli.encoder.features import INPUT_VERSION as ENCODER_INPUT_VERSION
from batcli.llm.model import INPUT_VERSION as LLM_INPUT_VERSION

from .conftest import RATE, TINY_LLM, set_options

ROOT = Path(__file__).resolve().parents[1]
RECORDING = ROOT / "examples" / "audio" / "siren-left.wav"
KEMAR = ROOT / "batcli" / "data" / "mit_kemar_normal_pinna.sofa"


@dataclass
class Kit:
    """What a case builds its inputs from: a scratch folder and the shared test materials."""

    tmp: Path
    encoder: Path  # an encoder model folder (1-s clips at 16 kHz)
    llm: Path  # a bat train-llm run folder over that encoder
    scenes: Path  # a bat simulate folder with questions and a response bank
    encoder_config: Path
    encoder_run: Path  # a finished train-encoder run of encoder_config on scenes

    def file(self, name: str, content: str | bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
        return path

    def wav(self, name: str, frames: np.ndarray, rate: int = RATE, subtype: str = "PCM_16") -> Path:
        path = self.tmp / name
        soundfile.write(path, frames, rate, subtype=subtype)
        return path

    def copy(self, folder: Path, name: str) -> Path:
        return Path(shutil.copytree(folder, self.tmp / name))

    def cut(self, path: Path, keep: int) -> None:
        """Truncate `path` to its first `keep` bytes, as an interrupted copy leaves a file."""
        path.write_bytes(path.read_bytes()[:keep])

    def damaged(self, folder: Path, name: str, member: str, keep: int = 200) -> Path:
        """A copy of model folder `folder` whose file `member` is cut short."""
        copy = self.copy(folder, name)
        self.cut(copy / member, keep)
        return copy

    def without(self, folder: Path, member: str) -> Path:
        """A copy of model folder `folder` without its file `member`."""
        copy = self.copy(folder, "model")
        (copy / member).unlink()
        return copy

    def replaced(self, folder: Path, member: str, content: str) -> Path:
        """A copy of model folder `folder` whose file `member` holds `content`."""
        copy = self.copy(folder, "model")
        (copy / member).write_text(content)
        return copy


@dataclass
class Case:
    name: str
    code: int
    message: str  # what the one error line must say
    args: Callable[[Kit], list]
    stdin: str | None = None


def stereo(seconds: float = 0.5) -> np.ndarray:
    return 0.1 * np.random.default_rng(0).standard_normal((int(RATE * seconds), 2))


def with_nan(kit: Kit) -> Path:
    frames = stereo().astype(np.float32)
    frames[RATE // 4, 0] = np.nan
    return kit.wav("nan.wav", frames, subtype="FLOAT")


def damaged_kemar(kit: Kit, name: str, damage: Callable[[np.ndarray], None]) -> Path:
    """A copy of the built-in KEMAR set whose responses `damage` changes in place."""
    import sofar

    sofa = sofar.read_sofa(str(KEMAR), verify=False, verbose=False)
    responses = np.array(sofa.Data_IR, dtype=np.float64)
    damage(responses)
    sofa.Data_IR = responses
    path = kit.tmp / name
    sofar.write_sofa(str(path), sofa)
    return path


def one_nan_tap(responses: np.ndarray) -> None:
    responses[5, 0, 10] = np.nan


def all_zero(responses: np.ndarray) -> None:
    responses[:] = 0.0


def another_input_version(kit: Kit, folder: Path, meta: str) -> Path:
    """A copy of a model folder whose `meta` file says it was trained on input version 0."""
    record = json.loads((folder / meta).read_text())
    return kit.replaced(folder, meta, json.dumps({**record, "input_version": 0}))


def scenes_with_bad_line(kit: Kit) -> Path:
    data = kit.copy(kit.scenes, "data")
    with open(data / "scenes.jsonl", "a") as stream:
        stream.write('{"clip_id": "x", "audio": \n')
    return data


def bank_with_damaged_response(kit: Kit) -> Path:
    bank = kit.copy(kit.scenes, "bank")
    kit.cut(next(iter(sorted((bank / "responses").glob("*.safetensors")))), 100)
    return bank


def renamed_class(kit: Kit) -> Path:
    """A copy of the trained encoder whose first class has another name."""
    model = kit.copy(kit.encoder_run, "model")
    labels = (model / "labels.txt").read_text().splitlines()
    (model / "labels.txt").write_text("".join(f"{label}\n" for label in ["dog", *labels[1:]]))
    return model


def ask(kit: Kit, *args) -> list:
    return ["ask", *args, "--model", kit.llm]


def localize(*args) -> list:
    return ["localize", RECORDING, *args]


CASES = [
    # audio
    Case("audio missing", 1, "nosuch.wav: no such file", lambda k: ["localize", k.tmp / "nosuch.wav"]),
    Case("audio is a folder", 1, "a folder, not an audio file", lambda k: ["localize", k.tmp]),
    Case("audio file empty", 1, "empty.wav: the file is empty", lambda k: ["localize", k.file("empty.wav", b"")]),
    Case("audio file is text", 1, "text.wav: cannot read audio (not an audio format", lambda k: ["localize", k.file("text.wav", "hello\n")]),
    Case("audio mono", 1, "mono.wav: mono audio", lambda k: ["localize", k.wav("mono.wav", stereo()[:, 0])]),
    Case("audio with four channels", 1, "four.wav: 4 channels", lambda k: ["localize", k.wav("four.wav", np.zeros((RATE, 4)))]),
    Case("audio without samples", 1, "zero.wav: the file holds no audio samples", lambda k: ["localize", k.wav("zero.wav", np.zeros((0, 2)))]),
    Case("audio with NaN samples", 1, "nan.wav: the audio holds NaN or infinite samples (first at 0.250 s)", lambda k: ["localize", with_nan(k)]),
    Case("ask about missing audio", 1, "nosuch.wav: no such file", lambda k: ask(k, k.tmp / "nosuch.wav", "where is the siren?")),
    Case("stdin line not JSON", 1, "<stdin>:2: not valid JSON", lambda k: ["localize", "-"], stdin=f"{RECORDING}\n{{bad\n"),
    Case("stdin record without audio", 1, '<stdin>:1: expected a record with an "audio" path', lambda k: ["localize", "-"], stdin='{"path": "a.wav"}\n'),
    # options
    Case("window longer than the model's clip", 2, "--window 100.0 s is longer than the model's clip", lambda k: localize("--window", 100)),
    Case("hop of zero", 2, "--window and --hop must be positive", lambda k: localize("--hop", 0)),
    Case("threshold above 1", 2, "--threshold and --unknown-below are probabilities", lambda k: localize("--threshold", 2)),
    Case("batch size 0", 2, "--batch-size must be at least 1", lambda k: localize("--batch-size", 0)),
    Case("unknown output format", 2, "--format 'xml': expected jsonl or dcase", lambda k: localize("--format", "xml")),
    Case("unknown device", 2, "--device tpu: expected auto, cpu or cuda", lambda k: localize("--device", "tpu")),
    Case("plot to a text file", 2, "--plot", lambda k: localize("--plot", k.tmp / "where.txt")),
    Case("beam width 0", 2, "--beams", lambda k: ask(k, RECORDING, "where is the siren?", "--beams", 0)),
    # configs
    Case("config not YAML", 2, "bad.yaml:2: not valid YAML", lambda k: ["simulate", k.file("bad.yaml", "seed: [1\n"), "-o", k.tmp / "out"]),
    Case("config a list", 2, "list.yaml: expected a mapping of config keys", lambda k: ["simulate", k.file("list.yaml", "- 1\n"), "-o", k.tmp / "out"]),
    Case("config value of the wrong type", 2, "many.yaml:1: num_clips: expected an integer, got 'many'",
         lambda k: ["simulate", k.file("many.yaml", "num_clips: many\n"), "-o", k.tmp / "out"]),
    Case("config file missing", 2, "config nosuch.yaml: no such file, nor a built-in preset", lambda k: ["simulate", "nosuch.yaml", "-o", k.tmp / "out"]),
    Case("--set without a value", 2, "--set seed: expected key.sub=value", lambda k: ["simulate", "--set", "seed", "-o", k.tmp / "out"]),
    Case("negative clip count", 2, "num_clips: -1 is out of range", lambda k: ["simulate", "-n", -1, "-o", k.tmp / "out"]),
    Case("HRTF file cut short", 1, "cut.sofa: not a readable SOFA file",
         lambda k: ["simulate", "-n", 1, "--set", f"hrtf={k.file('cut.sofa', KEMAR.read_bytes()[:5000])}", "-o", k.tmp / "out"]),
    Case("HRTF with a NaN tap", 1, "nan.sofa: Data.IR holds NaN or infinite values in 1 of 710 responses",
         lambda k: ["simulate", "-n", 1, "--set", f"hrtf={damaged_kemar(k, 'nan.sofa', one_nan_tap)}", "-o", k.tmp / "out"]),
    Case("HRTF of zeros", 1, "zeros.sofa: Data.IR is all zeros", lambda k: ["simulate", "-n", 1, "--set", f"hrtf={damaged_kemar(k, 'zeros.sofa', all_zero)}", "-o", k.tmp / "out"]),
    Case("localize through an HRTF with a NaN tap", 1, "nan.sofa: Data.IR holds NaN or infinite values",
         lambda k: localize("--hrtf", damaged_kemar(k, "nan.sofa", one_nan_tap))),
    Case("model width not divisible by heads", 1, "model.width 30 does not divide by model.heads 4",
         lambda k: ["train-encoder", k.encoder_config, "--set", "model.width=30", "--set", "model.heads=4", "--data", k.scenes, "-o", k.tmp / "run"]),
    Case("unknown encoder preset", 2, "config huge: no such file, nor a built-in preset", lambda k: ["train-encoder", "huge", "--data", k.scenes, "-o", k.tmp / "run"]),
    Case("zero training steps", 2, "optim.steps: 0 is out of range", lambda k: ["train-encoder", "tiny", "--set", "optim.steps=0", "--data", k.scenes, "-o", k.tmp / "run"]),
    Case("language model path missing", 1, "lm.path /nonexistent/model: no such directory or file",
         lambda k: ["train-llm", *set_options(TINY_LLM), "--set", "lm.path=/nonexistent/model", "--data", k.scenes, "--encoder", k.encoder, "-o", k.tmp / "run"]),
    Case("language model path not a model", 1, "not a Hugging Face model directory (no config.json) nor a .gguf file",
         lambda k: ["train-llm", *set_options(TINY_LLM), "--set", f"lm.path={k.file('notes.txt', 'x')}", "--data", k.scenes, "--encoder", k.encoder, "-o", k.tmp / "run"]),
    # data folders and checkpoints
    Case("training data folder missing", 1, "nosuch: not a finished `bat simulate` folder",
         lambda k: ["train-encoder", k.encoder_config, "--data", k.tmp / "nosuch", "-o", k.tmp / "run"]),
    Case("scenes.jsonl with a broken line", 1, "scenes.jsonl:41: not valid JSON",
         lambda k: ["train-encoder", k.encoder_config, "--data", scenes_with_bad_line(k), "-o", k.tmp / "run"]),
    Case("response bank folder is not one", 1, "not a response bank",
         lambda k: ["train-encoder", k.encoder_config, "--set", "data.mixed_per_epoch=8", "--responses", k.tmp, "--data", k.scenes, "-o", k.tmp / "run"]),
    Case("bank response cut short", 1, "000000.safetensors: damaged or not a safetensors file",
         lambda k: ["train-encoder", k.encoder_config, "--set", "data.mixed_per_epoch=8", "--responses", bank_with_damaged_response(k), "--data", k.scenes, "-o", k.tmp / "run"]),
    Case("responses that would not be used", 2, "--responses: data.mixed_per_epoch is 0",
         lambda k: ["train-encoder", k.encoder_config, "--responses", k.scenes, "--data", k.scenes, "-o", k.tmp / "run"]),
    Case("question data without qa.jsonl", 1, "not a finished `bat simulate` folder (needs scenes.jsonl and qa.jsonl)",
         lambda k: ["train-llm", *set_options(TINY_LLM), "--data", k.tmp, "--encoder", k.encoder, "-o", k.tmp / "run"]),
    Case("resume without a checkpoint", 2, "--resume: ", lambda k: ["train-encoder", k.encoder_config, "--data", k.scenes, "-o", k.tmp / "run", "--resume"]),
    Case("encoder checkpoint cut short", 1, "checkpoint.pt: damaged",
         lambda k: ["train-encoder", k.encoder_config, *set_options(ENCODER_RUN), "--data", k.scenes, "-o", k.damaged(k.encoder_run, "run", "checkpoint.pt", 3000), "--resume"]),
    Case("language-model checkpoint cut short", 1, "checkpoint.pt: damaged",
         lambda k: ["train-llm", *set_options(LLM_RUN), "--data", k.scenes, "--encoder", k.encoder, "-o", k.damaged(k.llm, "run", "checkpoint.pt", 3000), "--resume"]),
    # encoder model folders
    Case("encoder folder missing", 1, "nosuch: no such model folder", lambda k: localize("--model", k.tmp / "nosuch")),
    Case("encoder folder without labels", 1, "(missing labels.txt)", lambda k: localize("--model", k.without(k.encoder, "labels.txt"))),
    Case("encoder config.json not JSON", 1, "config.json: not valid JSON", lambda k: localize("--model", k.damaged(k.encoder, "model", "config.json", 20))),
    Case("encoder config.json of something else", 1, "config.json: not a bat encoder",
         lambda k: localize("--model", k.replaced(k.encoder, "config.json", '{"kind": "tokenizer"}'))),
    Case("encoder weights cut short", 1, "model.safetensors: damaged or not a safetensors file",
         lambda k: localize("--model", k.damaged(k.encoder, "model", "model.safetensors", 5000))),
    Case("encoder labels not its classes", 1, "model.safetensors: weights do not fit config.json and the 2 classes of labels.txt",
         lambda k: localize("--model", k.replaced(k.encoder, "labels.txt", "dog\ncat\n"))),
    Case("encoder trained on other features", 1, f"config.json: was trained on version 0 of the encoder's features, this bat makes version {ENCODER_INPUT_VERSION}",
         lambda k: localize("--model", another_input_version(k, k.encoder, "config.json"))),
    Case("training from a model of other classes", 1, "its classes differ",
         lambda k: ["train-encoder", k.encoder_config, "--set", f"init={renamed_class(k)}", "--data", k.scenes, "-o", k.tmp / "run"]),
    # language-model folders
    Case("language-model folder missing", 1, "nosuch: no such model folder", lambda k: ["ask", RECORDING, "where?", "--model", k.tmp / "nosuch"]),
    Case("language-model folder without bat-llm.json", 1, "no bat-llm.json", lambda k: ["ask", RECORDING, "where?", "--model", k.without(k.llm, "bat-llm.json")]),
    Case("bat-llm.json not JSON", 1, "bat-llm.json: not valid JSON", lambda k: ["ask", RECORDING, "where?", "--model", k.damaged(k.llm, "llm", "bat-llm.json", 30)]),
    Case("language model trained on another prompt", 1, f"bat-llm.json: was trained on version 0 of the prompt and heard text, this bat makes version {LLM_INPUT_VERSION}",
         lambda k: ["ask", RECORDING, "where?", "--model", another_input_version(k, k.llm, "bat-llm.json")]),
    Case("tokenizer cut short", 1, "tokenizer: cannot load a tokenizer",
         lambda k: ["ask", RECORDING, "where?", "--model", k.damaged(k.llm, "llm", "tokenizer/tokenizer.json", 200)]),
    Case("projector weights cut short", 1, "projector.safetensors: damaged",
         lambda k: ["ask", RECORDING, "where?", "--model", k.damaged(k.llm, "llm", "projector.safetensors", 300)]),
    Case("language-model weights cut short", 1, "lm: cannot load a language model",
         lambda k: ["ask", RECORDING, "where?", "--model", k.damaged(k.llm, "llm", "lm/model.safetensors", 3000)]),
    # question and record files
    Case("question file missing", 1, "nosuch.jsonl: cannot read (No such file or directory)", lambda k: ask(k, "--questions", k.tmp / "nosuch.jsonl")),
    Case("question line not JSON", 1, "q.jsonl:1: not valid JSON", lambda k: ask(k, "--questions", k.file("q.jsonl", "where?\n"))),
    Case("question line a list", 1, "q.jsonl:1: expected a JSON object, got list", lambda k: ask(k, "--questions", k.file("q.jsonl", "[1, 2]\n"))),
    Case("question record without a question", 1, 'q.jsonl:1: a question record needs "audio" and "question" strings',
         lambda k: ask(k, "--questions", k.file("q.jsonl", f'{{"audio": "{RECORDING}"}}\n'))),
    Case("question record with a number for audio", 1, 'q.jsonl:2: a question record needs "audio" and "question" strings',
         lambda k: ask(k, "--questions", k.file("q.jsonl", f'{{"audio": "{RECORDING}", "question": "where?"}}\n{{"audio": 5, "question": "where?"}}\n'))),
    Case("empty recording path", 2, "ask: AUDIO is empty", lambda k: ask(k, "", "where is the siren?")),
    Case("recording and question file both", 2, "give AUDIO and QUESTION, or --questions FILE.jsonl (not both)",
         lambda k: ask(k, RECORDING, "where?", "--questions", k.file("q.jsonl", ""))),
    Case("predictions not JSON", 1, "pred.jsonl:1: not valid JSON", lambda k: ["eval", k.file("pred.jsonl", "left\n"), "--ref", k.scenes / "scenes.jsonl"]),
    Case("prediction without audio", 1, "pred.jsonl:1: no 'audio' path", lambda k: ["eval", k.file("pred.jsonl", '{"sources": []}\n'), "--ref", k.scenes / "scenes.jsonl"]),
    Case("references missing", 1, "nosuch.jsonl: cannot read", lambda k: ["eval", k.file("pred.jsonl", '{"sources": []}\n'), "--ref", k.tmp / "nosuch.jsonl"]),
    Case("localization records scored as answers", 1, "pred.jsonl:1: no 'answer' text",
         lambda k: ["eval", k.file("pred.jsonl", '{"audio": "audio/000000.wav", "sources": []}\n'), "--ref", k.scenes / "qa.jsonl"]),
]

# The settings of the encoder_run fixture below and of the llm_run fixture (conftest.py), which a
# resumed run must give again.
ENCODER_RUN = ["optim.steps=4", "data.workers=0"]
LLM_RUN = [*TINY_LLM, "stages=[{types: [A, B], steps: 2, lr: 0.003}]"]


@pytest.fixture(scope="module")
def encoder_run(tmp_path_factory, scenes_dir, encoder_config):
    run = tmp_path_factory.mktemp("encoder-run") / "run"
    subprocess.run([sys.executable, "-m", "batcli", "train-encoder", str(encoder_config), *set_options(ENCODER_RUN),
                    "--data", str(scenes_dir), "-o", str(run)], check=True, capture_output=True)
    return run


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_bad_input_ends_in_one_line_and_its_exit_status(bat, tmp_path, case, encoder_dir, llm_run, scenes_dir, encoder_config, encoder_run):
    kit = Kit(tmp_path, encoder_dir, llm_run, scenes_dir, encoder_config, encoder_run)
    result = bat(*case.args(kit), stdin=case.stdin)
    lines = result.stderr.splitlines()
    assert lines and lines[-1].startswith("bat: error: ") and case.message in lines[-1], result.stderr
    assert not any("Traceback" in line or line.startswith("bat: error: ") for line in lines[:-1]), result.stderr
    assert (result.returncode, result.stdout) == (case.code, "")


def test_the_corpus_is_large_and_every_case_distinct():
    assert len(CASES) >= 40
    assert len({case.name for case in CASES}) == len(CASES)
