"""Questions for the language model, and the frozen encoder's tokens for their clips.

The encoder runs once per clip: its output tokens (float16) and the weights of the words its heads
heard (heard.py) are cached in the run folder (`cache/<name>.safetensors`), so language-model
training never runs it again. A cache is reused only when it was made by the same encoder weights
from the same clips.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..audio import read_binaural
from ..encoder.data import fit_length
from ..encoder.model import SpatialEncoder
from ..errors import BatError
from ..progress import progress_bar
from ..records import load_jsonl, read_tensors, write_tensors
from ..runtime import autocast
from ..grammar import FRONT_UNSURE, LEXICON, OPTION_SIDES, offered_options
from ..sim.questions import ABSENT, TEMPLATES_BY_ID, QuestionConfig, answer_for, is_test_wording, offered_answer
from .heard import front_left_open, heard_sounds, listen, says_front_or_behind


# Words a question can lose without changing what it asks: word dropout leaves out only these,
# never a sound's name, a side, a comparison or the question word ("is", "what", "how many").
FILLER_WORDS = frozenset("a an the my me i you it this that please tell of in on to at there any some audio clip recording".split())


def drop_filler_words(question: str, share: float, seed: tuple[int, ...]) -> str:
    """The question with each filler word left out with probability `share` (seeded), so that
    answers rest on the words that matter, not on a template's exact wording."""
    if not share:
        return question
    words = question.split()
    draws = np.random.default_rng(seed).random(len(words))
    return " ".join(w for w, draw in zip(words, draws) if draw >= share or w.lower().strip("?.,!'") not in FILLER_WORDS) or question


# The opening of a yes/no question, which people often leave out when they type ("siren on my left?").
YES_NO_OPENING = re.compile(r"^(?:is there|are there|can you hear|do you hear|would you say|is|are|does|do)\s+(?:(?:the|a|an|any)\s+)?", re.IGNORECASE)
# Words a typo may hit: question words and everyday ones, never a sound's name or a side.
TYPO_WORDS = frozenset("where where's what what's which how many far close sound sounds there hear is are".split())


def shorten(question: str, share: float, seed: tuple[int, ...]) -> str:
    """With probability `share` (seeded), the question without its yes/no opening: "Is the siren on my
    left?" -> "siren on my left?", "Can you hear a dog?" -> "dog?"."""
    if not share or np.random.default_rng(seed).random() >= share:
        return question
    return YES_NO_OPENING.sub("", question, count=1) or question


def misspell(question: str, share: float, seed: tuple[int, ...]) -> str:
    """With probability `share` (seeded), one typo in one of the question's TYPO_WORDS: its apostrophe
    left out ("wheres"), or a letter dropped ("wher") or two swapped ("hwere")."""
    rng = np.random.default_rng(seed)
    if not share or rng.random() >= share:
        return question
    words = question.split()
    targets = [i for i, w in enumerate(words) if w.lower().strip("?.,!") in TYPO_WORDS and len(w.strip("?.,!")) > 2]
    if not targets:
        return question
    i = targets[int(rng.integers(len(targets)))]
    word = words[i]
    end = len(word.rstrip("?.,!"))
    if "'" in word:
        words[i] = word.replace("'", "", 1)
    elif rng.random() < 0.5:
        cut = int(rng.integers(1, end))
        words[i] = word[:cut] + word[cut + 1 :]
    else:
        at = int(rng.integers(end - 1))
        words[i] = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    return " ".join(words)


# A word for "a sound" (grammar.LEXICON) where it names one: after a determiner or a quantifier
# ("how many things", "the noise"), not in "making noise" nor in "sound events" or "sound sources".
SOUND_NOUN = re.compile(r"\b(the|a|any|many|one|that|this|which|what|each|both|two|of|other) (" + "|".join(LEXICON["sound"])
                        + r")(s?)\b(?! (?:events?|sources?)\b)", re.IGNORECASE)


def vary_sound_words(question: str, share: float, seed: tuple[int, ...]) -> str:
    """The question with each word for a sound swapped, with probability `share` (seeded), for another
    of the same number: "how many sounds" -> "how many things", so that no synonym is a stranger."""
    if not share:
        return question
    rng = np.random.default_rng(seed)
    words = LEXICON["sound"]

    def swap(match: re.Match) -> str:
        if rng.random() >= share:
            return match.group(0)
        others = [w for w in words if w != match.group(2).lower()]
        return f"{match.group(1)} {others[int(rng.integers(len(others)))]}{match.group(3)}"
    return SOUND_NOUN.sub(swap, question)


def as_typed(question: str, seed: tuple[int, ...], synonyms: float, dropout: float, terse: float, typos: float) -> str:
    """A training question varied the ways typed questions vary, each with its share: another word for
    a sound, filler words left out, the yes/no opening left out, a typo; never into a construction held
    out for testing (sim.questions.is_test_wording), which is left as it was."""
    typed = drop_filler_words(vary_sound_words(question, synonyms, (*seed, 3)), dropout, seed)
    typed = misspell(shorten(typed, terse, (*seed, 1)), typos, (*seed, 2))
    return question if is_test_wording(typed) else typed


