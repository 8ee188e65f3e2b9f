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

Answer records (from `bat ask`) are scored against question records (`qa.jsonl` from `bat simulate`):

- An answer finds its question by `question_id` when it has one that the references hold; otherwise
  by audio path (as above, relative to the question file's folder) and question text (case and
  spacing aside). An answer without a question, or a second answer to one, is an error.
- A question that no answer names counts as answered wrong.
- Class names are looked up in the reference answers and in `labels.txt` beside the question file.

When either side is DCASE SELD CSV (a .csv file, or a folder of them: batcli.formats.dcase), both sides
are cut into 100-ms frames and each frame is a clip for the scores above; recordings pair by name (the
CSV file's, the audio file's without extension), and the DCASE 2024 scores (metrics.seld_metrics) come
beside ours under "dcase". SpatialSoundQA question files (batcli.formats.spatialsoundqa) are read as
question records.

The metrics (batcli.metrics.localization_report or answer_report) are returned, rounded, and shown as
tables on stderr.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from .errors import BatError
from .formats.dcase import Frames, is_dcase, read_classes, read_recordings, recording_name, record_frames, scene_frames
from .formats.spatialsoundqa import read_records
from .metrics import (
    GROUPS,
    HEADLINE_KEYS,
    QUESTION_TYPES,
    answer_report,
    front_calls,
    front_reliability,
    localization_report,
    score_answer,
    seld_metrics,
    sources_in_window,
)
from .progress import stderr
from .records import read_jsonl

DECIMALS = 4

REFERENCE_KEYS = ("label", "azimuth_deg", "elevation_deg", "distance_m")
PREDICTION_KEYS = ("label", "score", "azimuth_deg", "elevation_deg", "distance_m")


class Referenced:
    """A reference found by audio path (AudioIndex)."""

    audio: str  # as written in the reference file
    path: Path  # absolute

    @property
    def tail(self) -> tuple[str, ...]:
        """What a prediction's path must end with when the absolute paths differ."""
        return Path(self.audio).parts


@dataclass
class Scene(Referenced):
    line: int
    audio: str
    path: Path
    sources: list[dict]
    scored: bool = False


@dataclass
class Question:
    line: int
    record: dict
    path: Path  # its audio, absolute
    answer: dict | None = None  # the prediction paired with it
    answer_line: int | None = None


@dataclass
class Recording(Referenced):
    """The questions about one audio file, by question_key()."""

    audio: str
    path: Path
    questions: dict[str, Question]


class AudioIndex:
    """Finds the reference that a prediction's audio path names: the same absolute path (the
    prediction's relative to the current folder), else the reference whose path as written is the end
    of the prediction's (the longest if several)."""

    def __init__(self, references: list[Referenced]):
        self.by_path = {reference.path: reference for reference in references}
        self.by_file_name = defaultdict(list)
        for reference in references:
            self.by_file_name[reference.path.name].append(reference)

    def find(self, audio: str) -> Referenced | None:
        path = Path(audio).resolve()
        return self.by_path.get(path) or _tail_match(path, self.by_file_name[path.name])


def evaluate(pred_path: str, ref_path: str, classes_path: str | None = None, audio_root: str | None = None) -> dict:
    """Score the predictions in `pred_path` (`-`: stdin) against the references in `ref_path`.

    `classes_path` is the class list of DCASE CSV files, and for answers the classes a model may name
    beside the data set's own (an answer naming one is of the kind asked, if wrong) (default, both: the
    shipped encoder's labels);
    `audio_root` the folder that the references' relative audio paths start from (default: the
    reference file's). Prints a table on stderr and returns the metrics (floats rounded to DECIMALS places).
    """
    if is_dcase(pred_path) or is_dcase(ref_path):
        return evaluate_frames(pred_path, ref_path, classes_path)
    references = list(read_records(ref_path))
    if not references:
        raise BatError(f"{ref_path}: no records to score against")
    folder = Path(audio_root) if audio_root else Path(ref_path).parent
    line, first = references[0]
    if "question" in first and "answer" in first:
        labels = read_labels(Path(ref_path).parent / "labels.txt")
        labels += [label for label in class_list(classes_path) if label not in labels]
        questions = load_questions(ref_path, references, labels, folder)
        report = _rounded(answer_report(pair_answers(pred_path, questions), labels))
        for table in answer_tables(report):
            _print_wide(table)
        return report
    if "sources" not in first:
        raise BatError(f"{ref_path}:{line}: expected scene records (with 'sources') or question records")
    pairs = pair_windows(pred_path, load_scenes(ref_path, references, folder))
    report = localization_report(pairs)
    calls = front_calls(pairs)
    if calls:
        report["front_reliability"] = front_reliability(calls)
    report = _rounded(report)
    stderr.print(report_table({group: report[group] for group in ("all", *GROUPS)}))
    if calls:
        stderr.print(reliability_table(report["front_reliability"]))
    return report


