"""What the encoder's heads heard, handed to the language model as words.

Beside the projector's queries, the language model gets, for each encoder slot, five soft words:
the class (`none` for an empty slot), left/right, front/behind, above/below and the distance. Each
is the probability-weighted mean of the language model's own input embeddings of those words, the
probabilities coming from the encoder's heads. A question that names a sound can then be matched
against the very embedding the sound's name has in the question, instead of the model having to bind
every class name to a pattern in the projected tokens. How the words are laid out (one summed
position per slot, one per word, or written out as text in the prompt by heard_text) is SpatialLM's
part (ProjectorConfig.heard_words).

As text, the words are what `bat localize` says (its directions in the answers' words, front or
behind left out where it is unsure, its distances to the half metre), and for two sounds also how they lie to each other: which is
further left, higher and nearer, and how far apart they are. A model of 135 M parameters reads such
a relation far more reliably than it compares two angles or distances it would have to infer.
"""

from __future__ import annotations

import re
from itertools import accumulate

import numpy as np
import torch

from ..encoder.model import SpatialEncoder
from ..encoder.readout import FRONT_SURE, bin_centres, hear, slot_places
from ..geometry import direction_words, plane_angles, to_cartesian
from ..grammar import FRONT_UNSURE
from ..sim.questions import DISTANCE_STEP_M

EMPTY = "none"  # the class word of a slot that holds no sound
SIDES = (("left", "right"), ("front", "behind"), ("above", "below"))
PLACE_COLUMNS = 4  # after the heard words' weights: each slot's azimuth (deg), elevation (deg), distance (m), front probability


def heard_vocabulary(encoder: SpatialEncoder) -> list[list[str]]:
    """The word groups of one slot: classes + `none`, the three pairs of sides, the distance bins."""
    distances = bin_centres(encoder.dims)[2].tolist()
    return [[*encoder.labels, EMPTY], *map(list, SIDES), [f"{d:.1f}m" for d in distances]]


