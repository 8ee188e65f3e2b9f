"""`bat ask`: answer questions about where the sounds in a recording are.

The encoder hears the model's clip length of each recording, from `start_s` (default 0: the start;
a shorter recording is zero-padded), and the language model answers from its tokens. Questions come
from the command line or from a file of question records (the simulator's qa.jsonl, say, or a
SpatialSoundQA file, whose clips are rendered from a recording and a room response as BAT renders
them), whose relative audio paths are resolved against the file's folder or `--audio-root`; they are
answered in batches, each clip encoded once. A question that offers two answers ("left or right?",
"which is closer, the dog or the siren?") is answered with the likelier of the two; asked front or
behind, with "I can't tell front from behind" where what the encoder heard leaves that side open
for the sound asked about, as the model was trained to (llm.data.answered_as_heard), and with front
or behind where it does not.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .audio import read_binaural
from .encoder.data import fit_length
from .encoder.model import SpatialEncoder, load_model, shipped_encoder_dir
from .errors import BatError
from .formats.spatialsoundqa import find_audio, read_records, render
from .grammar import NO, UNANSWERABLE, YES, answer_choices, asks_yes_or_no
from .llm.heard import listen, options_as_heard
from .llm.model import SpatialLM, load_spatial_lm, shipped_llm_dir
from .progress import progress_bar
from .runtime import autocast, pick_device

PASSED_THROUGH = ("question_id", "question_type")


def read_question_file(path: str, audio_root: Path | None = None, reverb_root: Path | None = None) -> Iterator[dict]:
    """Question records with their clip made findable from here: `resolved_audio`, the audio path
    (relative ones against `audio_root`, by default the file's folder), and for a SpatialSoundQA clip
    to render, `resolved_mixture`, its (recording, room response) paths (responses against
    `reverb_root`, by default `audio_root`)."""
    folder = audio_root or (Path(".") if path == "-" else Path(path).parent)
    responses = reverb_root or folder
    name = "<stdin>" if path == "-" else path
    for line, record in read_records(path):
        if not isinstance(record.get("audio"), str) or not isinstance(record.get("question"), str):
            raise BatError(f"{name}:{line}: a question record needs \"audio\" and \"question\" strings")
        if not record["question"].strip():
            raise BatError(f"{name}:{line}: the question is empty")
        if "mixture" in record:
            mixture = [(find_audio(folder, audio_id), responses / reverb_id)
                       for audio_id, reverb_id in record["mixture"]]
            heard = " + ".join(f"{audio} * {response}" for audio, response in mixture)
            yield {**record, "resolved_audio": heard, "resolved_mixture": mixture}
        elif "spatialsoundqa_type" in record:
            yield {**record, "resolved_audio": str(find_audio(folder, record["audio"]))}
        else:
            audio = record["audio"] if Path(record["audio"]).is_absolute() else str(folder / record["audio"])
            yield {**record, "resolved_audio": audio}


@dataclass
class Answerer:
    """A language model and the encoder it was trained on, loaded once for many questions."""

    model: SpatialLM
    encoder: SpatialEncoder
    meta: dict
    device: torch.device


def load_answerer(model_dir: str | None = None, device: str = "auto") -> Answerer:
    device = pick_device(device)
    folder = Path(model_dir) if model_dir else shipped_llm_dir()
    model, meta = load_spatial_lm(folder, device)
    model.merge_adapters()
    encoder_dir = shipped_encoder_dir() if meta.get("encoder") == "builtin" else folder / meta.get("encoder", "encoder")
    return Answerer(model, load_model(encoder_dir, device), meta, device)


def ask(questions: Iterable[dict], answerer: Answerer, start_s: float = 0.0, beams: int = 1, max_tokens: int | None = None,
        batch_size: int = 32, show_progress: bool = True) -> Iterator[dict]:
    """One answer record per question record (`audio`, `question`, optional `resolved_audio` and
    `resolved_mixture` from read_question_file, or `resolved_samples`: the recording as an array at the
    encoder's rate, from the Python API), in order, each batch's as soon as it is answered: questions
    are read as they are needed, so memory stays flat however many there are."""
    model, encoder, device = answerer.model, answerer.encoder, answerer.device
    max_tokens = max_tokens or answerer.meta.get("max_answer_tokens", 24)
    heard: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # path -> encoder tokens, heard-word weights
    total = len(questions) if isinstance(questions, list) else None
    pending = iter(questions)
    with progress_bar(show=show_progress) as progress:
        task = progress.add_task("ask", total=total, unit="questions", visible=total != 1)
        while batch := list(islice(pending, batch_size)):
            paths = [q.get("resolved_audio", q["audio"]) for q in batch]
            new = {p: q for p, q in zip(paths, batch) if p not in heard}
            if new:
                audio = np.stack([_window(p, q, encoder, start_s) for p, q in new.items()])
                with autocast(device):
                    tokens, words = listen(encoder, torch.from_numpy(audio).to(device))
                heard.update(zip(new, zip(tokens.float(), words)))
            texts = [q["question"] for q in batch]
            tokens, words = torch.stack([heard[p][0] for p in paths]), torch.stack([heard[p][1] for p in paths])
            offered = [answer_choices(text, encoder.labels) for text in texts]
            if model.vocabulary:
                offered = [options_as_heard(options, text, model.vocabulary, row) for options, text, row in zip(offered, texts, words.float().tolist())]
            answers = [options[0] if options and len(options) == 1 else "" for options in offered]  # one option: no choice to make
            choices = [i for i, options in enumerate(offered) if options and len(options) > 1]
            free = [i for i, options in enumerate(offered) if not options]
            with autocast(device):
                if free:
                    for i, text in zip(free, model.answer(tokens[free], words[free], [texts[i] for i in free], max_tokens, beams)):
                        answers[i] = text
                    astray = [i for i in free if answers[i] not in (YES, NO, UNANSWERABLE) and asks_yes_or_no(texts[i])]
                    if astray:  # a yes/no question answered with something else ("left"): the likelier of yes and no
                        for i, text in zip(astray, model.choose(tokens[astray], words[astray], [texts[i] for i in astray],
                                                                [[YES, NO]] * len(astray))):
                            answers[i] = text
                if choices:
                    for i, text in zip(choices, model.choose(tokens[choices], words[choices], [texts[i] for i in choices],
                                                             [offered[i] for i in choices])):
                        answers[i] = text
            for question, answer in zip(batch, answers):
                yield {"audio": question["audio"], "question": question["question"], "answer": answer,
                       **{key: question[key] for key in PASSED_THROUGH if key in question}}
            progress.advance(task, len(batch))
            if len(heard) > 4 * batch_size:  # keep only what the next batches may reuse
                heard = {p: heard[p] for p in paths}


def _window(path: str, question: dict, encoder, start_s: float) -> np.ndarray:
    rate = encoder.dims.sample_rate
    if "resolved_samples" in question:
        audio = question["resolved_samples"]
    elif question.get("resolved_mixture"):
        audio = render(question["resolved_mixture"], rate)
    else:
        audio = read_binaural(path, rate)
    start = round(start_s * rate)
    if start >= audio.shape[1]:
        raise BatError(f"{path}: --start {start_s} s is past the end of the recording ({audio.shape[1] / rate:.2f} s)")
    return fit_length(audio[:, start:], encoder.dims.clip_samples)
