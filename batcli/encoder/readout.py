"""From slot logits to losses and to located sources.

Directions and distances are classes over bins (as in the paper: it keeps a front/back ambiguity as
two peaks instead of averaging them into a sideways guess), trained against Gaussian-smoothed
targets and decoded as the probability-weighted mean around the strongest bin, which gives
sub-bin precision.

Slots are matched to a clip's sources by the permutation with the lowest total cost: each slot's
presence, its class and distance cross-entropy, and how far its lateral angle is from the source's.
Matched slots learn to be present and where their source is, the others to be absent. The matching
does not look at where on its cone of confusion (front or back, up or down) a slot is: were it to, a
model unsure of front and back would gain by putting one slot in front and one behind, whichever was
right taking the source (this is what spurious second sources on the first one's cone were), where it
should say how unsure it is within one slot's distribution. With at most a handful of slots, trying
every permutation is cheap.

Front or back is decided by probability, not by the azimuth's peak: a static head tells front from
back only through the pinna's colouring, so the distribution often holds two mirror peaks. What
weighs the sides: the azimuth distribution's mass in front, and (evidence front end) the vote balance
of each row of template votes (8-ms and 32-ms frames): of the votes on the slot's cone of confusion,
those in front minus those behind, over all the clip's votes (votes spread everywhere by reverberation
or noise say little), and the long row's balance once more in dry clips (the clip's coherence reaches
DRY_COHERENCE: a free field, where the long frames hear best). The model's calibration (a logistic fit
on the validation clips) turns them into each source's `front_probability`; the decoded azimuth is
mirrored across the interaural axis when its peak lies on the less likely side, and the direction words
leave front/behind out below FRONT_SURE.
Where enough votes fall near a source, its direction then moves to their mean (refine_with_votes), and
in a dry clip to the long frames' strongest mode on its cone (snap_in_dry_clips).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields, replace

import numpy as np
import torch
import torch.nn.functional as F

from ..geometry import DIRECTION_MARGIN_DEG, direction_words, great_circle_deg, plane_angles, to_spherical, unit_vector, wrap_azimuth
from ..metrics import match_sources
from .features import LONG_ROW, VOTE_ROWS
from .model import FRONT_EVIDENCE, IDENTITY, EncoderDims, SlotOutputs, SpatialEncoder

DIRECTION_WEIGHT = 2.0  # the paper's weighting of the direction terms against class and distance
MATCH_LATERAL_DEG = 10.0  # in the matching, a slot's lateral angle this far from a source's costs as much as one direction nat
SMOOTHING_BINS = 1.0  # standard deviation of the Gaussian target, in bins
DECODE_RADIUS = 2  # bins on either side of the peak averaged when decoding
FRONT_SURE = 0.8  # front/behind is said only when one side is at least this likely
CONE_WIDTH_DEG = 20.0  # votes within this many degrees of a slot's lateral angle lie on its cone of confusion
REFINE_RADIUS_DEG = 25.0  # a source moves to the mean direction of the template votes within this angle of it
REFINE_SHARE = 0.1  # when those votes hold at least this share of the clip's votes
DRY_COHERENCE = 0.95  # a clip this coherent (SlotOutputs.coherence, from DirectCues.votes) is heard as a free field
SNAP_RADIUS_DEG = 15.0  # the long votes are smoothed over this angle to find their modes
SNAP_SHARE = 0.3  # a mode a dry clip's source moves to holds at least this share of the long votes


@dataclass
class Targets:
    """Reference sources padded to the slot count: mask (batch, slots) marks real ones."""

    mask: torch.Tensor
    label: torch.Tensor  # class index (long)
    azimuth_deg: torch.Tensor
    elevation_deg: torch.Tensor
    distance_m: torch.Tensor
    distance_known: torch.Tensor  # (batch, slots) bool: false in a free field, where no cue tells distance

    def to(self, device) -> Targets:
        return Targets(*(t.to(device) for t in (self.mask, self.label, self.azimuth_deg, self.elevation_deg, self.distance_m, self.distance_known)))


def make_targets(sources: list[list[dict]], labels: list[str], slots: int) -> Targets:
    """Targets for a batch from per-clip lists of sources (label, azimuth_deg, elevation_deg, distance_m,
    and `anechoic`: true where the source sounds in a free field)."""
    index = {label: i for i, label in enumerate(labels)}
    batch = len(sources)
    mask = torch.zeros(batch, slots, dtype=torch.bool)
    known = torch.ones(batch, slots, dtype=torch.bool)
    label = torch.zeros(batch, slots, dtype=torch.long)
    values = torch.zeros(3, batch, slots)
    for b, clip in enumerate(sources):
        for s, source in enumerate(clip[:slots]):
            mask[b, s] = True
            known[b, s] = not source.get("anechoic", False)
            label[b, s] = index[source["label"]]
            values[:, b, s] = torch.tensor([source["azimuth_deg"], source["elevation_deg"], source["distance_m"]])
    return Targets(mask, label, values[0], values[1], values[2], known)


def bin_centres(dims: EncoderDims) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Centres of the azimuth (deg, circular), elevation (deg) and distance (m) bins."""
    azimuth = torch.arange(dims.azimuth_bins) * (360.0 / dims.azimuth_bins)
    elevation = torch.linspace(-90.0, 90.0, dims.elevation_bins)
    distance = torch.linspace(0.0, dims.max_distance_m, dims.distance_bins)
    return azimuth, elevation, distance


