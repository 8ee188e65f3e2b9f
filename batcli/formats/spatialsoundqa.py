"""SpatialSoundQA question files, the data set of BAT (Zheng et al., 2024), read as our question records
and written from them.

A file is a JSON list of records (or an object whose "data" is that list), or JSONL with one record a
line. A record names its sound by `audio_id` (a path without extension under an audio folder) and
`reverb_id` (a binaural room response, a (2, taps) .npy array at 32 kHz); a two-source question adds
`audio_id2` and `reverb_id2`. BAT renders the clip when it reads the record: each recording's first
channel at 32 kHz, scaled to an RMS of -14 dBFS, convolved with its response, two sources averaged
(render() does the same). A record whose `reverb_id` is null names a recording that is already binaural
(what `bat simulate --qa-format spatialsoundqa` writes). The question is `question_id`, `question_type`,
`question`, `answer`. docs/formats.md maps their question types to ours.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

import numpy as np

from ..audio import load_audio, resample
from ..errors import BatError
from ..records import atomic_write, read_jsonl

# Their question types: our type and, for type E, what the reasoning is about.
TYPES = {
    "CLASSIFICATION": ("A", None),
    "DOA": ("B", None),
    "MIXUP_SINGLE_CLASSIFICATION": ("C", None),
    "MIXUP_SINGLE_DOA": ("D", None),
    "MIXUP_DIRECTION": ("E", "direction"),
    "MIXUP_DISTANCE_BOTH": ("E", "distance"),
    "MIXUP_NONBINARY_DIRECTION": ("E", "direction"),
    "MIXUP_NONBINARY_DISTANCE": ("E", "distance"),
    "MIXUP_NONBINARY_SOURCE": ("E", None),
    "FREE": ("free", None),  # ours: the everyday questions, which SpatialSoundQA does not have
}
RESPONSE_RATE = 32000  # BAT's room responses and clips
LEVEL_DBFS = -14.0  # each recording's RMS before it is convolved
AUDIO_EXTENSIONS = (".wav", ".flac")  # tried in turn after an audio_id without its own


def is_record(record: dict) -> bool:
    """Whether a record is SpatialSoundQA's (it names `audio_id`) rather than ours (`audio`)."""
    return "audio_id" in record and "audio" not in record


def read_records(path: str) -> Iterator[tuple[int, dict]]:
    """(number, record) from a file of records: JSONL (ours or SpatialSoundQA's), or a SpatialSoundQA
    .json file (number: the record's position from 1). SpatialSoundQA records come as our question
    records (question()); ours as they are."""
    name = "<stdin>" if path == "-" else path
    for number, record in _json_records(path) if path.lower().endswith(".json") else read_jsonl(path):
        yield number, question(record, f"{name}:{number}") if is_record(record) else record


def _json_records(path: str) -> list[tuple[int, dict]]:
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise BatError(f"{path}: cannot read ({getattr(err, 'strerror', None) or err})") from None
    except json.JSONDecodeError as err:
        raise BatError(f"{path}:{err.lineno}: not valid JSON ({err.msg} at column {err.colno})") from None
    records = payload.get("data") if isinstance(payload, dict) else payload
    if not isinstance(records, list):
        raise BatError(f"{path}: expected a JSON list of question records, or an object with a 'data' list")
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise BatError(f"{path}:{number}: record {number} is not a JSON object")
    return list(enumerate(records, start=1))


def question(record: dict, where: str) -> dict:
    """A SpatialSoundQA record as our question record.

    `question_id` becomes TYPE-ID (their ids repeat across types; BAT keys its answers so too), and
    `question_type` ours (TYPES; a type not listed is kept as it is), with `reasoning` for type E and
    their type in `spatialsoundqa_type`. `audio` names the clip: the audio_id of a binaural recording,
    else `audio_id@reverb_id` for each source, joined by ` + `. `mixture` holds the (audio_id,
    reverb_id) pairs to render.
    """
    for key in ("audio_id", "question"):
        if not isinstance(record.get(key), str):
            raise BatError(f"{where}: a SpatialSoundQA record needs \"{key}\" text")
    kind = str(record.get("question_type", ""))
    ours, reasoning = TYPES.get(kind, (kind, None))
    sources = [(record["audio_id"], record.get("reverb_id"))]
    if record.get("audio_id2") is not None:
        sources.append((record["audio_id2"], record.get("reverb_id2")))
    if any(not isinstance(audio, str) or not isinstance(response, (str, type(None))) for audio, response in sources):
        raise BatError(f"{where}: audio_id, reverb_id, audio_id2 and reverb_id2 must be text or null")
    binaural = len(sources) == 1 and sources[0][1] is None
    if not binaural and any(response is None for _, response in sources):
        raise BatError(f"{where}: a record with a second source needs a reverb_id for each")
    result = {"question_id": f"{kind}-{record['question_id']}"} if record.get("question_id") is not None else {}
    result.update({
        "audio": record["audio_id"] if binaural else " + ".join(f"{a}@{r}" for a, r in sources),
        "question_type": ours,
        "question": record["question"],
        "spatialsoundqa_type": kind,
    })
    if "answer" in record:
        result["answer"] = record["answer"]
    if reasoning:
        result["reasoning"] = reasoning
    if not binaural:
        result["mixture"] = [list(source) for source in sources]
    return result


