"""Fixtures shared across the test folders: the `bat` command line, small simulated data sets and a
tiny untrained encoder (1-s clips at 16 kHz, so that everything that uses them stays quick)."""

import os
import subprocess
import sys

import pytest
import torch
import yaml

from batcli.config import from_dict
from batcli.encoder.model import EncoderDims, SpatialEncoder, save_model
from batcli.sim.simulate import SimulateConfig, simulate

RATE = 16000

# Tests run in parallel, one pytest-xdist worker per core (pyproject's `-n auto`): each worker's torch,
# and the bat processes it starts, take their share of the cores rather than all of them each.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def set_options(values: list[str]) -> list[str]:
    """`--set VALUE` for each value, as a command line takes them."""
    return [part for value in values for part in ("--set", value)]


# An encoder for 1-s clips at 16 kHz: a grid of 2 x 6 patches, a 32-wide single-layer transformer.
TINY_DIMS = {"sample_rate": RATE, "clip_s": 1.0, "n_fft": 512, "hop": 160, "n_mels": 32, "f_max": 7600.0,
             "width": 32, "depth": 1, "heads": 2}

# train-encoder for a few dozen steps of it, checkpointed often, with two loader processes.
TINY_ENCODER_RUN = {
    "seed": 3,
    "model": TINY_DIMS,
    "data": {"batch_size": 4, "workers": 2, "val_clips": 4},
    "optim": {"steps": 24, "lr": 0.003, "warmup_steps": 2},
    "eval_every": 4,
    "checkpoint_every": 4,
}

# --set values for the embedded language model at its smallest (checkpointed every 2 steps).
TINY_LLM = ["val_clips=4", "val_questions=8", "batch_size=4", "checkpoint_every=2", "max_answer_tokens=6",
            "projector.queries=4", "projector.width=32", "projector.heads=2", "projector.layers=1",
            "lm.hidden_size=32", "lm.layers=1", "lm.heads=2", "lm.intermediate_size=64", "lm.vocab_size=400"]


@pytest.fixture
def bat():
    """Run the `bat` command line in a subprocess, as a user would; returns the CompletedProcess."""

    def run(*args, stdin: str | None = None, check: bool = False):
        result = subprocess.run(
            [sys.executable, "-m", "batcli", *map(str, args)], input=stdin, capture_output=True, text=True, timeout=600
        )
        if check and result.returncode != 0:
            raise AssertionError(f"bat {' '.join(map(str, args))} failed ({result.returncode}):\n{result.stderr}")
        return result

    return run


@pytest.fixture(scope="session")
def scenes_dir(tmp_path_factory):
    """40 one-second binaural clips (1-2 sources) with a question each, and a bank of 12 room responses."""
    out = tmp_path_factory.mktemp("encoder-data") / "data"
    config = from_dict(SimulateConfig, {
        "seed": 5, "num_clips": 40, "responses": 12, "sample_rate": RATE, "duration_s": 1.0,
        "scene": {"min_event_s": 0.5}, "room": {"rt60_s": [0.2, 0.4]}, "questions": {"per_clip": 1},
    })
    simulate(config, out, workers=2)
    return out


@pytest.fixture(scope="session")
def questions_dir(tmp_path_factory):
    """24 one-second clips with 4 questions each."""
    out = tmp_path_factory.mktemp("llm-data") / "data"
    config = from_dict(SimulateConfig, {"seed": 2, "num_clips": 24, "sample_rate": RATE, "duration_s": 1.0,
                                        "scene": {"min_event_s": 0.5}, "questions": {"per_clip": 4}})
    simulate(config, out, workers=2)
    return out


@pytest.fixture(scope="session")
def encoder_dir(tmp_path_factory):
    """An untrained encoder for 1-s clips at 16 kHz: what the language-model tests listen through."""
    from batcli.sim.sounds import CLASSES

    torch.manual_seed(0)
    dims = EncoderDims(**TINY_DIMS)
    folder = tmp_path_factory.mktemp("encoder")
    save_model(SpatialEncoder(dims, list(CLASSES)), folder)
    return folder


@pytest.fixture(scope="session")
def llm_run(tmp_path_factory, questions_dir, encoder_dir):
    """A run folder of the smallest embedded language model, two steps trained: quick to load, for
    the tests of what `bat ask` does around the model."""
    from batcli.config import load_config
    from batcli.llm.train import LLMTrainConfig, train

    config = load_config(LLMTrainConfig, "llm", None, [*TINY_LLM, "stages=[{types: [A, B], steps: 2, lr: 0.003}]"])
    run = tmp_path_factory.mktemp("llm") / "run"
    train(config, [questions_dir], encoder_dir, run, device="cpu")
    return run


@pytest.fixture(scope="session")
def encoder_config(tmp_path_factory):
    """TINY_ENCODER_RUN as a config file for `bat train-encoder`."""
    path = tmp_path_factory.mktemp("config") / "encoder.yaml"
    path.write_text(yaml.safe_dump(TINY_ENCODER_RUN))
    return path
