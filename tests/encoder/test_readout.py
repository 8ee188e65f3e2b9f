"""Targets, the permutation-invariant loss and decoding of slots into sources."""

import numpy as np
import pytest
import torch

from batcli.encoder.model import EncoderDims, SlotOutputs
from batcli.encoder.model import IDENTITY
from batcli.encoder.readout import (CPU_CLIPS, bin_centres, calibrated, calibration_data, decode, fit_calibration, hear, make_targets, mirror_average,
                                    slot_loss, vote_balance)

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


def as_targets(*sources):
    """Targets of one clip from (label, azimuth, elevation, distance) tuples."""
    return make_targets([[dict(zip(("label", "azimuth_deg", "elevation_deg", "distance_m"), s)) for s in sources]], LABELS, 2)


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
    targets = as_targets(*sources)
    straight, _ = slot_loss(outputs_for(sources, [True, True]), targets, DIMS)
    swapped, _ = slot_loss(outputs_for(sources[::-1], [True, True]), targets, DIMS)
    assert torch.isclose(straight, swapped)
    wrong = outputs_for([("dog", 250.0, 20.0, 6.0), ("siren", 30.0, 0.0, 2.0)], [True, True])  # places exchanged
    assert slot_loss(wrong, targets, DIMS)[0] > straight + 5


def test_an_unmatched_slot_learns_to_be_absent():
    source = [("rain", 120.0, 0.0, 3.0), ("dog", 0.0, 0.0, 1.0)]
    targets = as_targets(source[0])
    one_present, parts = slot_loss(outputs_for(source, [True, False]), targets, DIMS)
    both_present, both_parts = slot_loss(outputs_for(source, [True, True]), targets, DIMS)
    assert both_parts["presence"] > parts["presence"] + 1
    assert both_present > one_present


def test_the_source_goes_to_the_slot_said_present_even_when_an_absent_one_sits_on_its_side():
    """A model sure of one source behind, where it is in front, is wrong about where it is: the absent
    slot on the right side does not take the source (and the blame off the present one)."""
    targets = as_targets(("dog", 30.0, 0.0, 2.0))
    mirrored = outputs_for([("dog", 150.0, 0.0, 2.0), ("dog", 30.0, 0.0, 2.0)], [True, False])
    _, parts = slot_loss(mirrored, targets, DIMS)
    assert parts["azimuth"] > 10
    assert parts["presence"] < 0.01


def test_two_slots_on_both_sides_of_the_cone_cost_more_than_one_slot_that_says_it_is_unsure():
    """Hedging front against back across two slots pays nothing: which slot is matched cannot depend on
    the side the source is on, so the uncertainty has to stay in one slot's azimuth distribution."""
    targets = as_targets(("dog", 30.0, 0.0, 2.0))
    hedges = []
    for sides in ((150.0, 30.0), (30.0, 150.0)):  # the model cannot know which slot the source will be
        hedge = outputs_for([("dog", sides[0], 0.0, 2.0), ("dog", sides[1], 0.0, 2.0)], [True, True])
        hedge.presence = torch.zeros_like(hedge.presence)
        hedges.append(slot_loss(hedge, targets, DIMS)[0])
    unsure = outputs_for([("dog", 30.0, 0.0, 2.0), ("rain", 0.0, 0.0, 1.0)], [True, False])
    mirror = outputs_for([("dog", 150.0, 0.0, 2.0), ("rain", 0.0, 0.0, 1.0)], [True, False])
    unsure.azimuth = torch.logsumexp(torch.stack([unsure.azimuth, mirror.azimuth]), 0)  # two equal peaks
    assert sum(hedges) / 2 > slot_loss(unsure, targets, DIMS)[0] + 1