def _soft_target(values: torch.Tensor, centres: torch.Tensor, step: float, period: float | None) -> torch.Tensor:
    """Gaussian-smoothed class targets (..., bins) for values (...)."""
    offset = values[..., None] - centres
    if period is not None:
        offset = torch.remainder(offset + period / 2, period) - period / 2
    weights = torch.exp(-0.5 * (offset / (SMOOTHING_BINS * step)).square())
    return weights / weights.sum(-1, keepdim=True)


def slot_loss(outputs: SlotOutputs, targets: Targets, dims: EncoderDims) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts, with slots assigned to sources by the cheapest permutation."""
    azimuth_centres, elevation_centres, distance_centres = (c.to(outputs.presence.device) for c in bin_centres(dims))
    log = {name: F.log_softmax(getattr(outputs, name).float(), dim=-1) for name in ("classes", "azimuth", "elevation", "distance")}
    # pair costs (batch, slot, source)
    batch, slots = targets.mask.shape
    class_cost = -log["classes"].gather(-1, targets.label[:, None, :].expand(batch, slots, slots))
    costs = {"class": class_cost}
    for name, values, centres, period in (
        ("azimuth", targets.azimuth_deg, azimuth_centres, 360.0),
        ("elevation", targets.elevation_deg, elevation_centres, None),
        ("distance", targets.distance_m, distance_centres, None),
    ):
        target = _soft_target(values, centres, float(centres[1] - centres[0]), period)  # (batch, source, bins)
        if name == "distance":  # in a free field the model should learn to say it cannot tell: a flat distribution
            target = torch.where(targets.distance_known[..., None], target, torch.full_like(target, 1.0 / target.shape[-1]))
        costs[name] = -torch.einsum("bkn,bjn->bkj", log[name], target)
    with torch.no_grad():  # presence (matched: BCE(p, 1) - BCE(p, 0) = -p), class, distance, lateral angle
        lateral_gap = (_lateral_deg(log["azimuth"].exp(), log["elevation"].exp(), azimuth_centres, elevation_centres)[:, :, None]
                       - _source_lateral_deg(targets)[:, None, :]).abs()
        match = (costs["class"] + costs["distance"] - outputs.presence.float()[:, :, None]
                 + DIRECTION_WEIGHT * lateral_gap / MATCH_LATERAL_DEG)

    permutations = torch.tensor(list(itertools.permutations(range(slots))), device=match.device)  # (P, slots)
    sources = torch.arange(slots, device=match.device)
    mask = targets.mask.float()
    per_permutation = (match[:, permutations, sources] * mask[:, None, :]).sum(-1)  # (batch, P)
    slot_of_source = permutations[per_permutation.argmin(1)]  # (batch, source)
    rows = torch.arange(batch, device=match.device)[:, None]
    count = mask.sum().clamp_min(1.0)
    parts = {name: (cost[rows, slot_of_source, sources] * mask).sum() / count for name, cost in costs.items()}

    present = torch.zeros_like(outputs.presence, dtype=torch.float32)
    present[rows, slot_of_source] = mask
    parts["presence"] = F.binary_cross_entropy_with_logits(outputs.presence.float(), present)
    loss = parts["presence"] + parts["class"] + DIRECTION_WEIGHT * (parts["azimuth"] + parts["elevation"]) + parts["distance"]
    return loss, {name: float(value.detach()) for name, value in parts.items()}


def _lateral_deg(azimuth: torch.Tensor, elevation: torch.Tensor, azimuth_centres: torch.Tensor, elevation_centres: torch.Tensor) -> torch.Tensor:
    """(batch, slots) lateral angle (deg, left positive) of slots' azimuth and elevation distributions
    ((batch, slots, bins) probabilities): the arcsine of the expected leftward component, sin(azimuth)
    cos(elevation), which a front/back mirror leaves as it is."""
    left = (azimuth * torch.sin(torch.deg2rad(azimuth_centres))).sum(-1) * (elevation * torch.cos(torch.deg2rad(elevation_centres))).sum(-1)
    return torch.rad2deg(torch.asin(left.clamp(-1.0, 1.0)))


def _source_lateral_deg(targets: Targets) -> torch.Tensor:
    """(batch, slots) lateral angle (deg) of the targets' sources."""
    left = torch.sin(torch.deg2rad(targets.azimuth_deg)) * torch.cos(torch.deg2rad(targets.elevation_deg))
    return torch.rad2deg(torch.asin(left.clamp(-1.0, 1.0)))