def find_audio(root: Path, audio_id: str) -> Path:
    """The file an audio_id names under `root`: as written, else with the first extension of
    AUDIO_EXTENSIONS that exists (the .wav one when none does, so that the error names a file)."""
    path = root / audio_id
    if path.is_file():
        return path
    candidates = [path.with_name(path.name + extension) for extension in AUDIO_EXTENSIONS]
    return next((candidate for candidate in candidates if candidate.is_file()), candidates[0])


def render(sources: list[tuple[Path, Path]], sample_rate: int) -> np.ndarray:
    """A binaural clip (2, samples) at `sample_rate`, rendered as BAT renders its records: each
    recording's first channel at 32 kHz scaled to an RMS of LEVEL_DBFS, convolved with its room
    response, the sources averaged."""
    from scipy.signal import fftconvolve

    rendered = []
    for audio_path, response_path in sources:
        mono = load_audio(audio_path, RESPONSE_RATE)[0][0].astype(np.float64)
        rms = float(np.sqrt(np.mean(mono**2)))
        if rms > 0:
            mono *= 10 ** (LEVEL_DBFS / 20) / rms
        rendered.append(fftconvolve(mono[None, :], load_response(response_path), axes=-1))
    length = max(part.shape[1] for part in rendered)
    mixed = sum(np.pad(part, ((0, 0), (0, length - part.shape[1]))) for part in rendered) / len(rendered)
    return resample(mixed.astype(np.float32), RESPONSE_RATE, sample_rate)


def load_response(path: Path) -> np.ndarray:
    """A binaural room response: a (2, taps) float array in a .npy file (read without pickle)."""
    try:
        response = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise BatError(f"{path}: cannot read the room response ({err})") from None
    if response.ndim != 2 or response.shape[0] != 2 or response.shape[1] == 0 or response.dtype.kind != "f":
        raise BatError(f"{path}: a binaural room response is a (2, taps) float array, "
                       f"found {response.dtype} {response.shape}")
    if not np.isfinite(response).all():
        raise BatError(f"{path}: the room response holds NaN or infinite values")
    return response.astype(np.float64)


def their_type(record: dict) -> str:
    """Their question type for one of our question records: by type, and for E by answer kind and reasoning."""
    kind = record.get("question_type")
    if kind != "E":
        return {ours: theirs for theirs, (ours, _) in TYPES.items() if ours != "E"}.get(kind, str(kind))
    if record.get("answer_kind") == "yes_no":
        return "MIXUP_DISTANCE_BOTH" if record.get("reasoning") == "distance" else "MIXUP_DIRECTION"
    return "MIXUP_NONBINARY_DISTANCE" if record.get("reasoning") == "distance" else "MIXUP_NONBINARY_DIRECTION"


def write_json(questions: Iterable[dict], path: Path) -> int:
    """Our question records as a SpatialSoundQA JSON list: each clip a binaural recording (reverb_id null,
    audio_id its path without extension), question_id the record's position from 0."""
    records = [{
        "audio_id": str(PurePosixPath(q["audio"]).with_suffix("")),
        "reverb_id": None,
        "audio_id2": None,
        "reverb_id2": None,
        "question_id": number,
        "question_type": their_type(q),
        "question": q["question"],
        "answer": q["answer"],
    } for number, q in enumerate(questions)]
    with atomic_write(path) as stream:
        json.dump(records, stream, ensure_ascii=False, indent=1)
        stream.write("\n")
    return len(records)
