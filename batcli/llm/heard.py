"""What the encoder's heads heard, handed to the language model as words.

Beside the projector's queries, the language model gets, for each encoder slot, five soft words:
the class (`none` for an empty slot), left/right, front/behind, above/below and the distance. Each
is the probability-weighted mean of the language model's own input embeddings of those words, the
probabilities coming from the encoder's heads. A question that names a sound can then be matched
against the very embedding the sound's name has in the question, instead of the model having to bind
every class name to a pattern in the projected tokens. How the words are laid out (one summed
position per slot, one per word, or written out as text in the prompt by heard_text) is SpatialLM's
part (ProjectorConfig.heard_words).
"""

from __future__ import annotations

from itertools import accumulate

import torch

from ..encoder.model import SpatialEncoder
from ..encoder.readout import bin_centres

EMPTY = "none"  # the class word of a slot that holds no sound
SIDES = (("left", "right"), ("front", "behind"), ("above", "below"))


def heard_vocabulary(encoder: SpatialEncoder) -> list[list[str]]:
    """The word groups of one slot: classes + `none`, the three pairs of sides, the distance bins."""
    distances = bin_centres(encoder.dims)[2].tolist()
    return [[*encoder.labels, EMPTY], *map(list, SIDES), [f"{d:.1f}m" for d in distances]]


@torch.no_grad()
def listen(encoder: SpatialEncoder, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, 2, samples) -> the encoder's tokens (batch, tokens, width) and the weights of the
    heard words (batch, slots, words), in heard_vocabulary's order; each group's weights sum to 1."""
    tokens = encoder.encode(audio)
    outputs = encoder.read_slots(tokens)
    present = torch.sigmoid(outputs.presence.float())[..., None]
    classes = torch.cat([present * torch.softmax(outputs.classes.float(), -1), 1 - present], dim=-1)
    azimuth_deg, elevation_deg, _ = (c.to(tokens.device) for c in bin_centres(encoder.dims))
    azimuth = torch.softmax(outputs.azimuth.float(), -1)
    lateral = azimuth @ _sides(torch.sin(torch.deg2rad(azimuth_deg)))
    frontal = azimuth @ _sides(torch.cos(torch.deg2rad(azimuth_deg)))
    vertical = torch.softmax(outputs.elevation.float(), -1) @ _sides(elevation_deg)
    distance = torch.softmax(outputs.distance.float(), -1)
    return tokens, torch.cat([classes, lateral, frontal, vertical, distance], dim=-1)


def _sides(values: torch.Tensor) -> torch.Tensor:
    """(bins,) signed positions -> (bins, 2) shares of each bin on the positive and negative side;
    a bin on the boundary (within float error of 0) counts half to each."""
    positive = torch.where(values.abs() < 1e-6, torch.full_like(values, 0.5), (values > 0).float())
    return torch.stack([positive, 1 - positive], dim=-1)


def group_slices(vocabulary: list[list[str]]) -> list[slice]:
    ends = list(accumulate(len(group) for group in vocabulary))
    return [slice(end - len(group), end) for group, end in zip(vocabulary, ends)]


def heard_text(vocabulary: list[list[str]], weights: list[list[float]]) -> str:
    """One clip's heard-word weights (per slot, listen's row as a list) as text in the answers' own
    style, strongest slot first: `typing (left, front, above; 1.5m) and cricket (right; 3.0m)`, or `nothing`.

    A slot is a sound when its presence reaches 1/2 (as `bat localize` reports it), under its most
    likely class; of each pair of sides the one with more of the direction's probability is named,
    none when they hold exactly half each (a source on that plane). A second slot of the same class
    is left out.
    """
    class_group, *side_groups, distance_group = group_slices(vocabulary)
    labels, *side_words, distance_words = vocabulary
    sounds, named = [], set()
    for row in sorted(weights, key=lambda r: r[class_group][-1]):  # the least `none` first
        classes = row[class_group]
        if classes[-1] > 0.5:
            break
        label = labels[max(range(len(classes) - 1), key=classes.__getitem__)]
        if label in named:
            continue
        named.add(label)
        sides = []
        for group, words in zip(side_groups, side_words):
            share = row[group][0]
            if abs(share - 0.5) > 1e-6:
                sides.append(words[0] if share > 0.5 else words[1])
        distances = row[distance_group]
        distance = distance_words[max(range(len(distances)), key=distances.__getitem__)]
        sounds.append(f"{label} ({', '.join(sides)}; {distance})" if sides else f"{label} ({distance})")
    return " and ".join(sounds) or "nothing"
