"""The benchmarks' plain questions (benchmarks/plain_questions.yaml, plain.py) and rule-based peer
(benchmarks/rules.py), on scenes of random geometry (no audio is rendered)."""

import json
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import plain  # noqa: E402
import rules  # noqa: E402

from batcli.evaluate import evaluate  # noqa: E402
from batcli.metrics import score_answer  # noqa: E402
from batcli.sim.questions import OTHER_SOUNDS, TEMPLATES_BY_ID, QuestionConfig, generate_questions  # noqa: E402

LABELS = ["church bell", "siren", "footsteps", "rain", "engine", "bird chirp", "hand clapping", "fan"]


def random_scenes(count: int, seed: int = 0) -> list[dict]:
    """Scenes as the simulator writes them (geometry only): one or two sources of distinct classes."""
    rng = np.random.default_rng(seed)
    scenes = []
    for k in range(count):
        labels = rng.choice(LABELS, size=1 + k % 2, replace=False)
        sources = [{"label": str(label), "azimuth_deg": float(rng.uniform(0, 360)),
                    "elevation_deg": math.degrees(math.asin(rng.uniform(-1, 1))),
                    "distance_m": float(rng.uniform(0.5, 8))} for label in labels]
        scenes.append({"clip_id": f"{k:06d}", "audio": f"audio/{k:06d}.wav", "sources": sources})
    return scenes


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A folder with what plain.py reads of a simulated set: config.yaml, labels.txt, scenes.jsonl."""
    folder = tmp_path_factory.mktemp("set") / "test-seed2"
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump({"questions": {}}))
    (folder / "labels.txt").write_text("".join(label + "\n" for label in LABELS))
    (folder / "scenes.jsonl").write_text("".join(json.dumps(scene) + "\n" for scene in random_scenes(80)))
    return folder


def test_the_set_has_500_distinct_phrasings_none_of_them_a_template_phrasing():
    entries = plain.load_plain()
    assert len(entries) >= 500
    texts = Counter(plain.normalize(entry["text"]) for entry in entries)
    assert [text for text, count in texts.items() if count > 1] == []
    forms = plain.template_forms()
    assert plain.normalize("What's that on my left?") in forms  # places and contractions are expanded
    assert [entry["text"] for entry in entries if plain.normalize(entry["text"]) in forms] == []


def test_every_rule_and_answer_kind_is_covered():
    entries = plain.load_plain()
    assert {entry["rule"] for entry in entries} == set(TEMPLATES_BY_ID)
    assert {TEMPLATES_BY_ID[entry["rule"]].answer_kind for entry in entries} == {
        "labels", "label", "direction_distance", "distance", "yes_no", "count", "option", "unanswerable"}


def test_every_phrasing_is_asked_with_reference_answers_of_its_kind(data, tmp_path):
    out = tmp_path / "plain" / "qa.jsonl"
    out.parent.mkdir()
    records = plain.plain_records(data, out, 4, seed=2)
    entries = plain.load_plain()
    asked = Counter(int(record["question_id"][5:8]) for record in records)
    assert sorted(asked) == list(range(len(entries)))
    assert len({(record["audio"], record["question"]) for record in records}) == len(records)
    assert all((out.parent / record["audio"]).resolve().parent == (data / "audio").resolve() for record in records)
    assert "{" not in "".join(record["question"] for record in records)
    # where/how-far phrasings that name a sound are asked about present and absent sounds alike
    for number, entry in enumerate(entries):
        if entry["rule"] in ("free_where", "free_how_far") and "{x}" in entry["text"]:
            answers = [r["answer"] for r in records if r["question_id"].startswith(f"plain{number:03d}-")]
            assert "none" in answers and any(answer != "none" for answer in answers), entry["text"]
    # every reference answer is of its kind: answered with itself, all are right and in kind
    out.write_text("".join(json.dumps(record) + "\n" for record in records))
    (out.parent / "labels.txt").write_text((data / "labels.txt").read_text())
    report = evaluate(str(out), str(out))
    assert report["accuracy"] == 1.0 and report["kind_accuracy"] == 1.0
    assert report["absent_accuracy"] == 1.0


@pytest.mark.parametrize("split", ["train", "test"])
def test_rules_answer_every_template_question_right_from_the_true_scene(split):
    names = LABELS + list(OTHER_SOUNDS)
    config = QuestionConfig(per_clip=64)
    wrong, asked = [], Counter()
    for k, scene in enumerate(random_scenes(60, seed=1)):
        for question in generate_questions(scene, np.random.default_rng(k), split, LABELS, config):
            asked[question["template"]] += 1
            text = rules.answer(question["question"], scene, names)
            if not score_answer(text, question, LABELS).correct:
                wrong.append((question["question"], question["answer"], text))
    assert set(asked) == set(TEMPLATES_BY_ID)
    assert wrong == []


def test_rules_say_none_and_no_for_a_sound_that_was_not_localized():
    siren = {"label": "siren", "score": 0.9, "azimuth_deg": 90.0, "elevation_deg": 0.0, "distance_m": 2.2}
    record = {"sources": [siren]}
    assert rules.answer("Where is the dog?", record, ["dog", "siren"]) == "none"
    assert rules.answer("How far away is the dog?", record, ["dog", "siren"]) == "none"
    assert rules.answer("Is there a dog?", record, ["dog", "siren"]) == "No"
    assert rules.answer("What is behind me?", record, ["dog", "siren"]) == "nothing"
    assert rules.answer("Where is the siren?", record, ["dog", "siren"]) == "left; 2.0m"
