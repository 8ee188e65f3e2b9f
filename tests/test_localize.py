"""`bat localize` on long, short, mono, silent, broken and other-rate files."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from batcli.encoder.model import EncoderDims, SpatialEncoder, save_model
from batcli.errors import BatError, UsageError
from batcli.localize import load_encoder, localize

RATE = 16000
LABELS = ["dog", "siren", "rain"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    dims = EncoderDims(sample_rate=RATE, clip_s=1.0, n_fft=512, hop=160, n_mels=32, f_max=7600.0, width=32, depth=1, heads=2)
    folder = tmp_path_factory.mktemp("model")
    save_model(SpatialEncoder(dims, LABELS), folder)
    return folder


def write(path, seconds, rate=RATE, channels=2, seed=0, subtype="PCM_16"):
    audio = np.random.default_rng(seed).standard_normal((int(seconds * rate), channels)) * 0.1
    soundfile.write(path, audio, rate, subtype=subtype)
    return str(path)


def run(paths, model_dir, **options):
    return list(localize(paths, load_encoder(str(model_dir), "cpu"), threshold=0.0, **options))


def test_a_long_file_gives_one_record_per_window_and_a_short_one_is_padded(tmp_path, model_dir):
    long, short = write(tmp_path / "long.wav", 3.5), write(tmp_path / "short.wav", 0.3)
    records = run([long, short], model_dir)
    assert [(r["audio"], r["start_s"], r["end_s"]) for r in records] == [
        (long, 0.0, 1.0), (long, 1.0, 2.0), (long, 2.0, 3.0), (long, 3.0, 3.5), (short, 0.0, 0.3)]
    windows = run([long], model_dir, window_s=0.5, hop_s=0.25)
    assert [r["start_s"] for r in windows] == [i * 0.25 for i in range(13)]
    assert windows[-1]["end_s"] == 3.5


def test_records_follow_the_schema_with_sources_best_first(tmp_path, model_dir):
    [record] = run([write(tmp_path / "a.wav", 1.0)], model_dir)
    assert set(record) >= {"audio", "start_s", "end_s", "sources"}
    scores = [s["score"] for s in record["sources"]]
    assert scores == sorted(scores, reverse=True) and len(scores) >= 1
    for source in record["sources"]:
        assert source["label"] in LABELS
        assert 0 <= source["azimuth_deg"] < 360 and -90 <= source["elevation_deg"] <= 90 and source["distance_m"] >= 0
        assert isinstance(source["direction"], str)


def test_files_at_other_rates_are_resampled_to_the_same_answer(tmp_path, model_dir):
    at_16k = write(tmp_path / "a16.wav", 1.0)
    audio, _ = soundfile.read(at_16k)
    import torchaudio.functional

    for rate in (8000, 48000):
        resampled = torchaudio.functional.resample(torch.from_numpy(audio.T).float(), RATE, rate).numpy().T
        soundfile.write(tmp_path / f"a{rate}.wav", resampled, rate, subtype="FLOAT")
    records = run([at_16k, str(tmp_path / "a48000.wav"), str(tmp_path / "a8000.wav")], model_dir)
    assert [r["end_s"] for r in records] == [1.0, 1.0, 1.0]
    assert records[1]["sources"][0]["label"] == records[0]["sources"][0]["label"]


def test_silence_reports_no_sources(tmp_path, model_dir):
    path = tmp_path / "silent.wav"
    soundfile.write(path, np.zeros((RATE, 2)), RATE)
    [record] = run([str(path)], model_dir)
    assert record["sources"] == []


def test_mono_and_broken_files_are_errors_that_name_the_file(tmp_path, model_dir):
    mono = write(tmp_path / "mono.wav", 1.0, channels=1)
    with pytest.raises(BatError, match="mono.wav: mono audio; locating sounds needs a binaural, two-channel"):
        run([mono], model_dir)
    broken = np.random.default_rng(0).standard_normal((RATE, 2)) * 0.1
    broken[8000, 1] = np.nan
    soundfile.write(tmp_path / "nan.wav", broken, RATE, subtype="FLOAT")
    with pytest.raises(BatError, match=r"nan.wav: the audio holds NaN or infinite samples \(first at 0.500 s\)"):
        run([str(tmp_path / "nan.wav")], model_dir)
    with pytest.raises(UsageError, match="longer than the model's clip"):
        run([mono], model_dir, window_s=2.0)


def test_the_command_reads_paths_and_records_from_stdin(bat, tmp_path, model_dir):
    a, b = write(tmp_path / "a.wav", 1.0), write(tmp_path / "b.wav", 2.0, seed=1)
    stdin = f'{a}\n{{"audio": "{b}", "question": "where?"}}\n'
    result = bat("localize", "-", "--model", model_dir, stdin=stdin, check=True)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["audio"], r["start_s"]) for r in records] == [(a, 0.0), (b, 0.0), (b, 1.0)]


def test_the_command_exits_1_with_one_line_for_a_mono_file(bat, tmp_path, model_dir):
    result = bat("localize", write(tmp_path / "mono.wav", 1.0, channels=1), "--model", model_dir)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().count("\n") == 0 and "two-channel" in result.stderr


def test_hrtf_refits_an_evidence_encoder_to_another_head_and_is_refused_by_others(tmp_path, model_dir):
    import sofar

    import batcli
    from batcli.sim.hrtf import BUILTIN

    torch.manual_seed(0)
    dims = EncoderDims(sample_rate=RATE, clip_s=1.0, n_fft=512, hop=160, n_mels=32, f_max=7600.0, width=32, depth=1, heads=2,
                       features="evidence")
    save_model(SpatialEncoder(dims, LABELS), tmp_path / "evidence")
    kemar = sofar.read_sofa(str(Path(batcli.__file__).parent / "data" / BUILTIN["kemar"]), verify=False, verbose=False)
    kemar.Data_IR = kemar.Data_IR[:, ::-1]  # a head that hears every direction as KEMAR hears its mirror image
    sofar.write_sofa(str(tmp_path / "mirror.sofa"), kemar)
    clip = write(tmp_path / "a.wav", 1.0)
    plain = list(localize([clip], load_encoder(str(tmp_path / "evidence"), "cpu"), threshold=0.0))
    same = list(localize([clip], load_encoder(str(tmp_path / "evidence"), "cpu", hrtf="kemar"), threshold=0.0))
    other = list(localize([clip], load_encoder(str(tmp_path / "evidence"), "cpu", hrtf=str(tmp_path / "mirror.sofa")), threshold=0.0))
    assert same == plain and other != plain
    with pytest.raises(UsageError, match="does not read an HRTF set"):
        load_encoder(str(model_dir), "cpu", hrtf="kemar")


@pytest.mark.parametrize("rate, window_s, hop_s", [(RATE, 1.0, 0.75), (22050, 0.5, 1.25)])
def test_a_file_longer_than_a_block_gives_the_windows_of_the_whole_file(tmp_path, model_dir, rate, window_s, hop_s):
    from batcli.audio import BLOCK_S, read_binaural
    from batcli.localize import windows_of

    path = write(tmp_path / "long.wav", BLOCK_S * 1.3, rate=rate, subtype="FLOAT")
    model = load_encoder(str(model_dir), "cpu")
    whole = read_binaural(path, RATE)
    windows = list(windows_of(path, model, window_s, hop_s))
    size, hop = round(window_s * RATE), round(hop_s * RATE)
    starts = list(range(0, whole.shape[1] - size + 1, hop))
    starts += [starts[-1] + hop] if starts[-1] + size < whole.shape[1] else []  # the tail's window
    assert [round(w.start_s * RATE) for w in windows] == starts
    for window in windows:
        start = round(window.start_s * RATE)
        expected = whole[:, start : start + size]
        assert window.end_s == round((start + expected.shape[1]) / RATE, 4)
        assert np.array_equal(window.samples[:, : expected.shape[1]], expected)
        assert not window.samples[:, expected.shape[1] :].any()