def _decode_bins(probabilities: np.ndarray, centres: np.ndarray, period: float | None) -> np.ndarray:
    """Probability-weighted mean over the peak bin and DECODE_RADIUS bins either side, per row."""
    peak = probabilities.argmax(-1)
    offsets = np.arange(-DECODE_RADIUS, DECODE_RADIUS + 1)
    bins = len(centres)
    neighbours = (peak[..., None] + offsets) % bins if period else np.clip(peak[..., None] + offsets, 0, bins - 1)
    weights = np.take_along_axis(probabilities, neighbours, -1)
    if not period:
        weights = np.where(np.abs(peak[..., None] + offsets - neighbours) > 0, 0.0, weights)  # no double counting at the edges
    step = centres[1] - centres[0]
    values = centres[peak][..., None] + offsets * step
    decoded = (weights * values).sum(-1) / np.maximum(weights.sum(-1), 1e-12)
    return np.mod(decoded, period) if period else np.clip(decoded, centres[0], centres[-1])


def decode_places(outputs: SlotOutputs, dims: EncoderDims) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every slot's azimuth (deg), elevation (deg) and distance (m), each (batch, slots), present or not."""
    centres = [c.numpy().astype(np.float64) for c in bin_centres(dims)]
    logits = (outputs.azimuth, outputs.elevation, outputs.distance)
    probabilities = [torch.softmax(x.float(), -1).cpu().numpy() for x in logits]
    return tuple(_decode_bins(p, c, period) for p, c, period in zip(probabilities, centres, (360.0, None, None)))


def front_mass(outputs: SlotOutputs, dims: EncoderDims) -> np.ndarray:
    """(batch, slots) azimuth probability in front of the interaural axis (half of a bin on the axis)."""
    centres = bin_centres(dims)[0].numpy().astype(np.float64)
    cosine = np.cos(np.radians(centres))
    side = np.where(np.abs(cosine) < 1e-9, 0.5, (cosine > 0).astype(np.float64))
    return torch.softmax(outputs.azimuth.float(), -1).cpu().numpy() @ side


