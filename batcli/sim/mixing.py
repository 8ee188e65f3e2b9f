"""New scenes mixed on the fly from a bank of ready room responses, with heads that vary.

Rendering a room costs tens of milliseconds; convolving a dry sound with a response already
rendered costs a few. So a trainer mixes every example anew from a bank (thousands of rooms, a few
source positions in each, written by `bat simulate --set responses=N`): fresh procedural sounds,
levels, onsets, background noise, and for two-source scenes two positions in the same room.

Heads other than the one measured are imitated per scene (HeadVariation):
- head size: the response is stretched in time by a factor k; a head k times larger has its HRIRs
  stretched by k, which scales the interaural time difference and moves the pinna notches and the
  head-shadow slope down in frequency by 1/k;
- colouring: smooth random gains over frequency, common to both ears (microphone, source and pinna
  resonances differ from head to head) and a smaller part per ear (no head is symmetric).
Everything happens in one FFT product per source: dry x response x colouring, summed, then one
inverse FFT per ear.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.fft

from ..geometry import great_circle_deg, lateral_gap_deg
from .hrtf import HRTF
from .library import SoundLibrary
from .rooms import diffuse_noise_spectrum
from .scenes import SceneConfig, draw_event, limit_peak, wants_same_cone

COLOURING_KNOTS = 10  # log-spaced frequencies between 100 Hz and Nyquist where the random gains are drawn


@dataclass
class HeadVariation:
    size: tuple[float, float] = field(default=(1.0, 1.0), metadata={"help": "range of the head-size factor (1: the HRTF's own head)", "range": (0.5, 2.0)})
    colouring_db: float = field(default=0.0, metadata={"help": "standard deviation of the random gain over frequency common to both ears (dB)", "range": (0, 20)})
    ear_colouring_db: float = field(default=0.0, metadata={"help": "standard deviation of the random gain over frequency of each ear (dB)", "range": (0, 20)})


@dataclass
class ResponseBank:
    """Room responses (2, taps) and their records; `rooms` groups the indices that share a room and listener."""

    responses: list[np.ndarray]
    records: list[dict]
    rooms: list[list[int]]

    def __post_init__(self):
        self.longest = max(r.shape[-1] for r in self.responses)  # taps of the longest response

    @classmethod
    def from_items(cls, items: list[tuple[np.ndarray, dict]], bank_key=None) -> ResponseBank:
        groups: dict = {}
        for index, (_, record) in enumerate(items):
            groups.setdefault((bank_key, record.get("room_id", f"#{index}")), []).append(index)
        return cls([r for r, _ in items], [d for _, d in items], list(groups.values()))

    def __add__(self, other: ResponseBank) -> ResponseBank:
        shift = len(self.responses)
        return ResponseBank(self.responses + other.responses, self.records + other.records,
                            self.rooms + [[i + shift for i in room] for room in other.rooms])


def stretch(response: np.ndarray, factor: float) -> np.ndarray:
    """(2, taps) response as heard by a head `factor` times the size: h(t / factor), linearly interpolated."""
    if factor == 1.0:
        return response
    taps = response.shape[-1]
    length = int(np.ceil(taps * factor))
    where = np.arange(length) / factor
    return np.stack([np.interp(where, np.arange(taps), ear, right=0.0) for ear in response]).astype(np.float32)


def colouring(rng: np.random.Generator, variation: HeadVariation, frequencies: np.ndarray, sample_rate: int) -> np.ndarray:
    """(2, F) float32 gains: a smooth random curve over log frequency, common to both ears, plus one per ear."""
    knots = np.geomspace(100.0, sample_rate / 2, COLOURING_KNOTS)
    common = rng.standard_normal(COLOURING_KNOTS) * variation.colouring_db
    ears = rng.standard_normal((2, COLOURING_KNOTS)) * variation.ear_colouring_db
    where = np.log(np.clip(frequencies, knots[0], knots[-1]))
    gains_db = np.stack([np.interp(where, np.log(knots), common + ear) for ear in ears]).astype(np.float32)
    return np.exp(gains_db * np.float32(np.log(10) / 20))


def pick_positions(rng: np.random.Generator, bank: ResponseBank, count: int, config: SceneConfig) -> list[int]:
    """`count` bank indices, at least `min_separation_deg` apart, from one room when it holds enough of them;
    in `same_cone_fraction` of mixtures the second one on the first one's cone of confusion, where the
    room holds such a position (a bank with more responses per room holds more)."""
    def where(i: int) -> tuple[float, float]:
        return bank.records[i]["azimuth_deg"], bank.records[i]["elevation_deg"]

    def apart(i: int) -> bool:
        return all(great_circle_deg(*where(i), *where(c)) >= config.min_separation_deg for c in chosen)

    def on_cone(i: int) -> bool:
        return all(lateral_gap_deg(*where(i), *where(c)) <= config.same_cone_deg for c in chosen)

    room = bank.rooms[int(rng.integers(len(bank.rooms)))]
    chosen = [room[int(rng.integers(len(room)))]]
    same_cone = wants_same_cone(rng, config, count)
    while len(chosen) < count:
        candidates = [i for i in room if i not in chosen and apart(i)]
        if same_cone:
            candidates = [i for i in candidates if on_cone(i)] or candidates
        if candidates:
            chosen.append(candidates[int(rng.integers(len(candidates)))])
            continue
        for _ in range(100):  # the room has no second position far enough: borrow one from another room
            other = int(rng.integers(len(bank.responses)))
            if apart(other):
                break
        chosen.append(other)
    return chosen


def mix_responses(rng: np.random.Generator, library: SoundLibrary, hrtf: HRTF, bank: ResponseBank, config: SceneConfig,
                  sample_rate: int, num_samples: int, head: HeadVariation | None = None) -> tuple[np.ndarray, list[dict]]:
    """A new scene: 1-2 sounds of different classes, each convolved with a bank response, through a head
    drawn from `head`, with diffuse background noise in some scenes, its peak kept below full scale.
    Returns the (2, samples) float32 mix and its sources (label, direction, distance, timing, and
    `anechoic` where the response has no room, so distance cannot be heard)."""
    head = head or HeadVariation()
    count = 2 if rng.random() < config.two_source_fraction and len(library.labels) > 1 else 1
    labels = [library.labels[i] for i in rng.choice(len(library.labels), size=count, replace=False)]
    positions = pick_positions(rng, bank, count, config)
    factor = float(rng.uniform(*head.size))
    # One FFT size for every scene of the bank, so the FFT plans and the noise filters are reused.
    size = scipy.fft.next_fast_len(num_samples + int(np.ceil(bank.longest * max(head.size))) + 1, real=True)
    spectrum = np.zeros((2, size // 2 + 1), dtype=np.complex64)
    sources = []
    for label, index in zip(labels, positions):
        event = draw_event(rng, library, label, config, sample_rate, num_samples)
        dry = np.zeros(num_samples, dtype=np.float32)
        dry[event.onset : event.onset + event.dry.size] = event.dry
        spectrum += scipy.fft.rfft(dry, size) * scipy.fft.rfft(stretch(bank.responses[index], factor), size, axis=-1)
        onset_s, offset_s = event.timing_s(sample_rate)
        where = bank.records[index]
        sources.append({
            "label": label,
            "azimuth_deg": where["azimuth_deg"],
            "elevation_deg": where["elevation_deg"],
            "distance_m": where["distance_m"],
            "onset_s": round(onset_s, 4),
            "offset_s": round(offset_s, 4),
            "anechoic": bool(where.get("room", {}).get("anechoic", False)),
        })
    if head.colouring_db or head.ear_colouring_db:
        spectrum *= colouring(rng, head, scipy.fft.rfftfreq(size, 1 / sample_rate), sample_rate)
    if rng.random() < config.noise_fraction:
        snr_db = float(rng.uniform(*config.snr_db))
        noise = diffuse_noise_spectrum(hrtf, rng, size).astype(np.complex64)
        power = lambda x: float(np.sum(x.real**2 + x.imag**2))  # noqa: E731  (Parseval: the ratio of two powers)
        spectrum += noise * np.float32(np.sqrt(power(spectrum) / max(power(noise), 1e-30) / 10 ** (snr_db / 10)))
    mix, _ = limit_peak(scipy.fft.irfft(spectrum, size, axis=-1)[:, :num_samples])
    return mix.astype(np.float32), sources
