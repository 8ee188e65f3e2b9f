"""Procedural sound library: random draws of everyday sound classes for simulated scenes.

Each class is a small synthetic signal model of the named source: modal synthesis for bells and struck
objects, Karplus-Strong for a plucked string, swept tones for a siren, filtered-noise bursts for footsteps,
resonating bubbles for water, and so on. The labels name what the models imitate; no recordings are involved.
Every draw re-randomises pitch, rhythm, envelope and timbre from the caller's generator, so the same generator
state gives the same samples. Event classes start an event within the first quarter second and keep repeating,
continuous classes sound throughout.
"""

from __future__ import annotations

import numpy as np
from scipy import fft, signal

_PEAK = 0.9  # peak level of every draw
_TOP = 0.45  # highest frequency any model produces, as a fraction of the sample rate
_PENTATONIC = np.array([0, 2, 4, 7, 9, 12, 14, 16, 19, 21])  # semitones above a tune's root

# -----------------------------------------------------------------------------
# shared helpers: time, noise, filters, oscillators, envelopes, event placement


def _time(n, sr):
    return np.arange(n, dtype=np.float32) / np.float32(sr)


def _noise(rng, shape):
    """White noise in [-1, 1); uniform rather than Gaussian because it is several times cheaper to draw."""
    noise = rng.random(shape, dtype=np.float32)
    noise *= 2  # in place: a fresh array of a few megabytes costs as much as the arithmetic
    noise -= 1
    return noise


def _unit(x):
    """x scaled to unit RMS, so that layers of a sound can be mixed at chosen levels."""
    return x / (np.sqrt(np.mean(np.square(x))) + 1e-12)


def _peak(x):
    """x scaled to unit peak, so that parts of a grain can be mixed at chosen levels."""
    return x / (np.max(np.abs(x)) + 1e-12)


def _butter(x, sr, btype, cutoff, order=2):
    """Butterworth filter along the last axis, with cutoffs held below Nyquist."""
    if btype == "bandpass":
        high = min(cutoff[1], _TOP * sr)
        cutoff = (min(cutoff[0], 0.7 * high), high)
    else:
        cutoff = min(cutoff, _TOP * sr)
    return signal.sosfilt(signal.butter(order, cutoff, btype, fs=sr, output="sos"), x).astype(np.float32)


def _cycles(freq, sr):
    """Running phase in cycles (float64) of a tone whose frequency in Hz is given per sample."""
    cycles = np.cumsum(np.asarray(freq, dtype=np.float64))
    cycles /= sr
    return cycles


def _steady(freq, sr, n):
    """Running phase in cycles (float64) of a tone of constant frequency."""
    return np.arange(n) * (freq / sr)


def _wrap(cycles):
    """Phase wrapped to [0, 1) in float32, where sines are cheap and still exact enough."""
    return (cycles - np.floor(cycles)).astype(np.float32)


def _rolloff(brightness, top_freq, sr):
    """Harmonic ratio r for the oscillators below, capped so harmonics at Nyquist are 60 dB down."""
    return float(min(brightness, 1e-3 ** (top_freq / (_TOP * sr))))


def _saw(phase, r):
    """Band-limited sawtooth: sum over k >= 1 of r^k sin(2 pi k phase) / k, in closed form."""
    angle = 2 * np.pi * phase
    return np.arctan2(r * np.sin(angle), 1 - r * np.cos(angle))


def _square(phase, r):
    """Band-limited square wave, the odd harmonics of `_saw`: sum over odd k of r^k sin(2 pi k phase) / k."""
    return 0.5 * np.arctan2(2 * r * np.sin(2 * np.pi * phase), 1 - r * r)


def _pulses(phase, r):
    """Band-limited pulse train: sum over k >= 1 of r^k cos(2 pi k phase), one peak per cycle."""
    c = np.cos(2 * np.pi * phase)
    return (r * c - r * r) / (1 - 2 * r * c + r * r)


