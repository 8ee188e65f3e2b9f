"""The Python API (batcli.api) against the command line, on the example recordings."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

import batcli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RECORDINGS = sorted((EXAMPLES / "audio").glob("*.wav"))


@pytest.fixture(scope="module")
def encoder():
    return batcli.load_encoder()


def test_locate_gives_the_records_of_bat_localize(bat, encoder):
    command = bat("localize", *RECORDINGS, check=True)
    expected = [json.loads(line) for line in command.stdout.splitlines()]
    assert [record for path in RECORDINGS for record in batcli.locate(encoder, path)] == expected


@pytest.mark.parametrize("dtype, layout", [("float32", "samples, 2"), ("int16", "samples, 2"), ("float32", "2, samples")])
def test_an_array_is_located_as_its_file_is(encoder, dtype, layout):
    path = EXAMPLES / "audio" / "two-sources.wav"
    samples, rate = soundfile.read(path, dtype=dtype)
    array = samples if layout == "samples, 2" else samples.T
    [from_file] = batcli.locate(encoder, path)
    [from_array] = batcli.locate(encoder, array, sample_rate=rate)
    assert from_array["audio"] == "<array>"
    assert {**from_array, "audio": str(path)} == from_file


def test_mono_is_refused_with_the_command_lines_message(bat, encoder, tmp_path):
    samples, rate = soundfile.read(EXAMPLES / "audio" / "siren-left.wav", dtype="float32")
    mono = tmp_path / "mono.wav"
    soundfile.write(mono, samples[:, 0], rate)
    line = bat("localize", mono).stderr.strip().splitlines()[-1]
    for audio, name in ((samples[:, 0], "<array>"), (str(mono), str(mono))):
        with pytest.raises(batcli.BatError) as error:
            batcli.locate(encoder, audio, sample_rate=rate)
        assert str(error.value) == line.removeprefix("bat: error: ").replace(str(mono), name)


def test_an_array_needs_its_sample_rate(encoder):
    with pytest.raises(batcli.BatError, match="sample_rate"):
        batcli.locate(encoder, np.zeros((2, 32000), dtype=np.float32))


def test_answer_gives_the_answers_of_bat_ask_for_files_and_arrays(bat):
    answerer = batcli.load_answerer()
    path = EXAMPLES / "audio" / "two-sources.wav"
    questions = ["How many sounds are there?", "What is to my left?", "Is the cricket in front of me or behind me?"]
    stdin = "".join(json.dumps({"audio": str(path), "question": q}) + "\n" for q in questions)
    expected = [json.loads(line)["answer"] for line in bat("ask", "--questions", "-", stdin=stdin, check=True).stdout.splitlines()]
    assert batcli.answer(answerer, path, questions) == expected
    samples, rate = soundfile.read(path, dtype="float32")
    assert batcli.answer(answerer, samples, questions[0], sample_rate=rate) == expected[0]


def test_a_simulated_scene_is_the_clip_bat_simulate_writes(bat, tmp_path):
    settings = {"seed": 5, "duration_s": 1.0, "sample_rate": 16000}
    clip = batcli.simulate_scene(settings, index=2)
    bat("simulate", "-n", 3, "--seed", 5, "--set", "duration_s=1.0", "--set", "sample_rate=16000", "-o", tmp_path / "d", check=True)
    scenes = [json.loads(line) for line in (tmp_path / "d" / "scenes.jsonl").read_text().splitlines()]
    questions = [json.loads(line) for line in (tmp_path / "d" / "qa.jsonl").read_text().splitlines()]
    assert clip.scene == scenes[2] and clip.questions == [q for q in questions if q["audio"] == scenes[2]["audio"]]
    written, rate = soundfile.read(tmp_path / "d" / scenes[2]["audio"], dtype="float32")
    assert rate == clip.sample_rate and np.abs(written.T - clip.audio).max() <= 1 / 32768  # 16-bit rounding only


def test_the_notebook_style_example_runs():
    result = subprocess.run([sys.executable, str(EXAMPLES / "python_api.py")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "siren-left.wav: siren" in result.stdout and "simulated:" in result.stdout