def evaluate_frames(pred_path: str, ref_path: str, classes_path: str | None = None) -> dict:
    """Localization scored frame by frame, for DCASE CSV on either side: localization_report over the
    frames that either side has a source in, and seld_metrics under "dcase". Recordings pair by name,
    or whatever their names when each side holds one. A predicted recording without a reference is an
    error; a reference without prediction is missed in full."""
    classes = class_list(classes_path)
    references = read_recordings(ref_path, classes) if is_dcase(ref_path) else scene_recordings(ref_path)
    predictions = read_recordings(pred_path, classes) if is_dcase(pred_path) else prediction_recordings(pred_path)
    if len(references) == len(predictions) == 1:
        predictions = {next(iter(references)): next(iter(predictions.values()))}
    for name in predictions:
        if name not in references:
            raise BatError(f"{pred_path}: no recording '{name}' in the references {ref_path}")
    frames = []
    for name, reference in references.items():
        predicted = predictions.get(name, {})
        for frame in sorted(set(predicted) | set(reference)):
            if predicted.get(frame) or reference.get(frame):
                frames.append((predicted.get(frame, []), reference.get(frame, [])))
    report = localization_report([({"sources": predicted}, reference) for predicted, reference in frames])
    report["dcase"] = seld_metrics(frames)
    report = _rounded(report)
    stderr.print(report_table({group: report[group] for group in ("all", *GROUPS)}))
    stderr.print(dcase_table(report["dcase"]))
    return report


def scene_recordings(ref_path: str) -> dict[str, Frames]:
    """Scene records (scenes.jsonl) as frames of their sources, by recording name."""
    recordings, lines = {}, {}
    for line, record in read_jsonl(ref_path):
        where = f"{ref_path}:{line}"
        name = recording_name(_audio(record, where))
        _sources(record, where, REFERENCE_KEYS)
        if name in recordings:
            raise BatError(f"{where}: recording '{name}' is already the scene at line {lines[name]}")
        recordings[name], lines[name] = scene_frames(record, where), line
    return recordings


def prediction_recordings(pred_path: str) -> dict[str, Frames]:
    """Localization records as frames of their sources, by recording name (windows of one file together)."""
    name = "<stdin>" if pred_path == "-" else pred_path
    windows: dict[str, list[dict]] = {}
    for line, record in read_jsonl(pred_path):
        where = f"{name}:{line}"
        audio = _audio(record, where)
        _sources(record, where, PREDICTION_KEYS)
        if not isinstance(record.get("end_s"), (int, float)):
            raise BatError(f"{where}: needs 'end_s' (a number) to be cut into 100-ms frames")
        windows.setdefault(recording_name(audio), []).append(record)
    return {recording: record_frames(records) for recording, records in windows.items()}


def load_scenes(ref_path: str, references: list[tuple[int, dict]], folder: Path | None = None) -> list[Scene]:
    """The scene records with their audio made absolute against `folder` (default: that of `ref_path`)."""
    folder = folder or Path(ref_path).parent
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
    index = AudioIndex(scenes)
    pairs = []
    for line, prediction in read_jsonl(pred_path):
        where = f"{name}:{line}"
        audio = _audio(prediction, where)
        _sources(prediction, where, PREDICTION_KEYS)
        if not isinstance(prediction.get("class_scores", {}), dict):
            raise BatError(f"{where}: 'class_scores' must map labels to scores")
        scene = index.find(audio)
        if scene is None:
            raise BatError(f"{where}: no scene in the references for audio '{audio}'")
        scene.scored = True
        pairs.append((prediction, sources_in_window(scene.sources, *_span(prediction, "start_s", "end_s"))))
    pairs += [({"audio": scene.audio, "sources": []}, scene.sources) for scene in scenes if not scene.scored]
    return pairs


def class_list(classes_path: str | None) -> list[str]:
    """The class list of `classes_path`, else the shipped encoder's labels."""
    from .encoder.model import shipped_encoder_dir

    return read_classes(classes_path if classes_path is not None else shipped_encoder_dir() / "labels.txt")


def read_labels(path: Path) -> list[str]:
    """The class list of a data set (one a line), or none when the file is not there."""
    if not path.is_file():
        return []
    try:
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise BatError(f"{path}: cannot read ({err})") from None


def question_key(text: str) -> str:
    """Question text as compared between an answer and its question: case and spacing aside."""
    return " ".join(text.casefold().split())


