"""Shoebox rooms and their binaural room impulse responses (BRIRs).

Early part: pyroomacoustics' image-source model gives every reflection path up to `early_ms`
after the direct sound; each path arrives with its own delay (distance / speed of sound), 1/r
spreading, wall absorption, and the HRIR of its own direction in the head frame.
Late part: where the image order is cut, a statistical tail takes over: binaural noise with the
HRTF set's diffuse-field spectrum and interaural coherence, at the energy the image sources would
have (4 pi c / V per second, decaying by 60 dB per RT60). Absorption is derived from the drawn
RT60 with Eyring's formula, which matches the decay of the image-source model in a shoebox.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
import scipy.fft

from ..geometry import SPEED_OF_SOUND_M_S
from .hrtf import HRTF, diffuse_field_filters

WALLS = ("west", "east", "south", "north", "floor", "ceiling")  # x=0, x=Lx, y=0, y=Ly, z=0, z=Lz


@dataclass
class RoomConfig:
    anechoic_fraction: float = field(default=0.1, metadata={"help": "share of clips rendered without a room (free field)", "range": (0, 1)})
    size_min_m: tuple[float, float, float] = field(default=(3.0, 3.0, 2.5), metadata={"help": "smallest room (length, width, height)", "range": (1.5, 100)})
    size_max_m: tuple[float, float, float] = field(default=(16.0, 12.0, 5.0), metadata={"help": "largest room (length, width, height)", "range": (1.5, 100)})
    rt60_s: tuple[float, float] = field(default=(0.2, 1.0), metadata={"help": "reverberation time range, drawn uniformly", "range": (0.05, 5.0)})
    absorption_spread: float = field(default=0.3, metadata={"help": "relative spread of absorption between walls around the RT60's mean", "range": (0, 0.9)})
    head_height_m: tuple[float, float] = field(default=(1.1, 1.8), metadata={"help": "listener ear height range", "range": (0.3, 3.0)})
    wall_margin_m: float = field(default=0.5, metadata={"help": "smallest distance from the listener to any wall", "range": (0.1, 5.0)})
    early_ms: float = field(default=80.0, metadata={"help": "image sources up to this long after the direct sound; a statistical tail after", "range": (0, 500)})


@dataclass
class Room:
    size_m: np.ndarray  # (3,) length (x), width (y), height (z)
    absorption: np.ndarray  # (6,) energy absorption of WALLS
    rt60_s: float  # Eyring reverberation time of that absorption
    listener_m: np.ndarray  # (3,) ear-centre position in room coordinates
    listener_yaw_deg: float  # the head's front, counter-clockwise from the room's x axis
    anechoic: bool

    def to_head(self, points_m: np.ndarray) -> np.ndarray:
        """Room coordinates (..., 3) to the head frame (x front, y left, z up)."""
        yaw = np.radians(self.listener_yaw_deg)
        c, s = np.cos(yaw), np.sin(yaw)
        d = np.asarray(points_m, dtype=np.float64) - self.listener_m
        return np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1], d[..., 2]], axis=-1)

    def to_room(self, head_m: np.ndarray) -> np.ndarray:
        """Head-frame positions (..., 3) to room coordinates."""
        yaw = np.radians(self.listener_yaw_deg)
        c, s = np.cos(yaw), np.sin(yaw)
        h = np.asarray(head_m, dtype=np.float64)
        return self.listener_m + np.stack([c * h[..., 0] - s * h[..., 1], s * h[..., 0] + c * h[..., 1], h[..., 2]], axis=-1)

    def contains(self, point_m: np.ndarray, margin_m: float) -> bool:
        return bool(np.all(point_m >= margin_m) and np.all(point_m <= self.size_m - margin_m))

    def record(self) -> dict:
        if self.anechoic:
            return {"anechoic": True, "listener_yaw_deg": round(self.listener_yaw_deg, 3), "listener_m": _rounded(self.listener_m)}
        return {
            "anechoic": False,
            "size_m": _rounded(self.size_m),
            "rt60_s": round(self.rt60_s, 4),
            "absorption": dict(zip(WALLS, _rounded(self.absorption))),
            "listener_m": _rounded(self.listener_m),
            "listener_yaw_deg": round(self.listener_yaw_deg, 3),
        }


def eyring_absorption(size_m: np.ndarray, rt60_s: float) -> float:
    """Mean energy absorption that gives `rt60_s` by Eyring's formula T = 0.161 V / (-S ln(1 - a))."""
    volume, surface = _volume_surface(size_m)
    return float(1.0 - np.exp(-0.161 * volume / (surface * rt60_s)))


