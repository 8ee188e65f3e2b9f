"""DCASE SELD metadata CSV, the layout of the DCASE 2024 task 3 data set (STARSS23) and its baseline.

One file per recording, named after it (`fold4_room23_mix001.csv` for `fold4_room23_mix001.wav`), no
header, one line per active source per frame:

    frame, class index, source index, azimuth (deg), elevation (deg), distance (cm)

Frames are 100 ms long and count from 0; a frame without sources has no line. DCASE's azimuth is 0 at
the front and grows counter-clockwise (90 is the left) in [-180, 180]: our head frame's angle, written
in another range, so 90 (left) stays 90 and our 270 (right) is -90. Elevation is the same. Angles and
distances are written as whole degrees and centimetres, as the data set's metadata is. The class index
is the label's position in a class list (by default the encoder's labels.txt order), and the source index
is the source's rank in its frame (0 for the most likely). docs/formats.md has the details.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Iterator
from itertools import groupby
from pathlib import Path

from ..errors import BatError, UsageError
from ..geometry import wrap_azimuth
from ..records import atomic_write

FRAME_S = 0.1

Frames = dict[int, list[dict]]  # frame index -> sources (label, score, azimuth_deg, elevation_deg, distance_m)


def is_dcase(path: str) -> bool:
    """Whether `path` names DCASE CSV: a .csv file, or a folder of them."""
    return path != "-" and (path.lower().endswith(".csv") or Path(path).is_dir())


def recording_name(audio: str) -> str:
    """The name that pairs a recording with its CSV file: the file name without its extension."""
    return Path(audio).stem


def to_dcase_azimuth(azimuth_deg: float) -> float:
    """Our azimuth in [0, 360) as DCASE's, in [-180, 180): the same angle, counter-clockwise from the front."""
    return (azimuth_deg + 180.0) % 360.0 - 180.0


def _frames_between(start_s: float, end_s: float) -> range:
    """The frames whose centre lies in [start_s, end_s)."""
    return range(math.ceil(start_s / FRAME_S - 0.5), math.ceil(end_s / FRAME_S - 0.5))


def record_frames(records: Iterable[dict]) -> Frames:
    """The frames that the localization records of one recording cover, each with the sources of the
    record whose window centre is nearest the frame's centre (so overlapping windows give each frame
    one answer; the earlier window on a tie)."""
    nearest: dict[int, tuple[float, list[dict]]] = {}
    for record in records:
        start, end = record.get("start_s") or 0.0, record["end_s"]
        middle = (start + end) / 2
        for frame in _frames_between(start, end):
            offset = abs((frame + 0.5) * FRAME_S - middle)
            if frame not in nearest or offset < nearest[frame][0] - 1e-9:
                nearest[frame] = (offset, record["sources"])
    return {frame: nearest[frame][1] for frame in sorted(nearest)}


def scene_frames(scene: dict, where: str) -> Frames:
    """The frames of a scene record in which each source sounds (its onset_s to offset_s; without them,
    from the clip's start to its `duration_s`)."""
    frames: Frames = {}
    for number, source in enumerate(scene["sources"], start=1):
        onset = source.get("onset_s") or 0.0
        offset = source.get("offset_s", scene.get("duration_s"))
        if not isinstance(offset, (int, float)):
            raise BatError(f"{where}: source {number} needs 'offset_s', or the scene 'duration_s', "
                           "to be cut into frames")
        for frame in _frames_between(onset, offset):
            frames.setdefault(frame, []).append(source)
    return {frame: frames[frame] for frame in sorted(frames)}


def csv_lines(frames: Frames, classes: list[str], name: str) -> Iterator[str]:
    """The lines of a recording's CSV file (with newlines); a label without a class index is an error."""
    index = {label: number for number, label in enumerate(classes)}
    for frame in sorted(frames):
        for track, source in enumerate(frames[frame]):
            if source["label"] not in index:
                raise BatError(f"{name}: label '{source['label']}' is not in the class list; "
                               "give --classes FILE with it")
            fields = (frame, index[source["label"]], track, round(to_dcase_azimuth(source["azimuth_deg"])),
                      round(source["elevation_deg"]), round(source["distance_m"] * 100))
            yield ",".join(str(int(field)) for field in fields) + "\n"


def read_csv(path: str | Path, classes: list[str]) -> Frames:
    """A recording's CSV file as frames of sources (score 1: the file holds none). Bad lines are errors
    that name the file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BatError(f"{path}: cannot read ({getattr(err, 'strerror', None) or err})") from None
    frames: Frames = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(",")
        where = f"{path}:{number}"
        if len(fields) != 6:
            raise BatError(f"{where}: expected 6 fields (frame, class, source, azimuth, elevation, distance in cm), "
                           f"got {len(fields)}")
        try:
            frame, class_index, _source_index = (int(field) for field in fields[:3])  # the source index is not scored
            azimuth, elevation, distance_cm = (float(field) for field in fields[3:])
        except ValueError:
            raise BatError(f"{where}: frame, class and source must be whole numbers, the rest numbers") from None
        if frame < 0 or not 0 <= class_index < len(classes):
            raise BatError(f"{where}: frame {frame} or class {class_index} out of range "
                           f"(the class list has {len(classes)} classes; give --classes FILE)")
        if not (-180 <= azimuth <= 360 and -90 <= elevation <= 90 and distance_cm >= 0):
            raise BatError(f"{where}: expected azimuth in [-180, 180] (or [0, 360]), elevation in [-90, 90], "
                           "distance >= 0")
        frames.setdefault(frame, []).append({"label": classes[class_index], "score": 1.0,
                                             "azimuth_deg": wrap_azimuth(azimuth), "elevation_deg": elevation,
                                             "distance_m": distance_cm / 100})
    return {frame: frames[frame] for frame in sorted(frames)}


def read_recordings(path: str, classes: list[str]) -> dict[str, Frames]:
    """A CSV file, or every .csv file in a folder, by recording name."""
    files = sorted(Path(path).glob("*.csv")) if Path(path).is_dir() else [Path(path)]
    if not files:
        raise BatError(f"{path}: no .csv files in this folder")
    return {file.stem: read_csv(file, classes) for file in files}


def read_classes(path: str | Path) -> list[str]:
    """A class list: one label a line, the line's position (from 0) its class index."""
    try:
        labels = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise BatError(f"{path}: cannot read the class list ({getattr(err, 'strerror', None) or err})") from None
    if not labels:
        raise BatError(f"{path}: the class list is empty")
    return labels


def write_recordings(records: Iterable[dict], classes: list[str], destination: Path | None) -> int:
    """Write localization records as DCASE CSV, one file per recording: on stdout or into FILE.csv when
    there is one recording, else into DESTINATION/NAME.csv (the folder is created). Returns the count."""
    folder = destination is not None and destination.suffix.lower() != ".csv"
    if folder:
        destination.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    for audio, windows in groupby(records, key=lambda record: record["audio"]):
        name = recording_name(audio)
        if written and not folder:
            raise UsageError("--format dcase writes one recording to stdout or FILE.csv; give -o DIR for several")
        if name in written:
            raise BatError(f"{audio}: another recording, {written[name]}, already gave {name}.csv")
        lines = csv_lines(record_frames(windows), classes, audio)
        if destination is None:
            sys.stdout.writelines(lines)
            sys.stdout.flush()
        else:
            with atomic_write(destination / f"{name}.csv" if folder else destination) as stream:
                stream.writelines(lines)
        written[name] = audio
    return len(written)
