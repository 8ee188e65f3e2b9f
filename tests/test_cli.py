import subprocess
from pathlib import Path

import numpy as np
import soundfile
import yaml

from batcli.completions import GENERATORS

ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_the_six_stages(bat):
    result = bat("--help")
    assert result.returncode == 0
    for command in ("simulate", "train-encoder", "localize", "train-llm", "ask", "eval"):
        assert command in result.stdout


def test_simulate_help_teaches(bat):
    text = bat("simulate", "--help").stdout
    for expected in ("--num-clips", "--shard", "--workers", "--set", "Examples", "resumes"):
        assert expected in text


def test_encoder_commands_help_teaches(bat):
    text = bat("train-encoder", "--help").stdout
    for expected in ("--data", "--resume", "--responses", "torchrun", "--set", "Examples"):
        assert expected in text
    text = bat("localize", "--help").stdout
    for expected in ("--window", "--hop", "--model", "stdin", "azimuth_deg"):
        assert expected in text


def test_language_model_commands_help_teaches(bat):
    text = bat("train-llm", "--help").stdout
    for expected in ("--encoder", "lm.path", "--until-stage", "--resume", "Examples"):
        assert expected in text
    text = bat("ask", "--help").stdout
    for expected in ("--questions", "--beams", "--max-tokens", "what is to my left?"):
        assert expected in text


def test_ask_needs_a_question_and_audio_or_a_file(bat):
    result = bat("ask", "clip.wav")
    assert result.returncode == 2 and "give AUDIO and QUESTION" in result.stderr


def test_an_empty_question_is_a_one_line_error(bat, tmp_path):
    for question in ("", "  \t"):
        result = bat("ask", "clip.wav", question)
        assert result.returncode == 2 and result.stderr == "bat: error: ask: QUESTION is empty\n"
    questions = tmp_path / "qa.jsonl"
    questions.write_text('{"audio": "clip.wav", "question": "where is the dog?"}\n{"audio": "clip.wav", "question": " "}\n')
    result = bat("ask", "--questions", questions)
    assert result.returncode == 1 and result.stderr == f"bat: error: {questions}:2: the question is empty\n"


def test_a_truncated_recording_is_a_one_line_error_naming_it(bat, tmp_path):
    cut = tmp_path / "cut.wav"
    soundfile.write(cut, np.zeros((32000, 2)), 32000, subtype="PCM_16")
    cut.write_bytes(cut.read_bytes()[:20000])
    expected = [f"bat: error: {cut}: truncated WAV file: its header promises 1.000 s of audio, the file holds 0.156 s"]
    for command in (["localize", cut], ["ask", cut, "what is to my left?"]):
        result = bat(*command)
        assert (result.returncode, result.stdout) == (1, "")
        assert [line for line in result.stderr.splitlines() if line.strip()] == expected


def test_printed_config_is_a_usable_config(bat, tmp_path):
    printed = bat("simulate", "tiny", "--set", "seed=5", "--print-config", check=True).stdout
    data = yaml.safe_load(printed)
    assert data["seed"] == 5 and data["duration_s"] == 4.0 and "room" in data and "questions" in data
    (tmp_path / "c.yaml").write_text(printed)
    assert bat("simulate", tmp_path / "c.yaml", "--print-config", check=True).stdout == printed


def test_usage_errors_exit_2(bat, tmp_path):
    assert bat("simulate").returncode == 2  # no output folder
    assert bat("simulate", "-o", tmp_path / "x", "--bogus").returncode == 2
    result = bat("simulate", "nosuchpreset", "-o", tmp_path / "x")
    assert result.returncode == 2 and "tiny" in result.stderr


def test_completion_scripts_are_up_to_date():
    for render, filename in GENERATORS.values():
        assert (ROOT / "completions" / filename).read_text() == render(), f"completions/{filename} is stale: make completions"


def test_bash_completion_completes_commands_and_options():
    script = ROOT / "completions" / "bat.bash"

    def complete(*words):
        line = " ".join(words)
        program = (
            f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _bat; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        )
        return subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True).stdout.split()

    assert "simulate" in complete("bat", "sim")
    assert "--num-clips" in complete("bat", "simulate", "--num")
    assert "tiny" in complete("bat", "simulate", "ti")


def test_help_paragraphs_flow_at_the_terminal_width():
    from typer.testing import CliRunner

    from batcli.cli import app

    text = CliRunner().invoke(app, ["train-llm", "--help"], env={"COLUMNS": "200"}).stdout
    assert "cached in the run folder. A projector (learned queries" in text  # a docstring line break in between
