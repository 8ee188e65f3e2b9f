"""The binaural front end: shapes, the phase difference's sign, gain invariance."""

import numpy as np
import torch

from batcli.encoder.features import BinauralFeatures

RATE = 16000


def features():
    return BinauralFeatures(RATE, n_fft=512, hop=160, n_mels=32, f_min=50.0, f_max=7600.0)


def noise(seconds=1.0, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(int(RATE * seconds))).float() * 0.1


def test_shapes_are_four_maps_on_the_mel_grid():
    out = features()(torch.stack([noise(), noise(seed=1)])[None].repeat(3, 1, 1))
    assert out.shape == (3, 4, 32, RATE // 160 + 1)
    assert torch.isfinite(out).all()


def test_a_sound_that_reaches_the_left_ear_first_has_a_positive_phase_lead():
    signal = noise()
    delay = 4  # samples: the right ear hears it 0.25 ms later
    left, right = signal[delay:], signal[:-delay]
    maps = features()(torch.stack([left, right])[None])
    cos, sin = maps[0, 2], maps[0, 3]
    # low bands, below the first phase wrap (1 / (2 * 0.25 ms) = 2 kHz): the left leads by 2 pi f tau > 0
    assert sin[:8].mean() > 0.3
    assert cos[:4].mean() > 0.5
    swapped = features()(torch.stack([right, left])[None])
    assert swapped[0, 3, :8].mean() < -0.3


def test_levels_ignore_the_overall_gain_but_keep_the_ear_difference():
    left, right = noise(), noise(seed=1) * 0.25  # right ear 12 dB quieter
    maps = features()(torch.stack([left, right])[None])
    louder = features()(torch.stack([left, right])[None] * 30)
    assert torch.allclose(maps, louder, atol=1e-4)
    difference_db = (maps[0, 0] - maps[0, 1]).mean() * 40  # the maps are scaled by 1/40 dB
    assert 10 < difference_db < 14


def test_silence_gives_finite_constant_features():
    maps = features()(torch.zeros(1, 2, RATE))
    assert torch.isfinite(maps).all()
    assert maps[0, 0].std() == 0