def eyring_rt60(size_m: np.ndarray, absorption: np.ndarray) -> float:
    volume, surface = _volume_surface(size_m)
    mean = float(np.dot(_wall_areas(size_m), absorption) / surface)
    return 0.161 * volume / (-surface * np.log1p(-mean))


def draw_room(rng: np.random.Generator, config: RoomConfig) -> Room:
    anechoic = bool(rng.random() < config.anechoic_fraction)
    size = rng.uniform(config.size_min_m, np.maximum(config.size_max_m, config.size_min_m))
    target_rt60 = rng.uniform(*config.rt60_s)
    mean = min(eyring_absorption(size, target_rt60), 0.95)
    spread = rng.uniform(-config.absorption_spread, config.absorption_spread, size=6)
    areas = _wall_areas(size)
    # Vary walls around the mean, then rescale so the area-weighted mean (and so the RT60) is kept.
    absorption = np.clip(mean * (1.0 + spread), 0.01, 0.99)
    absorption = np.clip(absorption * mean / (np.dot(areas, absorption) / areas.sum()), 0.01, 0.99)
    room = Room(size, absorption, eyring_rt60(size, absorption), np.zeros(3), 0.0, anechoic)
    return move_listener(rng, room, config)


def move_listener(rng: np.random.Generator, room: Room, config: RoomConfig) -> Room:
    """The same room with the listener at a new random place (away from the walls) and heading."""
    size = room.size_m
    margin = np.minimum(config.wall_margin_m, size / 2 - 0.05)
    listener = rng.uniform(margin, size - margin)
    listener[2] = np.clip(rng.uniform(*config.head_height_m), margin[2], size[2] - margin[2])
    return replace(room, listener_m=listener, listener_yaw_deg=float(rng.uniform(0.0, 360.0)))


def binaural_response(
    room: Room, hrtf: HRTF, source_m: np.ndarray, rng: np.random.Generator, early_ms: float
) -> np.ndarray:
    """BRIR (2, taps) float32 from a source at `source_m` (room coordinates) to the listener's ears.

    Time zero is the moment the source emits; gains are 1/r with r in metres, so a direct path of
    1 m has the HRIR's own gain.
    """
    fs = hrtf.sample_rate
    direct_m = float(np.linalg.norm(source_m - room.listener_m))
    if room.anechoic:
        images, damping = source_m[None, :], np.ones(1)
    else:
        images, damping = _image_sources(room, source_m, fs, reach_m=direct_m + SPEED_OF_SOUND_M_S * early_ms / 1000)
    paths = room.to_head(images)
    path_m = np.maximum(np.linalg.norm(paths, axis=-1), 0.1)
    delays = np.rint(path_m / SPEED_OF_SOUND_M_S * fs).astype(np.int64)
    gains = damping / path_m
    which = hrtf.nearest(paths)
    taps = hrtf.irs.shape[-1]
    early_end = int(delays.max()) + taps
    tail_start_s = direct_m / SPEED_OF_SOUND_M_S + early_ms / 1000
    length = early_end if room.anechoic else max(early_end, int((tail_start_s + 1.1 * room.rt60_s) * fs))
    response = np.zeros((2, length), dtype=np.float64)
    for delay, gain, index in zip(delays, gains, which):
        response[:, delay : delay + taps] += gain * hrtf.irs[index]
    if not room.anechoic:
        response += _late_tail(room, hrtf, rng, length, tail_start_s)
    return response.astype(np.float32)


def diffuse_noise(hrtf: HRTF, rng: np.random.Generator, num_samples: int) -> np.ndarray:
    """(2, num_samples) noise arriving from all directions at once, with unit mean power per ear."""
    noise = _shaped_diffuse_noise(hrtf, rng, num_samples)
    return noise / np.sqrt(np.mean(noise**2))


