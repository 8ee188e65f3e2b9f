"""Scoring answers to questions: parsing of the answer styles and the scores of hand-made answer sets."""

import json

import pytest

from batcli.metrics import (
    ANSWER_KINDS,
    QUESTION_TYPES,
    answer_kind,
    answer_report,
    is_absent,
    known_labels,
    normalize_answer,
    parse_count,
    parse_direction,
    parse_distance,
    parse_labels,
    parse_yes_no,
    score_answer,
)

KINDS = {"A": "labels", "B": "direction_distance", "C": "label", "D": "direction_distance"}


def question(answer, question_type="free", kind=None, reasoning=None):
    record = {"question_id": "x", "audio": "a.wav", "question_type": question_type, "question": "?", "answer": answer,
              "answer_kind": kind or KINDS[question_type]}
    if reasoning:
        record["reasoning"] = reasoning
    return record


def pair(answer, *args, **kwargs):
    return ({"audio": "a.wav", "question": "?", "answer": answer}, question(*args, **kwargs))


# Parsing -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("Yes", "yes"),
    ("  Yes. ", "yes"),
    ("LEFT,  front;\t2.5m!", "left, front; 2.5m"),
    ('"dog; speech"', "dog; speech"),
])
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("Yes", True), ("yes", True), ("Yes.", True), ("yes, it is", True), ("Yeah!", True), ("  YES  ", True),
    ("No", False), ("no", False), ("No.", False), ("no, it is not", False), ("Nope", False),
    ("maybe", None), ("", None), ("I cannot tell", None),
])
def test_parse_yes_no(text, expected):
    assert parse_yes_no(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("2.5m", 2.5), ("2.5 m", 2.5), ("2.5 meters", 2.5), ("2.5 metres", 2.5), ("2.5 Metres.", 2.5),
    ("about 2.5 meters away", 2.5), ("1 meter", 1.0), ("3", 3.0), (".5m", 0.5), ("250 cm", 2.5),
    ("left, front, below; 2.5m", 2.5), ("right; 10.0m", 10.0),
    ("two metres", 2.0), ("two and a half metres", 2.5), ("half a metre", 0.5), ("Four meters.", 4.0),
    ("none", None), ("far away", None), ("", None),
])
def test_parse_distance(text, expected):
    assert parse_distance(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("2", 2), ("1", 1), ("two", 2), ("Two.", 2), ("There are three sounds", 3), ("1 sound", 1),
    ("none", 0), ("no sounds", 0), ("several", None), ("2.5", None), ("1.0m", None), ("two metres", None),
])
def test_parse_count(text, expected):
    assert parse_count(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("left, front, below", {"left", "front", "below"}),
    ("below, left, front", {"left", "front", "below"}),
    ("to the left and in front", {"left", "front"}),
    ("Front.", {"front"}),
    ("straight ahead", {"front"}),
    ("behind me and up", {"behind", "above"}),
    ("back right, down low; 3m", {"behind", "right", "below"}),
    ("RIGHT, BEHIND, BELOW; 1.0m", {"right", "behind", "below"}),
    ("none", set()),
])
def test_parse_direction(text, expected):
    assert parse_direction(text) == expected


def test_absent_answers():
    assert is_absent("none") and is_absent("None.") and is_absent("nothing") and is_absent("It isn't there")
    assert not is_absent("left; 2.0m") and not is_absent("2.0m") and not is_absent("")
    assert not is_absent("not far, on the left")  # a direction word: an answer about a place


LABELS = {"dog", "speech", "church bell", "bell", "footsteps", "car horn"}


