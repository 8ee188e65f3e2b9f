"""The binaural front end: what each ear hears per band, and how the two ears differ.

One STFT of both ears gives maps on the same (bands, frames) grid, shaped (batch, maps, bands, frames).
Two sets, chosen by `model.features`:

- `paper` (4 maps, Spatial-AST's): log-mel power of the left and right ear, and cos/sin of the
  interaural phase difference (IPD) per mel band.
- `binaural` (7 maps, the cues binaural hearing uses): the two log-mel powers (the per-ear spectra
  whose notches tell front from back and up from down), the interaural level difference (ILD), cos/sin
  of the IPD, the interaural coherence (high for a direct sound, low in reverberation: the cue for
  distance), and the generalized cross-correlation with phase transform (GCC-PHAT) over interaural
  lags of -bands/2 .. bands/2 - 1 samples, laid along the band axis: its peak is the interaural time
  difference of the strongest source in each frame, whatever its spectrum.
- `onset` (10 maps): the binaural seven, then the ILD and cos/sin of the IPD of the direct sound: the
  band powers and cross-spectra averaged over ONSET_FRAMES frames, each frame weighted by the square of
  the clip's rise in level there (an onset). At an onset the direct sound arrives before its echoes
  (the precedence effect), and its interaural spectrum is what tells front from back in a room: a small
  classifier on clip means of these three maps errs on front/back in 28 % of reverberant test clips, on
  the ILD, IPD and coherence maps in 34 % (benchmarks/front_back.py, docs/encoder.md).

Band phases and coherence come from the band's summed cross-spectrum, so each bin counts by its energy
and bins that hold only noise do not scramble a band. Coherence is averaged over COHERENCE_FRAMES
frames as well, so a one-bin band still measures it.

Levels are normalised per clip (0 dB at the clip's loudest band of either ear), which keeps the level
difference between the ears but makes the features blind to the recording's overall gain.

`direct` (the binaural seven, plus DirectCues): the mel grid blurs what tells front from back. KEMAR's
level differences for a direction and its front/back mirror differ by 6-12 dB rms per linear STFT bin,
in a pattern that 64 mel bands average away above 4 kHz, and 32-ms frames mix the direct sound with
its first echoes. DirectCues keeps every linear bin of a short (8-ms) STFT, weights each frame by the
square of the rise in level into it (at an onset the direct sound arrives before its echoes), and
gives every token the pooled interaural level and phase differences of the bins, their coherence and
how much louder the onsets are than the bin's mean (the direct-to-reverberant ratio: distance).

`evidence` (direct, plus the HRTF set's own evidence): per token, how well the pooled interaural
spectrum fits each direction of a fixed grid, read from an HRTF set's responses (the direction's
per-bin level differences, and its phase differences below PHASE_HIGH_HZ) as a training-free template
matcher would; the network learns what to make of the fit, for its own head and others. Beside the
network, DirectCues.votes casts the matcher's own votes over every measured direction of the set, which
the readout weighs front against back with.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio.functional
from torch import nn

from ..geometry import unit_vector
from ..sim.hrtf import HRTF

# The version of what the encoder reads: these feature maps and cues, their scaling and the readout's
# votes. A model folder records the version it was trained on (config.json `input_version`); raise it
# with any change to them, and retrain the shipped encoder in the same change (a change to the votes
# alone needs its front calibration fitted again on its validation clips, which training does at every
# validation). Version 2: a second row of votes from 32-ms frames with the noise taken out. Version 3:
# the clip's coherence (beside the votes), which tells the readout a free field from a room.
INPUT_VERSION = 3
DYNAMIC_RANGE_DB = 80.0
COHERENCE_FRAMES = 5
GCC_SCALE = 4.0  # a clean single source peaks at 1/4 of this; reverberant ones far lower
ONSET_FRAMES = 25  # frames (0.25 s at a 10-ms hop) over which the onset-weighted cues are pooled
MAPS = {"paper": 4, "binaural": 7, "onset": 10, "direct": 7, "evidence": 7}
DIRECT_CUES = 5  # per bin: ILD, cos and sin of the IPD, coherence, onset-to-mean level
DIRECT_POOL_TOKENS = 5  # tokens (0.2 s at 40 ms a token) over which the onset-weighted cues are pooled
ONSET_FLOOR = 1e-2  # weight of a frame without a rise (dB^2): a clip without onsets gets plain means
# The evidence grid and the template fit's constants (those of benchmarks/peer.py's matcher)
EVIDENCE_AZIMUTHS = np.arange(0.0, 360.0, 10.0)
EVIDENCE_ELEVATIONS = np.arange(-40.0, 81.0, 15.0)
PHASE_HIGH_HZ = 1500.0  # interaural phase is unambiguous below about this
HEARD_RANGE_DB = 25.0  # bins more than this below a token's loudest hold no sound and are left out of the fit
ILD_SIGMA_DB = 4.0
PHASE_WEIGHT = 4.0
EVIDENCE_RANGE = 20.0  # fits this far below a token's best are all alike
VOTE_FRAMES = 32  # short frames (0.13 s at 32 kHz) pooled into one template vote, as the matcher's blocks
VOTE_FFT = 1024  # the long frames of the second row of votes (32 ms at 32 kHz)
NOISE_SHARE = 0.1  # the quietest tenth of a clip's frames tell its stationary noise
VOTE_SETTINGS = ((None, False), (VOTE_FFT, True))  # rows of DirectCues.votes: (frame length, None for the tokens'; noise taken out)
VOTE_ROWS = len(VOTE_SETTINGS)
LONG_ROW = next(row for row, (size, _) in enumerate(VOTE_SETTINGS) if size == VOTE_FFT)  # the row the readout trusts in a free field


class BinauralFeatures(nn.Module):
    def __init__(self, sample_rate: int, n_fft: int, hop: int, n_mels: int, f_min: float, f_max: float, kind: str = "paper"):
        super().__init__()
        if kind not in MAPS:
            raise ValueError(f"unknown feature set {kind!r}")
        self.n_fft, self.hop, self.n_mels, self.kind = n_fft, hop, n_mels, kind
        mel = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, f_min, f_max, n_mels, sample_rate, norm="slaney", mel_scale="slaney")
        self.register_buffer("mel", mel, persistent=False)  # (freqs, mels)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    @property
    def maps(self) -> int:
        return MAPS[self.kind]

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(batch, 2, samples) float audio -> (batch, maps, mels, frames) features."""
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
        cos, sin = real / magnitude, imag / magnitude
        if self.kind == "paper":
            return torch.stack([level[:, 0], level[:, 1], cos, sin], dim=1)
        ild = level[:, 0] - level[:, 1]
        coherence = _coherence(real, imag, power)
        gcc = _gcc_phat(cross, self.n_fft, self.n_mels)
        maps = [level[:, 0], level[:, 1], ild, cos, sin, coherence, gcc]
        if self.kind == "onset":
            maps += _onset_cues(level, real, imag, power)
        return torch.stack(maps, dim=1)


