"""Where the dry sounds of a scene come from: the built-in procedural library or the user's own.

The user's labelled sounds can be
- a folder with one sub-folder per class (`dog/0001.wav`, `rain/a.flac`, ...),
- a CSV with a file column (`filename`, `fname`, `file` or `path`) and a label column
  (`category`, `label` or `labels`; several labels separated by commas), as ESC-50's
  `meta/esc50.csv` or FSD50K's `ground_truth/dev.csv`; files are looked up beside the CSV, in
  `../audio`, or in a sibling folder whose name contains `audio` (or in `audio_dir`),
- a JSONL manifest of `{"path": ..., "labels": [...]}` records, paths relative to the manifest.
Files are split between the train and test sets by a stable hash of their path, so a test set
never hears a recording that training heard. Several libraries, comma-separated, are pooled: a class
both hold is drawn from either, half the time each.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import soundfile

from ..audio import load_audio
from ..errors import BatError
from ..records import read_jsonl
from . import sounds

PROCEDURAL = "procedural"
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"}


@dataclass
class SoundConfig:
    library: str = field(default=PROCEDURAL, metadata={"help": "'procedural' (built in), or a class-folder root, CSV or JSONL manifest of labelled sounds; "
                                                               "several, comma-separated, are pooled (procedural,build/sounds/recorded.jsonl)"})
    audio_dir: Optional[str] = field(default=None, metadata={"help": "where a CSV's files are, if not found beside it"})
    classes: list[str] = field(default_factory=list, metadata={"help": "keep only these classes (empty: all)"})
    test_fraction: float = field(default=0.2, metadata={"help": "share of a user library's files kept for the test split", "range": (0, 1)})


@dataclass
class SoundLibrary:
    labels: list[str]
    files: dict[str, list[tuple[Path, list[str]]]]  # label -> (file, all its labels)
    procedural: set[str] = field(default_factory=set)  # labels the built-in library synthesizes

    def draw(self, label: str, rng: np.random.Generator, sample_rate: int, num_samples: int) -> tuple[np.ndarray, dict]:
        """A mono sound of class `label`, at most `num_samples` long, and a description of it.

        Procedural sounds fill `num_samples`; a recording shorter than that is returned whole
        (its leading and trailing silence trimmed), a longer one as a random excerpt.
        """
        files = self.files.get(label, [])
        if label in self.procedural and (not files or rng.random() < 0.5):
            return sounds.synthesize(label, rng, sample_rate, num_samples), {"library": PROCEDURAL}
        path, labels = files[rng.integers(len(files))]
        audio, _ = load_audio(path, sample_rate)
        signal = _trim_silence(audio.mean(axis=0))
        if signal.size > num_samples:
            start = int(rng.integers(signal.size - num_samples + 1))
            signal = signal[start : start + num_samples]
        return signal.astype(np.float32), {"library": "file", "path": str(path), "labels": labels}


def load_library(config: SoundConfig, split: Literal["train", "test"]) -> SoundLibrary:
    """Index the configured sounds for one split (several libraries pooled); errors name the file and
    what is wrong."""
    parts = [part.strip() for part in config.library.split(",") if part.strip()]
    if not parts:
        raise BatError("sounds.library is empty (expected 'procedural', a folder, a .csv or a .jsonl)")
    procedural: set[str] = set()
    files: dict[str, list[tuple[Path, list[str]]]] = {}
    for part in parts:
        if part == PROCEDURAL:
            procedural = set(sounds.CLASSES)
        else:
            for label, entries in _load_files(Path(part), config, split).items():
                files.setdefault(label, []).extend(entries)
    if config.classes:
        if parts == [PROCEDURAL] and set(config.classes) - procedural:
            unknown = sorted(set(config.classes) - procedural)
            raise BatError(f"sounds.classes: unknown procedural classes {unknown}; known: {', '.join(sounds.CLASSES)}")
        procedural &= set(config.classes)
    labels = [c for c in sounds.CLASSES if c in procedural] + sorted(set(files) - procedural)
    return SoundLibrary(labels=labels, files=files, procedural=procedural)


def _load_files(source: Path, config: SoundConfig, split: str) -> dict[str, list[tuple[Path, list[str]]]]:
    """label -> (file, its labels) of one file library, for one split."""
    if source.is_dir():
        entries = _scan_class_folders(source)
    elif source.suffix.lower() == ".csv" and source.is_file():
        entries = _read_csv(source, Path(config.audio_dir) if config.audio_dir else None)
    elif source.suffix.lower() in (".jsonl", ".json") and source.is_file():
        entries = _read_manifest(source)
    elif not source.exists():
        raise BatError(f"{source}: sound library not found (expected 'procedural', a folder, a .csv or a .jsonl)")
    else:
        raise BatError(f"{source}: not a sound library (expected a folder of class folders, a .csv or a .jsonl)")
    files: dict[str, list[tuple[Path, list[str]]]] = {}
    for path, labels in entries:
        if _split_of(path, config.test_fraction) == split and (not config.classes or labels[0] in config.classes):
            files.setdefault(labels[0], []).append((path, labels))
    if not files:
        raise BatError(f"{source}: no sound files for the {split} split" + (f" in classes {config.classes}" if config.classes else ""))
    for path, _ in (item for group in files.values() for item in group):
        _check_readable(path)
    return files


def _scan_class_folders(root: Path) -> list[tuple[Path, list[str]]]:
    entries = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        entries += [(path, [folder.name]) for path in found]
    if not entries:
        raise BatError(f"{root}: no audio files in class sub-folders (expected {root}/<class>/<file>.wav)")
    return entries


def _read_csv(path: Path, audio_dir: Path | None) -> list[tuple[Path, list[str]]]:
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        columns = reader.fieldnames or []
        file_column = next((c for c in ("filename", "fname", "file", "path") if c in columns), None)
        label_column = next((c for c in ("category", "label", "labels") if c in columns), None)
        if not file_column or not label_column:
            raise BatError(f"{path}:1: need a file column (filename/fname/file/path) and a label column (category/label/labels), found {columns}")
        rows = [(number, row) for number, row in enumerate(reader, start=2)]
    folders = [audio_dir] if audio_dir else _candidate_audio_folders(path)
    entries = []
    for number, row in rows:
        name = row[file_column].strip()
        labels = [label.strip() for label in row[label_column].split(",") if label.strip()]
        if not name or not labels:
            raise BatError(f"{path}:{number}: empty file name or label")
        entries.append((_locate(name, folders, f"{path}:{number}"), labels))
    return entries


def _candidate_audio_folders(csv_path: Path) -> list[Path]:
    here = csv_path.parent
    siblings = sorted(p for p in here.parent.iterdir() if p.is_dir() and "audio" in p.name.lower())
    return [here, here.parent / "audio", *siblings]


def _locate(name: str, folders: list[Path], where: str) -> Path:
    names = [name] if Path(name).suffix else [name + ".wav", name + ".flac"]
    for folder in folders:
        for candidate in names:
            if (folder / candidate).is_file():
                return folder / candidate
    raise BatError(f"{where}: sound file {name} not found in {', '.join(str(f) for f in folders)}")


def _read_manifest(path: Path) -> list[tuple[Path, list[str]]]:
    entries = []
    for number, record in read_jsonl(path):
        labels = record.get("labels", record.get("label"))
        labels = [labels] if isinstance(labels, str) else labels
        if not isinstance(record.get("path"), str) or not labels or not all(isinstance(x, str) for x in labels):
            raise BatError(f"{path}:{number}: expected {{\"path\": str, \"labels\": [str, ...]}}")
        file = (path.parent / record["path"]).resolve()
        if not file.is_file():
            raise BatError(f"{path}:{number}: sound file {record['path']} not found")
        entries.append((file, labels))
    if not entries:
        raise BatError(f"{path}: the manifest lists no sounds")
    return entries


def _check_readable(path: Path) -> None:
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, OSError):
        raise BatError(f"{path}: not a readable audio file") from None
    if info.frames == 0:
        raise BatError(f"{path}: the file holds no audio samples")


def _split_of(path: Path, test_fraction: float) -> str:
    digest = hashlib.sha1(path.name.encode("utf-8")).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_fraction else "train"


def _trim_silence(signal: np.ndarray, threshold_db: float = -50.0) -> np.ndarray:
    peak = float(np.abs(signal).max())
    if peak == 0.0:
        return signal
    loud = np.flatnonzero(np.abs(signal) > peak * 10 ** (threshold_db / 20))
    return signal[loud[0] : loud[-1] + 1]
