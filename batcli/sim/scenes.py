"""One binaural scene: a room, 1-2 sound sources placed around the listener, the rendered mix.

Every random choice comes from the clip's own generator, so a clip depends only on its seed and
index, never on which worker or shard rendered it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.signal import fftconvolve

from ..errors import BatError
from ..geometry import direction_words, great_circle_deg, lateral_gap_deg, to_cartesian
from .hrtf import HRTF
from .library import SoundLibrary
from .rooms import Room, RoomConfig, binaural_response, diffuse_noise, draw_room, move_listener


@dataclass
class SceneConfig:
    two_source_fraction: float = field(default=0.5, metadata={"help": "share of clips with two sources (the rest have one)", "range": (0, 1)})
    azimuth_deg: tuple[float, float] = field(default=(0.0, 360.0), metadata={"help": "source azimuth range (0 front, 90 left)", "range": (0, 360)})
    elevation_deg: tuple[float, float] = field(default=(-40.0, 90.0), metadata={"help": "source elevation range, clipped to the HRTF's measured range", "range": (-90, 90)})
    distance_m: tuple[float, float] = field(default=(0.5, 10.0), metadata={"help": "source distance range from the head centre", "range": (0.1, 100)})
    min_separation_deg: float = field(default=20.0, metadata={"help": "smallest angle between the two sources of a mixture", "range": (0, 180)})
    same_cone_fraction: float = field(default=0.0, metadata={
        "help": "share of mixtures whose second source is on the first one's cone of confusion (lateral angles within "
                "same_cone_deg): the mixtures hardest to count, as both give the same interaural differences", "range": (0, 1)})
    same_cone_deg: float = field(default=10.0, metadata={"help": "largest lateral-angle gap of a same-cone mixture", "range": (0, 90)})
    source_wall_margin_m: float = field(default=0.25, metadata={"help": "smallest distance from a source to any wall", "range": (0, 5)})
    min_event_s: float = field(default=1.0, metadata={"help": "shortest time a source sounds", "range": (0.1, 600)})
    whole_clip_fraction: float = field(default=0.5, metadata={"help": "share of sources that sound for the whole clip", "range": (0, 1)})
    level_db: tuple[float, float] = field(default=(-32.0, -16.0), metadata={"help": "dry source RMS level (dBFS) at 1 m from the head", "range": (-120, 0)})
    noise_fraction: float = field(default=0.5, metadata={"help": "share of clips with diffuse background noise", "range": (0, 1)})
    snr_db: tuple[float, float] = field(default=(5.0, 40.0), metadata={"help": "signal-to-noise ratio of that noise", "range": (-20, 100)})


@dataclass
class Source:
    label: str
    position_m: np.ndarray  # room coordinates
    azimuth_deg: float
    elevation_deg: float
    distance_m: float
    onset_s: float
    offset_s: float
    level_db: float
    sound: dict

    def record(self) -> dict:
        return {
            "label": self.label,
            "azimuth_deg": round(self.azimuth_deg, 3),
            "elevation_deg": round(self.elevation_deg, 3),
            "distance_m": round(self.distance_m, 4),
            "direction": direction_words(self.azimuth_deg, self.elevation_deg),
            "onset_s": round(self.onset_s, 4),
            "offset_s": round(self.offset_s, 4),
            "level_db": round(self.level_db, 2),
            "position_m": [round(float(v), 4) for v in self.position_m],
            "sound": self.sound,
        }


def render_scene(
    rng: np.random.Generator,
    library: SoundLibrary,
    hrtf: HRTF,
    room_config: RoomConfig,
    config: SceneConfig,
    sample_rate: int,
    duration_s: float,
) -> tuple[np.ndarray, dict]:
    """Draw and render one scene: (2, samples) float32 audio and the scene's record fields."""
    num_samples = int(round(duration_s * sample_rate))
    room = draw_room(rng, room_config)
    count = 2 if rng.random() < config.two_source_fraction and len(library.labels) > 1 else 1
    labels = [library.labels[i] for i in rng.choice(len(library.labels), size=count, replace=False)]
    room, placements = place_sources(rng, room, hrtf, room_config, config, count)
    mix = np.zeros((2, num_samples), dtype=np.float64)
    sources = []
    for label, (azimuth, elevation, distance, position) in zip(labels, placements):
        event = draw_event(rng, library, label, config, sample_rate, num_samples)
        add_event(mix, event, binaural_response(room, hrtf, position, rng, room_config.early_ms))
        sources.append(Source(label, position, azimuth, elevation, distance, *event.timing_s(sample_rate), event.level_db, event.sound))
    mix, fields = finish_mix(rng, mix, hrtf, config)
    return mix, {"sources": [s.record() for s in sources], "room": room.record(), **fields}


@dataclass
class Event:
    """One source's dry sound, scaled to its level at 1 m, and when it starts."""

    dry: np.ndarray
    onset: int
    level_db: float
    sound: dict

    def timing_s(self, sample_rate: int) -> tuple[float, float]:
        return self.onset / sample_rate, (self.onset + self.dry.size) / sample_rate


def draw_event(rng: np.random.Generator, library: SoundLibrary, label: str, config: SceneConfig, sample_rate: int, num_samples: int) -> Event:
    onset, length = _timing(rng, config, sample_rate, num_samples)
    signal, sound = library.draw(label, rng, sample_rate, length)
    rms = float(np.sqrt(np.mean(np.square(signal, dtype=np.float64))))
    if rms == 0.0:
        raise BatError(f"{sound.get('path', label)}: the sound is silent")
    level_db = float(rng.uniform(*config.level_db))
    return Event(signal * (10 ** (level_db / 20) / rms), onset, level_db, sound)


