"""`bat simulate` end to end: the physics is checked on the audio and responses it writes."""

import json

import numpy as np
import pytest
import soundfile

from batcli.geometry import SPEED_OF_SOUND_M_S
from batcli.sim.hrtf import load_hrtf
from batcli.sim.simulate import load_response

RATE = 16000
QUIET = [
    f"sample_rate={RATE}",
    "duration_s=1.5",
    "scene.noise_fraction=0",
    "scene.two_source_fraction=0",
    "scene.whole_clip_fraction=1",
    "questions.per_clip=2",
]


# Broadband sounds, whose interaural delay is not ambiguous the way a pure tone's is.
BROADBAND = "sounds.classes=[rain, stream, hand clapping, crackling fire]"


def simulate(bat, out, *settings, clips=4, seed=0, extra=()):
    args = ["simulate", "-o", out, "--num-clips", clips, "--seed", seed, *extra]
    for setting in [*QUIET, *settings]:
        args += ["--set", setting]
    bat(*args, check=True)
    return [json.loads(line) for line in (out / "scenes.jsonl").read_text().splitlines()]


def read(out, scene):
    audio, rate = soundfile.read(out / scene["audio"], always_2d=True)
    assert rate == scene["sample_rate"]
    return audio.T


def interaural_lag(audio, max_lag):
    """Samples by which the right ear lags the left (positive: the left ear hears it first), by GCC-PHAT."""
    n = 2 * audio.shape[1]
    cross = np.fft.rfft(audio[1], n) * np.conj(np.fft.rfft(audio[0], n))
    correlation = np.fft.irfft(cross / np.maximum(np.abs(cross), 1e-12), n)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    values = np.concatenate([correlation[: max_lag + 1], correlation[-max_lag:]])
    return int(lags[np.argmax(values)])


def level_difference_db(audio):
    return 10 * np.log10(np.sum(audio[0] ** 2) / np.sum(audio[1] ** 2))