def test_in_a_free_field_a_flat_distance_costs_less_than_any_guess():
    """Distance cannot be heard without a room: the loss teaches the model to say so (a flat distribution)."""
    source = {"label": "dog", "azimuth_deg": 60.0, "elevation_deg": 0.0, "distance_m": 2.0}
    guess = outputs_for([("dog", 60.0, 0.0, 2.0), ("rain", 0.0, 0.0, 1.0)], [True, False])
    flat = SlotOutputs(guess.presence, guess.classes, guess.azimuth, guess.elevation, torch.zeros_like(guess.distance))
    for anechoic, better in ((True, flat), (False, guess)):
        targets = make_targets([[{**source, "anechoic": anechoic}]], LABELS, 2)
        worse = guess if better is flat else flat
        assert slot_loss(better, targets, DIMS)[1]["distance"] < slot_loss(worse, targets, DIMS)[1]["distance"]


def mirror_peaks(front_azimuth, front_weight):
    """Azimuth logits with two peaks: at front_azimuth and at its mirror behind, the front one holding
    `front_weight` of the probability."""
    azimuth = bin_centres(DIMS)[0]
    peaks = torch.softmax(peaked([front_azimuth, 180.0 - front_azimuth], azimuth, 360.0, sharpness=2.0), -1)
    return torch.log(front_weight * peaks[0] + (1 - front_weight) * peaks[1])


def test_front_or_back_follows_the_probability_mass_and_is_left_unsaid_when_unsure():
    outputs = outputs_for([("dog", 40.0, 0.0, 2.0), ("rain", 200.0, 0.0, 1.0)], [True, False])
    for weight, side, words in ((0.95, "front", "left, front"), (0.05, "behind", "left, behind"), (0.6, "front", "left")):
        outputs.azimuth = torch.stack([mirror_peaks(40.0, weight), outputs.azimuth[0, 1]])[None]
        [clip] = decode(outputs, DIMS, LABELS)
        [source] = clip["sources"]
        assert abs(source["front_probability"] - weight) < 0.02
        assert source["direction"] == words
        expected = 40.0 if side == "front" else 140.0
        assert abs(source["azimuth_deg"] - expected) < 1.0


def test_a_peak_on_the_less_likely_side_is_mirrored():
    """A sharp peak behind holding 40 % of the mass, the rest spread in front: the source is put in front."""
    outputs = outputs_for([("dog", 150.0, 0.0, 2.0), ("rain", 200.0, 0.0, 1.0)], [True, False])
    azimuth = bin_centres(DIMS)[0]
    spread = torch.where(torch.cos(torch.deg2rad(azimuth)) > 0.2, 1.0, 0.0)
    probabilities = 0.4 * torch.softmax(peaked([150.0], azimuth, 360.0, sharpness=2.0), -1)[0] + 0.6 * spread / spread.sum()
    outputs.azimuth = torch.stack([probabilities.log(), outputs.azimuth[0, 1]])[None]
    [clip] = decode(outputs, DIMS, LABELS)
    assert abs(clip["sources"][0]["azimuth_deg"] - 30.0) < 1.0
    assert clip["sources"][0]["front_probability"] > 0.5


def test_calibration_recovers_a_known_miscalibration_and_weighs_the_votes():
    rng = np.random.default_rng(0)
    mass, balance = rng.uniform(0.02, 0.98, 20000), rng.uniform(-1.0, 1.0, (20000, 2))  # short and long frames' balances
    dry = rng.random(20000) < 0.3
    evidence = np.concatenate([balance, balance[:, 1:] * dry[:, None]], -1)  # the long frames' again in dry clips
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    truth = 1 / (1 + np.exp(-(2.0 * logit(mass) + 1.5 * balance[:, 0] + 0.7 * balance[:, 1] + 2.0 * evidence[:, 2] + 0.5)))  # overly modest, biased to the back
    front = rng.random(20000) < truth
    a, b_short, b_long, b_dry, c = fit_calibration(mass, evidence, front.astype(float))
    assert abs(a - 2.0) < 0.15 and abs(b_short - 1.5) < 0.15 and abs(b_long - 0.7) < 0.15 and abs(b_dry - 2.0) < 0.3 and abs(c - 0.5) < 0.1
    assert np.abs(calibrated(mass, evidence, (a, b_short, b_long, b_dry, c)) - truth).max() < 0.05
    assert np.allclose(calibrated(mass, evidence, IDENTITY), mass, atol=1e-6)  # the identity leaves the mass alone
    few = fit_calibration(np.array([0.6, 0.4, 0.55]), np.zeros((3, 3)), np.array([1.0, 0.0, 1.0]))  # separable: unpenalised, it runs off
    assert 1.0 < few[0] < 5.0