class DirectCues(nn.Module):
    """The direct sound's interaural cues per linear-frequency bin, one vector per token.

    A short STFT (n_fft samples, half-overlapping) of both ears; each frame is weighted by the square
    of the rise (dB) of the two ears' total level into it, the weighted powers and cross-spectra are
    averaged over each token's frames and then over DIRECT_POOL_TOKENS tokens, and per bin (DC left
    out) five cues are read from them: ILD, cos/sin of the IPD, coherence, onset-to-mean level. The
    last entry is the log of the onset weight itself: how much evidence the token holds.
    """

    def __init__(self, n_fft: int, hrtf: HRTF | None = None):
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.evidence = hrtf is not None
        self.grid = len(EVIDENCE_AZIMUTHS) * len(EVIDENCE_ELEVATIONS) if self.evidence else 0  # evidence entries per token
        if self.evidence:  # computed from the HRTF set when the model is built, never stored with the weights
            ild, phase, _ = direction_templates(hrtf, n_fft, hrtf.nearest(unit_vector(*evidence_grid())))
            self.register_buffer("template_ild", ild, persistent=False)  # (grid, bins) dB
            self.register_buffer("template_phase", phase, persistent=False)  # (grid, low bins) complex
            for size in (n_fft, VOTE_FFT):  # every measured direction votes, in short frames and in long ones
                ild, phase, low = direction_templates(hrtf, size, np.arange(len(hrtf.irs)))
                self.register_buffer(f"vote_ild_{size}", ild, persistent=False)
                self.register_buffer(f"vote_phase_{size}", phase, persistent=False)
            self.long_low_bins = low  # the long frames' bins up to PHASE_HIGH_HZ
            self.register_buffer("vote_directions", torch.from_numpy(unit_vector(hrtf.azimuth_deg, hrtf.elevation_deg)).float(), persistent=False)

    @property
    def size(self) -> int:
        return DIRECT_CUES * (self.n_fft // 2) + 1 + self.grid

    def forward(self, audio: torch.Tensor, tokens: int, pool: int = DIRECT_POOL_TOKENS) -> torch.Tensor:
        """(batch, 2, samples) -> (batch, tokens, size), the statistics pooled over `pool` tokens."""
        left, right, real, imag, plain, onset = self._pooled(self._spectra(audio, self.n_fft), tokens, pool)
        ild_db, magnitude = _interaural(left, right, real, imag)
        ild = ild_db / (DYNAMIC_RANGE_DB / 2)
        coherence = (magnitude / torch.sqrt(left * right).clamp_min(1e-20)).clamp(0.0, 1.0) * 2 - 1
        onset_level = 10 * torch.log10(((left + right) / onset + 1e-20) / (plain + 1e-20)) / (DYNAMIC_RANGE_DB / 2)
        cues = torch.cat([ild.clamp(-2.0, 2.0), real / magnitude, imag / magnitude, coherence, onset_level.clamp(-2.0, 2.0)], dim=1)
        strength = torch.log10(onset[:, :1]) / 4  # (batch, 1, tokens): 0 at 1 dB^2, 1 at 10^4 dB^2
        parts = [cues, strength]
        if self.evidence:  # 1 for the token's best-fitting grid direction, 0 for fits EVIDENCE_RANGE or more below it
            score = template_scores(left + right, ild_db, real, imag, magnitude, self.template_ild, self.template_phase)
            parts.append(((score - score.amax(1, keepdim=True)) / EVIDENCE_RANGE + 1).clamp_min(0.0))
        return torch.cat(parts, dim=1).transpose(1, 2)

    def votes(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, VOTE_ROWS, directions): every block of 0.13 s votes, with its onset weight, for the
        measured direction (vote_directions) whose interaural spectrum fits its own best, as a
        training-free template matcher does; row 0 from the 8-ms frames of the tokens, row LONG_ROW from
        32-ms frames with the clip's stationary noise taken out. Short frames keep an onset's direct sound
        apart from its echoes (in rooms); long ones resolve the pinna's fine pattern (in a free field).
        Apart from any network, the sign of the vote balance on the source's cone errs on front/back for
        20 % of 200 free-field development sources in short frames, 6 % in long frames with the noise
        taken out; in rooms 27 % and 33 %.

        Beside them, from the same long frames, the clip's coherence (batch,): the interaural coherence
        of the whole clip with its stationary noise taken out, over the bins above PHASE_HIGH_HZ that
        hold sound, each by its power. Near 1 where one direct sound dominates (a free field), lower
        where echoes arrive from all around (a room): of 1200 development clips, 90 % of the free-field
        ones reach 0.96 and 90 % of the reverberant ones stay below 0.88."""
        rows = []
        for row, (size, denoise) in enumerate(VOTE_SETTINGS):
            size = size or self.n_fft
            power, cross, level = spectra = self._spectra(audio, size)
            cues = _cues(power, cross) if denoise or row == LONG_ROW else None
            noise = _stationary_noise(level, cues) if denoise else None
            blocks = max(level.shape[-1] // (VOTE_FRAMES * self.n_fft // size), 1)
            left, right, real, imag, _, onset = self._pooled(spectra, blocks, 1, noise)
            heard = (left > 0) & (right > 0)  # taking the noise out can leave a bin with less than nothing
            left, right = left.clamp_min(1e-20), right.clamp_min(1e-20)
            ild_db, magnitude = _interaural(left, right, real, imag)
            score = template_scores(torch.where(heard, left + right, 0.0), ild_db, real, imag, magnitude,
                                    getattr(self, f"vote_ild_{size}"), getattr(self, f"vote_phase_{size}"))  # (batch, directions, blocks)
            rows.append(torch.zeros(score.shape[:2], device=audio.device).scatter_add_(1, score.argmax(1), onset[:, 0]))
            if row == LONG_ROW:
                coherence = _clip_coherence(cues, noise, self.long_low_bins)
        return torch.stack(rows, dim=1), coherence

    def _spectra(self, audio: torch.Tensor, n_fft: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Both ears' powers (batch, 2, bins, frames), their cross-spectrum (batch, bins, frames), DC left
        out, and each frame's total level (batch, frames; dB, at most DYNAMIC_RANGE_DB below the loudest)
        of a half-overlapping STFT of n_fft samples."""
        batch, ears, samples = audio.shape
        window = self.window if n_fft == self.n_fft else torch.hann_window(n_fft, device=audio.device)
        spec = torch.stft(audio.reshape(batch * ears, samples).float(), n_fft, n_fft // 2, window=window, return_complex=True)
        spec = spec.reshape(batch, ears, *spec.shape[-2:])[:, :, 1:]  # (batch, 2, bins, frames), no DC
        power = spec.real.square() + spec.imag.square()
        level = 10 * torch.log10(power.sum(dim=(1, 2)) + 1e-20)  # (batch, frames)
        level = torch.maximum(level, level.amax(-1, keepdim=True) - DYNAMIC_RANGE_DB)  # digital silence is not -200 dB
        return power, spec[:, 0] * spec[:, 1].conj(), level

    def _pooled(self, spectra: tuple[torch.Tensor, torch.Tensor, torch.Tensor], tokens: int, pool: int,
                noise: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """Onset-weighted left and right powers and cross-spectrum (real, imag), plain power and the
        onset weight, each (batch, bins, tokens), averaged over each token's frames and `pool` tokens, from
        _spectra's output. `noise` (the clip's stationary noise, _stationary_noise) is subtracted from
        every frame's powers and cross-spectrum: a diffuse background's interaural spectrum is nobody's
        direction."""
        power, cross, level = spectra
        weight = onset_weights(level)[:, None]  # (batch, 1, frames)
        stats = torch.stack([power[:, 0] * weight, power[:, 1] * weight, cross.real * weight, cross.imag * weight,
                             power.sum(1), weight.expand_as(cross.real)], dim=1)  # (batch, 6, bins, frames)
        if noise is not None:
            stats = torch.cat([stats[:, :4] - weight[:, None] * noise[..., None], stats[:, 4:]], dim=1)
        stats = _frame_mean(F.adaptive_avg_pool1d(stats.flatten(1, 2), tokens).reshape(*stats.shape[:3], tokens), pool)
        return stats.unbind(1)


def onset_weights(level: torch.Tensor) -> torch.Tensor:
    """(..., frames) levels (dB) -> each frame's weight: the square of the rise in level into it, plus
    ONSET_FLOOR. At an onset the direct sound arrives before its echoes."""
    return F.pad(torch.relu(level[..., 1:] - level[..., :-1]), (1, 0)).square() + ONSET_FLOOR


def template_scores(both: torch.Tensor, ild_db: torch.Tensor, real: torch.Tensor, imag: torch.Tensor, magnitude: torch.Tensor,
                    template_ild: torch.Tensor, template_phase: torch.Tensor) -> torch.Tensor:
    """(batch, directions, tokens): how well each token's interaural spectrum (each (batch, bins, tokens))
    fits each direction's templates (direction_templates), the mean phase agreement below PHASE_HIGH_HZ
    times PHASE_WEIGHT minus the mean squared level difference error over 2 ILD_SIGMA_DB^2, over the bins
    that hold sound (`both`: the two ears' power)."""
    heard = (both > both.amax(1, keepdim=True) * 10 ** (-HEARD_RANGE_DB / 10)).float()  # (batch, bins, tokens)
    share = heard / heard.sum(1, keepdim=True).clamp_min(1.0)
    ild = ild_db.clamp(-40.0, 40.0)
    ild_error = ((share * ild.square()).sum(1)[:, None] - 2 * torch.einsum("bft,gf->bgt", share * ild, template_ild)
                 + torch.einsum("bft,gf->bgt", share, template_ild.square()))
    low = slice(0, template_phase.shape[1])
    phase = torch.complex(real[:, low], imag[:, low]) / magnitude[:, low] * heard[:, low]
    agreement = torch.einsum("bft,gf->bgt", phase, template_phase.conj()).real / heard[:, low].sum(1, keepdim=True).clamp_min(1.0)
    return PHASE_WEIGHT * agreement - ild_error / (2 * ILD_SIGMA_DB**2)


def _cues(power: torch.Tensor, cross: torch.Tensor) -> torch.Tensor:
    """(batch, 4, bins, frames): left and right power, real and imaginary cross-spectrum."""
    return torch.stack([power[:, 0], power[:, 1], cross.real, cross.imag], dim=1)


def _stationary_noise(level: torch.Tensor, cues: torch.Tensor) -> torch.Tensor:
    """(batch, 4, bins): the mean of each of _cues over the clip's quietest NOISE_SHARE of frames (by
    level, (batch, frames)), where a stationary background plays alone; where a sound plays throughout,
    its own quietest frames, which have its own direction."""
    quiet = level.argsort(-1)[:, : max(int(level.shape[-1] * NOISE_SHARE), 1)]  # (batch, frames kept)
    return cues.gather(-1, quiet[:, None, None].expand(-1, cues.shape[1], cues.shape[2], -1)).mean(-1)


def _clip_coherence(cues: torch.Tensor, noise: torch.Tensor, low_bins: int) -> torch.Tensor:
    """(batch,) |sum L R*| / sqrt(sum |L|^2 sum |R|^2) of the whole clip (_cues, with `noise` taken out of
    every frame), per bin above the first `low_bins` that holds sound, averaged with each bin's power."""
    left, right, real, imag = (cues.sum(-1) - cues.shape[-1] * noise).unbind(1)  # (batch, bins)
    both = left + right
    heard = (both > both.amax(1, keepdim=True) * 10 ** (-HEARD_RANGE_DB / 10)) & (left > 0) & (right > 0)
    heard[:, :low_bins] = False
    coherence = torch.sqrt(real.square() + imag.square()) / torch.sqrt((left * right).clamp_min(1e-20))
    weight = torch.where(heard, both, 0.0)  # taking the noise out can leave a bin with less than nothing
    coherence = torch.where(heard, coherence.clamp(0.0, 1.0), 0.0)
    return (coherence * weight).sum(1) / weight.sum(1).clamp_min(1e-20)


def _interaural(left: torch.Tensor, right: torch.Tensor, real: torch.Tensor, imag: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Level difference (dB) and cross-spectrum magnitude per bin of pooled powers and cross-spectra."""
    return 10 * torch.log10((left + 1e-20) / (right + 1e-20)), torch.sqrt(real.square() + imag.square()).clamp_min(1e-20)


def evidence_grid() -> tuple[np.ndarray, np.ndarray]:
    """Azimuths and elevations (deg) of the evidence grid's directions, in the order of the evidence maps."""
    azimuth, elevation = np.meshgrid(EVIDENCE_AZIMUTHS, EVIDENCE_ELEVATIONS, indexing="ij")
    return azimuth.ravel(), elevation.ravel()


def direction_templates(hrtf: HRTF, n_fft: int, directions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Per measured direction of the set (indices `directions`): the level difference per bin (dB, DC
    left out) and the unit interaural phase of the bins below PHASE_HIGH_HZ, from the responses' first
    n_fft taps, smoothed over neighbouring bins as a Hann window smooths a recording's."""
    spectra = np.fft.rfft(hrtf.irs[directions].astype(np.float64)[..., :n_fft], n_fft, axis=-1)  # (directions, 2, bins + 1)

    def smoothed(x: np.ndarray) -> np.ndarray:
        padded = np.concatenate([x[..., 1:2], x, x[..., -2:-1]], axis=-1)
        return (0.25 * padded[..., :-2] + 0.5 * padded[..., 1:-1] + 0.25 * padded[..., 2:])[..., 1:]

    power = smoothed(np.abs(spectra) ** 2)
    cross = spectra[:, 0] * np.conj(spectra[:, 1])
    cross = smoothed(cross.real) + 1j * smoothed(cross.imag)
    ild = 10 * np.log10(np.maximum(power[:, 0], 1e-20) / np.maximum(power[:, 1], 1e-20))
    low = int((np.fft.rfftfreq(n_fft, 1 / hrtf.sample_rate)[1:] <= PHASE_HIGH_HZ).sum())
    phase = cross[:, :low] / np.maximum(np.abs(cross[:, :low]), 1e-20)
    return torch.from_numpy(ild).float(), torch.from_numpy(phase).to(torch.complex64), low


def _frame_mean(x: torch.Tensor, frames: int) -> torch.Tensor:
    """Mean over `frames` frames centred on each frame (fewer at the clip's ends), same shape as x."""
    return F.avg_pool1d(x.flatten(0, -2)[:, None], frames, 1, frames // 2, count_include_pad=False).reshape(x.shape)


def _coherence(real: torch.Tensor, imag: torch.Tensor, power: torch.Tensor) -> torch.Tensor:
    """|E[L R*]| / sqrt(E|L|^2 E|R|^2) per band, the expectations over the band's bins and a few frames."""
    def smooth(x: torch.Tensor) -> torch.Tensor:
        return _frame_mean(x, COHERENCE_FRAMES)

    cross = torch.sqrt(smooth(real).square() + smooth(imag).square())
    energy = torch.sqrt(smooth(power[:, 0]) * smooth(power[:, 1])).clamp_min(1e-20)
    return (cross / energy).clamp(0.0, 1.0) * 2 - 1  # [-1, 1]


def _onset_cues(level: torch.Tensor, real: torch.Tensor, imag: torch.Tensor, power: torch.Tensor) -> list[torch.Tensor]:
    """ILD and IPD cos/sin (each (batch, bands, frames)) of band powers and cross-spectra pooled over
    ONSET_FRAMES frames, frame t weighted by the square of the rise in level into it, summed over bands."""
    both = level.mean(dim=1)  # (batch, bands, frames): the two ears' mean level
    rise = torch.relu(both[..., 1:] - both[..., :-1]).sum(dim=1)
    weight = F.pad(rise, (1, 0)).square()[:, None] + 1e-6  # (batch, 1, frames); the floor keeps onset-free clips finite

    def pooled(x: torch.Tensor) -> torch.Tensor:
        return _frame_mean(x * weight, ONSET_FRAMES)

    left, right = pooled(power[:, 0]), pooled(power[:, 1])
    ild = 10 * torch.log10(left.clamp_min(1e-20) / right.clamp_min(1e-20)) / (DYNAMIC_RANGE_DB / 2)
    cross_real, cross_imag = pooled(real), pooled(imag)
    magnitude = torch.sqrt(cross_real.square() + cross_imag.square()).clamp_min(1e-20)
    return [ild.clamp(-2.0, 2.0), cross_real / magnitude, cross_imag / magnitude]


def _gcc_phat(cross: torch.Tensor, n_fft: int, lags: int) -> torch.Tensor:
    """GCC-PHAT (batch, lags, frames): row i holds how well the left ear leads the right by i - lags/2 samples."""
    whitened = cross / cross.abs().clamp_min(1e-12)
    correlation = torch.fft.irfft(whitened, n=n_fft, dim=1)  # index k: the right ear leads by k samples
    leads = torch.arange(lags, device=cross.device) - lags // 2
    return correlation[:, (-leads) % n_fft] * GCC_SCALE
