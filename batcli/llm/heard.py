"""What the encoder's heads heard, handed to the language model as words.

Beside the projector's queries, the language model gets, for each encoder slot, five soft words:
the class (`none` for an empty slot), left/right, front/behind, above/below and the distance. Each
is the probability-weighted mean of the language model's own input embeddings of those words, the
probabilities coming from the encoder's heads. A question that names a sound can then be matched
against the very embedding the sound's name has in the question, instead of the model having to bind
every class name to a pattern in the projected tokens. How the words are laid out (one summed
position per slot, or one per word) is SpatialLM's part (ProjectorConfig.heard_words).
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
