import pytest

from batcli.metrics import (
    average_precision,
    front_calls,
    front_reliability,
    localization_metrics,
    localization_report,
    match_sources,
    mean_average_precision,
    seld_metrics,
)


def source(azimuth, elevation=0.0, distance=2.0, label="dog", score=0.9):
    return {"label": label, "score": score, "azimuth_deg": azimuth, "elevation_deg": elevation, "distance_m": distance}


def clip(predicted, reference, class_scores=None):
    prediction = {"audio": "a.wav", "sources": predicted}
    if class_scores is not None:
        prediction["class_scores"] = class_scores
    return prediction, reference


def test_direction_error_is_the_great_circle_angle():
    quarter = localization_metrics([clip([source(90)], [source(0)])])
    assert quarter["doa_mae_deg"] == pytest.approx(90)
    assert quarter["er20"] == 1.0
    assert localization_metrics([clip([source(359)], [source(1)])])["doa_mae_deg"] == pytest.approx(2)
    # opposite azimuths at 60 deg up are 60 deg apart over the top, not 180
    assert localization_metrics([clip([source(0, 60)], [source(180, 60)])])["doa_mae_deg"] == pytest.approx(60)
    assert localization_metrics([clip([source(10, 30)], [source(10, 0)])])["doa_mae_deg"] == pytest.approx(30)


def test_azimuth_error_ignores_elevation_and_wraps_around():
    assert localization_metrics([clip([source(10, 30)], [source(10, 0)])])["azimuth_mae_deg"] == pytest.approx(0)
    assert localization_metrics([clip([source(350)], [source(20)])])["azimuth_mae_deg"] == pytest.approx(30)
    assert localization_metrics([clip([source(0, 60)], [source(180, 60)])])["azimuth_mae_deg"] == pytest.approx(180)


def test_a_front_back_mirror_costs_no_lateral_error_and_is_left_out_of_the_unconfused_error():
    mirror, near = clip([source(150)], [source(30)]), clip([source(40)], [source(30)])  # 30 deg left-front heard left-behind
    alone = localization_metrics([mirror])
    assert alone["doa_mae_deg"] == pytest.approx(120)
    assert alone["lateral_mae_deg"] == pytest.approx(0, abs=1e-9)  # the same cone of confusion
    assert alone["doa_mae_deg_no_front_back"] is None
    both = localization_metrics([mirror, near])
    assert both["doa_mae_deg"] == pytest.approx(65)
    assert both["doa_mae_deg_no_front_back"] == pytest.approx(10)
    assert both["lateral_mae_deg"] == pytest.approx(5)  # (0 + 10) / 2: at ear height the lateral angle of azimuth 30 or 40 is 30 or 40
    # up/down along the cone: the lateral angle stays
    assert localization_metrics([clip([source(0, 40)], [source(0, -20)])])["lateral_mae_deg"] == pytest.approx(0, abs=1e-9)


def test_matching_takes_the_assignment_with_the_least_total_angle():
    predicted, reference = [source(95), source(15)], [source(10), source(100)]
    assert sorted(match_sources(predicted, reference)) == [(0, 1, pytest.approx(5)), (1, 0, pytest.approx(5))]
    metrics = localization_metrics([clip(predicted, reference)])
    assert metrics["doa_mae_deg"] == pytest.approx(5)
    assert metrics["er20"] == 0.0
    assert match_sources([], reference) == []


def test_a_weaker_second_guess_is_not_matched_to_a_single_source():
    """Sources are listed best first: with one reference only the strongest prediction is scored, so
    adding the mirror image of a wrong first guess does not hide the confusion."""
    guesses = clip([source(150), source(30)], [source(30)])
    metrics = localization_metrics([guesses])
    assert metrics["front_back_confusion"] == 1.0
    assert metrics["doa_mae_deg"] == pytest.approx(120)
    assert metrics["precision"] == 0.5  # the second guess still counts against the count of sources
    assert localization_metrics([clip([source(30), source(150)], [source(30)])])["front_back_confusion"] == 0.0


def test_left_right_and_front_back_confusions():
    left_right = localization_metrics([clip([source(270)], [source(90)])])
    assert left_right["left_right_confusion"] == 1.0
    assert left_right["front_back_confusion"] is None  # 90 is on the frontal plane: not counted
    front_back = localization_metrics([clip([source(150)], [source(30)])])
    assert front_back["front_back_confusion"] == 1.0
    assert front_back["left_right_confusion"] == 0.0
    both = localization_metrics([clip([source(150)], [source(30)]), clip([source(40)], [source(30)])])
    assert both["front_back_confusion"] == 0.5
    # a reference straight ahead is within the margin of the median plane
    assert localization_metrics([clip([source(300)], [source(5)])])["left_right_confusion"] is None