def test_calibration_data_matches_a_mirrored_slot_to_its_source_and_skips_the_frontal_plane():
    outputs = outputs_for([("dog", 40.0, 0.0, 2.0), ("rain", 265.0, 0.0, 1.0)], [True, True])
    outputs.azimuth = torch.stack([mirror_peaks(40.0, 0.9), outputs.azimuth[0, 1]])[None]
    references = [[{"azimuth_deg": 260.0, "elevation_deg": 0.0}, {"azimuth_deg": 140.0, "elevation_deg": 0.0}]]
    mass, balance, front = calibration_data(outputs, DIMS, references)
    assert len(mass) == 1  # the source at 260 deg is within 10 deg of the frontal plane
    assert abs(mass[0] - 0.9) < 0.02 and front[0] == 0.0  # heard mostly in front, the source was behind
    assert balance.shape == (1, 3) and (balance == 0.0).all()  # no votes: no evidence either way


def test_votes_near_the_back_candidate_move_the_front_probability_back():
    """A slot heard at 40 deg (left front) with the mass split evenly; most template votes sit behind it
    on its cone of confusion: with a calibration that trusts the votes, the source is put behind. Votes
    off the slot's cone count only in the total, so they weaken the balance."""
    from batcli.geometry import unit_vector

    outputs = outputs_for([("dog", 40.0, 0.0, 2.0), ("rain", 265.0, 0.0, 1.0)], [True, False])
    outputs.azimuth = torch.stack([mirror_peaks(40.0, 0.5), outputs.azimuth[0, 1]])[None]
    # behind on the slot's cone (lateral angle 40 deg, though 15 deg up), then a vote off the cone
    outputs.vote_directions = torch.from_numpy(unit_vector(np.array([138.3, 300.0]), np.array([15.0, 0.0]))).float()
    outputs.votes = torch.tensor([[[3.0, 1.0], [0.0, 1.0]]])  # short frames, long frames
    balance = vote_balance(outputs.votes, outputs.vote_directions, np.array([[40.0]]), np.array([[0.0]]))
    assert balance[0, 0] == pytest.approx([-0.75, 0.0])  # the long frames' one vote is off the cone
    [clip] = decode(outputs, DIMS, LABELS, calibration=(1.0, 10.0, 0.0, 0.0, 0.0))
    [source] = clip["sources"]
    assert source["front_probability"] < 0.05 and source["direction"] == "left, behind, above"
    assert abs(source["azimuth_deg"] - 138.3) < 1.0 and abs(source["elevation_deg"] - 15.0) < 1.0  # moved to the votes near it
    [ignored] = decode(outputs, DIMS, LABELS)[0]["sources"]  # the identity calibration reads the mass alone
    assert abs(ignored["front_probability"] - 0.5) < 0.02 and ignored["direction"] == "left, above"  # neither front nor behind said


