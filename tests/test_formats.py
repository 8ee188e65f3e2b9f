"""Other projects' formats: DCASE SELD CSV (write, read, score) and SpatialSoundQA question files."""

import json

import numpy as np
import pytest
import soundfile

from batcli.ask import ask, load_answerer, read_question_file
from batcli.errors import BatError, UsageError
from batcli.evaluate import evaluate
from batcli.formats.dcase import csv_lines, read_csv, record_frames, to_dcase_azimuth, write_recordings
from batcli.formats.spatialsoundqa import read_records, render

CLASSES = ["siren", "dog", "rain"]


def source(label, azimuth, elevation=0.0, distance=2.0, score=0.9):
    return {"label": label, "score": score, "azimuth_deg": azimuth, "elevation_deg": elevation, "distance_m": distance}


def window(audio, start, end, sources):
    return {"audio": audio, "start_s": start, "end_s": end, "sources": sources}


def write_lines(path, records):
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return str(path)


# DCASE ------------------------------------------------------------------------------------------


def test_dcase_azimuth_is_ours_in_minus_180_to_180():
    assert to_dcase_azimuth(90.0) == 90.0  # left is positive in both
    assert to_dcase_azimuth(270.0) == -90.0  # right
    assert to_dcase_azimuth(0.0) == 0.0 and to_dcase_azimuth(180.0) == -180.0 and to_dcase_azimuth(359.0) == -1.0


def test_csv_round_trip_keeps_the_sources_of_every_100_ms_frame(tmp_path):
    records = [window("a.wav", 0.0, 1.0, [source("siren", 90.4, 10.2, 2.504), source("dog", 271.0, -20.0, 1.0)]),
               window("a.wav", 1.0, 1.5, [source("rain", 180.0, 45.0, 7.25)])]
    lines = list(csv_lines(record_frames(records), CLASSES, "a.wav"))
    assert lines[:2] == ["0,0,0,90,10,250\n", "0,1,1,-89,-20,100\n"]  # left: +90; right: negative
    assert len(lines) == 10 * 2 + 5  # 1 s of two sources, then 0.5 s of one
    (tmp_path / "a.csv").write_text("".join(lines))
    frames = read_csv(tmp_path / "a.csv", CLASSES)
    assert sorted(frames) == list(range(15))
    first, last = frames[0], frames[14]
    assert [s["label"] for s in first] == ["siren", "dog"] and [s["label"] for s in last] == ["rain"]
    assert first[0]["azimuth_deg"] == 90.0 and first[1]["azimuth_deg"] == 271.0  # back in [0, 360)
    assert first[0]["elevation_deg"] == 10.0 and first[0]["distance_m"] == 2.5 and last[0]["distance_m"] == 7.25


def test_overlapping_windows_give_each_frame_the_nearest_window():
    frames = record_frames([window("a.wav", 0.0, 1.0, [source("siren", 10.0)]),
                            window("a.wav", 0.5, 1.5, [source("dog", 20.0)])])
    assert [frames[k][0]["label"] for k in (0, 7, 8, 14)] == ["siren", "siren", "dog", "dog"]


def test_one_csv_per_recording_in_a_folder_and_a_label_outside_the_class_list(tmp_path):
    records = [window("x/one.wav", 0.0, 0.2, [source("siren", 0.0)]), window("y/two.wav", 0.0, 0.1, [])]
    assert write_recordings(records, CLASSES, tmp_path / "out") == 2
    assert (tmp_path / "out" / "one.csv").read_text() == "0,0,0,0,0,200\n1,0,0,0,0,200\n"
    assert (tmp_path / "out" / "two.csv").read_text() == ""
    with pytest.raises(UsageError, match="give -o DIR for several"):
        write_recordings(records, CLASSES, tmp_path / "one.csv")
    with pytest.raises(BatError, match="label 'cat' is not in the class list"):
        write_recordings([window("a.wav", 0.0, 0.1, [source("cat", 0.0)])], CLASSES, tmp_path / "cat.csv")


def test_bad_csv_lines_are_named_by_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv"
    cases = (("0,0,0,10,0\n", "bad.csv:1: expected 6 fields"), ("0,0,0,10,0,100\n1,x,0,10,0,100\n", "bad.csv:2: frame"),
             ("0,7,0,10,0,100\n", "class 7 out of range"), ("0,0,0,10,95,100\n", "elevation in \\[-90, 90\\]"))
    for text, message in cases:
        bad.write_text(text)
        with pytest.raises(BatError, match=message):
            read_csv(bad, CLASSES)


