"""The binaural front end: per-ear log-mel spectrograms and the interaural phase difference.

One STFT of both ears gives four maps on the same mel grid, shaped (batch, 4, mels, frames):
the left and right log-mel power, and the cosine and sine of the interaural phase difference per
mel band. The phase difference is taken from the band's summed cross-spectrum, so each bin counts
by its energy and bins that hold only noise do not scramble the band's phase.

Levels are normalised per clip (0 dB at the clip's loudest mel bin of either ear), which keeps the
level difference between the ears but makes the features blind to the recording's overall gain.
"""

from __future__ import annotations

import torch
import torchaudio.functional
from torch import nn

DYNAMIC_RANGE_DB = 80.0


class BinauralFeatures(nn.Module):
    def __init__(self, sample_rate: int, n_fft: int, hop: int, n_mels: int, f_min: float, f_max: float):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        mel = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, f_min, f_max, n_mels, sample_rate, norm="slaney", mel_scale="slaney")
        self.register_buffer("mel", mel, persistent=False)  # (freqs, mels)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(batch, 2, samples) float audio -> (batch, 4, mels, frames) features."""
        batch, ears, samples = audio.shape
        spec = torch.stft(audio.reshape(batch * ears, samples).float(), self.n_fft, self.hop, window=self.window, return_complex=True)
        spec = spec.reshape(batch, ears, *spec.shape[-2:])  # (batch, 2, freqs, frames)
        power = torch.einsum("beft,fm->bemt", spec.real.square() + spec.imag.square(), self.mel)
        level = 10 * torch.log10(power.clamp_min(1e-20))
        loudest = level.amax(dim=(1, 2, 3), keepdim=True)
        level = (level - loudest).clamp_min(-DYNAMIC_RANGE_DB) / (DYNAMIC_RANGE_DB / 2) + 1  # [-1, 1]
        cross = spec[:, 0] * spec[:, 1].conj()
        real = torch.einsum("bft,fm->bmt", cross.real, self.mel)
        imag = torch.einsum("bft,fm->bmt", cross.imag, self.mel)
        magnitude = torch.sqrt(real.square() + imag.square()).clamp_min(1e-12)
        return torch.stack([level[:, 0], level[:, 1], real / magnitude, imag / magnitude], dim=1)
