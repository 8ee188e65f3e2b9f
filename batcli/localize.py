"""`bat localize`: where are the sounds in these recordings?

Each file is read at the model's rate (any rate is resampled), a block at a time so that memory stays
flat however long it is, and cut into windows of the model's clip length (or `--window`), `--hop` apart; the last window may be shorter, and a short window is
zero-padded. Windows of many files are batched through the encoder, and one localization record per
window is written in input order. A window without any signal (peak below SILENCE_PEAK) reports no
sources without running the model.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from .audio import binaural_blocks, output_samples
from .encoder.model import SpatialEncoder, hear_with, load_model, shipped_encoder_dir
from .encoder.readout import decode, hear
from .errors import BatError, UsageError
from .progress import progress_bar
from .runtime import autocast, pick_device

SILENCE_PEAK = 1e-5  # about -100 dBFS: below any 16- or 24-bit recording's noise


@dataclass
class Window:
    audio: str  # the path as given
    start_s: float
    end_s: float
    samples: np.ndarray  # (2, clip_samples)

    @property
    def silent(self) -> bool:
        return float(np.abs(self.samples).max(initial=0.0)) < SILENCE_PEAK


def read_inputs(inputs: list[str | Recording]) -> Iterator[str | Recording]:
    """Audio paths (and arrays) from the arguments; `-` reads paths, or JSONL records with an `audio` field, from stdin."""
    for item in inputs:
        if not isinstance(item, str) or item != "-":
            yield item
            continue
        for number, line in enumerate(sys.stdin, start=1):
            text = line.strip()
            if text.startswith("{"):
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as err:
                    raise BatError(f"<stdin>:{number}: not valid JSON ({err.msg})") from None
                if not isinstance(record, dict) or not isinstance(record.get("audio"), str):
                    raise BatError(f"<stdin>:{number}: expected a record with an \"audio\" path")
                yield record["audio"]
            elif text:
                yield text


@dataclass
class Recording:
    """A recording given as an array rather than a file (the Python API): `samples` (2, n) float32 at
    the model's rate (audio.binaural_array), `name` what its records say in `audio`."""

    name: str
    samples: np.ndarray


def windows_of(source: str | Recording, model: SpatialEncoder, window_s: float, hop_s: float) -> Iterator[Window]:
    """The windows of one recording, a file read a block at a time (audio.binaural_blocks): memory stays
    flat however long the file, and the windows are those of the whole file read at once."""
    dims = model.dims
    rate = dims.sample_rate
    if isinstance(source, Recording):
        path, blocks, total = source.name, iter([source.samples]), source.samples.shape[1]
    else:
        path, blocks, total = source, binaural_blocks(source, rate), output_samples(source, rate)
    buffer, buffer_start = next(blocks), 0  # the first block reads and checks the file before any window
    size, hop = round(window_s * rate), round(hop_s * rate)
    starts = list(range(0, max(total - size, 0) + 1, hop))
    if starts[-1] + size < total:  # the tail that the hops would skip gets a window of its own
        starts.append(starts[-1] + hop)
    for start in starts:
        end = min(start + size, total)
        while buffer_start + buffer.shape[1] < end:
            buffer = np.concatenate([buffer, next(blocks)], axis=1)
        piece = np.zeros((2, dims.clip_samples), dtype=np.float32)
        chunk = buffer[:, start - buffer_start : end - buffer_start]
        piece[:, : chunk.shape[1]] = chunk
        yield Window(path, round(start / rate, 4), round(end / rate, 4), piece)
        dropped = min(start + hop, buffer_start + buffer.shape[1]) - buffer_start  # what no later window reads
        buffer, buffer_start = buffer[:, dropped:], buffer_start + dropped


def load_encoder(model_dir: str | None = None, device: str = "auto", hrtf: str | None = None) -> SpatialEncoder:
    """An encoder model directory (default: the shipped one), ready to run on `device`; `hrtf` (a built-in
    name or SOFA file) fits an evidence front end to that head instead of the one it was trained with."""
    model = load_model(model_dir or shipped_encoder_dir(), pick_device(device))
    if hrtf is not None:
        hear_with(model, hrtf)
    return model


def localize(inputs: list[str | Recording], model: SpatialEncoder, window_s: float | None = None, hop_s: float | None = None,
             batch_size: int = 16, threshold: float = 0.5, unknown_below: float = 0.0, show_progress: bool = True) -> Iterator[dict]:
    """Localization records, one per window, in input order: of files (paths, `-` for stdin's) or arrays (Recording)."""
    device = next(model.parameters()).device
    window_s = model.dims.clip_s if window_s is None else window_s
    hop_s = window_s if hop_s is None else hop_s
    if window_s <= 0 or hop_s <= 0:
        raise UsageError("--window and --hop must be positive")
    if window_s > model.dims.clip_s + 1e-9:
        raise UsageError(f"--window {window_s} s is longer than the model's clip of {model.dims.clip_s} s")
    files = list(read_inputs(inputs))
    with progress_bar(show=show_progress) as progress:
        task = progress.add_task("localize", total=len(files), unit="files", visible=len(files) > 1)
        pending: list[Window] = []
        for index, path in enumerate(files):
            for window in windows_of(path, model, window_s, hop_s):
                pending.append(window)
                if len(pending) == batch_size:
                    yield from _run(model, pending, device, threshold, unknown_below)
                    pending = []
            progress.update(task, completed=index + 1)
        yield from _run(model, pending, device, threshold, unknown_below)


@torch.no_grad()
def _run(model: SpatialEncoder, windows: list[Window], device: torch.device, threshold: float, unknown_below: float) -> Iterator[dict]:
    audible = [w for w in windows if not w.silent]
    results = []
    if audible:
        with autocast(device):
            _, outputs = hear(model, torch.from_numpy(np.stack([w.samples for w in audible])).to(device))
        results = decode(outputs, model.dims, model.labels, threshold, unknown_below, model.front_calibration)
    decoded = dict(zip(map(id, audible), results))
    silent = {"sources": [], "class_scores": {label: 0.0 for label in model.labels}}
    for window in windows:
        yield {"audio": window.audio, "start_s": window.start_s, "end_s": window.end_s, **decoded.get(id(window), silent)}