@pytest.fixture
def reference_csv(tmp_path):
    """Two seconds of a siren at 30 deg azimuth, 2 m away, in the DCASE layout."""
    path = tmp_path / "ref" / "mix001.csv"
    path.parent.mkdir()
    path.write_text("".join(f"{frame},0,0,30,0,200\n" for frame in range(20)))
    (tmp_path / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return path


def test_eval_of_identical_csv_files_is_perfect(reference_csv, tmp_path):
    report = evaluate(str(reference_csv), str(reference_csv), str(tmp_path / "classes.txt"))
    assert report["dcase"] == {"frames": 20, "classes": 1, "f20": 1.0, "doa_error_deg": 0.0,
                               "relative_distance_error": 0.0, "seld_score": 0.0}
    assert report["all"]["location_f1"] == 1.0 and report["all"]["doa_mae_deg"] == 0.0 and report["all"]["clips"] == 20


def test_eval_of_a_shifted_csv_gives_the_known_errors(reference_csv, tmp_path):
    shifted = tmp_path / "pred" / "mix001.csv"
    shifted.parent.mkdir()
    shifted.write_text("".join(f"{frame},0,0,40,0,300\n" for frame in range(20)))  # 10 deg off, 1 m (half) farther
    report = evaluate(str(shifted.parent), str(reference_csv.parent), str(tmp_path / "classes.txt"))["dcase"]
    assert (report["f20"], report["doa_error_deg"], report["relative_distance_error"]) == (1.0, 10.0, 0.5)
    assert report["seld_score"] == round((0 + 10 / 180 + 0.5) / 3, 4)
    shifted.write_text("".join(f"{frame},0,0,60,0,200\n" for frame in range(10)))  # 30 deg off, and half the frames
    report = evaluate(str(shifted), str(reference_csv), str(tmp_path / "classes.txt"))["dcase"]
    assert report["f20"] == 0.0  # 10 far-off detections and 10 misses: 0 / (10 + 10 / 2)
    assert report["doa_error_deg"] == 30.0


def test_localize_records_and_scenes_score_against_csv(reference_csv, tmp_path):
    classes = str(tmp_path / "classes.txt")
    preds = write_lines(tmp_path / "pred.jsonl", [window("audio/mix001.wav", 0.0, 2.0, [source("siren", 30.0)])])
    assert evaluate(preds, str(reference_csv.parent), classes)["dcase"]["f20"] == 1.0
    scenes = write_lines(tmp_path / "scenes.jsonl", [{"audio": "audio/mix001.wav", "duration_s": 2.0,
                                                      "sources": [source("siren", 30.0)]}])
    report = evaluate(str(reference_csv.parent), scenes, classes)
    assert report["dcase"]["f20"] == 1.0 and report["single_source"]["er20"] == 0.0
    other = write_lines(tmp_path / "other.jsonl",
                        [window("audio/mix001.wav", 0.0, 2.0, []), window("b.wav", 0.0, 1.0, [])])
    with pytest.raises(BatError, match="no recording 'b' in the references"):
        evaluate(other, str(reference_csv.parent), classes)


def test_localize_writes_dcase_csv_of_the_example(bat, tmp_path):
    result = bat("localize", "examples/audio/siren-left.wav", "--format", "dcase", check=True)
    rows = [line.split(",") for line in result.stdout.splitlines()]
    assert rows and {int(row[0]) for row in rows} == set(range(40))  # 4 s in 100-ms frames
    assert all(len(row) == 6 and -180 <= int(row[3]) <= 180 for row in rows)
    refused = bat("localize", "examples/audio/siren-left.wav", "examples/audio/two-sources.wav", "--format", "dcase")
    assert refused.returncode == 2 and "give -o DIR for several" in refused.stderr


# SpatialSoundQA ---------------------------------------------------------------------------------

MIXUP = {"audio_id": "eval/audio/Yabc", "reverb_id": "room1/1.npy",
         "audio_id2": "eval/audio/Ydef", "reverb_id2": "room1/2.npy"}
SPATIALSOUNDQA = [  # in the schema of BAT's SpatialSoundQA files
    {"audio_id": "eval/audio/Yabc", "reverb_id": "room1/0.npy", "audio_id2": None, "reverb_id2": None, "question_id": 0,
     "question_type": "DOA", "question": "Where is the sound?", "answer": "left, front; 2.0m"},
    {**MIXUP, "question_id": 0, "question_type": "MIXUP_DIRECTION", "question": "Is the dog on the left of the siren?",
     "answer": "Yes"},
    {**MIXUP, "question_id": 1, "question_type": "MIXUP_NONBINARY_DISTANCE",
     "question": "How far apart are the dog and the siren?", "answer": "2m"},
]


def test_spatialsoundqa_records_become_our_question_records(tmp_path):
    (tmp_path / "list.json").write_text(json.dumps(SPATIALSOUNDQA))
    (tmp_path / "data.json").write_text(json.dumps({"data": SPATIALSOUNDQA}))
    (tmp_path / "lines.jsonl").write_text("".join(json.dumps(r) + "\n" for r in SPATIALSOUNDQA))
    read = [list(read_records(str(tmp_path / name))) for name in ("list.json", "data.json", "lines.jsonl")]
    assert read[0] == read[1] == read[2]
    (_, doa), (_, direction), (_, apart) = read[0]
    assert doa == {"question_id": "DOA-0", "audio": "eval/audio/Yabc@room1/0.npy", "question_type": "B",
                   "question": "Where is the sound?", "spatialsoundqa_type": "DOA", "answer": "left, front; 2.0m",
                   "mixture": [["eval/audio/Yabc", "room1/0.npy"]]}
    assert direction["question_type"] == "E" and direction["reasoning"] == "direction"
    assert direction["audio"] == "eval/audio/Yabc@room1/1.npy + eval/audio/Ydef@room1/2.npy"
    assert apart["question_id"] == "MIXUP_NONBINARY_DISTANCE-1" and apart["reasoning"] == "distance"


def test_bad_spatialsoundqa_files_are_named(tmp_path):
    bad = tmp_path / "bad.json"
    cases = (({"rows": []}, "expected a JSON list"), ([{"audio_id": 3, "question": "?"}], "bad.json:1: .*audio_id"),
             ([SPATIALSOUNDQA[0], {**SPATIALSOUNDQA[1], "reverb_id2": None}], "bad.json:2: .*needs a reverb_id"))
    for payload, message in cases:
        bad.write_text(json.dumps(payload))
        with pytest.raises(BatError, match=message):
            list(read_records(str(bad)))


def test_eval_scores_answers_against_a_spatialsoundqa_file(tmp_path):
    (tmp_path / "eval.json").write_text(json.dumps(SPATIALSOUNDQA))
    answers = [{"question_id": "DOA-0", "answer": "left, front; 2.0m"},
               {"question_id": "MIXUP_DIRECTION-0", "answer": "yes"},
               {"question_id": "MIXUP_NONBINARY_DISTANCE-1", "answer": "3.5 m"}]
    report = evaluate(write_lines(tmp_path / "answers.jsonl", answers), str(tmp_path / "eval.json"))
    assert report["questions"] == 3 and report["accuracy"] == round(2 / 3, 4)
    assert report["direction_accuracy_single_source"] == 1.0 and report["reasoning_direction_accuracy"] == 1.0
    assert report["E"]["der"] == 1.0


def test_a_record_with_room_responses_is_rendered_as_bat_renders_it(tmp_path):
    rate = 32000
    (tmp_path / "eval" / "audio").mkdir(parents=True)
    (tmp_path / "reverb" / "room1").mkdir(parents=True)
    noise = np.random.default_rng(0).standard_normal(rate // 2) * 0.01
    soundfile.write(tmp_path / "eval" / "audio" / "Yabc.flac", noise, rate)
    response = np.zeros((2, 400))
    response[0, 10], response[1, 40] = 1.0, 0.5  # the left ear hears it first and louder: a source on the left
    np.save(tmp_path / "reverb" / "room1" / "0.npy", response)
    (tmp_path / "qa").mkdir()
    (tmp_path / "qa" / "eval.json").write_text(json.dumps(SPATIALSOUNDQA[:1]))
    [question] = read_question_file(str(tmp_path / "qa" / "eval.json"), tmp_path, tmp_path / "reverb")
    [(audio_path, response_path)] = question["resolved_mixture"]
    assert audio_path == tmp_path / "eval" / "audio" / "Yabc.flac"  # the extension found
    assert response_path == tmp_path / "reverb" / "room1" / "0.npy"
    left, right = render(question["resolved_mixture"], rate)
    assert np.sqrt(np.mean(left**2)) == pytest.approx(10 ** (-14 / 20), rel=0.02)  # -14 dBFS, as BAT scales
    assert np.argmax(np.correlate(right, left, "full")) - (len(left) - 1) == 30  # right lags by 30 samples
    np.save(tmp_path / "reverb" / "room1" / "0.npy", np.zeros((3, 10)))
    with pytest.raises(BatError, match="0.npy: a binaural room response is a \\(2, taps\\)"):
        render(question["resolved_mixture"], rate)


def test_simulate_writes_spatialsoundqa_that_ask_reads_back(bat, tmp_path):
    out = tmp_path / "data"
    bat("simulate", "-o", out, "-n", "2", "--seed", "3", "--set", "duration_s=1.0", "--set", "sample_rate=16000",
        "--set", "scene.min_event_s=0.5", "-j", "1", "--qa-format", "spatialsoundqa", check=True)
    ours = list(read_question_file(str(out / "qa.jsonl")))
    theirs = list(read_question_file(str(out / "spatialsoundqa.json")))
    assert [q["question"] for q in theirs] == [q["question"] for q in ours]
    assert [q["resolved_audio"] for q in theirs] == [q["resolved_audio"] for q in ours]  # the same clips
    assert [q["question_type"] for q in theirs] == [q["question_type"] for q in ours]
    assert [q.get("reasoning") for q in theirs] == [q.get("reasoning") for q in ours]
    answers = list(ask(theirs[:3], load_answerer(None, "cpu")))  # the shipped model hears the rendered clips
    report = evaluate(write_lines(tmp_path / "answers.jsonl", answers), str(out / "spatialsoundqa.json"))
    assert report["answered"] == 3 and report["questions"] == len(ours)