def _modes(sr, length, freqs, decays, amps, block=256):
    """Modal synthesis: the sum of amps * exp(-t / decays) * sin(2 pi freqs t) over `length` samples.

    A mode is Im(z^t) with z = exp(-1 / (decay sr) + 2j pi f / sr). Writing t = a * block + b turns the sum over
    modes into a matrix product, Im(z^(a block) @ z^b), so even long rings are cheap. decay = inf gives a steady
    sinusoid. Modes above the Nyquist margin are dropped.
    """
    freqs, decays, amps = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (freqs, decays, amps)))
    keep = freqs < _TOP * sr
    s = -1 / (decays[keep] * sr) + 2j * np.pi * freqs[keep] / sr
    coarse = amps[keep] * np.exp(np.outer(block * np.arange(-(-length // block)), s))
    fine = np.exp(np.outer(s, np.arange(block)))
    real_left = np.hstack([coarse.real, coarse.imag]).astype(np.float32)
    real_right = np.vstack([fine.imag, fine.real]).astype(np.float32)
    return (real_left @ real_right).ravel()[:length]  # Im(c f) = Re(c) Im(f) + Im(c) Re(f), as one real product


def _decay(length, sr, tau):
    return np.exp(-np.arange(length, dtype=np.float32) / np.float32(tau * sr))


def _gate(length, ramp):
    """1 over `length` samples with linear ramps of `ramp` samples at both ends."""
    k = np.arange(length, dtype=np.float32)
    return np.clip(np.minimum(k + 1, length - k) / max(ramp, 1), 0, 1)


def _wander(rng, n, sr, rate):
    """Slow random curve in [0, 1]: independent values `rate` times a second, joined by straight lines."""
    hop = int(sr / rate)
    knots = rng.random(n // hop + 2, dtype=np.float32)
    ramp = np.arange(hop, dtype=np.float32) / hop
    return (knots[:-1, None] + np.diff(knots)[:, None] * ramp).ravel()[:n]


def _samples(times, sr, n):
    """Times in seconds as start samples, keeping those before the end."""
    starts = (np.asarray(times) * sr).astype(np.int64)
    return starts[starts < n]


def _onsets(rng, n, sr, gap, jitter):
    """Start samples of a repeating event: the first within 0.25 s, then every `gap` s +- `jitter` (a fraction)."""
    seconds = n / sr
    gaps = gap * rng.uniform(1 - jitter, 1 + jitter, int(seconds / (gap * (1 - jitter))) + 1)
    return _samples(rng.uniform(0, min(0.25, seconds / 2)) + np.concatenate(([0.0], np.cumsum(gaps))), sr, n)


def _pattern(rng, n, sr, offsets, period):
    """Start samples of a fixed pattern of events (at `offsets` s into each period) repeating every `period` s,
    the first period starting within 0.2 s."""
    cycles = period * np.arange(int(n / sr / period) + 1)
    return _samples(rng.uniform(0, min(0.2, n / sr / 2)) + np.add.outer(cycles, offsets).ravel(), sr, n)


def _random_onsets(rng, n, sr, rate):
    """Start samples of events at random times, `rate` per second on average, one of them within 0.25 s."""
    seconds = n / sr
    first = rng.uniform(0, min(0.25, seconds / 2))
    return np.sort(_samples(np.append(rng.uniform(0, seconds, rng.poisson(rate * seconds)), first), sr, n))


def _bursts(rng, starts, sr, counts, gap, jitter):
    """Each start expanded into a burst of counts[i] events about `gap` s apart (the raps of one knock, say).

    Returns the event starts and each event's position in its burst.
    """
    position = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    spacing = gap * sr * rng.uniform(1 - jitter, 1 + jitter, len(position))
    return np.repeat(starts, counts) + (position * spacing).astype(np.int64), position


def _place(n, starts, grains):
    """Overlap-add one grain at each start sample into n samples of silence; grains running past the end are cut."""
    out = np.zeros(n, dtype=np.float32)
    for start, grain in zip(starts, grains):
        piece = grain[: max(n - start, 0)]
        out[start : start + len(piece)] += piece
    return out


def _karplus_strong(excitations, periods, decay, sr, length):
    """Karplus-Strong strings, one per row: y = x + g * average(y one period ago, y a period and a sample ago).

    The loop is solved in the frequency domain, Y = X / (1 - g (1 + z^-1) / 2 z^-(P - 1/2)), which allows any
    fractional period. Evaluating on a circle of radius e^a (an exp(-a t) window on the way in and exp(a t) on
    the way out) damps the FFT's wrap-around by e^-12, so the circular convolution equals the linear one.
    """
    m = fft.next_fast_len(length, real=True)
    a = 12.0 / m
    s = a + 2j * np.pi * fft.rfftfreq(m)  # z = e^s
    periods, row = np.unique(periods, return_inverse=True)  # strings of equal period share their response
    gains = np.exp(-periods / (decay * sr))[:, None]  # per trip, so that the fundamental decays over `decay` s
    loop = gains * np.cosh(s / 2) * np.exp(-s * periods[:, None])  # (1 + z^-1) / 2 z^(1/2) = cosh(s / 2)
    window = np.exp(-a * np.arange(m))
    y = fft.irfft(fft.rfft(excitations * window[: excitations.shape[1]], m) / (1 - loop[row]), m)
    return (y[:, :length] / window[:length]).astype(np.float32)


def _bubble_damping(freqs):
    """Damping (1/s) of an air bubble in water ringing at its Minnaert frequency (van den Doel 2005)."""
    return 0.043 * freqs + 0.0014 * freqs**1.5


def _bubbles(sr, freqs, rise, length):
    """Air bubbles ringing in water, one row per bubble: a damped sine at the bubble's Minnaert frequency f0,
    its pitch rising as f0 (1 + rise * damping * t) while the bubble nears the surface (van den Doel 2005)."""
    freqs = np.asarray(freqs, dtype=np.float64)[:, None]
    damping = _bubble_damping(freqs)
    t = np.arange(length) / sr
    pitch = np.minimum(freqs * (1 + rise * damping * t), _TOP * sr)
    return (np.exp(-damping * t) * np.sin(2 * np.pi * _wrap(np.cumsum(pitch, axis=1) / sr))).astype(np.float32)


def _notes(rng, starts, n, root, degrees):
    """Per-sample frequency of a tune: a random scale degree held from each start to the next."""
    pitches = root * 2 ** (rng.choice(degrees, len(starts)) / 12)
    held = np.diff(np.append(starts, n))
    held[0] += starts[0]
    return np.repeat(pitches, held)


# -----------------------------------------------------------------------------
# tonal classes


def _siren(rng, sr, n):
    """Electronic siren: a square-wave tone swept up and down (wail, yelp) or switched between two pitches (hi-lo)."""
    low = rng.uniform(450, 800)
    high = low * rng.uniform(1.3, 2.2)
    style = rng.integers(3)  # 0 wail, 1 yelp, 2 hi-lo
    sweeps_per_s = (rng.uniform(0.12, 0.35), rng.uniform(2.5, 5.0), rng.uniform(0.6, 1.2))[style]
    cycle = np.sin(2 * np.pi * (sweeps_per_s * _time(n, sr) + rng.random()))
    sweep = 0.5 + 0.5 * (np.tanh(8 * cycle) if style == 2 else cycle)
    return _square(_wrap(_cycles(low + (high - low) * sweep, sr)), _rolloff(rng.uniform(0.4, 0.8), high, sr))


def _alarm_beep(rng, sr, n):
    """Piezo alarm: a 2-4 kHz square-wave tone gated into beeps, singly or in groups as smoke alarms do."""
    freq = min(rng.uniform(2000, 4000), 0.4 * sr)
    tone = _square(_wrap(_steady(freq, sr, n)), _rolloff(rng.uniform(0.3, 0.8), freq, sr))
    count = rng.integers(1, 5)
    beep, slot = rng.uniform(0.05, 0.3), rng.uniform(0.1, 0.4)
    starts = _pattern(rng, n, sr, (beep + slot) * np.arange(count), (beep + slot) * count + rng.uniform(0, 1.0))
    return tone * _place(n, starts, (_gate(int(beep * sr), 0.005 * sr) for _ in starts))


def _telephone_ring(rng, sr, n):
    """Electronic telephone ringer: a tone flipping between two pitches at 10-25 Hz, in single or double rings."""
    t = _time(n, sr)
    low = rng.uniform(600, 1100)
    high = low * rng.uniform(1.15, 1.35)
    freq = np.where(np.sin(2 * np.pi * rng.uniform(10, 25) * t) > 0, low, high)  # phase-continuous switching
    tone = _square(_wrap(_cycles(freq, sr)), _rolloff(rng.uniform(0.3, 0.7), high, sr))
    if rng.random() < 0.5:  # double ring
        ring = rng.uniform(0.35, 0.45)
        starts = _pattern(rng, n, sr, [0, ring + rng.uniform(0.15, 0.25)], rng.uniform(2.5, 3.2))
    else:
        ring = rng.uniform(1.0, 2.0)
        starts = _pattern(rng, n, sr, [0], ring + rng.uniform(2.0, 4.0))
    return tone * _place(n, starts, (_gate(int(ring * sr), 0.005 * sr) for _ in starts))


def _car_horn(rng, sr, n):
    """Car horn: two buzzing diaphragm horns about a major third apart, sounded in presses of random length."""
    low = rng.uniform(300, 480)
    freqs = (low, low * rng.uniform(1.19, 1.27))
    r = _rolloff(rng.uniform(0.75, 0.9), freqs[1], sr)
    tone = sum(_saw(_wrap(_steady(f, sr, n)), r) for f in freqs)
    starts = _onsets(rng, n, sr, rng.uniform(0.6, 2.0), 0.5)
    lengths = (rng.uniform(0.12, 0.9, len(starts)) * sr).astype(np.int64)
    return tone * np.minimum(_place(n, starts, (_gate(k, 0.01 * sr) for k in lengths)), 1)


def _church_bell(rng, sr, n):
    """Church bell tolling: its partials (hum, prime, minor-third tierce, quint, nominal and upper partials) by
    modal synthesis, each a slowly beating doublet, struck every 1.5-3 s."""
    ratios = np.array([0.5, 1.0, 1.2, 1.5, 2.0, 2.5, 2.67, 3.0, 4.0]) * rng.uniform(0.99, 1.01, 9)
    freqs = rng.uniform(180, 550) * ratios
    decays = rng.uniform(1.5, 4.0) / ratios**0.8  # the hum rings longest
    amps = rng.uniform(0.3, 1.0, 9)
    length = min(n, int(5 * decays.max() * sr))
    beating = freqs + rng.uniform(0.3, 2.0, 9)  # each partial is a pair of slightly split modes
    strike = _modes(sr, length, np.append(freqs, beating), np.tile(decays, 2), np.tile(amps, 2))
    starts = _onsets(rng, n, sr, rng.uniform(1.5, 3.0), 0.05)
    return _place(n, starts, (g * strike for g in rng.uniform(0.7, 1.0, len(starts))))


def _hand_bell(rng, sr, n):
    """Hand bell being shaken: a small bell's shell modes (the second tuned to the twelfth), struck by the
    clapper 2-6 times in quick succession, over and over."""
    ratios = np.array([1.0, 3.0, 5.2, 8.1]) * rng.uniform(0.98, 1.02, 4)
    freqs = rng.uniform(700, 1800) * ratios
    decays = rng.uniform(0.4, 1.2) / ratios**0.7
    length = min(n, int(4 * decays.max() * sr))
    strike = _modes(sr, length, np.append(freqs, freqs * 1.002), np.tile(decays, 2), rng.uniform(0.2, 1.0, 8))
    shakes = _onsets(rng, n, sr, rng.uniform(1.0, 2.5), 0.3)
    starts, _ = _bursts(rng, shakes, sr, rng.integers(2, 7, len(shakes)), rng.uniform(0.11, 0.2), 0.15)
    return _place(n, starts, (g * strike for g in rng.uniform(0.4, 1.0, len(starts))))


def _wind_chime(rng, sr, n):
    """Wind chime: 4-6 metal tubes tuned to a pentatonic scale, each ringing with the modes of a free bar
    (1 : 2.76 : 5.40 : 8.93), struck at random by the clapper."""
    tubes = rng.uniform(500, 1100) * 2 ** (rng.choice(_PENTATONIC[:7], rng.integers(4, 7), replace=False) / 12)
    ratios = np.array([1.0, 2.756, 5.404, 8.933])
    decay = rng.uniform(0.8, 2.0)
    length = min(n, int(3 * decay * sr))
    rings = [_modes(sr, length, f * ratios, decay / ratios, rng.uniform(0.2, 1.0, 4) / ratios) for f in tubes]
    starts = _random_onsets(rng, n, sr, rng.uniform(1.5, 5.0))
    which = rng.integers(0, len(tubes), len(starts))
    return _place(n, starts, (g * rings[i] for i, g in zip(which, rng.uniform(0.3, 1.0, len(starts)))))


def _doorbell(rng, sr, n):
    """Ding-dong doorbell: two struck metal tone bars (free-bar modes) a third apart, the high one first."""
    ratios = np.array([1.0, 2.756, 5.404])
    ding = rng.uniform(600, 1000)
    dong = ding / rng.choice([1.19, 1.26])
    decay = rng.uniform(0.8, 1.8)
    length = min(n, int(4 * decay * sr))
    amps = [1.0, rng.uniform(0.1, 0.4), rng.uniform(0.05, 0.2)]
    bars = [_modes(sr, length, f * ratios, decay / ratios, amps) for f in (ding, dong)]
    presses = _onsets(rng, n, sr, rng.uniform(2.0, 4.0), 0.2)
    delay = int(rng.uniform(0.35, 0.7) * sr)
    return _place(n, presses, (bars[0] for _ in presses)) + _place(n, presses + delay, (bars[1] for _ in presses))


def _plucked_string(rng, sr, n):
    """Plucked string (Karplus-Strong): a noise burst circulating in a one-period delay loop with a lowpass loss,
    playing a pentatonic tune; each pluck damps the note before it."""
    starts = _onsets(rng, n, sr, rng.uniform(0.25, 0.7), 0.3)
    periods = sr / (rng.uniform(90, 330) * 2 ** (rng.choice(_PENTATONIC, len(starts)) / 12))
    width = int(periods.max()) + 1
    bursts = _noise(rng, (len(starts), width)) * (np.arange(width) < periods[:, None])  # one period of noise each
    smooth = np.exp(-2 * np.pi * rng.uniform(1500, 6000) / sr)  # a one-pole lowpass sets the pluck's brightness
    bursts = signal.lfilter([1 - smooth], [1, -smooth], bursts)
    damp = int(0.03 * sr)
    held = np.diff(np.append(starts, n)) + damp
    notes = _karplus_strong(bursts, periods, rng.uniform(0.3, 1.5), sr, held.max())
    notes *= np.clip((held[:, None] - np.arange(held.max())) / damp, 0, 1)  # damped by the next pluck
    return _place(n, starts, notes)


def _bowed_string(rng, sr, n):
    """Bowed string: a sawtooth (the Helmholtz motion of a bowed string) with vibrato, bow noise and a body
    resonance, playing legato notes whose bow changes dip the level."""
    starts = _onsets(rng, n, sr, rng.uniform(0.6, 1.8), 0.3)
    vibrato = 1 + rng.uniform(0.003, 0.008) * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * _time(n, sr))
    freq = _notes(rng, starts, n, rng.uniform(130, 440), _PENTATONIC) * vibrato
    string = _saw(_wrap(_cycles(freq, sr)), _rolloff(rng.uniform(0.8, 0.92), freq.max(), sr))
    string = _unit(string) + rng.uniform(0.01, 0.03) * _noise(rng, n)  # bow noise
    body = string + rng.uniform(0.5, 1.5) * _butter(string, sr, "bandpass", (2000, 3500), 1)
    ramp = int(rng.uniform(0.06, 0.15) * sr)
    return body * _place(n, starts, (_gate(k + ramp // 2, ramp) for k in np.diff(np.append(starts, n))))


def _whistling(rng, sr, n):
    """Whistling a tune: a nearly pure tone with gliding pitch, vibrato and a little breath noise, notes
    separated by short breaks."""
    starts = _onsets(rng, n, sr, rng.uniform(0.2, 0.5), 0.4)
    root = rng.uniform(900, 1300)
    smooth = np.exp(-1 / (rng.uniform(0.01, 0.04) * sr))  # the pitch glides from note to note
    glide = signal.lfilter([1 - smooth], [1, -smooth], _notes(rng, starts, n, root, _PENTATONIC[:7]) - root) + root
    vibrato = 1 + rng.uniform(0.005, 0.015) * np.sin(2 * np.pi * rng.uniform(4, 7) * _time(n, sr))
    tone = np.sin(2 * np.pi * _wrap(_cycles(glide * vibrato, sr)))
    breath = _butter(_noise(rng, n), sr, "bandpass", (root, 2 * root), 1)
    lengths = (np.diff(np.append(starts, n)) * rng.uniform(0.7, 1.0, len(starts))).astype(np.int64)
    notes = _place(n, starts, (_gate(k, 0.015 * sr) for k in lengths))
    return (_unit(tone) + rng.uniform(0.02, 0.08) * _unit(breath)) * notes


def _bird_chirp(rng, sr, n):
    """Songbird-like chirps: short FM tone sweeps with a faint second harmonic, each phrase repeating one syllable."""
    phrases = _onsets(rng, n, sr, rng.uniform(1.0, 3.0), 0.4)
    counts = rng.integers(3, 12, len(phrases))
    gap = rng.uniform(0.06, 0.15)
    starts, _ = _bursts(rng, phrases, sr, counts, gap, 0.1)
    top = min(7000, 0.4 * sr)
    f_from = np.repeat(rng.uniform(2000, top, len(phrases)), counts) * rng.uniform(0.97, 1.03, len(starts))
    f_to = np.clip(f_from * np.repeat(rng.uniform(0.4, 1.6, len(phrases)), counts), 1000, top)
    duration = np.repeat(rng.uniform(0.3, 0.8, len(phrases)), counts)[:, None] * gap
    t = np.arange(int(gap * sr)) / sr
    phase = f_from[:, None] * t + (f_to - f_from)[:, None] * t * t / (2 * duration)
    envelope = np.sin(np.pi * np.minimum(t / duration, 1)) ** 2
    harmonic = 0.15 * (2 * np.maximum(f_from, f_to) < _TOP * sr)[:, None]
    return _place(n, starts, envelope * (np.sin(2 * np.pi * phase) + harmonic * np.sin(4 * np.pi * phase)))


def _cricket(rng, sr, n):
    """Field cricket: a 3.5-5 kHz carrier (the resonance of its wing) in pulses, a few pulses per chirp."""
    carrier = min(rng.uniform(3500, 5000), 0.4 * sr)
    length = int(rng.uniform(0.01, 0.02) * sr)
    t = np.arange(length) / sr
    fall = rng.uniform(0, 0.05)  # the carrier sags a few percent through a pulse
    pulse = np.sin(np.pi * t / t[-1]) * np.sin(2 * np.pi * carrier * (t - fall * t * t / (2 * t[-1])))
    chirps = _onsets(rng, n, sr, rng.uniform(0.25, 0.8), 0.1)
    starts, _ = _bursts(rng, chirps, sr, rng.integers(2, 6, len(chirps)), rng.uniform(0.025, 0.045), 0.05)
    return _place(n, starts, (g * pulse for g in rng.uniform(0.7, 1.0, len(starts))))


# -----------------------------------------------------------------------------
# impulsive classes


def _clock_tick(rng, sr, n):
    """Mechanical clock: escapement ticks alternating tick and tock, each a click and a quick second click
    ringing a few high metal modes for a few milliseconds."""
    high = min(7000, 0.4 * sr)
    length = int(0.04 * sr)
    echo = int(rng.uniform(0.005, 0.015) * sr)
    clicks = []
    for _ in range(2):  # tick, tock
        ring = _modes(sr, length, rng.uniform(0.3, 1.0, 4) * high, rng.uniform(0.002, 0.008, 4), rng.uniform(0.3, 1, 4))
        click = _peak(ring) + 0.3 * _noise(rng, length) * _decay(length, sr, 0.0007)
        click[echo:] += rng.uniform(0.3, 0.8) * click[:-echo]
        clicks.append(click)
    starts = _onsets(rng, n, sr, 1 / rng.choice([1, 2, 2.5, 3, 4]), 0.01)
    return _place(n, starts, (clicks[i % 2] for i in range(len(starts))))


def _footsteps(rng, sr, n):
    """Footsteps: per step a heel strike then a softer toe contact, each a decaying burst of lowpassed noise
    over a low floor thump; walking or running pace."""
    gap = rng.uniform(0.45, 0.7) if rng.random() < 0.7 else rng.uniform(0.28, 0.38)
    starts = _onsets(rng, n, sr, gap, 0.08)
    length = int(0.25 * sr)
    t = np.arange(length) / sr
    tau = rng.uniform(0.008, 0.03)
    toe = rng.uniform(0.04, 0.1)
    envelope = np.exp(-t / tau) + rng.uniform(0.3, 0.7) * np.where(t > toe, np.exp(-(t - toe) / tau), 0)
    scuff = _butter(_noise(rng, (len(starts), length)) * envelope, sr, "lowpass", rng.uniform(400, 3000))
    thump = _modes(sr, length, rng.uniform(60, 140, 2), rng.uniform(0.02, 0.05), 1.0)
    steps = _unit(scuff) + rng.uniform(0.3, 1.0) * _unit(thump)
    feet = np.where(np.arange(len(starts)) % 2, rng.uniform(0.7, 1.0), 1.0) * rng.uniform(0.85, 1.0, len(starts))
    return _place(n, starts, feet[:, None] * steps)


def _knocking(rng, sr, n):
    """Knocking on a door: raps in groups of 2-5, each a knuckle click and the ringing of a few low wooden
    panel modes."""
    length = int(0.2 * sr)
    panel = _modes(sr, length, rng.uniform(90, 500, 5), rng.uniform(0.01, 0.05, 5), rng.uniform(0.3, 1.0, 5))
    click = _butter(_noise(rng, length) * _decay(length, sr, 0.001), sr, "highpass", 1000)
    rap = _peak(panel) + rng.uniform(0.2, 0.5) * _peak(click)
    knocks = _onsets(rng, n, sr, rng.uniform(1.2, 3.0), 0.3)
    starts, position = _bursts(rng, knocks, sr, rng.integers(2, 6, len(knocks)), rng.uniform(0.12, 0.2), 0.1)
    return _place(n, starts, (g * rap for g in rng.uniform(0.7, 1.0, len(starts)) * 0.9 ** position))


def _hand_clapping(rng, sr, n):
    """One person clapping: each clap a sharp burst of noise coloured by the air resonance of the cupped hands."""
    starts = _onsets(rng, n, sr, rng.uniform(0.2, 0.5), 0.06)
    length = int(0.06 * sr)
    t = np.arange(length) / sr
    envelope = np.exp(-t / rng.uniform(0.004, 0.012, (len(starts), 1)))
    centre = rng.uniform(900, 2200)
    bursts = _noise(rng, (len(starts), length)) * envelope
    claps = _butter(bursts, sr, "bandpass", (centre / 1.6, centre * 1.6), 1) + rng.uniform(0.1, 0.3) * bursts
    return _place(n, starts, claps * rng.uniform(0.7, 1.0, (len(starts), 1)))


def _drum(rng, sr, n):
    """Drum (tom or hand drum): a circular membrane's modes (Bessel-zero frequency ratios) plus a short slap of
    noise, playing a random one-bar pattern of eighth notes over and over."""
    ratios = np.array([1.0, 1.594, 2.136, 2.296, 2.653, 2.918, 3.156, 3.501])
    decays = rng.uniform(0.12, 0.4) / ratios
    length = min(n, int(5 * decays[0] * sr))
    skin = _modes(sr, length, rng.uniform(70, 250) * ratios, decays, rng.uniform(0.2, 1.0, 8) / ratios)
    slap = _noise(rng, length) * _decay(length, sr, rng.uniform(0.003, 0.008))
    hit = _peak(skin) + rng.uniform(0.2, 0.6) * _peak(_butter(slap, sr, "lowpass", rng.uniform(3000, 6000)))
    eighth = 30 / rng.uniform(80, 160)
    play = np.flatnonzero(np.append(True, rng.random(7) < rng.uniform(0.3, 0.7)))  # a one-bar pattern
    starts = _pattern(rng, n, sr, eighth * play, 8 * eighth)
    accent = np.resize(np.where(play % 2, 0.7, 1.0), len(starts))  # on-beats louder
    return _place(n, starts, (g * hit for g in accent * rng.uniform(0.7, 1.0, len(starts))))


def _hammering(rng, sr, n):
    """Hammering a nail: each blow a sharp click, a short metallic ring (nail and hammer head modes, rising a
    little as the nail goes in) and a dull wooden thud; runs of blows separated by pauses."""
    high = min(5000, 0.4 * sr)
    runs = _onsets(rng, n, sr, rng.uniform(2.0, 4.0), 0.3)
    counts = rng.integers(3, 9, len(runs))
    starts, position = _bursts(rng, runs, sr, counts, rng.uniform(0.35, 0.6), 0.1)
    length = int(0.3 * sr)
    ring_freqs = rng.uniform(0.3, 1.0, 3) * high
    ring_decays, ring_amps = rng.uniform(0.02, 0.15, 3), rng.uniform(0.3, 1.0, 3)
    thud = _unit(_modes(sr, length, rng.uniform(100, 300, 2), rng.uniform(0.015, 0.04, 2), 1.0))
    click = _unit(_butter(_noise(rng, length) * _decay(length, sr, 0.0015), sr, "highpass", 1500))
    blows = [
        _unit(_modes(sr, length, ring_freqs * (1 + 0.015 * i), ring_decays, ring_amps)) + thud + 0.5 * click
        for i in range(counts.max())
    ]
    return _place(n, starts, (g * blows[i] for i, g in zip(position, rng.uniform(0.7, 1.0, len(starts)))))


def _sawing(rng, sr, n):
    """Hand saw cutting wood: back-and-forth strokes of band-passed noise, rasped by the teeth passing through
    the cut at a rate that follows the blade speed; push strokes are louder than pull strokes."""
    stroke = rng.uniform(1.2, 2.5) * _time(n, sr) + rng.random()
    velocity = np.sin(np.pi * stroke)  # zero where the blade turns around
    speed = np.abs(velocity)
    push = np.where(velocity > 0, 1.0, rng.uniform(0.4, 0.7)).astype(np.float32)
    teeth = _wrap(_cycles(speed * rng.uniform(150, 400), sr))
    rasp = 1 + _pulses(teeth, rng.uniform(0.5, 0.8))
    noise = _butter(_noise(rng, n), sr, "bandpass", (rng.uniform(800, 2000), rng.uniform(4000, 8000)), 1)
    return noise * rasp * speed * push


def _typing(rng, sr, n):
    """Typing on a keyboard: each keystroke a bright click at the press, a short plastic thock as the key
    bottoms out and a softer click on release; words of a few keys, each starting with the space bar."""
    length = int(0.15 * sr)
    release = int(rng.uniform(0.06, 0.11) * sr)
    clicks = _butter(_noise(rng, (4, length)) * _decay(length, sr, 0.002), sr, "highpass", 2000)
    keys = []
    for size, click in zip((1.0, 1.0, 1.0, 1.6), _peak(clicks)):  # three letter keys and the lower, longer space bar
        thock = _modes(sr, length, rng.uniform(300, 1200, 2) / size, rng.uniform(0.008, 0.02, 2) * size, 1.0)
        press = rng.uniform(0.3, 0.8)
        key = size * _peak(thock) + press * click
        key[release:] += 0.5 * press * click[: length - release]
        keys.append(key)
    words = _onsets(rng, n, sr, rng.uniform(0.8, 1.6), 0.4)
    starts, position = _bursts(rng, words, sr, rng.integers(2, 8, len(words)), rng.uniform(0.08, 0.2), 0.35)
    which = np.where(position == 0, 3, rng.integers(0, 3, len(starts)))
    return _place(n, starts, (g * keys[i] for i, g in zip(which, rng.uniform(0.6, 1.0, len(starts)))))


# -----------------------------------------------------------------------------
# continuous classes


def _engine(rng, sr, n):
    """Combustion engine: firing pulses at rpm/60 x cylinders/2 (a harmonic buzz), uneven between cylinders,
    through an exhaust resonance, over low combustion rumble; the rpm drifts."""
    cylinders = int(rng.choice([4, 6, 8]))
    rpm = rng.uniform(700, 3000) * (1 + rng.uniform(0.05, 0.25) * (2 * _wander(rng, n, sr, 0.5) - 1))
    firing = rpm / 60 * cylinders / 2  # a four-stroke cylinder fires every other turn
    cycles = _cycles(firing, sr)
    uneven = 1 + rng.uniform(0.1, 0.4) * np.cos(2 * np.pi * _wrap(cycles / cylinders))
    buzz = _pulses(_wrap(cycles), _rolloff(rng.uniform(0.6, 0.85), firing.max(), sr)) * uneven
    exhaust = _butter(buzz, sr, "bandpass", (rng.uniform(60, 150), rng.uniform(400, 1200)), 1)
    rumble = _butter(_noise(rng, n), sr, "lowpass", rng.uniform(300, 800)) * (1 + 0.5 * _peak(buzz))
    return _unit(exhaust) + rng.uniform(0.2, 0.6) * _unit(rumble)


def _electric_motor(rng, sr, n):
    """Electric motor: magnetic hum at twice the mains frequency, a whine at the rotor-slot passing frequency and
    brush noise pulsing with the commutation."""
    hum = _modes(sr, n, 2 * rng.choice([50, 60]) * np.array([1, 2, 3]), np.inf, rng.uniform(0.1, 1.0, 3))
    rotation = rng.uniform(25, 150)
    whine_freq = min(rotation * int(rng.integers(7, 25)), 0.35 * sr) * (1 + 0.01 * _wander(rng, n, sr, 1.0))
    whine = _saw(_wrap(_cycles(whine_freq, sr)), _rolloff(rng.uniform(0.3, 0.6), whine_freq.max(), sr))
    commutation = np.sin(2 * np.pi * rotation * int(rng.integers(2, 7)) * _time(n, sr))
    brush = _butter(_noise(rng, n), sr, "highpass", 3000) * (1 + commutation)
    return rng.uniform(0.3, 1.0) * _unit(hum) + _unit(whine) + rng.uniform(0.1, 0.4) * _unit(brush)


def _fan(rng, sr, n):
    """Fan: broadband air-flow noise chopped by the blades, a blade-passing tone (blades x rotation rate) with its
    harmonics, and a slight wobble at the rotation rate."""
    rotation = rng.uniform(8, 25)
    blade_pass = rotation * int(rng.integers(3, 8))
    t = _time(n, sr)
    air = _butter(_noise(rng, n), sr, "bandpass", (60, rng.uniform(600, 2500)))
    chop = 1 + rng.uniform(0.1, 0.35) * np.sin(2 * np.pi * blade_pass * t)
    tone = _modes(sr, n, blade_pass * np.array([1, 2, 3]), np.inf, rng.uniform(0.2, 1.0, 3) / [1, 2, 3])
    wobble = 1 + 0.1 * np.sin(2 * np.pi * rotation * t)
    return (_unit(air) * chop + rng.uniform(0.2, 0.7) * _unit(tone)) * wobble


def _wind(rng, sr, n):
    """Wind: slow gusts of noise, a low rumble plus a howl from two resonant bands, the higher one taking over as
    a gust strengthens."""
    gust = _wander(rng, n, sr, rng.uniform(0.2, 0.8))
    noise = _noise(rng, n)
    rumble = _butter(noise, sr, "lowpass", rng.uniform(150, 400))
    centre = rng.uniform(300, 700)
    low, high = (_butter(noise, sr, "bandpass", (c / 1.08, c * 1.08)) for c in (centre, 1.5 * centre))
    howl = _unit(low) * (1 - gust) + _unit(high) * gust
    return (0.15 + gust**2) * (_unit(rumble) + rng.uniform(0.3, 1.0) * howl)


def _rain(rng, sr, n):
    """Rain: hundreds to thousands of drop impacts per second (random impulses of random size, each ringing
    briefly in a high band) over the hiss of distant rain."""
    count = rng.poisson(rng.uniform(100, 2000) * n / sr)
    drops = np.zeros(n, dtype=np.float32)
    drops[rng.integers(0, n, count)] = rng.lognormal(0, rng.uniform(0.4, 0.8), count)
    ticks = _butter(drops, sr, "bandpass", (rng.uniform(1500, 3000), rng.uniform(5000, 10000)))
    hiss = _butter(_noise(rng, n), sr, "highpass", rng.uniform(800, 2000)) * (0.8 + 0.2 * _wander(rng, n, sr, 0.5))
    return _unit(ticks) + rng.uniform(0.3, 1.0) * _unit(hiss)


def _water_drip(rng, sr, n):
    """Water dripping into a pool: each drop a resonating air bubble whose pitch rises (van den Doel's bubble
    model), at a slightly irregular pace."""
    starts = _onsets(rng, n, sr, rng.uniform(0.3, 1.5), 0.15)
    freqs = rng.uniform(500, min(2000, 0.2 * sr)) * rng.uniform(0.9, 1.1, len(starts))
    drops = _bubbles(sr, freqs, rng.uniform(0.1, 0.4), int(0.15 * sr))
    return _place(n, starts, drops * rng.uniform(0.6, 1.0, (len(starts), 1)))


def _stream(rng, sr, n):
    """Running water (a brook): a dense random stream of bubble resonances of many sizes, larger bubbles louder,
    over low turbulent noise."""
    freqs = np.exp(rng.uniform(np.log(600), np.log(min(4000, 0.3 * sr)), 48))
    bank = _bubbles(sr, freqs, rng.uniform(0.05, 0.2), int(0.1 * sr)) * (600 / freqs[:, None]) ** 0.5
    bank = [row[: int(4 / _bubble_damping(f) * sr)] for row, f in zip(bank, freqs)]  # four decay times
    starts = _random_onsets(rng, n, sr, rng.uniform(60, 160))
    which = rng.integers(0, len(freqs), len(starts))
    bubbles = _place(n, starts, (g * bank[i] for i, g in zip(which, rng.uniform(0.2, 1.0, len(starts)))))
    bed = _butter(_noise(rng, n), sr, "bandpass", (100, rng.uniform(800, 2000)), 1)
    return _unit(bubbles) + rng.uniform(0.2, 0.6) * _unit(bed)


def _crackling_fire(rng, sr, n):
    """Crackling fire: sharp crackles (single-sample impulses of heavy-tailed size, in flurries, ringing in a high
    band), occasional louder pops and the low roar of the flames."""
    where = _random_onsets(rng, n, sr, rng.uniform(20, 80))
    flurries = 0.2 + _wander(rng, n, sr, 2.0) ** 2
    crackles = np.zeros(n, dtype=np.float32)
    crackles[where] = np.minimum(rng.pareto(2.5, len(where)), 10) * flurries[where]
    crackle = _butter(crackles, sr, "bandpass", (rng.uniform(1500, 3000), 8000), 1)
    length = int(0.04 * sr)
    pops = _random_onsets(rng, n, sr, rng.uniform(0.5, 2.0))
    pop = _noise(rng, (len(pops), length)) * _decay(length, sr, rng.uniform(0.004, 0.012))
    popping = _place(n, pops, _butter(pop, sr, "lowpass", 2500))
    roar = _butter(_noise(rng, n), sr, "lowpass", rng.uniform(200, 500)) * (0.6 + 0.4 * _wander(rng, n, sr, 3.0))
    return _peak(crackle) + rng.uniform(0.5, 1.0) * _peak(popping) + rng.uniform(0.1, 0.3) * _unit(roar)


# -----------------------------------------------------------------------------
# the library

_MODELS = {
    "siren": _siren,
    "alarm beep": _alarm_beep,
    "telephone ring": _telephone_ring,
    "car horn": _car_horn,
    "church bell": _church_bell,
    "hand bell": _hand_bell,
    "wind chime": _wind_chime,
    "doorbell": _doorbell,
    "plucked string": _plucked_string,
    "bowed string": _bowed_string,
    "whistling": _whistling,
    "bird chirp": _bird_chirp,
    "cricket": _cricket,
    "clock tick": _clock_tick,
    "footsteps": _footsteps,
    "knocking": _knocking,
    "hand clapping": _hand_clapping,
    "drum": _drum,
    "hammering": _hammering,
    "sawing": _sawing,
    "typing": _typing,
    "engine": _engine,
    "electric motor": _electric_motor,
    "fan": _fan,
    "wind": _wind,
    "rain": _rain,
    "water drip": _water_drip,
    "stream": _stream,
    "crackling fire": _crackling_fire,
}

CLASSES: tuple[str, ...] = tuple(_MODELS)


def synthesize(label: str, rng: np.random.Generator, sample_rate: int, num_samples: int) -> np.ndarray:
    """One new random draw of class `label`: float32 mono array of length num_samples, peak 0.9.

    Only excerpts of a few milliseconds can come out silent (an event not yet begun); those stay all zero.
    """
    if label not in _MODELS:
        raise ValueError(f"unknown sound class {label!r}; known classes: {', '.join(CLASSES)}")
    sound = np.asarray(_MODELS[label](rng, sample_rate, num_samples), dtype=np.float64)
    peak = np.max(np.abs(sound))
    return (sound * (_PEAK / peak if peak > 0 else 0.0)).astype(np.float32)
