"""The Python API: bat's stages on arrays and files, for notebooks and scripts.

    import batcli

    encoder = batcli.load_encoder()                          # the shipped encoder, or a model folder
    records = batcli.locate(encoder, "clip.wav")             # the records `bat localize` writes
    records = batcli.locate(encoder, audio, sample_rate=48000)     # a (samples, 2) or (2, samples) array
    answerer = batcli.load_answerer()                        # the shipped language model and its encoder
    batcli.answer(answerer, "clip.wav", "what is to my left?")     # -> "typing"
    clip = batcli.simulate_scene({"seed": 3}, index=0)       # audio, scene and questions, in memory

The command line runs the same functions underneath (localize.localize, ask.ask, simulate's
render_clip), so both give the same records; locate and answer are named apart from the modules
localize and ask, whose names the package keeps. Errors are BatError with the command line's
one-line messages; nothing is printed unless `progress=True` asks for a progress bar on stderr.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .ask import Answerer
    from .encoder.model import SpatialEncoder
    from .sim.simulate import SimulateConfig

def load_encoder(model: str | Path | None = None, device: str = "auto", hrtf: str | None = None) -> SpatialEncoder:
    """An encoder model folder (default: the shipped one), loaded once for many calls of locate.
    `hrtf` (a built-in name or a SOFA file) fits an evidence encoder to the head that recorded the
    audio, as `bat localize --hrtf` does."""
    from .localize import load_encoder as load

    return load(None if model is None else str(model), device, hrtf)


def locate(encoder: SpatialEncoder, audio: str | Path | np.ndarray, sample_rate: int | None = None, *,
             window_s: float | None = None, hop_s: float | None = None, threshold: float = 0.5,
             unknown_below: float = 0.0, batch_size: int = 16, progress: bool = False) -> list[dict]:
    """Where the sounds of a recording are: one localization record per window (the model's clip
    length, or `window_s`, every `hop_s`), as `bat localize` writes them. `audio` is a file's path, or
    an array of float (-1..1) or integer samples, (2, samples) or (samples, 2), left ear first, at
    `sample_rate` (any rate; resampled); a record's `audio` is then `<array>`."""
    from .localize import localize as run

    source = _source(encoder, audio, sample_rate)
    return list(run([source], encoder, window_s, hop_s, batch_size, threshold, unknown_below, show_progress=progress))


def load_answerer(model: str | Path | None = None, device: str = "auto") -> Answerer:
    """A language-model folder (default: the shipped one) and the encoder it was trained on, loaded once."""
    from .ask import load_answerer as load

    return load(None if model is None else str(model), device)


def answer(answerer: Answerer, audio: str | Path | np.ndarray, questions: str | list[str], sample_rate: int | None = None, *,
        start_s: float = 0.0, beams: int = 1, max_tokens: int | None = None, progress: bool = False) -> str | list[str]:
    """The answer to a question about a recording (a list of answers to a list of questions), as
    `bat ask` gives it: the encoder hears the model's clip length from `start_s`. `audio` as for
    locate."""
    from .ask import ask as run
    from .localize import Recording

    source = _source(answerer.encoder, audio, sample_rate)
    asked = [questions] if isinstance(questions, str) else list(questions)
    if isinstance(source, Recording):
        key = f"<array {id(source.samples)}>"
        records = [{"audio": source.name, "question": q, "resolved_audio": key, "resolved_samples": source.samples} for q in asked]
    else:
        records = [{"audio": source, "question": q} for q in asked]
    answers = [record["answer"] for record in run(records, answerer, start_s, beams, max_tokens, show_progress=progress)]
    return answers[0] if isinstance(questions, str) else answers


@dataclass
class SimulatedClip:
    audio: np.ndarray  # (2, samples) float32, left ear first
    sample_rate: int
    scene: dict  # the scene record bat simulate writes to scenes.jsonl
    questions: list[dict]  # its question records (qa.jsonl)


def simulate_scene(config: SimulateConfig | dict | str | None = None, index: int = 0) -> SimulatedClip:
    """Clip `index` of the data set a simulate config describes, rendered in memory: the same audio,
    scene and questions as `bat simulate` writes for that clip. `config`: a SimulateConfig, a dict of
    its keys (nested as in YAML: {"seed": 3, "room": {"anechoic_fraction": 1}}), a preset name or YAML
    file, or None for the defaults."""
    from .config import from_dict, load_config
    from .sim.hrtf import load_hrtf
    from .sim.library import load_library
    from .sim.simulate import SimulateConfig, render_clip

    if isinstance(config, SimulateConfig):
        settings = config
    elif isinstance(config, dict):
        settings = from_dict(SimulateConfig, config)
    else:
        settings = load_config(SimulateConfig, "simulate", config)
    hrtf = load_hrtf(settings.hrtf, settings.sample_rate)
    audio, scene, questions = render_clip(settings, index, hrtf, load_library(settings.sounds, settings.split))
    return SimulatedClip(audio, settings.sample_rate, scene, questions)


def _source(encoder: SpatialEncoder, audio, sample_rate: int | None):
    """A path as the command line takes it, or an array as a Recording at the encoder's rate."""
    from .audio import binaural_array
    from .errors import UsageError
    from .localize import Recording

    if isinstance(audio, (str, Path)):
        return str(audio)
    if sample_rate is None:
        raise UsageError("sample_rate: give the rate of the array's samples")
    return Recording("<array>", binaural_array(audio, sample_rate, encoder.dims.sample_rate))