@dataclass
class Question:
    clip: int  # row in the token cache
    question: str
    answer: str
    record: dict


def answered_as_heard(question: Question, heard: list[list[float]], vocabulary: list[list[str]],
                      config: QuestionConfig = QuestionConfig()) -> Question:
    """The question with the answer its heard text bears out, so that the model learns to say what its
    encoder heard, not to guess the scene where the encoder misheard it (it cannot know better):

    - the answer the question's template gives about the heard sounds (sim.questions.answer_for, from
      the record's `about`), where it has a clear one;
    - where the heard text leaves front and behind open for the sound asked about, an either/or question
      between them is answered FRONT_UNSURE, and a where-question without front or behind.

    Other questions (about a side the heard text leaves open, records without `about`) keep the scene's answer."""
    sounds = heard_sounds(vocabulary, heard)
    unsure = bool(front_left_open(question.question, sounds))
    options = offered_options(question.question, vocabulary[0])
    if options and {OPTION_SIDES.get(o) for o in options} == {"front", "behind"} and unsure:
        return replace(question, answer=FRONT_UNSURE)
    about, template = question.record.get("about"), question.record.get("template")
    if about is None:
        return question
    if about.get("place") in ("front", "behind") and any(not says_front_or_behind(words) for _, words, _ in sounds):
        return question
    places = [{"label": label, "azimuth_deg": place[0], "elevation_deg": place[1], "distance_m": place[2]} for label, _, place in sounds]
    answer = answer_for(template, about, places, config)
    if answer is None:
        return question
    if question.record.get("answer_kind") == "direction_distance" and answer != ABSENT and unsure:
        direction, _, distance = answer.partition("; ")
        answer = "; ".join([", ".join(w for w in direction.split(", ") if w not in ("front", "behind")), distance])
    return replace(question, answer=offered_answer(TEMPLATES_BY_ID[template], question.question, about, answer))


def read_questions(folder: Path) -> tuple[list[Path], list[Question]]:
    """The clips of a `bat simulate` folder (in scene order) and the questions about them."""
    scenes, qa = folder / "scenes.jsonl", folder / "qa.jsonl"
    if not scenes.is_file() or not qa.is_file():
        raise BatError(f"{folder}: not a finished `bat simulate` folder (needs scenes.jsonl and qa.jsonl)")
    clips = [record["audio"] for record in load_jsonl(scenes)]
    row = {audio: i for i, audio in enumerate(clips)}
    questions = []
    for record in load_jsonl(qa):
        if record.get("audio") not in row:
            raise BatError(f"{qa}: question {record.get('question_id')} is about {record.get('audio')}, which has no scene")
        questions.append(Question(row[record["audio"]], record["question"], record["answer"], record))
    return [folder / audio for audio in clips], questions


def encoder_fingerprint(encoder_dir: Path) -> str:
    return hashlib.sha256((encoder_dir / "model.safetensors").read_bytes()).hexdigest()[:16]


@torch.no_grad()
def encode_clips(encoder: SpatialEncoder, clips: list[Path], device: torch.device, batch_size: int = 32,
                 label: str = "encode") -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's tokens (clips, tokens, width; float16) and heard slots (clips, slots,
    words + places; float32, heard.listen's) of each clip's first window, on the CPU."""
    dims = encoder.dims
    tokens, heard = [], []
    with progress_bar() as progress:
        task = progress.add_task(label, total=len(clips), unit="clips")
        for start in range(0, len(clips), batch_size):
            audio = [fit_length(read_binaural(path, dims.sample_rate), dims.clip_samples) for path in clips[start : start + batch_size]]
            with autocast(device):
                encoded, words = listen(encoder, torch.from_numpy(np.stack(audio)).to(device))
            tokens.append(encoded.to("cpu", torch.float16))
            heard.append(words.to("cpu", torch.float32))
            progress.advance(task, len(audio))
    return torch.cat(tokens), torch.cat(heard)


def cached_encoding(cache: Path, fingerprint: str, clips: list[Path], encoder: SpatialEncoder, device: torch.device,
                    label: str) -> tuple[torch.Tensor, torch.Tensor]:
    """encode_clips' tensors from `cache` when it matches the encoder and clips, else computed and stored there."""
    key = hashlib.sha256("\n".join([fingerprint, "tokens+heard+places+front", *map(str, clips)]).encode()).hexdigest()[:16]
    if cache.is_file():
        try:
            tensors, metadata = read_tensors(cache)
        except BatError:  # a damaged cache is computed again
            tensors, metadata = {}, {}
        if metadata.get("key") == key and {"tokens", "heard"} <= tensors.keys():
            return tensors["tokens"], tensors["heard"]
    tokens, heard = encode_clips(encoder, clips, device, label=label)
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_tensors(cache, {"tokens": tokens, "heard": heard}, {"key": key})
    return tokens, heard
