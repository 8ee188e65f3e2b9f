"""The head frame and the words for directions in it.

Listener-centred, head-fixed, right-handed: x front, y left, z up (SOFA / AES69).
Azimuth is counter-clockwise from the front seen from above (0 front, 90 left, 180 behind,
270 right), elevation is positive up, distance is from the head centre.
"""

from __future__ import annotations

import numpy as np

SPEED_OF_SOUND_M_S = 343.0

# A direction word (left/right, front/behind, above/below) is only said when the direction is
# more than this many degrees away from the plane that separates the word from its opposite.
DIRECTION_MARGIN_DEG = 10.0


def wrap_azimuth(azimuth_deg):
    """Azimuth folded into [0, 360)."""
    wrapped = np.mod(np.asarray(azimuth_deg, dtype=np.float64), 360.0)
    wrapped = np.where(wrapped >= 360.0, 0.0, wrapped)  # -1e-17 % 360 rounds to 360.0
    return wrapped if wrapped.ndim else float(wrapped)


def unit_vector(azimuth_deg, elevation_deg) -> np.ndarray:
    """Unit vectors (..., 3) in the head frame for the given directions."""
    az = np.radians(np.asarray(azimuth_deg, dtype=np.float64))
    el = np.radians(np.asarray(elevation_deg, dtype=np.float64))
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


def to_cartesian(azimuth_deg, elevation_deg, distance_m) -> np.ndarray:
    """Positions (..., 3) in metres in the head frame."""
    return unit_vector(azimuth_deg, elevation_deg) * np.asarray(distance_m, dtype=np.float64)[..., None]


def to_spherical(xyz) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Azimuth in [0, 360), elevation in [-90, 90] and distance of head-frame positions (..., 3)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    distance = np.sqrt(x * x + y * y + z * z)
    azimuth = wrap_azimuth(np.degrees(np.arctan2(y, x)))
    elevation = np.degrees(np.arctan2(z, np.hypot(x, y)))
    return azimuth, elevation, distance


def plane_angles(azimuth_deg, elevation_deg) -> tuple[float, float, float]:
    """Signed angles (deg) of a direction from the median, frontal and horizontal planes.

    Positive means left, front and above respectively; 0 means on the plane.
    """
    x, y, z = unit_vector(azimuth_deg, elevation_deg)
    clip = lambda v: float(np.degrees(np.arcsin(np.clip(v, -1.0, 1.0))))  # noqa: E731
    return clip(y), clip(x), clip(z)


def lateral_gap_deg(azimuth1_deg, elevation1_deg, azimuth2_deg, elevation2_deg) -> float:
    """How far apart two directions are in lateral angle (deg): 0 when both lie on one cone of confusion."""
    return abs(plane_angles(azimuth1_deg, elevation1_deg)[0] - plane_angles(azimuth2_deg, elevation2_deg)[0])


def direction_words(azimuth_deg: float, elevation_deg: float, margin_deg: float = DIRECTION_MARGIN_DEG, front_back: bool = True) -> str:
    """Words for a direction: left/right, front/behind, above/below, in that order.

    A word is left out when the direction lies within `margin_deg` of the plane that separates
    it from its opposite, so a source straight ahead at ear height is just "front". `front_back`
    False leaves front/behind out (the listener could not tell them apart).
    """
    lateral, frontal, vertical = plane_angles(azimuth_deg, elevation_deg)
    words = []
    for angle, positive, negative in ((lateral, "left", "right"), (frontal, "front", "behind"), (vertical, "above", "below")):
        if abs(angle) > margin_deg and (front_back or positive != "front"):
            words.append(positive if angle > 0 else negative)
    return ", ".join(words)


def great_circle_deg(azimuth1_deg, elevation1_deg, azimuth2_deg, elevation2_deg):
    """Angle in degrees between two directions along the great circle through them."""
    u = unit_vector(azimuth1_deg, elevation1_deg)
    v = unit_vector(azimuth2_deg, elevation2_deg)
    cross = np.linalg.norm(np.cross(u, v), axis=-1)
    dot = np.sum(u * v, axis=-1)
    return np.degrees(np.arctan2(cross, dot))
