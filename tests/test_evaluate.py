import io
import json
from pathlib import Path

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


def test_front_probabilities_get_a_reliability_table(tmp_path, scenes, monkeypatch, capsys):
    """The dog at 0 and 180 deg (off the frontal plane) and at 90 (on it, left out); both off-plane
    sources heard in front with 0.9: one of two was in front."""
    monkeypatch.chdir(tmp_path / "data")
    records = [{"audio": f"audio/00000{i}.wav", "sources": [{**predicted(10), "front_probability": 0.9}]} for i in range(3)]
    report = evaluate(write(tmp_path / "preds.jsonl", records), scenes)
    top = report["front_reliability"][-1]
    assert (top["sources"], top["predicted"], top["observed"]) == (2, 0.9, 0.5)
    assert report["all"]["front_calibration_error"] == pytest.approx(0.4)
    assert "front probability" in capsys.readouterr().err
    plain = evaluate(write(tmp_path / "plain.jsonl", [{"audio": "audio/000000.wav", "sources": [predicted(0)]}]), scenes)
    assert "front_reliability" not in plain and plain["all"]["front_calibration_error"] is None


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


# Answers to questions ----------------------------------------------------------------------------------


def qa(question_id, audio, text, answer, question_type, kind, **extra):
    return {"question_id": question_id, "audio": audio, "question_type": question_type, "question": text,
            "answer": answer, "answer_kind": kind, **extra}


@pytest.fixture
def questions(tmp_path):
    """data/qa.jsonl: four questions about two clips."""
    records = [
        qa("000000-0", "audio/000000.wav", "What can you hear?", "dog; church bell", "A", "labels"),
        qa("000000-1", "audio/000000.wav", "Where is the sound?", "left, front, below; 2.5m", "B", "direction_distance"),
        qa("000001-0", "audio/000001.wav", "Is the dog closer than the bell?", "Yes", "E", "yes_no", reasoning="distance"),
        qa("000001-1", "audio/000001.wav", "How many sounds are there?", "2", "free", "count"),
    ]
    return write(tmp_path / "data" / "qa.jsonl", records)