def test_front_reliability_bins_the_predicted_probability_against_where_sources_were():
    def sure(p, azimuth):  # a source heard at azimuth 30 with front probability p; the reference at `azimuth`
        return clip([{**source(30), "front_probability": p}], [source(azimuth)])

    pairs = [sure(0.9, 30), sure(0.9, 30), sure(0.9, 30), sure(0.9, 150), sure(0.1, 150), sure(0.1, 90)]
    calls = front_calls(pairs)
    assert sorted(calls) == [(0.1, False), (0.9, False), (0.9, True), (0.9, True), (0.9, True)]  # 90: on the plane, left out
    table = front_reliability(calls)
    assert [row["sources"] for row in table] == [1, 0, 0, 0, 4]
    assert table[4]["predicted"] == pytest.approx(0.9) and table[4]["observed"] == pytest.approx(0.75)
    assert table[1]["predicted"] is None
    # 4 sources 0.15 off, 1 source 0.1 off
    assert localization_metrics(pairs)["front_calibration_error"] == pytest.approx((4 * 0.15 + 0.1) / 5)
    assert localization_metrics([clip([source(30)], [source(30)])])["front_calibration_error"] is None  # no probability given


def test_distance_errors_and_der():
    metrics = localization_metrics(
        [
            clip([source(0, distance=2.4)], [source(0, distance=2.0)]),
            clip([source(0, distance=1.4)], [source(0, distance=2.0)]),
        ]
    )
    assert metrics["distance_mae_m"] == pytest.approx(0.5)
    assert metrics["der"] == 0.5


def test_average_precision_by_hand():
    assert average_precision([0.9, 0.1, 0.8], [True, False, True]) == 1.0
    assert average_precision([0.9, 0.8, 0.7], [True, False, True]) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision([0.5, 0.5], [True, False]) == 0.5  # a tie ranks the negative first
    assert average_precision([0.5, 0.5], [False, True]) == 0.5
    assert average_precision([0.3, 0.2], [False, False]) is None
    assert mean_average_precision([{}, {}], [set(), set()]) is None


def test_map_from_class_scores_is_a_macro_mean():
    pairs = [
        clip([], [source(0, label="dog")], {"dog": 0.9, "cat": 0.1}),
        clip([], [source(0, label="cat")], {"dog": 0.8, "cat": 0.6}),
        clip([], [source(0, label="dog")], {"dog": 0.7, "cat": 0.2, "bird": 0.9}),  # no bird anywhere: not scored
    ]
    assert localization_metrics(pairs)["map"] == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)
    perfect = [
        clip([], [source(0, label="dog")], {"dog": 0.9}),
        clip([], [source(0, label="cat")], {"dog": 0.2, "cat": 0.1}),
    ]
    assert localization_metrics(perfect)["map"] == 1.0


def test_map_without_class_scores_uses_the_best_source_score():
    pairs = [
        clip([source(0, label="dog", score=0.3), source(90, label="dog", score=0.95)], [source(0, label="dog")]),
        clip([source(0, label="dog", score=0.9)], [source(0, label="cat")]),
    ]
    # dog: 0.95 (positive) ranks above 0.9 -> AP 1; cat: scored 0 in both clips, the negative first -> 1/2
    assert localization_metrics(pairs)["map"] == pytest.approx(0.75)


def test_location_f1_needs_the_label_and_the_direction():
    reference = [source(0, label="dog"), source(90, label="cat")]
    metrics = localization_metrics([clip([source(5, label="dog"), source(92, label="bird")], reference)])
    assert (metrics["location_precision"], metrics["location_recall"], metrics["location_f1"]) == (0.5, 0.5, 0.5)
    assert metrics["doa_mae_deg"] == pytest.approx(3.5)  # direction matching ignores labels
    too_far = localization_metrics([clip([source(30, label="dog")], [source(0, label="dog")])])
    assert too_far["location_f1"] == 0.0
    each_reference_once = localization_metrics([clip([source(0), source(2)], [source(1)])])
    assert each_reference_once["location_precision"] == 0.5
    assert each_reference_once["location_recall"] == 1.0
    assert each_reference_once["location_f1"] == pytest.approx(2 / 3)


def test_location_hits_take_the_pairing_with_the_most_hits():
    # the least total angle pairs P with A (0 deg) and Q with B (21.9 deg, a miss); P-B (19) and Q-A (17.7) are two hits
    a, b = source(0), source(19)
    p, q = source(0), source(5, 17)
    metrics = localization_metrics([clip([p, q], [a, b])])
    assert metrics["doa_mae_deg"] == pytest.approx(21.9 / 2, abs=0.05)
    assert metrics["er20"] == 0.5
    assert metrics["location_recall"] == 1.0


