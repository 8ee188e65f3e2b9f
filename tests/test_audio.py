import numpy as np
import pytest
import soundfile

from batcli.audio import load_audio, resample, save_audio
from batcli.errors import BatError


@pytest.mark.parametrize("suffix, subtype", [(".wav", "PCM_16"), (".flac", "PCM_16"), (".ogg", "VORBIS")])
def test_formats_round_trip(tmp_path, suffix, subtype):
    t = np.arange(8000) / 8000
    audio = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
    path = tmp_path / f"a{suffix}"
    save_audio(path, audio, 8000, subtype=subtype)
    loaded, rate = load_audio(path)
    assert rate == 8000 and loaded.shape == audio.shape and loaded.dtype == np.float32
    tolerance = 1e-3 if subtype == "PCM_16" else 0.1
    assert np.max(np.abs(loaded[:, 1000:-1000] - audio[:, 1000:-1000])) < tolerance


def test_resampling_keeps_frequency_and_length():
    rate_in, rate_out = 44100, 32000
    t = np.arange(rate_in) / rate_in
    tone = np.sin(2 * np.pi * 1000 * t)[None].astype(np.float32)
    out = resample(tone, rate_in, rate_out)
    assert out.shape == (1, rate_out)
    spectrum = np.abs(np.fft.rfft(out[0]))
    assert np.argmax(spectrum) * rate_out / out.shape[1] == pytest.approx(1000, abs=2)


def test_load_resamples_on_request(tmp_path):
    path = tmp_path / "a.wav"
    soundfile.write(path, np.zeros((4800, 2)), 48000)
    audio, rate = load_audio(path, 16000)
    assert rate == 16000 and audio.shape == (2, 1600)


def test_unreadable_and_empty_files(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"this is not audio")
    with pytest.raises(BatError, match=r"bad\.wav: cannot read audio"):
        load_audio(bad)
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros((0, 2)), 16000)
    with pytest.raises(BatError, match="no audio samples"):
        load_audio(empty)


def test_a_truncated_wav_file_is_an_error_not_fewer_samples(tmp_path):
    path = tmp_path / "cut.wav"
    soundfile.write(path, np.zeros((16000, 2)), 16000, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 4])  # the header still promises 1 s
    promise = r"cut\.wav: truncated WAV file: its header promises 1\.000 s of audio, the file holds 0\.2"
    with pytest.raises(BatError, match=promise):
        load_audio(path)
    path.write_bytes(data[:44])  # the header alone
    with pytest.raises(BatError, match="holds 0.000 s"):
        load_audio(path)


def test_resampling_with_a_kept_kernel_equals_torchaudio_bit_for_bit():
    import torch
    import torchaudio.functional

    signal = np.random.default_rng(3).standard_normal((2, 44100)).astype(np.float32)
    for rate in (32000, 16000):
        expected = torchaudio.functional.resample(torch.from_numpy(signal), 44100, rate).numpy()
        assert np.array_equal(resample(signal, 44100, rate), expected)
        assert np.array_equal(resample(signal, 44100, rate), expected)  # the second call, with the kernel kept


@pytest.mark.parametrize("rate", [32000, 44100, 16000, 48000])
def test_a_recording_read_in_blocks_is_the_recording_read_at_once(tmp_path, rate):
    from batcli.audio import binaural_blocks, output_samples, read_binaural

    frames = (0.1 * np.random.default_rng(rate).standard_normal((int(rate * 3.7) + 17, 2))).astype(np.float32)
    path = tmp_path / f"long-{rate}.wav"
    soundfile.write(path, frames, rate, subtype="FLOAT")
    blocks = list(binaural_blocks(str(path), 32000, block_s=0.5))
    assert len(blocks) >= 7  # the file is longer than a block
    whole = read_binaural(str(path), 32000)
    assert np.array_equal(np.concatenate(blocks, axis=1), whole)  # the same samples, bit for bit
    assert output_samples(str(path), 32000) == whole.shape[1]


def test_a_nan_in_a_later_block_is_named_by_its_time_in_the_file(tmp_path):
    from batcli.audio import binaural_blocks

    frames = np.zeros((32000 * 3, 2), dtype=np.float32)
    frames[32000 * 2 + 16000, 1] = np.nan
    path = tmp_path / "nan.wav"
    soundfile.write(path, frames, 32000, subtype="FLOAT")
    with pytest.raises(BatError, match=r"first at 2\.500 s"):
        list(binaural_blocks(str(path), 32000, block_s=1.0))
