"""The procedural sound library: valid, repeatable and varied draws of classes that sound different.

The acoustic checks measure each draw here (spectra with Welch's method, level in 10 ms frames) and
compare classes against each other; nothing is compared with numbers recorded from earlier runs.
"""

import random

import numpy as np
import pytest
from scipy import signal

from batcli.sim.sounds import CLASSES, synthesize

# Classes that ring at steady pitches, so their spectrum has narrow lines standing out of the local floor.
TONAL = ["church bell", "hand bell", "wind chime", "doorbell", "car horn", "alarm beep", "plucked string",
         "bowed string", "electric motor"]
# Classes made of broadband noise, whose spectrum has no such lines.
NOISY = ["rain", "wind", "sawing", "hand clapping", "crackling fire", "stream"]
# Short events with near silence between them.
IMPULSIVE = ["clock tick", "footsteps", "knocking", "hand clapping", "hammering", "typing", "water drip"]
# Sounds that never let up (not wind, which drops in its lulls).
CONTINUOUS = ["siren", "engine", "electric motor", "fan", "rain", "stream", "crackling fire", "bowed string"]

SR = 16000  # sample rate of the acoustic checks
DRAWS = 5  # draws per class for the acoustic checks
BAND_EDGES = np.geomspace(100, 7000, 17)


def draw(label, seed, sample_rate=SR, seconds=3.0):
    return synthesize(label, np.random.default_rng(seed), sample_rate, int(seconds * sample_rate))


def rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def line_prominence_db(x):
    """How far (dB) the strongest spectral line between 300 Hz and 7 kHz stands above the median of the
    61 bins (240 Hz) around it."""
    freqs, power = signal.welch(x, SR, nperseg=4096)
    band = (freqs > 300) & (freqs < 7000)
    return 10 * np.log10(np.max(power[band] / signal.medfilt(power, 61)[band]))


def frame_levels_db(x):
    """Levels of 10 ms frames relative to the loudest frame (dB, floored at -60)."""
    frames = x[: len(x) // 160 * 160].reshape(-1, 160).astype(np.float64)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    return np.maximum(level - level.max(), -60)


def median_frame_level_db(x):
    return float(np.median(frame_levels_db(x)))


def features(x):
    """Spectral shape (16 log-spaced bands, dB re total), frame-level percentiles and line prominence."""
    freqs, power = signal.welch(x, SR, nperseg=1024)
    bands = np.array([power[(freqs >= lo) & (freqs < hi)].mean() for lo, hi in zip(BAND_EDGES[:-1], BAND_EDGES[1:])])
    shape = 10 * np.log10(bands / bands.sum())
    return np.concatenate([shape, np.percentile(frame_levels_db(x), [10, 50, 90]), [line_prominence_db(x)]])


@pytest.fixture(scope="module")
def draws():
    """DRAWS draws of 3 s per class at SR."""
    return {label: [draw(label, 100 + seed) for seed in range(DRAWS)] for label in CLASSES}


def test_at_least_24_classes_with_unique_plain_names():
    assert len(CLASSES) >= 24
    assert len(set(CLASSES)) == len(CLASSES)
    for label in CLASSES:
        assert label == label.strip().lower() and all(word.isalpha() for word in label.split(" ")), label
    for group in (TONAL, NOISY, IMPULSIVE, CONTINUOUS):
        assert set(group) <= set(CLASSES)


@pytest.mark.parametrize("sample_rate", [8000, 16000, 32000, 48000])
@pytest.mark.parametrize("label", CLASSES)
def test_draw_is_float32_of_the_asked_length_finite_bounded_and_not_silent(label, sample_rate):
    num_samples = int(1.3 * sample_rate) + 1
    x = synthesize(label, np.random.default_rng(0), sample_rate, num_samples)
    assert x.dtype == np.float32 and x.shape == (num_samples,)
    assert np.all(np.isfinite(x))
    assert 0.5 < np.max(np.abs(x)) <= 1.0
    assert rms(x) > 1e-3


@pytest.mark.parametrize("label", CLASSES)
def test_half_second_excerpt_is_not_silent(label):
    for seed in range(3):
        assert rms(draw(label, seed, seconds=0.5)) > 1e-3


@pytest.mark.parametrize("label", CLASSES)
def test_same_generator_state_gives_the_same_samples(label):
    np.testing.assert_array_equal(draw(label, 7, seconds=1.0), draw(label, 7, seconds=1.0))


@pytest.mark.parametrize("label", CLASSES)
def test_draws_differ(label):
    assert not np.allclose(draw(label, 1, seconds=1.0), draw(label, 2, seconds=1.0))
    rng = np.random.default_rng(3)
    first, second = (synthesize(label, rng, SR, SR) for _ in range(2))
    assert not np.allclose(first, second)


def test_only_the_given_generator_is_used():
    np.random.seed(0)
    random.seed(0)
    numpy_state, python_state = np.random.get_state(), random.getstate()
    outputs = [np.concatenate([draw(label, 5, seconds=0.5) for label in CLASSES]) for _ in range(2)]
    np.random.seed(1)
    random.seed(1)
    outputs.append(np.concatenate([draw(label, 5, seconds=0.5) for label in CLASSES]))
    np.random.seed(0)
    random.seed(0)
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_array_equal(outputs[0], outputs[2])
    assert np.array_equal(np.random.get_state()[1], numpy_state[1]) and random.getstate() == python_state


def test_unknown_label_raises_naming_it_and_the_known_classes():
    with pytest.raises(ValueError) as error:
        synthesize("dog", np.random.default_rng(0), SR, SR)
    message = str(error.value)
    assert "dog" in message and all(label in message for label in CLASSES)


@pytest.mark.parametrize("label", CLASSES)
def test_sound_starts_within_the_first_second(label):
    x = draw(label, 11, seconds=10.0)
    assert rms(x[:SR]) > 0.1 * rms(x)


def test_tonal_classes_have_spectral_lines_and_noisy_classes_do_not(draws):
    for label in TONAL:
        assert min(line_prominence_db(x) for x in draws[label]) > 16, label
    for label in NOISY:
        assert max(line_prominence_db(x) for x in draws[label]) < 12, label


def test_impulsive_classes_fall_silent_between_events_and_continuous_classes_do_not(draws):
    for label in IMPULSIVE:
        assert max(median_frame_level_db(x) for x in draws[label]) < -20, label
    for label in CONTINUOUS:
        assert min(median_frame_level_db(x) for x in draws[label]) > -17, label


def test_classes_are_recognisable_from_simple_features(draws):
    """Leave-one-out nearest class mean on standardised features: most draws land in their own class."""
    feats = np.array([[features(x) for x in draws[label]] for label in CLASSES])
    feats /= feats.reshape(-1, feats.shape[-1]).std(axis=0)
    correct = 0
    for c in range(len(CLASSES)):
        for d in range(DRAWS):
            means = feats.mean(axis=1)
            means[c] = np.delete(feats[c], d, axis=0).mean(axis=0)
            correct += np.argmin(np.sum((means - feats[c, d]) ** 2, axis=1)) == c
    assert correct / feats[:, :, 0].size >= 0.7