@pytest.mark.parametrize("text, expected", [
    ("dog; speech", {"dog", "speech"}),
    ("Dog; Speech.", {"dog", "speech"}),
    ("speech, dog", {"dog", "speech"}),
    ("dog and speech", {"dog", "speech"}),
    ("I can hear a dog and a church bell", {"dog", "church bell"}),
    ("church bell", {"church bell"}),  # not split on the space, not mistaken for "bell"
    ("bell; church bell", {"bell", "church bell"}),
    ("church bells and dogs", {"dog", "church bell"}),
    ("footsteps", {"footsteps"}),
    ("a car horn on my left", {"car horn"}),
    ("cat", {"cat"}),  # not a known class: named as written
    ("the cat, dog", {"cat", "dog"}),
    ("none", set()), ("nothing", set()), ("Nothing.", set()), ("no sound", set()), ("There is nothing.", set()),
    ("", None), ("I can hear", None),
])
def test_parse_labels(text, expected):
    assert parse_labels(text, LABELS) == (None if expected is None else frozenset(expected))


def test_labels_without_a_label_set_are_split_at_separators():
    assert parse_labels("church bell; dog", []) == {"church bell", "dog"}
    assert parse_labels("Church bell and dog.") == {"church bell", "dog"}


def test_known_labels_come_from_label_answers_and_extra_names():
    references = [
        question("dog; church bell", "A"),
        question("nothing", "free", "label"),
        question("Yes", "E", "yes_no"),
        question("left; 2.0m", "B"),
    ]
    assert known_labels(references, ["Siren", " "]) == {"dog", "church bell", "siren"}


def test_answer_kind_is_read_or_inferred():
    assert answer_kind({"answer_kind": "count", "answer": "Yes"}) == "count"
    inferred = [
        ("A", "dog"), ("B", "left; 2.0m"), ("C", "dog"), ("D", "left; 2.0m"), ("E", "No"), ("E", "2.5m"),
        ("E", "dog"), ("free", "3"), ("free", "right, above; 1.5m"), ("free", "Yes"), ("free", "nothing"),
    ]
    kinds = ["labels", "direction_distance", "label", "direction_distance", "yes_no", "distance", "label", "count",
             "direction_distance", "yes_no", "label"]
    assert [answer_kind({"question_type": t, "answer": a}) for t, a in inferred] == kinds


# One answer ------------------------------------------------------------------------------------------


def test_score_answer_by_kind():
    assert score_answer("Church bell and dog.", question("dog; church bell", "A"), LABELS).correct
    assert score_answer("front, left, below; 2.5 meters", question("left, front, below; 2.5m", "B")).correct
    assert score_answer("left, front; 2.5m", question("left, front, below; 2.5m", "B")).direction is False
    assert score_answer("below, front, left; 2.0m", question("left, front, below; 2.5m", "B")).correct  # 0.5 m is near
    assert not score_answer("left, front, below; 1.9m", question("left, front, below; 2.5m", "B")).correct
    assert score_answer("3.5 metres", question("3.5m", "E", "distance", "distance")).correct
    assert score_answer("None.", question("none", "free", "distance")).correct
    assert not score_answer("2.0m", question("none", "free", "distance")).correct
    assert not score_answer("none", question("2.0m", "free", "distance")).correct
    assert score_answer("No, it isn't.", question("No", "E", "yes_no", "direction")).correct
    assert score_answer("two", question("2", "free", "count")).correct
    assert score_answer("Nothing.", question("nothing", "free", "label"), LABELS).correct
    assert not score_answer("dog", question("nothing", "free", "label"), LABELS).correct


@pytest.mark.parametrize("answer, reference, on_kind", [
    ("yes", ("No", "E", "yes_no"), True),
    ("left, front; 2.0m", ("No", "free", "yes_no"), False),
    ("2", ("1", "free", "count"), True),
    ("no", ("1", "free", "count"), False),
    ("dog", ("church bell", "A"), True),  # wrong, but a class
    ("no", ("church bell", "A"), False),
    ("1.0m", ("church bell", "A"), False),
    ("nothing", ("dog", "free", "label"), True),
    ("right, behind; 3.0m", ("left, front; 2.0m", "D"), True),
    ("none", ("left, front; 2.0m", "free", "direction_distance"), True),
    ("yes", ("none", "free", "direction_distance"), False),
    ("church bell", ("2.5m", "free", "distance"), False),
])
def test_answers_of_the_kind_asked_for(answer, reference, on_kind):
    assert score_answer(answer, question(*reference), LABELS).on_kind is on_kind