def vote_balance(votes: torch.Tensor | None, directions: torch.Tensor | None, azimuth: np.ndarray, elevation: np.ndarray) -> np.ndarray:
    """Per slot and row of votes (batch, slots, rows; votes (batch, rows, directions)): of the template
    votes on its cone of confusion (within CONE_WIDTH_DEG of its lateral angle, at any elevation), those
    in front minus those behind, over all the clip's votes: in [-1, 1], 0 without votes. Near 1 or -1
    only when most of what the matcher heard lies on this slot's cone and on one side (one source in a
    free field); votes spread everywhere by reverberation or noise say little. The cone, not the slot's
    own direction, since the decoded elevation may be off."""
    if votes is None:
        return np.zeros((*azimuth.shape, VOTE_ROWS))
    vectors = directions.cpu().numpy().astype(np.float64)  # (directions, 3): x front, y left
    side = np.where(vectors[:, 0] > 0, 1.0, -1.0)
    weights = votes.cpu().numpy().astype(np.float64)[:, None]  # (batch, 1, rows, directions)
    return (weights * (_on_cone(vectors, azimuth, elevation) * side)[:, :, None]).sum(-1) / (weights.sum(-1) + 1e-12)


def _on_cone(vectors: np.ndarray, azimuth: np.ndarray, elevation: np.ndarray) -> np.ndarray:
    """(batch, slots, directions): which directions lie within CONE_WIDTH_DEG of each slot's lateral angle."""
    vote_lateral = np.degrees(np.arcsin(np.clip(vectors[:, 1], -1.0, 1.0)))
    lateral = np.degrees(np.arcsin(np.clip(unit_vector(azimuth, elevation)[..., 1], -1.0, 1.0)))  # (batch, slots)
    return np.abs(vote_lateral - lateral[..., None]) <= CONE_WIDTH_DEG


def dry_clips(outputs: SlotOutputs) -> np.ndarray:
    """(batch,) whether each clip's coherence reaches DRY_COHERENCE (none without a coherence)."""
    if outputs.coherence is None:
        return np.zeros(len(outputs.presence), dtype=bool)
    return outputs.coherence.cpu().numpy() >= DRY_COHERENCE


def front_evidence(outputs: SlotOutputs, azimuth: np.ndarray, elevation: np.ndarray) -> np.ndarray:
    """(batch, slots, FRONT_EVIDENCE): each row's vote balance on the slot's cone (vote_balance), then the
    long row's again in dry clips (0 elsewhere). In a free field the long frames' votes are the surest
    (the sign of their balance errs on 6 % of 313 free-field development sources, the short frames' on
    16 %); in a room the short ones (28 % against 33 %): the calibration weighs them apart."""
    balance = vote_balance(outputs.votes, outputs.vote_directions, azimuth, elevation)
    return np.concatenate([balance, balance[..., LONG_ROW:LONG_ROW + 1] * dry_clips(outputs)[:, None, None]], -1)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def calibrated(mass: np.ndarray, evidence: np.ndarray, calibration: tuple[float, ...]) -> np.ndarray:
    """The front probability: sigmoid(a logit(mass) + b . evidence + c) for calibration (a, *b, c), with
    evidence (..., FRONT_EVIDENCE) from front_evidence."""
    a, *b, c = calibration
    return 1.0 / (1.0 + np.exp(-(a * _logit(mass) + evidence @ np.array(b) + c)))


def fit_calibration(mass: np.ndarray, evidence: np.ndarray, front: np.ndarray, steps: int = 200, prior: float = 1.0) -> tuple[float, ...]:
    """Logistic regression of whether each source was in front on logit(front mass) and the vote
    evidence (sources, FRONT_EVIDENCE), by Newton's method; a penalty of `prior` times the squared distance
    from IDENTITY keeps a fit on a handful of sources from running off (on hundreds it hardly counts)."""
    features = np.concatenate([_logit(mass)[:, None], evidence, np.ones_like(mass)[:, None]], -1)
    identity = np.array(IDENTITY)
    params = identity.copy()
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-features @ params))
        gradient = features.T @ (p - front) + prior * (params - identity)
        hessian = features.T @ (features * (p * (1 - p))[:, None]) + prior * np.eye(len(identity))
        update = np.linalg.solve(hessian, gradient)
        params -= update
        if np.abs(update).max() < 1e-9:
            break
    return tuple(float(v) for v in params)


