"""Head-related impulse responses from SOFA files (SimpleFreeFieldHRIR), in the head frame.

The MIT KEMAR normal-pinna set ships with the package (measurements by Bill Gardner and Keith
Martin, MIT Media Lab, 1994; free to use with acknowledgement). Directions are looked up by
nearest neighbour on the sphere: KEMAR has no measurements below -40 deg, and interpolating over
that hole invents gains louder than the direct sound, so the nearest measured direction is used.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from ..audio import resample
from ..errors import BatError
from ..geometry import to_spherical, unit_vector

BUILTIN = {"kemar": "mit_kemar_normal_pinna.sofa"}


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, so results can be cached per set
class HRTF:
    name: str
    sample_rate: int
    azimuth_deg: np.ndarray  # (M,) measured directions in the head frame
    elevation_deg: np.ndarray  # (M,)
    directions: np.ndarray  # (M, 3) unit vectors
    irs: np.ndarray  # (M, 2, N) float32, left ear first

    @property
    def elevation_range(self) -> tuple[float, float]:
        return float(self.elevation_deg.min()), float(self.elevation_deg.max())

    def nearest(self, vectors: np.ndarray) -> np.ndarray:
        """Index of the nearest measured direction for each vector (..., 3); need not be unit length."""
        vectors = np.asarray(vectors, dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
        return np.argmax((vectors / np.maximum(norms, 1e-12)) @ self.directions.T, axis=-1)


def load_hrtf(spec: str, sample_rate: int) -> HRTF:
    """Load a built-in set by name (`kemar`) or a SOFA file by path, resampled to `sample_rate`."""
    if spec in BUILTIN:
        path = resources.files("batcli.data") / BUILTIN[spec]
        with resources.as_file(path) as real_path:
            return _load(str(real_path), spec, sample_rate)
    return _load(str(Path(spec).resolve()), spec, sample_rate)


@lru_cache(maxsize=4)
def _load(path: str, name: str, sample_rate: int) -> HRTF:
    import sofar

    if not Path(path).is_file():
        raise BatError(f"{name}: HRTF file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sofa = sofar.read_sofa(path, verify=False, verbose=False)
    except Exception as err:  # sofar raises whatever its netCDF/HDF5 reader raises
        raise BatError(f"{name}: not a readable SOFA file ({type(err).__name__}: {err})") from None
    convention = getattr(sofa, "GLOBAL_SOFAConventions", "")
    if convention != "SimpleFreeFieldHRIR":
        raise BatError(f"{name}: SOFA convention is {convention or 'missing'}; only SimpleFreeFieldHRIR is supported")
    irs = np.asarray(sofa.Data_IR, dtype=np.float64)
    if irs.ndim != 3 or irs.shape[1] != 2:
        raise BatError(f"{name}: expected Data.IR of shape (measurements, 2 ears, taps), got {irs.shape}")
    if _receiver_order(sofa) == "right-left":
        irs = irs[:, ::-1]
    azimuth, elevation = _source_directions(sofa, name)
    _check_responses(irs, azimuth, elevation, name)
    file_rate = float(np.ravel(sofa.Data_SamplingRate)[0])
    if not np.isfinite(file_rate) or file_rate <= 0:
        raise BatError(f"{name}: Data.SamplingRate is {file_rate}, not a sampling rate")
    file_rate = int(round(file_rate))
    irs = resample(irs.astype(np.float32), file_rate, sample_rate)
    return HRTF(
        name=name,
        sample_rate=sample_rate,
        azimuth_deg=azimuth,
        elevation_deg=elevation,
        directions=unit_vector(azimuth, elevation),
        irs=_trim_common_silence(irs),
    )


def _check_responses(irs: np.ndarray, azimuth: np.ndarray, elevation: np.ndarray, name: str) -> None:
    """A damaged set is one line naming what is wrong: NaN or infinite taps, or a silent ear."""
    if len(azimuth) != len(irs) or not (np.isfinite(azimuth).all() and np.isfinite(elevation).all()):
        raise BatError(f"{name}: SourcePosition does not give one finite direction per response")

    def first(bad: np.ndarray) -> str:
        i = int(np.flatnonzero(bad)[0])
        return f"{int(bad.sum())} of {len(irs)} responses, the first at azimuth {azimuth[i]:g}, elevation {elevation[i]:g}"

    broken = ~np.isfinite(irs).all(axis=(1, 2))
    if broken.any():
        raise BatError(f"{name}: Data.IR holds NaN or infinite values in {first(broken)}")
    silent = (np.abs(irs).max(axis=2) == 0).any(axis=1)
    if silent.all():
        raise BatError(f"{name}: Data.IR is all zeros: no response to render with")
    if silent.any():
        raise BatError(f"{name}: Data.IR is all zeros for an ear in {first(silent)}")


def _source_directions(sofa, name: str) -> tuple[np.ndarray, np.ndarray]:
    positions = np.atleast_2d(np.asarray(sofa.SourcePosition, dtype=np.float64))
    kind = str(getattr(sofa, "SourcePosition_Type", "spherical")).lower()
    if kind.startswith("cartesian"):
        azimuth, elevation, _ = to_spherical(positions)
    elif kind.startswith("spherical"):
        azimuth, elevation = np.mod(positions[:, 0], 360.0), positions[:, 1]
    else:
        raise BatError(f"{name}: unsupported SourcePosition:Type {kind!r}")
    return np.asarray(azimuth, dtype=np.float64), np.asarray(elevation, dtype=np.float64)


def _receiver_order(sofa) -> str:
    """SOFA puts the left ear first by convention; trust ReceiverPosition where it says otherwise."""
    receivers = np.asarray(getattr(sofa, "ReceiverPosition", np.zeros((2, 3))), dtype=np.float64).reshape(2, -1)
    if receivers.shape[1] >= 2 and receivers[0, 1] < receivers[1, 1]:
        return "right-left"
    return "left-right"


def _trim_common_silence(irs: np.ndarray, threshold: float = 1e-3, guard: int = 8) -> np.ndarray:
    """Drop the leading and trailing samples that are near-silent in every response.

    Relative timing between directions and ears is kept; `guard` samples are left before the
    earliest onset so resampling ringing is not cut.
    """
    envelope = np.abs(irs).max(axis=(0, 1))
    loud = np.flatnonzero(envelope > threshold * envelope.max())
    start = max(int(loud[0]) - guard, 0)
    stop = min(int(loud[-1]) + guard + 1, irs.shape[-1])
    return np.ascontiguousarray(irs[..., start:stop], dtype=np.float32)


def diffuse_field_filters(hrtf: HRTF, n_fft: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spectra (a, b, c) that turn two independent white noises N1, N2 into diffuse binaural noise.

    left = a N1 and right = b N1 + c N2 have, at every frequency, the power of each ear averaged
    over all measured directions and their interaural coherence: the sound of a room's late
    reverberation or of background noise from everywhere at once.
    """
    spectra = np.fft.rfft(hrtf.irs.astype(np.float64), n=n_fft, axis=-1)
    left, right = spectra[:, 0], spectra[:, 1]
    power_left = np.mean(np.abs(left) ** 2, axis=0)
    power_right = np.mean(np.abs(right) ** 2, axis=0)
    cross = np.mean(right * np.conj(left), axis=0)
    a = np.sqrt(power_left)
    b = cross / np.maximum(a, 1e-12)
    c = np.sqrt(np.maximum(power_right - np.abs(b) ** 2, 0.0))
    return a, b, c