def read(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def answer(record, text, keep_id=True):
    """An answer record as `bat ask` writes it."""
    out = {"audio": record["audio"], "question": record["question"], "answer": text}
    if keep_id:
        out.update(question_id=record["question_id"], question_type=record["question_type"])
    return out


def test_answers_pair_with_questions_by_id(tmp_path, questions, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refs = read(questions)
    # the ids decide, whatever audio path the answer names
    answers = [{**answer(r, text), "audio": "/elsewhere/x.wav"} for r, text in zip(refs, ["Church bell and dog.",
               "Front, left and below, 2.5 metres", "yes, it is", "three"])]
    report = evaluate(write(tmp_path / "answers.jsonl", answers), questions)
    assert (report["questions"], report["answered"]) == (4, 4)
    assert report["accuracy"] == 0.75  # all but the count
    assert report["A"]["f1"] == 1.0
    assert report["direction_accuracy_single_source"] == 1.0 and report["der_single_source"] == 0.0
    assert report["reasoning_binary_accuracy"] == 1.0 and report["reasoning_distance_accuracy"] == 1.0
    assert report["free"]["count_accuracy"] == 0.0
    assert report["exact"] == 0.0
    assert report["C"] is None and report["by_kind"]["label"] is None
    assert json.loads(json.dumps(report, allow_nan=False)) == report


def test_answers_pair_by_audio_and_question_without_ids(tmp_path, questions, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the answers' paths are as written in qa.jsonl: tail match
    refs = read(questions)
    answers = [
        answer(refs[1], "left, front, below; 3.5m", keep_id=False),
        {**answer(refs[2], "No", keep_id=False), "question": "  is the DOG closer than the bell? "},
        {**answer(refs[0], "dog", keep_id=False), "audio": str(tmp_path / "data" / "audio" / "000000.wav")},
    ]
    report = evaluate(write(tmp_path / "answers.jsonl", answers), questions)
    assert (report["questions"], report["answered"]) == (4, 3)
    assert report["B"]["der"] == 1.0 and report["B"]["direction_accuracy"] == 1.0
    assert report["E"]["binary_accuracy"] == 0.0
    assert (report["A"]["precision"], report["A"]["recall"]) == (1.0, 0.5)
    assert report["free"]["answered"] == 0 and report["free"]["accuracy"] == 0.0  # unanswered: wrong
    assert report["accuracy"] == 0.0


def test_an_id_the_references_lack_falls_back_to_audio_and_question(tmp_path, questions, monkeypatch):
    monkeypatch.chdir(tmp_path / "data")
    refs = read(questions)
    answers = [{**answer(refs[3], "2"), "question_id": "from-another-file"}]
    report = evaluate(write(tmp_path / "answers.jsonl", answers), questions)
    assert report["free"]["count_accuracy"] == 1.0 and report["answered"] == 1


def test_an_answer_without_question_is_an_error(tmp_path, questions, monkeypatch):
    monkeypatch.chdir(tmp_path / "data")
    refs = read(questions)
    wrong_text = [answer(refs[0], "dog"), {**answer(refs[1], "left; 1m", keep_id=False), "question": "Where?"}]
    with pytest.raises(BatError, match=r"answers\.jsonl:2: .*'Where\?'.*'audio/000000\.wav'"):
        evaluate(write(tmp_path / "answers.jsonl", wrong_text), questions)
    wrong_audio = [{**answer(refs[3], "2", keep_id=False), "audio": "other/000001.wav"}]
    with pytest.raises(BatError, match=r"answers2\.jsonl:1: .*'other/000001\.wav'"):
        evaluate(write(tmp_path / "answers2.jsonl", wrong_audio), questions)
    unknown_id = [{**answer(refs[3], "2"), "question_id": "nope", "question": "How many dogs?"}]
    with pytest.raises(BatError, match=r"answers3\.jsonl:1: no question_id 'nope' nor question"):
        evaluate(write(tmp_path / "answers3.jsonl", unknown_id), questions)


def test_a_second_answer_and_an_answer_without_text_are_errors(tmp_path, questions, monkeypatch):
    monkeypatch.chdir(tmp_path / "data")
    refs = read(questions)
    twice = [answer(refs[0], "dog"), answer(refs[1], "left; 1m"), answer(refs[0], "cat", keep_id=False)]
    with pytest.raises(BatError, match=r"answers\.jsonl:3: .*line 1 of the references was already answered at line 1"):
        evaluate(write(tmp_path / "answers.jsonl", twice), questions)
    no_text = [{**answer(refs[0], "dog"), "answer": None}]
    with pytest.raises(BatError, match=r"answers2\.jsonl:1: no 'answer' text"):
        evaluate(write(tmp_path / "answers2.jsonl", no_text), questions)


def test_bad_question_records_are_named_by_file_and_line(tmp_path):
    good = qa("1", "a.wav", "How many?", "2", "free", "count")
    answers = write(tmp_path / "answers.jsonl", [answer(good, "2")])
    cases = [
        ({**good, "question_id": "2", "question": "Where?", "answer": "left"}, "holds no distance",
         {"answer_kind": "direction_distance", "question_type": "B"}),
        ({**good, "question_id": "2", "question": "Q?"}, "answer_kind 'sound'", {"answer_kind": "sound"}),
        ({**good, "question": "Other?"}, "question_id '1' is already the question at line 1", {}),
        ({**good, "question_id": "2"}, "the same question about 'a.wav' is already at line 1", {}),
    ]
    for number, (second, message, change) in enumerate(cases):
        refs = write(tmp_path / f"bad{number}" / "qa.jsonl", [good, {**second, **change}])
        with pytest.raises(BatError, match=rf"qa\.jsonl:2: .*{message}"):
            evaluate(answers, refs)


def test_labels_txt_beside_the_questions_is_the_label_set(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refs = write(tmp_path / "data" / "qa.jsonl", [qa("1", "a.wav", "What is it?", "gong", "A", "labels")])
    answers = write(tmp_path / "answers.jsonl", [{"question_id": "1", "answer": "temple gong"}])
    assert evaluate(answers, refs)["A"]["precision"] == 0.5  # "gong" and a leftover "temple"
    (tmp_path / "data" / "labels.txt").write_text("gong\ntemple gong\n")
    assert evaluate(answers, refs)["A"]["precision"] == 0.0  # one class: the temple gong


def test_an_answer_naming_a_class_of_the_model_is_of_the_kind_asked_though_the_data_set_lacks_it(tmp_path, monkeypatch):
    from batcli.encoder.model import shipped_encoder_dir

    monkeypatch.chdir(tmp_path)
    model_only = "speech"
    assert model_only in (shipped_encoder_dir() / "labels.txt").read_text().split("\n")
    refs = write(tmp_path / "data" / "qa.jsonl", [qa("1", "a.wav", "What is on my left?", "rain", "C", "label")])
    (tmp_path / "data" / "labels.txt").write_text("rain\nsiren\n")
    for answer, on_kind in ((model_only, 1.0), ("Yes", 0.0)):
        answers = write(tmp_path / "answers.jsonl", [{"question_id": "1", "answer": answer}])
        report = evaluate(answers, refs)
        assert report["C"]["kind_accuracy"] == on_kind and report["C"]["accuracy"] == 0.0
    (tmp_path / "classes.txt").write_text("rain\n")
    assert evaluate(write(tmp_path / "answers.jsonl", [{"question_id": "1", "answer": model_only}]), refs, str(tmp_path / "classes.txt"))["C"]["kind_accuracy"] == 0.0


def test_answer_tables_go_to_stderr(tmp_path, questions, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path / "data")
    refs = read(questions)
    evaluate(write(tmp_path / "answers.jsonl", [answer(refs[2], "Yes")]), questions)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "reasoning_binary_accuracy" in captured.err and "binary_distance_accuracy" in captured.err
    assert "count_accuracy" in captured.err  # the unanswered count question is in the report


RESTYLE = {
    # the same answers as a person might write them: case, punctuation, units, order, synonyms
    "labels": lambda a: "I hear " + " and ".join(reversed(a.split("; "))).upper() + ".",
    "label": lambda a: f"The {a}." if a != "nothing" else "Nothing at all.",
    "direction_distance": lambda a: "It is not there." if a == "none" else
    " and ".join(reversed(a.split("; ")[0].split(", "))).replace("behind", "back") + ", " + a.split("; ")[1][:-1] + " metres",
    "distance": lambda a: "Nowhere." if a == "none" else a[:-1] + " meters",
    "yes_no": lambda a: f"{a}, it is." if a == "Yes" else "No, it isn't.",
    "count": lambda a: {"1": "one", "2": "two"}[a],
    "option": lambda a: f"I'd say {a.upper()}.",
    "unanswerable": lambda a: "Sorry, there is no way to tell from a recording.",
}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A small simulated test set (a few seconds): its qa.jsonl has every question type and answer kind."""
    from batcli.config import load_config
    from batcli.sim.simulate import SimulateConfig, simulate

    out = tmp_path_factory.mktemp("sim") / "test"
    settings = ["num_clips=12", "seed=2", "duration_s=1.0", "sample_rate=8000", "room.anechoic_fraction=1",
                "questions.per_clip=16", "split=test"]
    simulate(load_config(SimulateConfig, "simulate", None, settings), out, 1)
    return out


def test_reference_answers_score_perfectly_on_a_simulated_set(simulated, tmp_path, monkeypatch, bat):
    monkeypatch.chdir(tmp_path)
    refs = [json.loads(line) for line in (simulated / "qa.jsonl").read_text().splitlines()]
    assert {(r["question_type"], r["answer_kind"]) for r in refs} >= {
        ("A", "labels"), ("B", "direction_distance"), ("C", "label"), ("D", "direction_distance"),
        ("E", "yes_no"), ("E", "label"), ("E", "distance"),
        ("free", "label"), ("free", "direction_distance"), ("free", "distance"), ("free", "yes_no"), ("free", "count"),
        ("free", "option"), ("E", "option"), ("free", "unanswerable"),
    }
    perfect = {"der": 0.0, "distance_mae_m": 0.0, "der_single_source": 0.0}

    def check(report, exact):
        assert report["questions"] == report["answered"] == len(refs)
        groups = [report, *(report[t] for t in "ABCDE"), report["free"], *report["by_kind"].values()]
        for group in groups:
            assert group is not None
            for key, value in group.items():
                if key not in ("questions", "answered") and not isinstance(value, dict) and value is not None:
                    assert value == perfect.get(key, 1.0 if key != "exact" else exact), (key, value)
        for key in ("precision", "set_accuracy", "direction_accuracy", "der", "absent_accuracy", "binary_accuracy",
                    "binary_direction_accuracy", "binary_distance_accuracy", "count_accuracy",
                    "reasoning_binary_accuracy", "direction_accuracy_single_source", "der_single_source"):
            assert report[key] is not None, key

    # the references' own answers, through the command line
    answers = write(tmp_path / "answers.jsonl", [answer(r, r["answer"]) for r in refs])
    result = bat("eval", answers, "--ref", simulated / "qa.jsonl", check=True)
    check(json.loads(result.stdout), 1.0)
    # the same answers in other words, paired by audio and question
    restyled = [answer({**r, "audio": str(simulated / r["audio"])}, RESTYLE[r["answer_kind"]](r["answer"]), keep_id=False)
                for r in refs]
    assert sum(a["answer"] != r["answer"] for a, r in zip(restyled, refs)) == len(refs)
    report = evaluate(write(tmp_path / "restyled.jsonl", restyled), str(simulated / "qa.jsonl"))
    check(report, 0.0)