def test_an_unanswered_question_is_wrong_in_every_respect():
    for reference in (question("nothing", "free", "label"), question("none", "free", "distance"),
                      question("left; 2.0m", "B"), question("No", "E", "yes_no"), question("1", "free", "count")):
        outcome = score_answer(None, reference, LABELS)
        assert not outcome.answered and not outcome.correct and not outcome.exact, reference
    assert score_answer(None, question("left; 2.0m", "B")).direction is False


@pytest.mark.parametrize("reference", [
    question("left", "B"),  # no distance
    question("2.0m", "B"),  # no direction word
    question("perhaps", "E", "yes_no"),
    question("many", "free", "count"),
    question("", "A"),
    question("dog", "A", "sound"),  # unknown kind
])
def test_unreadable_references_are_refused(reference):
    with pytest.raises(ValueError):
        score_answer("dog", reference)


# Reports -----------------------------------------------------------------------------------------------


def test_detection_scores_are_micro_over_questions():
    report = answer_report([
        pair("Church bell and dog.", "dog; church bell", "A"),  # tp 2
        pair("siren", "siren; dog", "A"),  # tp 1, fn 1
        pair("dog", "siren", "C"),  # fp 1, fn 1
        pair("Nothing", "nothing", "free", "label"),  # right, but names no class
    ])
    a, c, free = report["A"], report["C"], report["free"]
    assert (a["precision"], a["recall"], a["f1"], a["set_accuracy"]) == (1.0, 0.75, pytest.approx(6 / 7), 0.5)
    assert (c["precision"], c["recall"], c["f1"], c["set_accuracy"]) == (0.0, 0.0, 0.0, 0.0)
    assert free["precision"] is None and free["set_accuracy"] == 1.0
    assert (report["precision"], report["recall"], report["f1"]) == (0.75, 0.6, pytest.approx(2 / 3))
    assert report["set_accuracy"] == 0.5
    assert report["by_kind"]["labels"]["questions"] == 2 and report["by_kind"]["label"]["questions"] == 2
    assert report["exact"] == 0.25  # only "Nothing"


def test_direction_and_distance_scores():
    report = answer_report([
        pair("front, left, below; 2.5 m", "left, front, below; 2.5m", "B"),  # all right
        pair("right, front; 1.5 metres", "right, behind; 1.0m", "B"),  # wrong direction; 0.5 m off is not an error
        pair("Above, 5 meters.", "above; 4.0m", "B"),  # 1 m off
        pair("left", "left; 3.0m", "B"),  # no distance: a distance error
        pair("behind; 2.0m", "behind; 6.0m", "D"),
    ])
    b = report["B"]
    assert b["direction_accuracy"] == 0.75
    assert b["der"] == 0.5
    assert b["distance_mae_m"] == pytest.approx(0.5)  # (0 + 0.5 + 1) / 3: the unparsed one has no error
    assert b["accuracy"] == 0.25
    assert report["direction_accuracy_single_source"] == 0.75
    assert report["der_single_source"] == 0.5
    assert report["D"]["der"] == 1.0 and report["D"]["direction_accuracy"] == 1.0
    assert report["direction_accuracy"] == 0.8 and report["der"] == 0.6
    assert report["distance_mae_m"] == pytest.approx(5.5 / 4)
    assert report["by_kind"]["direction_distance"]["questions"] == 5