@torch.no_grad()
def listen(encoder: SpatialEncoder, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, 2, samples) -> the encoder's tokens (batch, tokens, width) and what each slot heard
    (batch, slots, words + PLACE_COLUMNS): the weights of the heard words, in heard_vocabulary's order
    (each group's weights sum to 1), then the slot's place and front probability as `bat localize`
    reports them (readout.slot_places: with the template votes and the model's front calibration)."""
    tokens, outputs = hear(encoder, audio)
    present = torch.sigmoid(outputs.presence.float())[..., None]
    classes = torch.cat([present * torch.softmax(outputs.classes.float(), -1), 1 - present], dim=-1)
    azimuth_deg, elevation_deg, _ = (c.to(tokens.device) for c in bin_centres(encoder.dims))
    azimuth = torch.softmax(outputs.azimuth.float(), -1)
    lateral = azimuth @ _sides(torch.sin(torch.deg2rad(azimuth_deg)))
    frontal = azimuth @ _sides(torch.cos(torch.deg2rad(azimuth_deg)))
    vertical = torch.softmax(outputs.elevation.float(), -1) @ _sides(elevation_deg)
    distance = torch.softmax(outputs.distance.float(), -1)
    places = torch.from_numpy(np.stack(slot_places(outputs, encoder.dims, encoder.front_calibration), axis=-1)).to(tokens.device, torch.float32)
    return tokens, torch.cat([classes, lateral, frontal, vertical, distance, places], dim=-1)


def _sides(values: torch.Tensor) -> torch.Tensor:
    """(bins,) signed positions -> (bins, 2) shares of each bin on the positive and negative side;
    a bin on the boundary (within float error of 0) counts half to each."""
    positive = torch.where(values.abs() < 1e-6, torch.full_like(values, 0.5), (values > 0).float())
    return torch.stack([positive, 1 - positive], dim=-1)


def group_slices(vocabulary: list[list[str]]) -> list[slice]:
    ends = list(accumulate(len(group) for group in vocabulary))
    return [slice(end - len(group), end) for group, end in zip(vocabulary, ends)]


def heard_text(vocabulary: list[list[str]], heard: list[list[float]], question: str = "") -> str:
    """One clip's heard slots (listen's row as a list) as text in the answers' own style, strongest
    slot first after their number, then how two sounds lie to each other:
    `2 sounds: typing (left, front, above; 1.5m) and cricket (right; 3.0m); typing is further left,
    higher and nearer than cricket, 2.0m apart`, or `nothing`. The two are those the `question` names,
    in the order it names them, else the strongest two: "is the cricket left of the typing?" is then
    answered by reading "cricket is further right ... than typing", not by turning the relation round.

    A slot is a sound when its presence reaches 1/2 (as `bat localize` reports it), under its most
    likely class, with its direction in direction_words (front or behind only where one side is at
    least FRONT_SURE likely, as `bat localize` says it) and its distance to the half metre.
    A second slot of the same class is left out.
    """
    sounds = heard_sounds(vocabulary, heard)
    if not sounds:
        return "nothing"
    text = f"{len(sounds)} sound{'s' if len(sounds) > 1 else ''}: " + " and ".join(
        f"{label} ({sides}; {_metres(place[2])})" if sides else f"{label} ({_metres(place[2])})" for label, sides, place in sounds)
    if len(sounds) < 2:
        return text
    named = named_sounds(question, sounds)
    (x, _, x_place), (y, _, y_place) = named[:2] if len(named) >= 2 else sounds[:2]
    return f"{text}; {_relation(x, x_place, y, y_place)}"


def named_sounds(question: str, sounds: list[tuple[str, str, list[float]]]) -> list[tuple[str, str, list[float]]]:
    """The heard sounds (heard_sounds' tuples) that the question names, in the order it names them."""
    text = question.lower()
    found = [(match.start(), sound) for sound in sounds
             if (match := re.search(rf"(?<![a-z]){re.escape(sound[0].lower())}(?![a-z])", text))]
    return [sound for _, sound in sorted(found, key=lambda pair: pair[0])]


def front_left_open(question: str, sounds: list[tuple[str, str, list[float]]]) -> bool | None:
    """Whether what was heard leaves front and behind open for the sound the question asks about (the
    first it names, or the one sound heard): True or False, or None where it asks about none heard."""
    named = named_sounds(question, sounds)
    subject = named[0] if named else sounds[0] if len(sounds) == 1 else None
    return None if subject is None else not says_front_or_behind(subject[1])


def options_as_heard(options: list[str] | None, question: str, vocabulary: list[list[str]], heard: list[list[float]]) -> list[str] | None:
    """A front-or-behind choice's options (grammar.answer_choices) narrowed to what was heard of the
    sound asked about (`heard`: one clip's heard slots, as heard_text reads them), as the model was
    trained to answer (llm.data.answered_as_heard): only FRONT_UNSURE where the heard text leaves that
    side open, only the two sides where it says one. Other options are returned as they are."""
    if not options or FRONT_UNSURE not in options:
        return options
    left_open = front_left_open(question, heard_sounds(vocabulary, heard))
    if left_open is None:
        return options
    return [FRONT_UNSURE] if left_open else [o for o in options if o != FRONT_UNSURE]


def says_front_or_behind(direction: str) -> bool:
    """Whether direction words ("left, front, above") say front or behind."""
    return bool({"front", "behind"} & set(direction.split(", ")))


def heard_sounds(vocabulary: list[list[str]], heard: list[list[float]]) -> list[tuple[str, str, list[float]]]:
    """The sounds of one clip's heard slots as heard_text names them, strongest first: (label, direction
    words, place columns)."""
    labels = vocabulary[0]
    sounds = []
    for row in sorted(heard, key=lambda r: r[len(labels) - 1]):  # the least `none` first
        classes = row[:len(labels)]
        if classes[-1] > 0.5:
            break
        label = labels[max(range(len(classes) - 1), key=classes.__getitem__)]
        if label in (name for name, _, _ in sounds):
            continue
        place = row[-PLACE_COLUMNS:]
        sounds.append((label, direction_words(place[0], place[1], front_back=max(place[3], 1 - place[3]) >= FRONT_SURE), place))
    return sounds


def _metres(distance_m: float) -> str:
    return f"{np.floor(distance_m / DISTANCE_STEP_M + 0.5) * DISTANCE_STEP_M:.1f}m"


def _relation(x: str, x_place: list[float], y: str, y_place: list[float]) -> str:
    """`x is further left, higher and nearer than y, 2.0m apart` (or right, lower, farther)."""
    (x_lateral, _, x_vertical), (y_lateral, _, y_vertical) = plane_angles(*x_place[:2]), plane_angles(*y_place[:2])
    side = "left" if x_lateral > y_lateral else "right"
    height = "higher" if x_vertical > y_vertical else "lower"
    nearness = "nearer" if x_place[2] < y_place[2] else "farther"
    apart = float(np.linalg.norm(to_cartesian(*x_place[:3]) - to_cartesian(*y_place[:3])))
    return f"{x} is further {side}, {height} and {nearness} than {y}, {_metres(apart)} apart"