def test_votes_near_a_source_move_it_to_their_mean_and_leave_its_side():
    from batcli.encoder.readout import refine_with_votes
    from batcli.geometry import great_circle_deg, unit_vector

    directions = torch.from_numpy(unit_vector(np.array([60.0, 70.0, 250.0]), np.array([20.0, 20.0, 0.0]))).float()
    votes = torch.tensor([[[2.0, 2.0, 1.0], [4.0, 4.0, 2.0]]])  # each row counts by its shares
    azimuth, elevation = refine_with_votes(votes, directions, np.array([[60.0, 240.0]]), np.array([[5.0, 0.0]]))
    assert great_circle_deg(azimuth[0, 0], elevation[0, 0], 65.0, 20.0) < 1.0  # the two votes within 25 deg
    assert great_circle_deg(azimuth[0, 1], elevation[0, 1], 250.0, 0.0) < 1e-6  # one vote, 20 % of the clip's
    few = torch.tensor([[[0.05, 0.0, 1.0], [0.0, 0.0, 1.0]]])  # under a tenth of the clip's votes near the first slot: it stays
    azimuth, elevation = refine_with_votes(few, directions, np.array([[60.0]]), np.array([[5.0]]))
    assert (azimuth[0, 0], elevation[0, 0]) == (60.0, 5.0)
    assert refine_with_votes(None, None, np.array([[50.0]]), np.array([[0.0]]))[0][0, 0] == 50.0
    # through decode: a source put in front is pulled toward votes that straddle the frontal plane, and stays in front
    outputs = outputs_for([("dog", 80.0, 0.0, 2.0), ("rain", 265.0, 0.0, 1.0)], [True, False])
    outputs.votes = torch.tensor([[[1.0, 3.0], [1.0, 3.0]]])
    outputs.vote_directions = torch.from_numpy(unit_vector(np.array([85.0, 100.0]), np.array([0.0, 0.0]))).float()
    [source] = decode(outputs, DIMS, LABELS, calibration=(5.0, 0.0, 0.0, 0.0, 3.0))[0]["sources"]
    assert source["front_probability"] > 0.5 and 80.0 < source["azimuth_deg"] <= 90.0


def test_a_dry_clip_counts_its_long_votes_again_and_moves_its_source_to_their_mode():
    """A slot heard at 40 deg with the long frames' votes mostly behind on its cone, around 138 deg and
    15 deg up. In a dry clip (coherence 0.99) the long balance enters the front evidence a second time
    and the source moves to the votes' mode, when the front probability puts it behind too; in a room
    (coherence 0.5), on the other side, or with too few votes near the mode, it stays where it was."""
    from batcli.encoder.readout import front_evidence, snap_in_dry_clips
    from batcli.geometry import great_circle_deg, unit_vector

    one = outputs_for([("dog", 40.0, 0.0, 2.0), ("rain", 265.0, 0.0, 1.0)], [True, False])
    outputs = SlotOutputs(*(torch.cat([x, x]) for x in (one.presence, one.classes, one.azimuth, one.elevation, one.distance)),
                          votes=torch.tensor([[[1.0, 0.0, 1.0], [3.0, 3.0, 2.0]]] * 2),  # two clips: short frames, long frames
                          vote_directions=torch.from_numpy(unit_vector(np.array([136.0, 140.0, 300.0]), np.array([15.0, 15.0, 0.0]))).float(),
                          coherence=torch.tensor([0.99, 0.5]))
    azimuth, elevation = np.array([[40.0, 265.0]] * 2), np.zeros((2, 2))
    evidence = front_evidence(outputs, azimuth, elevation)
    assert evidence[0, 0] == pytest.approx([-0.5, -0.75, -0.75]) and evidence[1, 0] == pytest.approx([-0.5, -0.75, 0.0])
    behind = np.full((2, 2), 0.2)
    moved_azimuth, moved_elevation = snap_in_dry_clips(outputs, azimuth, elevation, behind)
    assert great_circle_deg(moved_azimuth[0, 0], moved_elevation[0, 0], 138.0, 15.0) < 1.5  # the mean of the mode's two directions
    assert np.allclose(moved_azimuth[1], azimuth[1]) and np.allclose(moved_elevation[1], elevation[1])  # not dry: it stays
    in_front = snap_in_dry_clips(outputs, azimuth, elevation, np.full((2, 2), 0.8))
    assert np.allclose(in_front[0], azimuth)  # the mode is on the other side
    outputs.votes = torch.tensor([[[1.0, 0.0, 1.0], [1.0, 0.0, 9.0]]] * 2)  # a tenth of the long votes near the mode
    assert np.allclose(snap_in_dry_clips(outputs, azimuth, elevation, behind)[0], azimuth)