def _image_sources(room: Room, source_m: np.ndarray, fs: int, reach_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Image positions (K, 3) and amplitude damping (K,) of all paths no longer than `reach_m`."""
    import pyroomacoustics as pra

    order = int(np.ceil(reach_m / room.size_m.min())) + 1
    materials = {wall: pra.Material(float(a)) for wall, a in zip(WALLS, room.absorption)}
    shoebox = pra.ShoeBox(room.size_m, fs=fs, materials=materials, max_order=order, air_absorption=False)
    shoebox.add_source(source_m)
    shoebox.add_microphone(room.listener_m)
    shoebox.image_source_model()
    source = shoebox.sources[0]
    images = source.images.T
    keep = np.linalg.norm(images - room.listener_m, axis=-1) <= reach_m
    return images[keep], source.damping[0][keep]


def _late_tail(room: Room, hrtf: HRTF, rng: np.random.Generator, length: int, start_s: float) -> np.ndarray:
    """Diffuse binaural noise from `start_s` on, at the image-source model's energy density.

    Reflections of order n arrive at a rate of 4 pi c^3 t^2 / V, each with energy (1/ct)^2 times
    the wall losses, so the reverberant energy per second is 4 pi c / V times the decay.
    """
    fs = hrtf.sample_rate
    volume, _ = _volume_surface(room.size_m)
    t = np.arange(length) / fs
    level = np.sqrt(4 * np.pi * SPEED_OF_SOUND_M_S / (volume * fs)) * np.exp(-6.9078 * t / room.rt60_s)
    fade_in = np.clip((t - start_s) / 0.005, 0.0, 1.0)
    return _shaped_diffuse_noise(hrtf, rng, length) * level * fade_in


def _shaped_diffuse_noise(hrtf: HRTF, rng: np.random.Generator, num_samples: int) -> np.ndarray:
    """White noise through the diffuse-field filters: per-sample power is the direction-averaged HRIR energy."""
    return scipy.fft.irfft(diffuse_noise_spectrum(hrtf, rng, num_samples), n=num_samples, axis=-1)


def diffuse_noise_spectrum(hrtf: HRTF, rng: np.random.Generator, num_samples: int) -> np.ndarray:
    """The (2, num_samples // 2 + 1) spectrum of `num_samples` of diffuse binaural noise (circular).

    Made in the frequency domain: the spectrum of white Gaussian noise is itself white complex
    Gaussian noise, so drawing it there and shaping it is the same as filtering white noise
    (circularly), at the cost of the inverse FFTs.
    """
    a, b, c = _diffuse_spectra(hrtf, num_samples)
    white = rng.standard_normal((2, 2, a.size)) * np.sqrt(num_samples / 2)
    n1, n2 = white[:, 0] + 1j * white[:, 1]
    return np.stack([a * n1, b * n1 + c * n2])


@lru_cache(maxsize=8)
def _diffuse_spectra(hrtf: HRTF, num_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The diffuse-field filters at the frequency resolution of a `num_samples` signal."""
    return tuple(scipy.fft.rfft(kernel, n=num_samples) for kernel in _diffuse_kernels(hrtf))


@lru_cache(maxsize=4)
def _diffuse_kernels(hrtf: HRTF) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The diffuse-field filters as centred time-domain kernels."""
    n_fft = 2 * hrtf.irs.shape[-1]
    a, b, c = diffuse_field_filters(hrtf, n_fft)
    return tuple(np.roll(np.fft.irfft(spectrum, n=n_fft), n_fft // 2) for spectrum in (a, b, c))


def _wall_areas(size_m: np.ndarray) -> np.ndarray:
    lx, ly, lz = size_m
    return np.array([ly * lz, ly * lz, lx * lz, lx * lz, lx * ly, lx * ly])


def _volume_surface(size_m: np.ndarray) -> tuple[float, float]:
    return float(np.prod(size_m)), float(_wall_areas(size_m).sum())


def _rounded(values: np.ndarray, digits: int = 4) -> list[float]:
    return [round(float(v), digits) for v in values]