def test_missed_references_count_in_er20_and_recall():
    metrics = localization_metrics([clip([source(0)], [source(0), source(180, label="cat")])])
    assert metrics["er20"] == 0.5
    assert metrics["recall"] == 0.5
    assert metrics["precision"] == 1.0
    nothing = localization_metrics([clip([], [source(0)])])
    assert nothing["er20"] == 1.0
    assert nothing["doa_mae_deg"] is None
    assert nothing["precision"] is None


def test_empty_input_gives_none_not_nan():
    metrics = localization_metrics([])
    assert metrics["clips"] == metrics["references"] == metrics["predictions"] == 0
    for key in (
        "map",
        "doa_mae_deg",
        "azimuth_mae_deg",
        "lateral_mae_deg",
        "doa_mae_deg_no_front_back",
        "er20",
        "distance_mae_m",
        "der",
        "left_right_confusion",
        "front_back_confusion",
        "recall",
        "precision",
        "location_precision",
        "location_recall",
        "location_f1",
    ):
        assert metrics[key] is None, key


def test_report_groups_by_the_number_of_reference_sources():
    report = localization_report([clip([source(0)], [source(10)]), clip([], [])])
    assert set(report) == {"all", "single_source", "two_source"}
    assert report["all"]["clips"] == 2
    assert report["single_source"]["clips"] == 1
    assert report["single_source"]["doa_mae_deg"] == pytest.approx(10)
    assert report["two_source"] is None


def test_dcase_scores_pair_within_a_class_and_average_over_classes():
    frames = [
        ([source(10, label="dog")], [source(10, label="dog")]),
        ([source(100, label="bell"), source(300, label="bell")], [source(105, label="bell")]),  # one extra
        ([source(50, label="rain", distance=3.0)], [source(50, label="rain", distance=2.0)]),
        ([source(0, label="siren")], [source(0, label="dog")]),  # a wrong class: a false positive and a miss
    ]
    scores = seld_metrics(frames)
    # per class TP / (TP + FP_spatial + (FP + FN) / 2); the dog is missed in the last frame
    f = {"dog": 1 / (1 + 0.5), "bell": 1 / (1 + 0.5), "rain": 1.0, "siren": 0.0}
    assert scores["classes"] == 4 and scores["f20"] == pytest.approx(sum(f.values()) / 4)
    assert scores["doa_error_deg"] == pytest.approx((0 + 5 + 0) / 3)  # classes with a pair only
    assert scores["relative_distance_error"] == pytest.approx((0 + 0 + 0.5) / 3)
    far = seld_metrics([([source(40, distance=2.1)], [source(10, distance=2.0)]),
                        ([source(10, distance=4.5)], [source(10, distance=2.0)])])
    assert far["f20"] == 0.0  # 30 deg off, then a relative distance error of 1.25: both spatial false positives
    assert far["seld_score"] == pytest.approx((1 + far["doa_error_deg"] / 180 + far["relative_distance_error"]) / 3)


def test_an_either_or_answer_must_pick_one_offered_option():
    from batcli.metrics import score_answer

    reference = {"question": "Is the dog in front of me or behind me?", "answer": "behind", "answer_kind": "option", "question_type": "free"}
    assert score_answer("Behind.", reference, ["dog"]).correct
    assert score_answer("it's behind you", reference, ["dog"]).correct
    wrong = score_answer("in front", reference, ["dog"])
    assert wrong.on_kind and not wrong.correct
    for off in ("No", "in front or behind", "left"):  # not one of the options, or both
        outcome = score_answer(off, reference, ["dog"])
        assert not outcome.on_kind and not outcome.correct
    unsure = score_answer("I can't tell front from behind", reference, ["dog"])
    assert unsure.on_kind and not unsure.correct  # an honest answer of the kind, never a right one
    between = {"question": "Which is closer, the dog or the siren?", "answer": "siren", "answer_kind": "option", "question_type": "E"}
    assert score_answer("the siren", between, ["dog", "siren"]).correct
    assert not score_answer("Yes", between, ["dog", "siren"]).on_kind


def test_a_question_the_sound_cannot_answer_wants_an_honest_answer():
    from batcli.metrics import score_answer

    reference = {"question": "What colour is the dog?", "answer": "I can't tell that from the sound", "answer_kind": "unanswerable",
                 "question_type": "free"}
    assert score_answer("I cannot tell from the sound.", reference).correct
    assert score_answer("I don't know", reference).correct
    assert not score_answer("brown", reference).correct
    assert not score_answer(None, reference).on_kind
