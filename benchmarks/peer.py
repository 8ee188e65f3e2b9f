"""A training-free peer for the encoder: binaural cues matched against an HRTF set's own.

For every measured direction of the HRTF set, its interaural transfer function (the phase of
H_left H_right*) below PHASE_HIGH_HZ, where phase is unambiguous, and its interaural level difference
per band are templates. A recording's cross-spectrum and level difference, summed over blocks of
frames, are compared with every template, each frequency bin's phase weighted by the block's
interaural coherence there (bins where the direct sound outweighs the echoes count most); the
best-matching direction of each block casts a vote weighted by the block's energy, and the
strongest modes of the votes (at least MIN_SEPARATION_DEG apart) are the sources. No distance, no
class: the peer says where, not what.

Benchmark code, not part of the package. Usage from another benchmark:
    from peer import Peer; peer = Peer("kemar", 32000); records = [peer.localize(path) for path in paths]
"""

from __future__ import annotations

import numpy as np

from batcli.audio import read_binaural
from batcli.geometry import direction_words, great_circle_deg
from batcli.sim.hrtf import load_hrtf

N_FFT, HOP = 1024, 512
BLOCK_FRAMES = 8  # about 0.13 s at 32 kHz
BAND_LOW_HZ, BAND_HIGH_HZ = 200.0, 12000.0
# Score: mean phase agreement (-1..1) minus ILD_WEIGHT times the mean squared band ILD error (dB^2);
# the three constants below were chosen on a development set (seed 7, not the benchmark's seed).
ILD_WEIGHT = 0.002  # every band 10 dB off costs 0.2
PHASE_HIGH_HZ = 1500.0
COHERENCE_WEIGHT = 2  # exponent of the coherence weighting
MIN_SEPARATION_DEG = 30.0
SECOND_SOURCE_SHARE = 0.25  # a second mode needs this share of the votes of the first


class Peer:
    def __init__(self, hrtf: str, sample_rate: int):
        self.hrtf = load_hrtf(hrtf, sample_rate)
        self.sample_rate = sample_rate
        freqs = np.fft.rfftfreq(N_FFT, 1 / sample_rate)
        self.bins = (freqs >= BAND_LOW_HZ) & (freqs <= min(BAND_HIGH_HZ, sample_rate / 2))
        spectra = np.fft.rfft(self.hrtf.irs.astype(np.float64), N_FFT, axis=-1)[..., self.bins]  # (M, 2, F)
        cross = spectra[:, 0] * np.conj(spectra[:, 1])
        self.phase = np.conj(cross / np.maximum(np.abs(cross), 1e-12))  # (M, F)
        self.phase_bins = freqs[self.bins] <= PHASE_HIGH_HZ
        self.bands = np.array_split(np.arange(self.bins.sum()), 24)
        self.ild = np.stack([self._band_ild(np.abs(spectra[:, 0]) ** 2, np.abs(spectra[:, 1]) ** 2, band) for band in self.bands], -1)
        az, el = self.hrtf.azimuth_deg, self.hrtf.elevation_deg
        self.neighbours = (great_circle_deg(az[:, None], el[:, None], az[None], el[None]) <= 15.0).astype(np.float64)  # (M, M)

    @staticmethod
    def _band_ild(left: np.ndarray, right: np.ndarray, band: np.ndarray) -> np.ndarray:
        return 10 * np.log10(np.maximum(left[..., band].sum(-1), 1e-20) / np.maximum(right[..., band].sum(-1), 1e-20))

    def scores(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per block: template scores (blocks, M) and block energy (blocks,)."""
        frames = np.lib.stride_tricks.sliding_window_view(audio, N_FFT, axis=-1)[:, ::HOP] * np.hanning(N_FFT)
        spec = np.fft.rfft(frames, axis=-1)[..., self.bins]  # (2, T, F)
        blocks = max(spec.shape[1] // BLOCK_FRAMES, 1)
        spec = spec[:, : blocks * BLOCK_FRAMES].reshape(2, blocks, -1, spec.shape[-1])
        cross = (spec[0] * np.conj(spec[1])).sum(1)  # (B, F)
        power = (np.abs(spec) ** 2).sum(2)  # (2, B, F)
        phase = cross / np.maximum(np.abs(cross), 1e-12)
        ild = np.stack([self._band_ild(power[0], power[1], band) for band in self.bands], -1)  # (B, bands)
        weight = self.phase_bins * (np.abs(cross) / np.sqrt(np.maximum(power[0] * power[1], 1e-30))) ** COHERENCE_WEIGHT
        weight = weight / np.maximum(weight.sum(-1, keepdims=True), 1e-12)
        score = np.real((phase * weight) @ self.phase.T) - ILD_WEIGHT * ((ild[:, None, :] - self.ild[None]) ** 2).mean(-1)
        return score, power.sum((0, 2))

    def localize(self, path: str) -> dict:
        audio = read_binaural(path, self.sample_rate).astype(np.float64)
        score, energy = self.scores(audio)
        loud = energy >= 0.1 * energy.max() if energy.max() > 0 else energy > 0
        votes = np.zeros(len(self.hrtf.irs))
        np.add.at(votes, score[loud].argmax(-1), np.sqrt(energy[loud]))
        az, el = self.hrtf.azimuth_deg, self.hrtf.elevation_deg
        support = self.neighbours @ votes  # the votes smoothed over directions within 15 deg, then the modes
        sources = []
        for index in np.argsort(-support):
            if support[index] <= 0 or (sources and support[index] < SECOND_SOURCE_SHARE * sources[0]["score"]):
                break
            if all(great_circle_deg(az[index], el[index], s["azimuth_deg"], s["elevation_deg"]) >= MIN_SEPARATION_DEG for s in sources):
                sources.append({"label": "unknown", "score": float(support[index]), "azimuth_deg": float(az[index]),
                                "elevation_deg": float(el[index]), "distance_m": 0.0, "direction": direction_words(az[index], el[index])})
            if len(sources) == 2:
                break
        total = max(sum(s["score"] for s in sources), 1e-12)
        for s in sources:
            s["score"] = round(s["score"] / total, 4)
        return {"audio": path, "start_s": 0.0, "end_s": audio.shape[1] / self.sample_rate, "sources": sources}