@pytest.mark.parametrize("room", [["room.anechoic_fraction=1"], ["room.anechoic_fraction=0", "room.rt60_s=[0.2,0.4]"]])
def test_a_source_on_the_left_reaches_the_left_ear_first_and_louder(bat, tmp_path, room):
    for azimuth, sign in ((90, 1), (270, -1)):
        out = tmp_path / f"az{azimuth}"
        scenes = simulate(bat, out, *room, f"scene.azimuth_deg=[{azimuth},{azimuth}]", "scene.elevation_deg=[0,0]",
                          "scene.distance_m=[1.5,1.5]", BROADBAND)
        for scene in scenes:
            audio = read(out, scene)
            assert sign * level_difference_db(audio) > 3
            assert sign * interaural_lag(audio, max_lag=RATE // 1000) >= 5  # about 0.6 ms at 16 kHz


def test_a_source_in_front_reaches_both_ears_equally(bat, tmp_path):
    scenes = simulate(bat, tmp_path / "front", "room.anechoic_fraction=1", BROADBAND, "scene.azimuth_deg=[0,0]",
                      "scene.elevation_deg=[0,0]", "scene.distance_m=[2,2]")
    for scene in scenes:
        audio = read(tmp_path / "front", scene)
        assert abs(level_difference_db(audio)) < 0.5
        assert interaural_lag(audio, max_lag=RATE // 1000) == 0


def bank(tmp_path_factory, *settings):
    """Room responses written by `bat simulate` for sources straight ahead at 1-8 m."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("bank")
    settings = [f"sample_rate={RATE}", "responses=24", "room.anechoic_fraction=0", "scene.azimuth_deg=[0,0]",
                "scene.elevation_deg=[0,0]", "scene.distance_m=[1,8]", *settings]
    command = [sys.executable, "-m", "batcli", "simulate", "-o", str(out), "--num-clips", "0"]
    subprocess.run(command + [arg for s in settings for arg in ("--set", s)], check=True, capture_output=True)
    records = [json.loads(line) for line in (out / "responses.jsonl").read_text().splitlines()]
    return [(record, load_response(out / record["response"])[0]) for record in records]


@pytest.fixture(scope="module")
def responses(tmp_path_factory):
    """Absorbent rooms (absorption 0.3 or more) of many sizes and reverberation times."""
    return bank(tmp_path_factory, "room.rt60_s=[0.25,0.5]", "room.size_min_m=[12,12,4]", "room.size_max_m=[16,16,5]",
                "room.absorption_spread=0")


@pytest.fixture(scope="module")
def one_room(tmp_path_factory):
    """One room size and reverberation time, many listener and source positions."""
    return bank(tmp_path_factory, "room.rt60_s=[0.6,0.6]", "room.size_min_m=[14,14,4]", "room.size_max_m=[14,14,4]")


def test_direct_path_delay_is_distance_over_the_speed_of_sound(responses):
    """The delay at which the frontal HRIR matches best (both ears together) is the direct path's."""
    front = load_hrtf("kemar", RATE)
    hrir = front.irs[front.nearest(np.array([1.0, 0.0, 0.0]))]
    for record, response in responses:
        expected = record["distance_m"] / SPEED_OF_SOUND_M_S * RATE
        head = response[:, : int(expected) + 3 * hrir.shape[1]]
        match = sum(np.correlate(head[ear], hrir[ear], mode="valid") for ear in range(2))
        assert abs(np.argmax(match) - expected) <= 1.0


def test_direct_sound_is_the_loudest_arrival(responses):
    """The binaural power peaks within the direct path's HRIR, before any reflection."""
    hrir_taps = load_hrtf("kemar", RATE).irs.shape[-1]
    for record, response in responses:
        assert min(record["room"]["absorption"].values()) >= 0.3
        delay = int(round(record["distance_m"] / SPEED_OF_SOUND_M_S * RATE))
        loudest = int(np.argmax(np.sum(response**2, axis=0)))
        assert delay <= loudest < delay + hrir_taps


def test_direct_to_reverberant_ratio_falls_with_distance(one_room):
    distances, ratios = [], []
    for record, response in one_room:
        end_of_direct = int(record["distance_m"] / SPEED_OF_SOUND_M_S * RATE + 0.0025 * RATE)
        energy = np.sum(response**2, axis=0)
        distances.append(record["distance_m"])
        ratios.append(10 * np.log10(energy[:end_of_direct].sum() / energy[end_of_direct:].sum()))
    rank = lambda v: np.argsort(np.argsort(v))  # noqa: E731
    assert np.corrcoef(rank(distances), rank(ratios))[0, 1] < -0.8


@pytest.mark.parametrize("bank_name", ["responses", "one_room"])
def test_measured_rt60_is_within_25_percent_of_its_target(bank_name, request):
    for record, response in request.getfixturevalue(bank_name):
        end_of_direct = int(record["distance_m"] / SPEED_OF_SOUND_M_S * RATE + 0.0025 * RATE)
        energy = np.sum(response[:, end_of_direct:].astype(np.float64) ** 2, axis=0)  # a near source's direct sound would bend the decay
        decay = 10 * np.log10(np.cumsum(energy[::-1])[::-1] / energy.sum())  # Schroeder integral
        t5, t25 = np.argmax(decay <= -5), np.argmax(decay <= -25)
        measured = 3 * (t25 - t5) / RATE  # T20, extrapolated to 60 dB
        assert measured == pytest.approx(record["room"]["rt60_s"], rel=0.25)


def test_scene_records_match_the_audio(bat, tmp_path):
    out = tmp_path / "scenes"
    scenes = simulate(bat, out, "room.anechoic_fraction=1", "scene.whole_clip_fraction=0", "scene.min_event_s=0.3",
                      "scene.distance_m=[0.5,3]", clips=8)
    labels = (out / "labels.txt").read_text().split("\n")
    for scene in scenes:
        audio = read(out, scene)
        assert audio.shape == (2, int(scene["duration_s"] * RATE))
        (source,) = scene["sources"]
        assert source["label"] in labels
        room = scene["room"]
        yaw = np.radians(room["listener_yaw_deg"])
        d = np.subtract(source["position_m"], room["listener_m"])
        head = [np.cos(yaw) * d[0] + np.sin(yaw) * d[1], -np.sin(yaw) * d[0] + np.cos(yaw) * d[1], d[2]]
        assert np.linalg.norm(head) == pytest.approx(source["distance_m"], abs=1e-3)
        assert np.degrees(np.arctan2(head[1], head[0])) % 360 == pytest.approx(source["azimuth_deg"], abs=0.05)
        assert np.degrees(np.arcsin(head[2] / np.linalg.norm(head))) == pytest.approx(source["elevation_deg"], abs=0.05)
        # Anechoic and noiseless: silence until the sound has travelled, silence after it ends.
        energy = np.sum(audio**2, axis=0)
        arrival = int((source["onset_s"] + source["distance_m"] / SPEED_OF_SOUND_M_S) * RATE)
        end = int((source["offset_s"] + source["distance_m"] / SPEED_OF_SOUND_M_S + 0.02) * RATE)
        assert energy[: max(arrival - 16, 0)].sum() < 1e-6 * energy.sum()
        assert energy[end:].sum() < 1e-6 * energy.sum()
        assert energy[arrival : arrival + int(0.3 * RATE)].sum() > 0


def test_same_seed_same_bytes_whatever_the_worker_count_and_shards_partition(bat, tmp_path):
    settings = ["scene.two_source_fraction=0.5", "scene.noise_fraction=0.5", "responses=3"]
    simulate(bat, tmp_path / "one", *settings, clips=6, extra=["--workers", "1"])
    simulate(bat, tmp_path / "two", *settings, clips=6, extra=["--workers", "2"])
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    assert len(files) == 6 + 3 + 5  # audio, responses, config + labels + scenes + qa + responses.jsonl
    for name in files:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    shards = [simulate(bat, tmp_path / f"shard{k}", *settings, clips=6, extra=["--shard", f"{k}/3"]) for k in (1, 2, 3)]
    ids = [scene["clip_id"] for shard in shards for scene in shard]
    whole = [json.loads(line) for line in (tmp_path / "one" / "scenes.jsonl").read_text().splitlines()]
    assert ids == [scene["clip_id"] for scene in whole]
    for k, shard in zip((1, 2, 3), shards):
        for scene in shard:
            assert (tmp_path / f"shard{k}" / scene["audio"]).read_bytes() == (tmp_path / "one" / scene["audio"]).read_bytes()


def test_an_interrupted_run_resumes_without_redoing_finished_clips(bat, tmp_path):
    out = tmp_path / "resume"
    simulate(bat, out, clips=4)
    reference = {p.name: p.read_bytes() for p in (out / "audio").iterdir()}
    # Make it look as if the run stopped after two clips: parts of clips 0-1 kept, the rest gone.
    scenes = [json.loads(line) for line in (out / "scenes.jsonl").read_text().splitlines()]
    questions = [json.loads(line) for line in (out / "qa.jsonl").read_text().splitlines()]
    (out / ".parts").mkdir()
    for scene in scenes[:2]:
        part = {"scene": scene, "questions": [q for q in questions if q["audio"] == scene["audio"]]}
        (out / ".parts" / f"clip-{scene['clip_id']}.json").write_text(json.dumps(part))
    for name in ("scenes.jsonl", "qa.jsonl", "audio/000002.wav", "audio/000003.wav"):
        (out / name).unlink()
    (out / "audio" / "000000.wav").write_bytes(b"kept as is")  # a finished clip is not rendered again
    simulate(bat, out, clips=4)
    assert (out / "audio" / "000000.wav").read_bytes() == b"kept as is"
    for name in ("000001.wav", "000002.wav", "000003.wav"):
        assert (out / "audio" / name).read_bytes() == reference[name]
    assert (out / "scenes.jsonl").read_text().count("\n") == 4 and not (out / ".parts").exists()


def test_a_second_run_on_a_folder_is_refused_and_a_killed_run_blocks_nothing(bat, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    args = ["simulate", "--num-clips", 60, "--seed", 3, *[a for s in QUIET for a in ("--set", s)]]
    simulate(bat, tmp_path / "whole", clips=60, seed=3)  # the reference: one uninterrupted run
    out = tmp_path / "shared"
    first = subprocess.Popen([sys.executable, "-m", "batcli", *map(str, args), "-o", str(out)], stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not any((out / ".parts").glob("clip-*.json")) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(first.pid, signal.SIGSTOP)  # the first run, halfway, holds the folder while the second tries
        second = bat(*args, "-o", out)
        assert second.returncode == 1 and second.stdout == ""
        assert second.stderr.strip().splitlines() == [f"bat: error: {out}: another bat simulate is writing there; wait for it to "
                                                     "finish, or choose another -o"]
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert not (out / "scenes.jsonl").exists()  # killed halfway: the lock it held went with it
    bat(*args, "-o", out, check=True)
    for name in ("scenes.jsonl", "qa.jsonl", *(f"audio/{i:06d}.wav" for i in range(60))):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_another_config_in_the_same_folder_is_refused(bat, tmp_path):
    simulate(bat, tmp_path / "d", clips=1)
    result = bat("simulate", "-o", tmp_path / "d", "--num-clips", 2, *[a for s in QUIET for a in ("--set", s)])
    assert result.returncode == 2 and "another config" in result.stderr


def _refused(bat, tmp_path, code, message, *args):
    out = tmp_path / "out"
    result = bat("simulate", "-o", out, "--num-clips", 1, *args)
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bat: error: ") and message in lines[0], result.stderr
    assert not out.exists()


def test_bad_inputs_give_one_line_and_no_output(bat, tmp_path):
    import sofar

    _refused(bat, tmp_path, 1, "HRTF file not found", "--set", f"hrtf={tmp_path / 'absent.sofa'}")
    sofar.write_sofa(str(tmp_path / "fir.sofa"), sofar.Sofa("GeneralFIR"))
    _refused(bat, tmp_path, 1, "only SimpleFreeFieldHRIR", "--set", f"hrtf={tmp_path / 'fir.sofa'}")
    (tmp_path / "text.sofa").write_text("hello")
    _refused(bat, tmp_path, 1, "not a readable SOFA file", "--set", f"hrtf={tmp_path / 'text.sofa'}")
    (tmp_path / "empty").mkdir()
    _refused(bat, tmp_path, 1, "no audio files", "--set", f"sounds.library={tmp_path / 'empty'}")
    (tmp_path / "lib" / "hum").mkdir(parents=True)
    (tmp_path / "lib" / "hum" / "broken.wav").write_bytes(b"RIFF....garbage")
    _refused(bat, tmp_path, 1, "broken.wav: not a readable audio file", "--set", f"sounds.library={tmp_path / 'lib'}",
             "--set", "sounds.test_fraction=0")
    _refused(bat, tmp_path, 2, "room.rt60: unknown key", "--set", "room.rt60=0.5")
    _refused(bat, tmp_path, 2, "scene.distance_m: expected a list", "--set", "scene.distance_m=far")
    _refused(bat, tmp_path, 2, "out of range", "--set", "scene.two_source_fraction=1.5")
    _refused(bat, tmp_path, 2, "K must be between 1 and N", "--shard", "4/3")
    (tmp_path / "bad.yaml").write_text("seed: 1\nscene:\n  azimuth: [0, 90]\n")
    _refused(bat, tmp_path, 2, "bad.yaml:3: scene.azimuth: unknown key", str(tmp_path / "bad.yaml"))


def _write_tone(path, rate, seconds, frequency):
    t = np.arange(int(rate * seconds)) / rate
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * frequency * t), rate)


@pytest.mark.parametrize("layout", ["folders", "csv", "jsonl"])
def test_user_sound_libraries(bat, tmp_path, layout):
    """ESC-50 style CSV (files in ../audio), class folders and a JSONL manifest all give a data set."""
    classes = {"low hum": 200.0, "high whistle": 3000.0}
    if layout == "folders":
        for label, frequency in classes.items():
            (tmp_path / "lib" / label).mkdir(parents=True)
            for i in range(4):
                _write_tone(tmp_path / "lib" / label / f"{i}.wav", 22050, 1.0, frequency * (1 + 0.01 * i))
        library = tmp_path / "lib"
    else:
        (tmp_path / "set" / "audio").mkdir(parents=True)
        (tmp_path / "set" / "meta").mkdir()
        rows = []
        for label, frequency in classes.items():
            for i in range(4):
                name = f"{label.replace(' ', '_')}-{i}.wav"
                _write_tone(tmp_path / "set" / "audio" / name, 44100, 2.0, frequency)
                rows.append((name, label))
        if layout == "csv":
            library = tmp_path / "set" / "meta" / "esc50.csv"
            library.write_text("filename,fold,target,category\n" + "".join(f"{n},1,0,{c}\n" for n, c in rows))
        else:
            library = tmp_path / "set" / "manifest.jsonl"
            library.write_text("".join(json.dumps({"path": f"audio/{n}", "labels": [c]}) + "\n" for n, c in rows))
    out = tmp_path / "out"
    scenes = simulate(bat, out, f"sounds.library={library}", "sounds.test_fraction=0", "scene.two_source_fraction=1",
                      "room.anechoic_fraction=1", clips=3)
    assert sorted((out / "labels.txt").read_text().split()) == sorted(" ".join(classes).split())
    for scene in scenes:
        assert sorted(s["label"] for s in scene["sources"]) == sorted(classes)
        for source in scene["sources"]:
            assert source["sound"]["library"] == "file" and source["sound"]["labels"] == [source["label"]]


def test_bank_responses_of_one_room_share_its_size_and_listener(tmp_path_factory):
    items = bank(tmp_path_factory, "responses_per_room=4", "scene.distance_m=[1,3]", "room.size_min_m=[10,10,3]")
    rooms = {}
    for record, _ in items:
        rooms.setdefault(record["room_id"], []).append(record)
    assert sorted(rooms) == list(range(6)) and all(len(group) == 4 for group in rooms.values())
    for group in rooms.values():
        for record in group[1:]:
            for key in ("size_m", "listener_m", "listener_yaw_deg", "rt60_s"):
                assert record["room"][key] == group[0]["room"][key]
        assert len({record["distance_m"] for record in group}) == 4  # but the sources stand elsewhere
    assert len({tuple(group[0]["room"]["size_m"]) for group in rooms.values()}) == 6
