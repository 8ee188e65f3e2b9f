"""Targets, the permutation-invariant loss and decoding of slots into sources."""

import torch

from batcli.encoder.model import EncoderDims, SlotOutputs
from batcli.encoder.readout import bin_centres, decode, make_targets, slot_loss

LABELS = ["dog", "siren", "rain"]
DIMS = EncoderDims(slots=2)


def peaked(values, centres, period=None, sharpness=0.5):
    """Logits (len(values), bins) peaking at each value, like a confident model's."""
    offset = torch.tensor(values, dtype=torch.float32)[:, None] - centres
    if period:
        offset = torch.remainder(offset + period / 2, period) - period / 2
    return -sharpness * offset.square() / (centres[1] - centres[0]) ** 2


def outputs_for(sources, present):
    """Slot logits that say exactly `sources` (label, azimuth, elevation, distance) in slot order."""
    azimuth, elevation, distance = bin_centres(DIMS)
    labels = torch.tensor([LABELS.index(s[0]) for s in sources])
    return SlotOutputs(
        presence=torch.tensor([[8.0 if p else -8.0 for p in present]]),
        classes=torch.nn.functional.one_hot(labels, len(LABELS)).float()[None] * 10,
        azimuth=peaked([s[1] for s in sources], azimuth, 360.0)[None],
        elevation=peaked([s[2] for s in sources], elevation)[None],
        distance=peaked([s[3] for s in sources], distance)[None],
    )


def test_decoding_recovers_values_between_bin_centres():
    [clip] = decode(outputs_for([("dog", 62.5, 12.0, 2.3), ("rain", 200.0, -30.0, 7.0)], [True, False]), DIMS, LABELS)
    [source] = clip["sources"]
    assert source["label"] == "dog"
    assert abs(source["azimuth_deg"] - 62.5) < 1.0
    assert abs(source["elevation_deg"] - 12.0) < 1.0
    assert abs(source["distance_m"] - 2.3) < 0.1
    assert source["direction"] == "left, front, above"


def test_azimuth_decoding_wraps_around_the_front():
    for azimuth in (358.0, 1.5):
        [clip] = decode(outputs_for([("dog", azimuth, 0.0, 1.0), ("rain", 90.0, 0.0, 1.0)], [True, False]), DIMS, LABELS)
        decoded = clip["sources"][0]["azimuth_deg"]
        assert min(abs(decoded - azimuth), 360 - abs(decoded - azimuth)) < 1.0


def test_sources_are_sorted_by_score_and_class_scores_cover_every_label():
    outputs = outputs_for([("dog", 90.0, 0.0, 1.0), ("siren", 270.0, 0.0, 4.0)], [True, True])
    outputs.presence = torch.tensor([[1.0, 3.0]])
    [clip] = decode(outputs, DIMS, LABELS)
    assert [s["label"] for s in clip["sources"]] == ["siren", "dog"]
    assert set(clip["class_scores"]) == set(LABELS)
    assert clip["class_scores"]["rain"] < 0.01 < clip["class_scores"]["dog"]


def test_an_uncertain_class_is_reported_as_unknown_but_still_located():
    outputs = outputs_for([("dog", 45.0, 0.0, 3.0), ("rain", 200.0, 0.0, 1.0)], [True, False])
    outputs.classes = torch.zeros_like(outputs.classes)  # all classes equally likely
    [clip] = decode(outputs, DIMS, LABELS, unknown_below=0.5)
    [source] = clip["sources"]
    assert source["label"] == "unknown"
    assert abs(source["azimuth_deg"] - 45.0) < 1.0


def test_the_loss_does_not_depend_on_slot_order():
    sources = [("dog", 30.0, 0.0, 2.0), ("siren", 250.0, 20.0, 6.0)]
    targets = make_targets([[dict(zip(("label", "azimuth_deg", "elevation_deg", "distance_m"), s)) for s in sources]], LABELS, 2)
    straight, _ = slot_loss(outputs_for(sources, [True, True]), targets, DIMS)
    swapped, _ = slot_loss(outputs_for(sources[::-1], [True, True]), targets, DIMS)
    assert torch.isclose(straight, swapped)
    wrong = outputs_for([("dog", 250.0, 20.0, 6.0), ("siren", 30.0, 0.0, 2.0)], [True, True])  # places exchanged
    assert slot_loss(wrong, targets, DIMS)[0] > straight + 5


def test_an_unmatched_slot_learns_to_be_absent():
    source = [("rain", 120.0, 0.0, 3.0), ("dog", 0.0, 0.0, 1.0)]
    targets = make_targets([[dict(zip(("label", "azimuth_deg", "elevation_deg", "distance_m"), source[0]))]], LABELS, 2)
    one_present, parts = slot_loss(outputs_for(source, [True, False]), targets, DIMS)
    both_present, both_parts = slot_loss(outputs_for(source, [True, True]), targets, DIMS)
    assert both_parts["presence"] > parts["presence"] + 1
    assert both_present > one_present


def test_in_a_free_field_a_flat_distance_costs_less_than_any_guess():
    """Distance cannot be heard without a room: the loss teaches the model to say so (a flat distribution)."""
    source = {"label": "dog", "azimuth_deg": 60.0, "elevation_deg": 0.0, "distance_m": 2.0}
    guess = outputs_for([("dog", 60.0, 0.0, 2.0), ("rain", 0.0, 0.0, 1.0)], [True, False])
    flat = SlotOutputs(guess.presence, guess.classes, guess.azimuth, guess.elevation, torch.zeros_like(guess.distance))
    for anechoic, better in ((True, flat), (False, guess)):
        targets = make_targets([[{**source, "anechoic": anechoic}]], LABELS, 2)
        worse = guess if better is flat else flat
        assert slot_loss(better, targets, DIMS)[1]["distance"] < slot_loss(worse, targets, DIMS)[1]["distance"]
