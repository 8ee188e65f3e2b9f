"""JSONL records: one JSON object a line, UTF-8. Read from a file or stdin (`-`), write to stdout or a file.

A bad line is reported as `FILE:LINE: ...` so a user can open the file at that line.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import IO, Iterable, Iterator

from .errors import BatError


def dumps(record: dict) -> str:
    """One record as one line, keys in insertion order, non-ASCII kept, no trailing newline."""
    return json.dumps(record, ensure_ascii=False, allow_nan=False)


def read_jsonl(source: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, record) from a JSONL file, or from stdin when `source` is `-`.

    Blank lines are skipped; a line that is not a JSON object raises BatError naming file and line.
    """
    name = "<stdin>" if str(source) == "-" else str(source)
    try:
        stream = sys.stdin if str(source) == "-" else open(source, encoding="utf-8")
    except OSError as err:
        raise BatError(f"{name}: cannot read ({err.strerror})") from None
    with stream if stream is not sys.stdin else nullcontext(stream):
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise BatError(f"{name}:{number}: not valid JSON ({err.msg} at column {err.colno})") from None
            if not isinstance(record, dict):
                raise BatError(f"{name}:{number}: expected a JSON object, got {type(record).__name__}")
            yield number, record


def load_jsonl(source: str | Path) -> list[dict]:
    return [record for _, record in read_jsonl(source)]


def write_jsonl(records: Iterable[dict], destination: str | Path | None = None) -> int:
    """Write records to a file (atomically: all or nothing) or to stdout when `destination` is None or `-`."""
    count = 0
    if destination is None or str(destination) == "-":  # each record as soon as it is made: a pipe reads them as they come
        for record in records:
            sys.stdout.write(dumps(record) + "\n")
            sys.stdout.flush()
            count += 1
        return count
    with atomic_write(destination) as stream:
        for record in records:
            stream.write(dumps(record) + "\n")
            count += 1
    return count


@contextmanager
def folder_lock(folder: Path, what: str) -> Iterator[None]:
    """Hold `folder`/.lock while the block runs: a second writer on the folder is refused at once with a
    BatError. The lock is the operating system's (flock), dropped with the process however it ends, so
    a run killed with -9 leaves nothing that blocks the next one."""
    import fcntl

    with open(folder / ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BatError(f"{folder}: another {what} is writing there; wait for it to finish, or choose another -o") from None
        yield


@contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside `path` and move it into place only if the block succeeds.
    A failed write (a full disk, a read-only folder) is a BatError that names `path`."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.partial")
    try:
        with open(temporary, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as stream:
            yield stream
        os.replace(temporary, path)
    except OSError as err:
        raise BatError(f"{path}: cannot write it ({err.strerror or err})") from None
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    """A small text file (JSON, a label list), written atomically."""
    with atomic_write(path) as stream:
        stream.write(text)


def write_tensors(path: str | Path, tensors: dict, metadata: dict[str, str] | None = None) -> None:
    """A safetensors file, written atomically: serialized in memory, then written as plain bytes so
    that a full disk is reported as such (safetensors' own writer reports it as a Rust I/O error)."""
    from safetensors.torch import save

    data = save({name: tensor.contiguous() for name, tensor in tensors.items()}, metadata)
    with atomic_write(path, "wb") as stream:
        stream.write(data)


def read_json(path: str | Path) -> dict:
    """A JSON object from a file; a missing, unreadable or damaged file is a BatError naming it."""
    path = Path(path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BatError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BatError(f"{path}: cannot read it ({getattr(err, 'strerror', None) or err})") from None
    except json.JSONDecodeError as err:
        raise BatError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(value, dict):
        raise BatError(f"{path}: expected a JSON object, found {type(value).__name__}")
    return value


def read_tensors(path: str | Path, framework: str = "pt") -> tuple[dict, dict[str, str]]:
    """The tensors of a safetensors file and its metadata; a damaged file is a BatError naming it."""
    return _open_tensors(path, framework, lambda stream: ({name: stream.get_tensor(name) for name in stream.keys()}, stream.metadata() or {}))


def check_tensors(path: str | Path) -> None:
    """Check a safetensors file without reading its tensors: safetensors refuses a truncated or
    damaged file when it opens it, so this finds one before a long run would."""
    _open_tensors(path, "numpy", lambda stream: stream.keys())


def _open_tensors(path: str | Path, framework: str, read):
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise BatError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework=framework) as stream:
            return read(stream)
    except Exception as err:  # safetensors' own error type, or an OSError from the read
        raise BatError(f"{path}: damaged or not a safetensors file ({str(err).splitlines()[0]})") from None


def check_input_version(path: Path, recorded, current: int, what: str, retrain: str) -> None:
    """A model folder's recorded input version against the code's: a model never reads inputs it was
    not trained on. BatError names both versions and how to train the model again."""
    if recorded != current:
        trained = "records no input version" if recorded is None else f"was trained on version {recorded} of {what}"
        raise BatError(f"{path}: {trained}, this bat makes version {current}; train the model again ({retrain})")