def test_reasoning_scores_split_by_direction_and_distance():
    report = answer_report([
        pair("yes, it is", "Yes", "E", "yes_no", "direction"),
        pair("No.", "Yes", "E", "yes_no", "direction"),
        pair("no", "No", "E", "yes_no", "direction"),
        pair("Yes", "Yes", "E", "yes_no", "distance"),
        pair("NO", "No", "E", "yes_no", "distance"),
        pair("the dog", "dog", "E", "label", "direction"),  # open questions: scored as their kind
        pair("3.5 meters", "3.5m", "E", "distance", "distance"),
        pair("No", "Yes", "free", "yes_no"),  # not reasoning
    ])
    e = report["E"]
    assert e["binary_accuracy"] == 0.8
    assert e["binary_direction_accuracy"] == pytest.approx(2 / 3)
    assert e["binary_distance_accuracy"] == 1.0
    assert e["set_accuracy"] == 1.0 and e["der"] == 0.0 and e["distance_mae_m"] == 0.0
    assert e["accuracy"] == pytest.approx(6 / 7)
    assert report["reasoning_binary_accuracy"] == 0.8
    assert report["reasoning_direction_accuracy"] == pytest.approx(2 / 3)
    assert report["reasoning_distance_accuracy"] == 1.0
    assert report["free"]["binary_accuracy"] == 0.0
    assert report["binary_accuracy"] == pytest.approx(4 / 6)


def test_free_question_scores():
    report = answer_report([
        pair("two", "2", "free", "count"),
        pair("3", "1", "free", "count"),
        pair("none", "none", "free", "distance"),
        pair("left; 2m", "none", "free", "direction_distance"),
        pair("1.0 m", "1.5m", "free", "distance"),
    ])
    free = report["free"]
    assert free["count_accuracy"] == 0.5
    assert free["absent_accuracy"] == 0.5
    assert free["der"] == 0.0 and free["distance_mae_m"] == 0.5
    assert free["accuracy"] == 0.6
    assert free["exact"] == 0.2
    assert report["by_kind"]["count"]["count_accuracy"] == 0.5
    assert report["by_kind"]["distance"]["questions"] == 2


def test_unanswered_questions_count_as_wrong():
    report = answer_report([
        pair("dog", "dog", "A"),
        (None, question("nothing", "free", "label")),
        (None, question("left; 2.0m", "B")),
    ])
    assert (report["questions"], report["answered"]) == (3, 1)
    assert report["accuracy"] == pytest.approx(1 / 3)
    assert report["free"]["set_accuracy"] == 0.0  # "nothing" is not given by saying nothing
    assert report["B"]["direction_accuracy"] == 0.0 and report["B"]["der"] == 1.0
    assert report["B"]["distance_mae_m"] is None


def test_empty_groups_are_none_and_the_keys_are_always_there():
    report = answer_report([pair("Yes", "Yes", "E", "yes_no", "distance")])
    for name in ("A", "B", "C", "D", "free"):
        assert report[name] is None
    assert set(report["by_kind"]) == set(ANSWER_KINDS)
    assert [k for k in ANSWER_KINDS if report["by_kind"][k] is not None] == ["yes_no"]
    assert report["direction_accuracy_single_source"] is None and report["der_single_source"] is None
    assert report["reasoning_direction_accuracy"] is None
    assert report["precision"] is None and report["der"] is None and report["count_accuracy"] is None
    assert set(QUESTION_TYPES) <= set(report)
    assert json.loads(json.dumps(report, allow_nan=False)) == report
    empty = answer_report([])
    assert empty["questions"] == 0 and empty["accuracy"] is None and empty["exact"] is None


def test_extra_labels_keep_multi_word_classes_whole():
    pairs = [pair("church bell", "bell", "A")]
    # without the class list, "church" is left over beside the known "bell"
    assert answer_report(pairs)["A"]["precision"] == 0.5
    # with it, the answer names the church bell, another class
    assert answer_report(pairs, ["bell", "church bell"])["A"]["precision"] == 0.0
