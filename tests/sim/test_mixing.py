"""On-the-fly mixing from a response bank: positions from one room, heads that vary, and purity."""

import numpy as np
import pytest

from batcli.geometry import great_circle_deg, lateral_gap_deg
from batcli.sim.hrtf import load_hrtf
from batcli.sim.library import SoundConfig, load_library
from batcli.sim.mixing import HeadVariation, ResponseBank, colouring, mix_responses, pick_positions, stretch
from batcli.sim.rooms import RoomConfig, draw_room
from batcli.sim.scenes import SceneConfig, place_sources

RATE = 16000


def lead_samples(response: np.ndarray) -> int:
    """How many samples the left ear leads the right, from the peak of their cross-correlation."""
    correlation = np.correlate(response[1], response[0], mode="full")
    return int(np.argmax(correlation)) - (response.shape[1] - 1)


def test_a_larger_head_stretches_the_interaural_delay():
    hrtf = load_hrtf("kemar", RATE)
    left = hrtf.irs[hrtf.nearest(np.array([0.2, 1.0, 0.0]))]
    lead = lead_samples(left)
    assert lead >= 8
    assert lead_samples(stretch(left, 1.25)) == pytest.approx(1.25 * lead, abs=1)
    assert lead_samples(stretch(left, 0.8)) == pytest.approx(0.8 * lead, abs=1)
    assert stretch(left, 1.0) is left


def test_colouring_is_smooth_random_gain_around_0_db_and_larger_per_ear_only_when_asked():
    frequencies = np.fft.rfftfreq(4096, 1 / RATE)
    same = colouring(np.random.default_rng(0), HeadVariation(colouring_db=6.0), frequencies, RATE)
    assert np.array_equal(same[0], same[1])  # common to both ears
    db = 20 * np.log10(same[0])
    assert 1.0 < db.std() < 12.0 and np.abs(np.diff(db)).max() < 0.5  # smooth, no bin-to-bin jumps
    ears = colouring(np.random.default_rng(0), HeadVariation(ear_colouring_db=2.0), frequencies, RATE)
    assert not np.array_equal(ears[0], ears[1])


def bank_of(rooms: list[list[float]]) -> ResponseBank:
    """Fake responses: room r, positions at the given azimuths; each response an impulse at its own delay."""
    items = []
    for room, azimuths in enumerate(rooms):
        for azimuth in azimuths:
            response = np.zeros((2, 64), dtype=np.float32)
            response[:, len(items) + 1] = 1.0
            items.append((response, {"azimuth_deg": azimuth, "elevation_deg": 0.0, "distance_m": 2.0, "room_id": room, "room": {"anechoic": False}}))
    return ResponseBank.from_items(items)


def test_two_sources_come_from_one_room_when_it_has_two_positions_far_enough_apart():
    bank = bank_of([[0.0, 90.0, 180.0], [10.0, 100.0], [45.0]])
    room_of = {i: r for r, room in enumerate(bank.rooms) for i in room}
    for seed in range(50):
        first, second = pick_positions(np.random.default_rng(seed), bank, 2, SceneConfig())
        assert first != second
        if len(bank.rooms[room_of[first]]) > 1:
            assert room_of[first] == room_of[second]


def test_a_same_cone_mixture_takes_the_position_on_the_first_ones_cone_when_the_room_has_one():
    # Room 0: front (0), its front/back mirror (180) on the same cone, and left (90) on another.
    bank = bank_of([[0.0, 180.0, 90.0]])
    always = SceneConfig(same_cone_fraction=1.0)
    firsts = set()
    for seed in range(60):
        first, second = pick_positions(np.random.default_rng(seed), bank, 2, always)
        firsts.add(first)
        if first in (0, 1):
            assert {first, second} == {0, 1}
        else:  # nothing on the left position's cone: any position far enough
            assert second in (0, 1)
    assert firsts == {0, 1, 2}
    never = {tuple(sorted(pick_positions(np.random.default_rng(seed), bank, 2, SceneConfig()))) for seed in range(60)}
    assert (0, 2) in never and (1, 2) in never


def test_a_mixed_scene_is_a_pure_function_of_its_generator():
    library = load_library(SoundConfig(), "train")
    hrtf = load_hrtf("kemar", RATE)
    bank = bank_of([[0.0, 90.0], [200.0]])
    config = SceneConfig(two_source_fraction=1.0, noise_fraction=1.0)
    head = HeadVariation(size=(0.9, 1.1), colouring_db=3.0, ear_colouring_db=1.0)
    a, sources = mix_responses(np.random.default_rng([4, 0, 7]), library, hrtf, bank, config, RATE, RATE, head)
    b, again = mix_responses(np.random.default_rng([4, 0, 7]), library, hrtf, bank, config, RATE, RATE, head)
    c, _ = mix_responses(np.random.default_rng([4, 1, 7]), library, hrtf, bank, config, RATE, RATE, head)
    assert a.dtype == np.float32 and a.shape == (2, RATE) and 0 < np.abs(a).max() <= 0.99
    assert np.array_equal(a, b) and sources == again and not np.array_equal(a, c)
    assert len(sources) == 2 and sources[0]["label"] != sources[1]["label"]


def test_a_rendered_same_cone_mixture_puts_the_second_source_on_the_first_ones_cone():
    hrtf = load_hrtf("kemar", RATE)
    rooms = RoomConfig()
    gaps = {}
    for fraction in (0.0, 1.0):
        config = SceneConfig(same_cone_fraction=fraction, same_cone_deg=5.0)
        gaps[fraction] = []
        for seed in range(30):
            rng = np.random.default_rng(seed)
            _, placed = place_sources(rng, draw_room(rng, rooms), hrtf, rooms, config, 2)
            (a1, e1, *_), (a2, e2, *_) = placed
            assert great_circle_deg(a1, e1, a2, e2) >= config.min_separation_deg
            gaps[fraction].append(lateral_gap_deg(a1, e1, a2, e2))
    assert max(gaps[1.0]) <= 5.0
    assert max(gaps[0.0]) > 20.0