def load_questions(ref_path: str, references: list[tuple[int, dict]], labels: list[str] = (),
                   folder: Path | None = None) -> list[Question]:
    """The question records, checked to be scorable, so that bad ones are named by file and line; their
    audio is made absolute against `folder` (default: that of `ref_path`)."""
    folder = folder or Path(ref_path).parent
    questions, ids, places = [], {}, {}
    for line, record in references:
        where = f"{ref_path}:{line}"
        _audio(record, where)
        if not isinstance(record.get("question"), str):
            raise BatError(f"{where}: no 'question' text")
        try:
            score_answer(None, record, labels)
        except (TypeError, ValueError) as err:
            raise BatError(f"{where}: {err}") from None
        if "question_id" in record:
            key = str(record["question_id"])
            if key in ids:
                raise BatError(f"{where}: question_id '{key}' is already the question at line {ids[key]}")
            ids[key] = line
        place = ((folder / record["audio"]).resolve(), question_key(record["question"]))
        if place in places:
            raise BatError(f"{where}: the same question about '{record['audio']}' is already at line {places[place]}")
        places[place] = line
        questions.append(Question(line, record, place[0]))
    return questions


def pair_answers(pred_path: str, questions: list[Question]) -> list[tuple[dict | None, dict]]:
    """(answer, question record) for every question in order; None for a question no answer names."""
    name = "<stdin>" if pred_path == "-" else pred_path
    by_id = {str(q.record["question_id"]): q for q in questions if "question_id" in q.record}
    recordings: dict[Path, Recording] = {}
    for question in questions:
        recording = recordings.setdefault(question.path, Recording(question.record["audio"], question.path, {}))
        recording.questions[question_key(question.record["question"])] = question
    index = AudioIndex(list(recordings.values()))
    for line, prediction in read_jsonl(pred_path):
        where = f"{name}:{line}"
        if not isinstance(prediction.get("answer"), str):
            raise BatError(f"{where}: no 'answer' text")
        question = by_id.get(str(prediction["question_id"])) if "question_id" in prediction else None
        if question is None:
            question = _question_about(prediction, index, where)
        if question.answer is not None:
            raise BatError(f"{where}: the question at line {question.line} of the references was already answered "
                           f"at line {question.answer_line}")
        question.answer, question.answer_line = prediction, line
    return [(question.answer, question.record) for question in questions]


def _question_about(prediction: dict, index: AudioIndex, where: str) -> Question:
    """The question a prediction without a known question_id answers, by its audio and question text."""
    audio = _audio(prediction, where)
    text = prediction.get("question")
    if not isinstance(text, str):
        raise BatError(f"{where}: no 'question' text")
    recording = index.find(audio)
    question = recording.questions.get(question_key(text)) if recording else None
    if question is None:
        known_id = f"question_id '{prediction['question_id']}' nor " if "question_id" in prediction else ""
        raise BatError(f"{where}: no {known_id}question '{text}' about audio '{audio}' in the references")
    return question


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


def reliability_table(rows: list[dict]) -> Table:
    """The front probability's reliability: predicted against observed share in front, per bin."""
    table = Table(title="front probability: predicted against observed", title_justify="left")
    for column in ("bin", "sources", "predicted", "observed in front"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(f"{row['from']:.1f}-{row['to']:.1f}", str(row["sources"]), _cell(row["predicted"]), _cell(row["observed"]))
    return table


def dcase_table(scores: dict) -> Table:
    table = Table(title="DCASE 2024 (frames of 100 ms)", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for metric, value in scores.items():
        table.add_row(metric, _cell(value))
    return table


def answer_tables(report: dict) -> list[Table]:
    """The answer report as tables: the headline figures; each score (rows) over all questions and per
    question type (columns); the same per answer kind. Groups without questions and rows without any
    value are left out."""
    headline = Table(title="answers: headline", title_justify="left")
    headline.add_column("metric")
    headline.add_column("value", justify="right")
    for key in HEADLINE_KEYS:
        headline.add_row(key, _cell(report[key]))
    metrics = [key for key in report if key not in HEADLINE_KEYS and key not in QUESTION_TYPES and key != "by_kind"]
    by_type = {"all": {key: report[key] for key in metrics}, **{t: report[t] for t in QUESTION_TYPES if report[t]}}
    by_kind = {kind: group for kind, group in report["by_kind"].items() if group}
    return [headline, _matrix("answers by question type", metrics, by_type),
            _matrix("answers by answer kind", metrics, by_kind)]


def _print_wide(table: Table) -> None:
    """Print on stderr; into a file or pipe at the table's full width rather than squeezed to 80 columns."""
    if stderr.is_terminal:
        stderr.print(table)
        return
    width = Measurement.get(stderr, stderr.options.update_width(10_000), table).maximum
    Console(stderr=True, width=max(stderr.width, width)).print(table)


def _matrix(title: str, metrics: list[str], groups: dict[str, dict]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for group in groups:
        table.add_column(group, justify="right")
    for metric in metrics:
        values = [groups[group][metric] for group in groups]
        if any(value is not None for value in values):
            table.add_row(metric, *map(_cell, values))
    return table


def _tail_match(path: Path, candidates: list[Referenced]) -> Referenced | None:
    """The reference whose audio path, as written in its file, is the end of `path` (the longest if several)."""
    matches = [reference for reference in candidates if path.parts[-len(reference.tail) :] == reference.tail]
    return max(matches, key=lambda reference: len(reference.tail), default=None)


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
