"""`bat eval`: score predictions against references.

Localization records (from `bat localize`) are scored against scene records (`scenes.jsonl` from
`bat simulate`):

- A prediction finds its scene by audio path: the prediction's path is taken relative to the current
  folder, the scene's relative to the folder of the scene file, and the absolute paths must agree.
  Failing that, a scene matches when the prediction's path ends with the scene's path as written
  (`audio/000123.wav`), so predictions made from another folder still find their scenes.
  A prediction without a scene is an error.
- Each prediction is scored against the scene's sources that sound for at least metrics.MIN_OVERLAP_S of its
  window [start_s, end_s]; a missing start or end (of window or source) is the clip's start or end.
  Several windows of one file are each scored.
- A scene that no prediction names is scored as an empty prediction over the whole clip: all its
  sources are missed (recall, ER20, location recall and F1 suffer; class scores are 0 for mAP).

The metrics (batcli.metrics.localization_report) are returned, rounded, and shown as a table on stderr.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from .errors import BatError
from .metrics import localization_report, sources_in_window
from .progress import stderr
from .records import read_jsonl

DECIMALS = 4

REFERENCE_KEYS = ("label", "azimuth_deg", "elevation_deg", "distance_m")
PREDICTION_KEYS = ("label", "score", "azimuth_deg", "elevation_deg", "distance_m")


@dataclass
class Scene:
    line: int
    audio: str  # as written in the scene file
    path: Path  # absolute
    sources: list[dict]
    scored: bool = False

    @property
    def tail(self) -> tuple[str, ...]:
        """What a prediction's path must end with when the absolute paths differ."""
        return Path(self.audio).parts


def evaluate(pred_path: str, ref_path: str) -> dict:
    """Score the predictions in `pred_path` (`-`: stdin) against the references in `ref_path`.

    Prints a table on stderr and returns the metrics (floats rounded to DECIMALS places).
    """
    references = list(read_jsonl(ref_path))
    if not references:
        raise BatError(f"{ref_path}: no records to score against")
    line, first = references[0]
    if "question" in first and "answer" in first:
        raise BatError(f"{ref_path}: scoring answers to questions is not available yet; give scenes.jsonl")
    if "sources" not in first:
        raise BatError(f"{ref_path}:{line}: expected scene records (with 'sources') or question records")
    pairs = pair_windows(pred_path, load_scenes(ref_path, references))
    report = _rounded(localization_report(pairs))
    stderr.print(report_table(report))
    return report


def load_scenes(ref_path: str, references: list[tuple[int, dict]]) -> list[Scene]:
    """The scene records with their audio made absolute against the folder of `ref_path`."""
    folder = Path(ref_path).parent
    scenes = {}
    for line, record in references:
        where = f"{ref_path}:{line}"
        audio = _audio(record, where)
        scene = Scene(line, audio, (folder / audio).resolve(), _sources(record, where, REFERENCE_KEYS))
        if scene.path in scenes:
            raise BatError(f"{where}: audio '{audio}' is already the scene at line {scenes[scene.path].line}")
        scenes[scene.path] = scene
    return list(scenes.values())


def pair_windows(pred_path: str, scenes: list[Scene]) -> list[tuple[dict, list[dict]]]:
    """(prediction, scene sources sounding in its window) for every prediction, then
    (empty prediction, all sources) for every scene that no prediction names."""
    name = "<stdin>" if pred_path == "-" else pred_path
    by_path = {scene.path: scene for scene in scenes}
    by_file_name = defaultdict(list)
    for scene in scenes:
        by_file_name[scene.path.name].append(scene)
    pairs = []
    for line, prediction in read_jsonl(pred_path):
        where = f"{name}:{line}"
        audio = _audio(prediction, where)
        _sources(prediction, where, PREDICTION_KEYS)
        if not isinstance(prediction.get("class_scores", {}), dict):
            raise BatError(f"{where}: 'class_scores' must map labels to scores")
        path = Path(audio).resolve()
        scene = by_path.get(path) or _tail_match(path, by_file_name[path.name])
        if scene is None:
            raise BatError(f"{where}: no scene in the references for audio '{audio}'")
        scene.scored = True
        pairs.append((prediction, sources_in_window(scene.sources, *_span(prediction, "start_s", "end_s"))))
    pairs += [({"audio": scene.audio, "sources": []}, scene.sources) for scene in scenes if not scene.scored]
    return pairs


def report_table(report: dict) -> Table:
    """The report as a table: one row per metric, one column per group."""
    groups = list(report)
    table = Table(title="localization", title_justify="left")
    table.add_column("metric")
    for group in groups:
        table.add_column(group, justify="right")
    for metric in report["all"]:
        table.add_row(metric, *(_cell(None if report[group] is None else report[group][metric]) for group in groups))
    return table


def _tail_match(path: Path, candidates: list[Scene]) -> Scene | None:
    """The scene whose audio path, as written in the scene file, is the end of `path` (the longest if several)."""
    matches = [scene for scene in candidates if path.parts[-len(scene.tail) :] == scene.tail]
    return max(matches, key=lambda scene: len(scene.tail), default=None)


def _audio(record: dict, where: str) -> str:
    if not isinstance(record.get("audio"), str):
        raise BatError(f"{where}: no 'audio' path")
    return record["audio"]


def _sources(record: dict, where: str, keys: tuple[str, ...]) -> list[dict]:
    """The record's sources, checked to hold what scoring reads, so bad data is named by file and line."""
    sources = record.get("sources")
    if not isinstance(sources, list):
        raise BatError(f"{where}: no 'sources' list")
    for number, source in enumerate(sources, start=1):
        for key in keys:
            kind = str if key == "label" else (int, float)
            if not isinstance(source, dict) or not isinstance(source.get(key), kind):
                raise BatError(f"{where}: source {number} needs '{key}' ({'text' if kind is str else 'a number'})")
    return sources


def _span(record: dict, start_key: str, end_key: str) -> tuple[float, float]:
    """A time span; a missing start or end is the start or end of the clip."""
    start, end = record.get(start_key), record.get(end_key)
    return (0.0 if start is None else start, math.inf if end is None else end)


def _rounded(value):
    if isinstance(value, float):
        return round(value, DECIMALS)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    return value


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.{DECIMALS}f}" if isinstance(value, float) else str(value)