def calibration_data(outputs: SlotOutputs, dims: EncoderDims, references: list[list[dict]], threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Front mass and vote evidence (sources, FRONT_EVIDENCE) of every present slot matched to a
    reference source off the frontal plane, and whether that source is in front: what fit_calibration
    learns from. Slots are matched to sources with front and back folded together, so a mirrored peak
    still finds its source."""
    presence = torch.sigmoid(outputs.presence.float()).cpu().numpy()
    mass = front_mass(outputs, dims)
    azimuth, elevation, _ = decode_places(outputs, dims)
    evidence = front_evidence(outputs, azimuth, elevation)

    def folded(az, el) -> dict:
        return {"azimuth_deg": float(np.degrees(np.arcsin(np.sin(np.radians(az))))), "elevation_deg": float(el)}

    rows = []
    for b, reference in enumerate(references):
        slots = [s for s in range(presence.shape[1]) if presence[b, s] >= threshold]
        predicted = [folded(azimuth[b, s], elevation[b, s]) for s in slots]
        for i, j, _ in match_sources(predicted, [folded(r["azimuth_deg"], r["elevation_deg"]) for r in reference]):
            frontal = plane_angles(reference[j]["azimuth_deg"], reference[j]["elevation_deg"])[1]
            if abs(frontal) > DIRECTION_MARGIN_DEG:
                rows.append((mass[b, slots[i]], *evidence[b, slots[i]], float(frontal > 0)))
    table = np.array(rows, dtype=np.float64).reshape(-1, FRONT_EVIDENCE + 2)
    return table[:, 0], table[:, 1:-1], table[:, -1]


def refine_with_votes(votes: torch.Tensor | None, directions: torch.Tensor | None, azimuth: np.ndarray,
                      elevation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each slot's direction moved to the vote-weighted mean of the template votes within
    REFINE_RADIUS_DEG of it, where those hold REFINE_SHARE of the clip's votes or more; the others (and
    all, without votes) stay. Each row of votes counts by its share of the row's votes. The network
    places sources well on their cone of confusion but up/down along it less well than the matcher's
    exact templates do where onsets are clean: on 400 free-field development clips the single-source
    DoA error falls from 30.9 to 26.8 deg with the short frames' votes, to 26.6 with the long frames'
    and both; on 800 in rooms from 33.9 to 32.2, 33.4 and 32.4 deg. A radius of 35 deg gains more in a
    free field but loses through a head whose templates differ from the set's."""
    if votes is None:
        return azimuth, elevation
    vectors = directions.cpu().numpy().astype(np.float64)
    rows = votes.cpu().numpy().astype(np.float64)  # (batch, rows, directions)
    weights = (rows / np.maximum(rows.sum(-1, keepdims=True), 1e-12)).sum(1)[:, None, :]  # (batch, 1, directions)
    near = unit_vector(azimuth, elevation) @ vectors.T >= np.cos(np.radians(REFINE_RADIUS_DEG))  # (batch, slots, directions)
    local = weights * near
    mean = local @ vectors  # (batch, slots, 3)
    moved = (local.sum(-1) >= REFINE_SHARE * weights.sum(-1)) & (local.sum(-1) > 0) & (np.linalg.norm(mean, axis=-1) > 1e-9)
    refined_azimuth, refined_elevation, _ = to_spherical(mean)
    return np.where(moved, refined_azimuth, azimuth), np.where(moved, refined_elevation, elevation)


def snap_in_dry_clips(outputs: SlotOutputs, azimuth: np.ndarray, elevation: np.ndarray, front: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """In dry clips (dry_clips), each slot moved to the strongest mode of the long frames' votes on its
    cone of confusion (the votes summed over SNAP_RADIUS_DEG around each direction), at the mean of the
    votes within SNAP_RADIUS_DEG of it, where that mode lies on the side the front probability picks and
    holds SNAP_SHARE of the row's votes. In a free field a clip's interaural spectrum is one direction's
    and the long frames resolve it: on 400 free-field development clips the single-source DoA error
    falls from 24.2 to 14.0 deg, while 800 reverberant ones (31.5 -> 31.3) and 400 through another head
    (40.3 -> 40.5) hardly change, as few of them are that coherent."""
    dry = dry_clips(outputs)
    if outputs.votes is None or not dry.any():
        return azimuth, elevation
    vectors = outputs.vote_directions.cpu().numpy().astype(np.float64)
    votes = outputs.votes[:, LONG_ROW].cpu().numpy().astype(np.float64)  # (batch, directions): the long frames'
    near = vectors @ vectors.T >= np.cos(np.radians(SNAP_RADIUS_DEG))  # (directions, directions)
    support = (votes @ near)[:, None] * _on_cone(vectors, azimuth, elevation)  # (batch, slots, directions)
    best = support.argmax(-1)  # (batch, slots)
    share = np.take_along_axis(support, best[..., None], -1)[..., 0] / np.maximum(votes.sum(-1), 1e-12)[:, None]
    mode_azimuth, mode_elevation, _ = to_spherical((votes[:, None] * near[best]) @ vectors)
    moved = dry[:, None] & (share >= SNAP_SHARE) & ((vectors[best, 0] > 0) == (front >= 0.5))
    return np.where(moved, mode_azimuth, azimuth), np.where(moved, mode_elevation, elevation)


def slot_places(outputs: SlotOutputs, dims: EncoderDims, calibration: tuple[float, ...] = IDENTITY
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every slot's azimuth (deg), elevation (deg), distance (m) and front probability, each (batch,
    slots), as `bat localize` reports them: the decoded azimuth on the likelier side of the frontal
    plane, moved to the template votes near it (refine_with_votes), in a dry clip to the long votes'
    mode on its cone (snap_in_dry_clips)."""
    azimuth, elevation, distance = decode_places(outputs, dims)
    front = calibrated(front_mass(outputs, dims), front_evidence(outputs, azimuth, elevation), calibration)

    def on_likelier_side(azimuth: np.ndarray) -> np.ndarray:  # mirrored across the interaural axis where it is not
        return np.where((np.cos(np.radians(azimuth)) > 0) != (front >= 0.5), wrap_azimuth(180.0 - azimuth), azimuth)

    azimuth, elevation = refine_with_votes(outputs.votes, outputs.vote_directions, on_likelier_side(azimuth), elevation)
    azimuth, elevation = snap_in_dry_clips(outputs, azimuth, elevation, front)
    return on_likelier_side(azimuth), elevation, distance, front


CPU_CLIPS = 4  # clips heard at once on a CPU: 16 at once fill its caches and take 60 % longer (docs/benchmarks.md)


def hear(model: SpatialEncoder, audio: torch.Tensor) -> tuple[torch.Tensor, SlotOutputs]:
    """(batch, 2, samples) -> the model's tokens (batch, tokens, width) and the slot outputs the readout
    decodes: with the template votes, and each slot's presence, class and distance averaged with the
    same clip's with its ears swapped (mirror_average), both in one forward pass (on a CPU, one per
    CPU_CLIPS clips)."""
    if audio.device.type == "cpu" and len(audio) > CPU_CLIPS:
        parts = [hear(model, part) for part in audio.split(CPU_CLIPS)]
        outputs = [o for _, o in parts]
        joined = {f.name: torch.cat([getattr(o, f.name) for o in outputs]) for f in fields(outputs[0])
                  if f.name != "vote_directions" and getattr(outputs[0], f.name) is not None}
        return torch.cat([t for t, _ in parts]), replace(outputs[0], **joined)
    tokens = model.encode(torch.cat([audio, audio.flip(1)]))
    both = model.read_slots(tokens)

    def clips(part: slice) -> SlotOutputs:
        return SlotOutputs(both.presence[part], both.classes[part], both.azimuth[part], both.elevation[part], both.distance[part])

    half = len(audio)
    return tokens[:half], model.add_votes(mirror_average(clips(slice(None, half)), clips(slice(half, None)), model.dims), audio)


def mirror_average(outputs: SlotOutputs, mirrored: SlotOutputs, dims: EncoderDims) -> SlotOutputs:
    """`outputs` with each slot's presence, class and distance logits averaged with those of its
    counterpart in `mirrored`, the outputs for the same clips with the ears swapped. None of the three
    depends on the side a sound is on, yet the model, though trained on both sides (swap_ears), reads
    a mirrored clip a little differently: the mean of the two readings errs less (docs/encoder.md).
    Counterparts are matched on lateral angle (mirrored) and presence; directions stay as `outputs` has them."""
    azimuth_centres, elevation_centres, _ = (c.to(outputs.presence.device) for c in bin_centres(dims))

    def lateral(o: SlotOutputs) -> torch.Tensor:
        return _lateral_deg(torch.softmax(o.azimuth.float(), -1), torch.softmax(o.elevation.float(), -1), azimuth_centres, elevation_centres)

    presence, presence_mirrored = torch.sigmoid(outputs.presence.float()), torch.sigmoid(mirrored.presence.float())
    cost = ((lateral(outputs)[:, :, None] + lateral(mirrored)[:, None, :]).abs() / MATCH_LATERAL_DEG
            + (presence[:, :, None] - presence_mirrored[:, None, :]).abs())  # (batch, slot, mirrored slot)
    slots = presence.shape[1]
    permutations = torch.tensor(list(itertools.permutations(range(slots))), device=cost.device)  # (P, slots)
    counterpart = permutations[cost[:, torch.arange(slots, device=cost.device), permutations].sum(-1).argmin(1)]  # (batch, slots)

    def mean_log_probabilities(mine: torch.Tensor, theirs: torch.Tensor) -> torch.Tensor:  # (batch, slots, bins) logits
        theirs = theirs.float().gather(1, counterpart[..., None].expand_as(theirs))
        return (F.log_softmax(mine.float(), -1) + F.log_softmax(theirs, -1)) / 2

    return replace(outputs, presence=(outputs.presence.float() + mirrored.presence.float().gather(1, counterpart)) / 2,
                   classes=mean_log_probabilities(outputs.classes, mirrored.classes),
                   distance=mean_log_probabilities(outputs.distance, mirrored.distance))


def decode(outputs: SlotOutputs, dims: EncoderDims, labels: list[str], threshold: float = 0.5, unknown_below: float = 0.0,
           calibration: tuple[float, ...] = IDENTITY) -> list[dict]:
    """Per clip: located sources (best first) and clip-level class scores.

    A slot is reported when its presence probability reaches `threshold`; its label is the most
    likely class, or `unknown` when that class's probability is below `unknown_below`. Of two
    reported slots with the same label within 20 deg, only the stronger is kept.
    """
    presence = torch.sigmoid(outputs.presence.float()).cpu().numpy()
    classes = torch.softmax(outputs.classes.float(), -1).cpu().numpy()
    azimuth, elevation, distance, front = slot_places(outputs, dims, calibration)
    # P(class present) = 1 - prod over slots of (1 - P(slot present and of that class))
    class_scores = 1.0 - np.prod(1.0 - presence[..., None] * classes, axis=1)
    results = []
    for b in range(len(presence)):
        sources = []
        for s in np.argsort(-presence[b], kind="stable"):
            if presence[b, s] < threshold:
                break
            best = int(classes[b, s].argmax())
            label = labels[best] if classes[b, s, best] >= unknown_below else "unknown"
            az, el = float(azimuth[b, s]), float(elevation[b, s])
            if any(kept["label"] == label and great_circle_deg(az, el, kept["azimuth_deg"], kept["elevation_deg"]) < 20.0 for kept in sources):
                continue
            sources.append({
                "label": label,
                "score": round(float(presence[b, s]), 4),
                "label_score": round(float(classes[b, s, best]), 4),
                "azimuth_deg": round(az, 1),
                "elevation_deg": round(el, 1),
                "distance_m": round(float(distance[b, s]), 2),
                "front_probability": round(float(front[b, s]), 3),
                "direction": direction_words(az, el, front_back=max(front[b, s], 1 - front[b, s]) >= FRONT_SURE),
            })
        scores = {label: round(float(score), 4) for label, score in zip(labels, class_scores[b])}
        results.append({"sources": sources, "class_scores": scores})
    return results