def add_event(mix: np.ndarray, event: Event, response: np.ndarray) -> None:
    """Convolve the event with a (2, taps) binaural response and add it to the (2, samples) mix."""
    wet = fftconvolve(event.dry[None, :], response, axes=-1)[:, : mix.shape[1] - event.onset]
    mix[:, event.onset : event.onset + wet.shape[1]] += wet


def finish_mix(rng: np.random.Generator, mix: np.ndarray, hrtf: HRTF, config: SceneConfig) -> tuple[np.ndarray, dict]:
    """Add diffuse background noise to some clips, keep the peak below full scale; float32 audio and record fields."""
    noise = None
    if rng.random() < config.noise_fraction:
        snr_db = float(rng.uniform(*config.snr_db))
        signal_power = float(np.mean(mix**2))
        mix = mix + diffuse_noise(hrtf, rng, mix.shape[1]) * np.sqrt(signal_power / 10 ** (snr_db / 10))
        noise = {"kind": "diffuse", "snr_db": round(snr_db, 2)}
    mix, gain_db = limit_peak(mix)
    return mix.astype(np.float32), {"noise": noise, "gain_db": round(gain_db, 3)}


def limit_peak(mix: np.ndarray) -> tuple[np.ndarray, float]:
    """The mix turned down, where needed, so its peak stays at 0.99 of full scale, and the gain in dB."""
    peak = float(np.abs(mix).max())
    gain_db = 0.0 if peak <= 0.99 else 20 * np.log10(0.99 / peak)
    return mix * 10 ** (gain_db / 20), gain_db


def wants_same_cone(rng: np.random.Generator, config: SceneConfig, count: int) -> bool:
    """Whether a scene's second source goes on the first one's cone of confusion (scene.same_cone_fraction);
    drawn only when asked for, so that every other config's scenes stay what they were."""
    return count > 1 and config.same_cone_fraction > 0 and rng.random() < config.same_cone_fraction


def place_sources(rng, room: Room, hrtf: HRTF, room_config: RoomConfig, config: SceneConfig, count: int, tries: int = 200):
    """Directions and distances of `count` sources, each inside the room (in a free field: anywhere),
    away from the walls and at least `min_separation_deg` apart (the second one, in `same_cone_fraction`
    of mixtures, on the first one's cone of confusion).

    Draws that do not fit are rejected, so long distances are rarer in small rooms; a listener
    position that leaves no room for the sources is replaced by another one.
    Returns the room (with the listener where it ended up) and (azimuth, elevation, distance, position) per source.
    """
    low, high = config.elevation_deg
    sin_low, sin_high = np.sin(np.radians([max(low, hrtf.elevation_range[0]), min(high, hrtf.elevation_range[1])]))
    cone_deg = config.same_cone_deg if wants_same_cone(rng, config, count) else 180.0
    for _ in range(tries):
        placed = []
        for _ in range(tries * count):
            azimuth = float(np.mod(rng.uniform(*config.azimuth_deg), 360.0))
            elevation = float(np.degrees(np.arcsin(rng.uniform(sin_low, sin_high))))  # uniform on the sphere
            distance = float(rng.uniform(*config.distance_m))
            position = room.to_room(to_cartesian(azimuth, elevation, distance))
            fits = room.anechoic or room.contains(position, config.source_wall_margin_m)
            if fits and all(great_circle_deg(azimuth, elevation, a, e) >= config.min_separation_deg
                            and lateral_gap_deg(azimuth, elevation, a, e) <= cone_deg for a, e, _, _ in placed):
                placed.append((azimuth, elevation, distance, position))
                if len(placed) == count:
                    return room, placed
        room = move_listener(rng, room, room_config)
    raise BatError(
        f"could not place {count} source(s) within scene.distance_m {list(config.distance_m)} inside a "
        f"{'x'.join(f'{v:.1f}' for v in room.size_m)} m room; widen room.size_* or shorten the distances"
    )


def _timing(rng, config: SceneConfig, sample_rate: int, num_samples: int) -> tuple[int, int]:
    """Onset and length in samples of one source's event."""
    if rng.random() < config.whole_clip_fraction:
        return 0, num_samples
    shortest = min(int(config.min_event_s * sample_rate), num_samples)
    length = int(rng.integers(shortest, num_samples + 1))
    return int(rng.integers(0, num_samples - length + 1)), length


def render_response(rng: np.random.Generator, hrtf: HRTF, room_config: RoomConfig, config: SceneConfig, room: Room | None = None) -> tuple[np.ndarray, dict]:
    """One room response for the bank: a source position in `room` (default: a random room), (2, taps) float32 BRIR."""
    room, [(azimuth, elevation, distance, position)] = place_sources(rng, room or draw_room(rng, room_config), hrtf, room_config, config, 1)
    response = binaural_response(room, hrtf, position, rng, room_config.early_ms)
    record = {
        "azimuth_deg": round(azimuth, 3),
        "elevation_deg": round(elevation, 3),
        "distance_m": round(distance, 4),
        "direction": direction_words(azimuth, elevation),
        "room": room.record(),
    }
    return response, record
