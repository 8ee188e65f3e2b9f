import numpy as np
import pytest
from scipy.signal import coherence

from batcli.sim.hrtf import load_hrtf
from batcli.sim.rooms import RoomConfig, diffuse_noise, draw_room, eyring_absorption, eyring_rt60


@pytest.fixture(scope="module")
def kemar():
    return load_hrtf("kemar", 32000)


def test_eyring_inverts():
    size = np.array([7.0, 5.0, 3.0])
    for rt60 in (0.2, 0.5, 1.5):
        assert eyring_rt60(size, np.full(6, eyring_absorption(size, rt60))) == pytest.approx(rt60)


def test_drawn_rooms_respect_the_config():
    config = RoomConfig(anechoic_fraction=0.0, rt60_s=(0.3, 0.6), wall_margin_m=0.5, head_height_m=(1.2, 1.7))
    rng = np.random.default_rng(3)
    for _ in range(200):
        room = draw_room(rng, config)
        assert np.all(room.size_m >= config.size_min_m) and np.all(room.size_m <= config.size_max_m)
        assert np.all(room.listener_m >= 0.5 - 1e-9) and np.all(room.listener_m <= room.size_m - 0.5 + 1e-9)
        assert 1.2 <= room.listener_m[2] <= 1.7
        assert 0.3 - 1e-6 <= room.rt60_s <= 0.6 + 1e-6
        assert np.ptp(room.absorption) > 0  # walls differ


def test_head_frame_follows_the_listener_yaw():
    room = draw_room(np.random.default_rng(0), RoomConfig())
    yaw = np.radians(room.listener_yaw_deg)
    ahead = room.listener_m + np.array([np.cos(yaw), np.sin(yaw), 0.0])
    np.testing.assert_allclose(room.to_head(ahead), [1, 0, 0], atol=1e-12)
    left = room.listener_m + np.array([-np.sin(yaw), np.cos(yaw), 0.5])
    np.testing.assert_allclose(room.to_head(left), [0, 1, 0.5], atol=1e-12)
    points = np.random.default_rng(1).normal(size=(10, 3))
    np.testing.assert_allclose(room.to_room(room.to_head(points)), points, atol=1e-12)


def test_diffuse_noise_has_the_interaural_coherence_of_a_diffuse_field(kemar):
    """Heads decorrelate a diffuse field above ~1 kHz but not at low frequencies."""
    noise = diffuse_noise(kemar, np.random.default_rng(0), 32000 * 4)
    freqs, gamma = coherence(noise[0], noise[1], fs=32000, nperseg=2048)
    assert gamma[(freqs > 40) & (freqs < 150)].mean() > 0.75
    assert gamma[(freqs > 2000) & (freqs < 10000)].mean() < 0.1
    np.testing.assert_allclose(np.mean(noise**2), 1.0, rtol=1e-6)
