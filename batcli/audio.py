"""Audio files in and out: soundfile reads and writes, torchaudio resamples.

Arrays are float32, shaped (channels, samples). Any format soundfile knows (wav, flac, ogg, ...)
can be read; the output format follows the file extension.
"""

from __future__ import annotations

import functools
import io
import math
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile

from .errors import BatError
from .records import atomic_write


def load_audio(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read a file as float32 (channels, samples), resampled to `sample_rate` when given; a truncated
    WAV file is an error."""
    _check_complete(path)
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as err:
        raise BatError(f"{path}: {_why_unreadable(path, err)}") from None
    audio = np.ascontiguousarray(data.T)
    if audio.shape[1] == 0:
        raise BatError(f"{path}: the file holds no audio samples")
    if sample_rate is not None and rate != sample_rate:
        audio, rate = resample(audio, rate, sample_rate), sample_rate
    return audio, rate


def _check_complete(path: str | Path) -> None:
    """A WAV file shorter than its header says is an error: libsndfile would quietly read what is there."""
    missing = wav_shortfall(path)
    if missing:
        promised, held = missing
        raise BatError(f"{path}: truncated WAV file: its header promises {promised:.3f} s of audio, "
                       f"the file holds {held:.3f} s")


def wav_shortfall(path: str | Path) -> tuple[float, float] | None:
    """(seconds the header promises, seconds the file holds) for a RIFF/WAVE file whose data chunk is cut
    short; None for a complete file, any other format, or a header that leaves the length open (0 or
    0xFFFFFFFF, as streaming writers leave it)."""
    try:
        with open(path, "rb") as stream:
            if stream.read(12)[:4] != b"RIFF":
                return None
            block_align = rate = 0
            while len(header := stream.read(8)) == 8:
                chunk, size = header[:4], struct.unpack("<I", header[4:])[0]
                if chunk == b"fmt ":
                    fmt = stream.read(size)
                    if len(fmt) >= 14:
                        rate, block_align = struct.unpack("<I", fmt[4:8])[0], struct.unpack("<H", fmt[12:14])[0]
                    stream.seek(size % 2, os.SEEK_CUR)
                elif chunk == b"data":
                    held = os.fstat(stream.fileno()).st_size - stream.tell()
                    if size in (0, 0xFFFFFFFF) or held >= size or not rate or not block_align:
                        return None
                    return size / block_align / rate, max(held, 0) // block_align / rate
                else:
                    stream.seek(size + size % 2, os.SEEK_CUR)
    except OSError:
        return None  # soundfile names the problem
    return None


def read_binaural(path: str, sample_rate: int | None) -> np.ndarray:
    """A recording as (2, samples) float32 at `sample_rate` (None: its own); mono, multichannel and
    NaN-holding files are errors."""
    audio, rate = load_audio(path, sample_rate)
    _check_binaural(path, audio.shape[0])
    _check_finite(path, audio, rate, 0)
    return audio


def binaural_array(audio: np.ndarray, sample_rate: int, to_rate: int, name: str = "<array>") -> np.ndarray:
    """An array of a binaural recording as read_binaural gives a file: (2, samples) float32 at `to_rate`.
    It may be (2, samples) or (samples, 2), as soundfile reads it; float (-1..1) or integer PCM, scaled
    by the integer type's range. A one-channel array is refused with a file's message, `name` for its path."""
    array = np.asarray(audio)
    if array.ndim == 1 or (array.ndim == 2 and 1 in array.shape):
        _check_binaural(name, 1)
    if array.ndim != 2 or 2 not in array.shape:
        raise BatError(f"{name}: expected audio of shape (2, samples) or (samples, 2), got {array.shape}")
    if array.shape[0] != 2:
        array = array.T
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / float(-np.iinfo(array.dtype).min)
    elif not np.issubdtype(array.dtype, np.floating):
        raise BatError(f"{name}: audio of dtype {array.dtype}; expected float or integer samples")
    if array.shape[1] == 0:
        raise BatError(f"{name}: the array holds no audio samples")
    if sample_rate <= 0:
        raise BatError(f"{name}: sample_rate must be positive, got {sample_rate}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    _check_finite(name, array, sample_rate, 0)
    return resample(array, int(sample_rate), to_rate)


BLOCK_S = 60.0  # seconds of a recording read at a time by binaural_blocks


def binaural_blocks(path: str, sample_rate: int, block_s: float = BLOCK_S) -> Iterator[np.ndarray]:
    """read_binaural's array in consecutive (2, n) pieces of about `block_s` seconds, read and resampled
    a block at a time, so that memory stays flat however long the recording. Joined, the pieces are
    read_binaural's samples: the same bytes at the file's own rate; resampled, each block is taken
    with a margin on either side and cut at a whole period of both rates, so the sinc kernel sees what
    it sees in one pass over the file."""
    _check_complete(path)
    try:
        stream = soundfile.SoundFile(str(path))
    except (soundfile.LibsndfileError, RuntimeError, OSError) as err:
        raise BatError(f"{path}: {_why_unreadable(path, err)}") from None
    with stream:
        _check_binaural(path, stream.channels)
        rate = stream.samplerate
        if stream.frames == 0:
            raise BatError(f"{path}: the file holds no audio samples")
        g = math.gcd(rate, sample_rate)
        period_in, period_out = rate // g, sample_rate // g
        block = period_in * max(1, math.ceil(block_s * rate / period_in))
        margin = period_in * math.ceil(1024 / period_in) if rate != sample_rate else 0
        buffer, buffer_start, done = np.zeros((2, 0), np.float32), 0, 0  # input samples from buffer_start; outputs given up to input `done`
        while True:
            data = np.ascontiguousarray(stream.read(block, dtype="float32", always_2d=True).T)
            _check_finite(path, data, rate, buffer_start + buffer.shape[1])
            buffer = np.concatenate([buffer, data], axis=1)
            end_of_file = data.shape[1] < block
            read = buffer_start + buffer.shape[1]
            until = read if end_of_file else (read - margin) // period_in * period_in
            if until > done:
                if rate == sample_rate:
                    yield buffer[:, done - buffer_start : until - buffer_start]
                else:
                    out = resample(buffer, rate, sample_rate)
                    first = (done - buffer_start) // period_in * period_out
                    count = (-(-read * period_out // period_in) if end_of_file else until // period_in * period_out) - done // period_in * period_out
                    yield out[:, first : first + count]
                done = until
            if end_of_file:
                return
            keep = max(done - margin, 0)
            buffer, buffer_start = buffer[:, keep - buffer_start :], keep


def output_samples(path: str, sample_rate: int) -> int:
    """How many samples binaural_blocks gives for a recording at `sample_rate`."""
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, OSError) as err:
        raise BatError(f"{path}: {_why_unreadable(path, err)}") from None
    return -(-info.frames * sample_rate // info.samplerate)


def _check_binaural(path: str, channels: int) -> None:
    if channels == 1:
        raise BatError(f"{path}: mono audio; locating sounds needs a binaural, two-channel recording (left, right)")
    if channels != 2:
        raise BatError(f"{path}: {channels} channels; locating sounds needs a binaural, two-channel recording (left, right)")


def _check_finite(path: str, audio: np.ndarray, rate: int, offset: int) -> None:
    """NaN or infinite samples are an error naming the first one's time (`offset`: audio's first sample in the file)."""
    bad = np.flatnonzero(~np.isfinite(audio).all(axis=0))
    if bad.size:
        raise BatError(f"{path}: the audio holds NaN or infinite samples (first at {(offset + bad[0]) / rate:.3f} s)")


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Band-limited resampling along the last axis (torchaudio's windowed-sinc resampler)."""
    if from_rate == to_rate:
        return audio
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    return _resampler(int(from_rate), int(to_rate))(tensor).numpy()