def test_the_mirror_average_pairs_each_slot_with_its_mirror_image_whatever_the_slot_order():
    """The ear-swapped clip puts its sound in the other slot, on the other side: the source's class and
    distance are averaged with that slot's, not with the absent one's in the same place."""
    outputs = outputs_for([("siren", 60.0, 0.0, 2.0), ("rain", 200.0, 0.0, 8.0)], [True, False])
    mirrored = outputs_for([("dog", 160.0, 0.0, 8.0), ("siren", 300.0, 0.0, 3.0)], [False, True])
    outputs.classes[0, 0] = torch.tensor([4.0, 5.0, 0.0])  # siren only a little likelier than dog
    averaged = mirror_average(outputs, mirrored, DIMS)
    [clip] = decode(averaged, DIMS, LABELS)
    [source] = clip["sources"]
    assert source["label"] == "siren" and source["label_score"] > 0.9
    assert 2.2 < source["distance_m"] < 2.8  # between the two readings, 2 and 3 m
    assert abs(source["azimuth_deg"] - 60.0) < 1.0  # the direction is the unswapped clip's


def test_what_is_heard_does_not_depend_on_which_ear_is_which(encoder_dir):
    """Swapping a recording's channels mirrors where its sounds are, never what they are or how sure it is."""
    from batcli.encoder.model import load_model

    model = load_model(encoder_dir).eval()
    audio = torch.randn(3, 2, model.dims.clip_samples, generator=torch.Generator().manual_seed(5)) * 0.1
    audio[:, 1] *= 0.3  # louder on the left
    with torch.no_grad():
        _, heard = hear(model, audio)
        _, swapped = hear(model, audio.flip(1))
    for clip, mirror in zip(decode(heard, model.dims, model.labels, threshold=0.0), decode(swapped, model.dims, model.labels, threshold=0.0)):
        assert sorted((s["label"], round(s["score"], 3), round(s["label_score"], 3)) for s in clip["sources"]) == \
            sorted((s["label"], round(s["score"], 3), round(s["label_score"], 3)) for s in mirror["sources"])


def test_a_batch_larger_than_a_cpu_hears_at_once_is_heard_in_parts_with_each_clips_own_outputs():
    from dataclasses import fields

    from batcli.encoder.model import SpatialEncoder

    from ..conftest import TINY_DIMS

    torch.manual_seed(0)
    # One slot: an untrained model's two slots can tie in the mirror matching (mirror_average), and a tie
    # flips on the last bit of a sum that the batch size changes; the matching is tested on its own above.
    model = SpatialEncoder(EncoderDims(**{**TINY_DIMS, "features": "evidence", "slots": 1}), ["a", "b", "c"]).eval()
    audio = torch.randn(CPU_CLIPS + 2, 2, model.dims.clip_samples, generator=torch.Generator().manual_seed(1)) * 0.1
    with torch.no_grad():
        tokens, heard = hear(model, audio)
        alone = [hear(model, clip[None]) for clip in audio]
    assert heard.votes is not None and heard.coherence is not None
    assert torch.allclose(tokens, torch.cat([t for t, _ in alone]), atol=1e-5)
    for field in fields(heard):
        if field.name == "vote_directions":
            assert torch.equal(heard.vote_directions, alone[0][1].vote_directions)
        else:
            assert torch.allclose(getattr(heard, field.name), torch.cat([getattr(o, field.name) for _, o in alone]), atol=1e-4), field.name
