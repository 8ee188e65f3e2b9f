import io
import json

import pytest

from batcli.errors import BatError
from batcli.evaluate import evaluate


def source(azimuth, label="dog", distance=2.0, **extra):
    return {"label": label, "azimuth_deg": azimuth, "elevation_deg": 0.0, "distance_m": distance, **extra}


def predicted(azimuth, label="dog", distance=2.0):
    return {**source(azimuth, label, distance), "score": 0.9}


def write(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return str(path)


@pytest.fixture
def scenes(tmp_path):
    """data/scenes.jsonl: three one-source scenes, the dog at 0, 90 and 180 deg."""
    records = [{"audio": f"audio/00000{i}.wav", "duration_s": 4.0, "sources": [source(90 * i)]} for i in range(3)]
    return write(tmp_path / "data" / "scenes.jsonl", records)


def test_relative_paths_from_another_folder(tmp_path, scenes, monkeypatch):
    monkeypatch.chdir(tmp_path)
    preds = write(
        tmp_path / "out" / "preds.jsonl",
        [
            {"audio": "data/audio/000000.wav", "sources": [predicted(10)]},
            {"audio": "data/audio/000001.wav", "sources": [predicted(90)]},
            {"audio": "data/./audio/000002.wav", "sources": [predicted(180)]},
        ],
    )
    report = evaluate(preds, scenes)
    assert report["all"]["clips"] == 3
    assert report["all"]["doa_mae_deg"] == pytest.approx(10 / 3, abs=1e-4)
    assert report["all"]["doa_mae_deg"] == round(report["all"]["doa_mae_deg"], 4)
    assert report["all"]["recall"] == 1.0
    assert report["two_source"] is None
    assert json.loads(json.dumps(report, allow_nan=False)) == report


def test_scene_paths_are_relative_to_the_scene_file(tmp_path, monkeypatch):
    scenes = write(tmp_path / "data" / "scenes.jsonl", [{"audio": "../wavs/x.wav", "sources": [source(0)]}])
    monkeypatch.chdir(tmp_path)
    preds = write(tmp_path / "preds.jsonl", [{"audio": "wavs/x.wav", "sources": [predicted(0)]}])
    assert evaluate(preds, scenes)["all"]["recall"] == 1.0


def test_a_scene_without_prediction_is_missed_in_full(tmp_path, scenes, monkeypatch):
    monkeypatch.chdir(tmp_path / "data")
    preds = write(tmp_path / "preds.jsonl", [{"audio": "audio/000001.wav", "sources": [predicted(90)]}])
    report = evaluate(preds, scenes)
    assert report["all"]["clips"] == 3
    assert report["all"]["references"] == 3
    assert report["all"]["recall"] == pytest.approx(0.3333)
    assert report["all"]["er20"] == pytest.approx(0.6667)
    assert report["all"]["doa_mae_deg"] == 0.0


def test_tail_match_when_predictions_were_made_elsewhere(tmp_path, scenes, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    preds = write(
        tmp_path / "preds.jsonl",
        [
            {"audio": "audio/000000.wav", "sources": [predicted(0)]},
            {"audio": "/mnt/copy/audio/000001.wav", "sources": [predicted(270)]},
            {"audio": "audio/000002.wav", "sources": [predicted(180)]},
        ],
    )
    report = evaluate(preds, scenes)
    assert report["all"]["recall"] == 1.0
    assert report["all"]["doa_mae_deg"] == pytest.approx(60)  # 0 + 180 + 0 over three


def test_prediction_without_scene_is_an_error(tmp_path, scenes, monkeypatch):
    monkeypatch.chdir(tmp_path / "data")
    preds = write(
        tmp_path / "preds.jsonl",
        [
            {"audio": "audio/000000.wav", "sources": []},
            {"audio": "other/000001.wav", "sources": []},  # the file name alone is not enough
        ],
    )
    with pytest.raises(BatError, match=r"preds\.jsonl:2: .*'other/000001\.wav'"):
        evaluate(preds, scenes)


def test_windows_are_scored_against_the_sources_sounding_in_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sources = [source(90, "dog", onset_s=0.0, offset_s=4.0), source(270, "cat", onset_s=5.0, offset_s=10.0)]
    scenes = write(tmp_path / "scenes.jsonl", [{"audio": "a.wav", "duration_s": 10.0, "sources": sources}])
    preds = write(
        tmp_path / "preds.jsonl",
        [
            {"audio": "a.wav", "start_s": 0.0, "end_s": 4.0, "sources": [predicted(90, "dog")]},
            {"audio": "a.wav", "start_s": 3.8, "end_s": 5.8, "sources": [predicted(270, "cat")]},  # dog only 0.2 s in
            {"audio": "a.wav", "start_s": 3.5, "end_s": 5.5, "sources": [predicted(90, "dog")]},  # both 0.5 s in
            {"audio": "a.wav", "sources": [predicted(90, "dog"), predicted(270, "cat")]},  # the whole clip
        ],
    )
    report = evaluate(preds, scenes)
    assert report["all"]["clips"] == 4
    assert report["all"]["references"] == 1 + 1 + 2 + 2
    assert report["single_source"]["clips"] == 2
    assert report["single_source"]["doa_mae_deg"] == 0.0
    assert report["two_source"]["clips"] == 2
    assert report["two_source"]["recall"] == 0.75
    assert report["two_source"]["location_recall"] == 0.75


def test_predictions_from_stdin(tmp_path, scenes, monkeypatch):
    monkeypatch.chdir(tmp_path / "data")
    lines = "".join(
        json.dumps({"audio": f"audio/00000{i}.wav", "sources": [predicted(90 * i)]}) + "\n" for i in range(3)
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    assert evaluate("-", scenes)["all"]["location_f1"] == 1.0


def test_table_goes_to_stderr(tmp_path, scenes, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path / "data")
    evaluate(write(tmp_path / "preds.jsonl", [{"audio": "audio/000000.wav", "sources": [predicted(0)]}]), scenes)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "doa_mae_deg" in captured.err and "single_source" in captured.err


def test_question_references_are_not_scored_yet(tmp_path):
    questions = write(tmp_path / "qa.jsonl", [{"question_id": 1, "audio": "a.wav", "question": "Q?", "answer": "Yes"}])
    preds = write(tmp_path / "preds.jsonl", [{"audio": "a.wav", "answer": "Yes"}])
    with pytest.raises(BatError, match="not available yet"):
        evaluate(preds, questions)


def test_bad_records_are_named_by_file_and_line(tmp_path, scenes, monkeypatch):
    monkeypatch.chdir(tmp_path / "data")
    preds = write(tmp_path / "preds.jsonl", [{"audio": "audio/000000.wav", "sources": [{"label": "dog", "score": 1}]}])
    with pytest.raises(BatError, match=r"preds\.jsonl:1: source 1 needs 'azimuth_deg'"):
        evaluate(preds, scenes)
    bad_scenes = write(
        tmp_path / "bad" / "scenes.jsonl", [{"audio": "x.wav", "sources": []}, {"audio": "x.wav", "sources": []}]
    )
    with pytest.raises(BatError, match=r"scenes\.jsonl:2: .*already the scene at line 1"):
        evaluate(preds, bad_scenes)