@functools.lru_cache(maxsize=16)
def _resampler(from_rate: int, to_rate: int):
    """torchaudio's resampler with its sinc kernel built once per pair of rates: building it costs far
    more than applying it (44.1 to 32 kHz: 0.18 s a call rebuilt, milliseconds cached), and the mixer
    resamples a recording for every scene it draws."""
    import torch
    import torchaudio.transforms

    return torchaudio.transforms.Resample(from_rate, to_rate, dtype=torch.float32)


def save_audio(path: str | Path, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> None:
    """Write (channels, samples) audio in the format its suffix names; the file appears only once
    complete. Encoded in memory first: libsndfile reports a full disk only as "System error"."""
    encoded = io.BytesIO()
    container = Path(path).suffix.lstrip(".").upper()
    soundfile.write(encoded, np.asarray(audio, dtype=np.float32).T, sample_rate, subtype=subtype, format=container)
    with atomic_write(path, "wb") as stream:
        stream.write(encoded.getbuffer())


def _why_unreadable(path: str | Path, err: Exception) -> str:
    """What libsndfile's error means for the user ("System error" for a missing file, say)."""
    if not os.path.exists(path):
        return "no such file"
    if os.path.isdir(path):
        return "a folder, not an audio file"
    if os.path.getsize(path) == 0:
        return "the file is empty"
    reason = _reason(err)
    if "format not recognised" in reason.lower():
        reason = "not an audio format soundfile reads: WAV, FLAC, OGG, MP3, AIFF, ..."
    return f"cannot read audio ({reason})"


def _reason(err: Exception) -> str:
    text = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
    return text.replace(str(getattr(err, "filename", "")), "").strip(" :") or type(err).__name__
