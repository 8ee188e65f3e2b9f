"""Scores for localization (detection mAP, direction and distance errors, location-aware F1) and for
answers to questions (tolerant parsing of the answer styles of batcli.sim.questions, then detection,
direction, distance, yes/no and count scores per question type).

Pure functions over records as read from JSONL (dicts); numpy and scipy only. A share with an
empty denominator is None (null in JSON), never NaN. Angles are great-circle angles in degrees.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import linear_sum_assignment

from .geometry import DIRECTION_MARGIN_DEG, great_circle_deg, plane_angles
from .grammar import OPTION_SIDES, offered_options

DOA_THRESHOLD_DEG = 20.0  # ER20 and location-aware F1: a direction more than this far off is wrong
DISTANCE_THRESHOLD_M = 0.5  # DER: a distance more than this far off is wrong

# The groups of localization_report: windows with this many reference sources.
GROUPS = {"single_source": 1, "two_source": 2}

FRONT_BINS = 5  # bins of the front-probability reliability table, equal widths over [0, 1]

MIN_OVERLAP_S = 0.25  # a source counts in a window when it sounds at least this long inside it


def sources_in_window(sources: list[dict], start_s: float, end_s: float) -> list[dict]:
    """The sources that sound for at least MIN_OVERLAP_S of the window [start_s, end_s]; a source
    without onset_s or offset_s sounds from the clip's start or to its end."""
    active = []
    for source in sources:
        onset, offset = source.get("onset_s"), source.get("offset_s")
        onset, offset = (0.0 if onset is None else onset), (float("inf") if offset is None else offset)
        if min(end_s, offset) - max(start_s, onset) >= MIN_OVERLAP_S:
            active.append(source)
    return active


def average_precision(scores, positives) -> float | None:
    """Mean of the precision at each positive, ranked by descending score; None without positives.

    Among equal scores the negatives rank first, so a tie never helps and the result does not
    depend on the order of the input.
    """
    scores = np.asarray(scores, dtype=np.float64)
    positives = np.asarray(positives, dtype=bool)
    if not positives.any():
        return None
    hits = positives[np.lexsort((positives, -scores))]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def mean_average_precision(clip_scores: list[dict[str, float]], clip_labels: list[set[str]]) -> float | None:
    """Macro mean of the per-class AP over the classes present in at least one clip's labels.

    `clip_scores[i]` maps a class to clip i's detection score (a missing class scores 0);
    `clip_labels[i]` is the set of classes that clip i really holds. None when no clip holds any.
    """
    classes = sorted(set().union(*clip_labels))
    if not classes:
        return None
    aps = [
        average_precision([scores.get(c, 0.0) for scores in clip_scores], [c in labels for labels in clip_labels])
        for c in classes
    ]
    return float(np.mean(aps))


def clip_scores(prediction: dict) -> dict[str, float]:
    """A prediction's detection score per class: its `class_scores`, else each label's best source score."""
    if "class_scores" in prediction:
        return prediction["class_scores"]
    scores = {}
    for source in prediction["sources"]:
        scores[source["label"]] = max(scores.get(source["label"], 0.0), source["score"])
    return scores


def angle_matrix(predicted: list[dict], reference: list[dict]) -> np.ndarray:
    """Great-circle angles between every predicted source (rows) and every reference source (columns)."""

    def directions(sources):
        return np.array([[s["azimuth_deg"], s["elevation_deg"]] for s in sources], dtype=np.float64).reshape(-1, 2)

    p, r = directions(predicted), directions(reference)
    return great_circle_deg(p[:, None, 0], p[:, None, 1], r[None, :, 0], r[None, :, 1])


def match_sources(predicted: list[dict], reference: list[dict]) -> list[tuple[int, int, float]]:
    """(predicted index, reference index, angle) for the pairing with the least total angle.

    Labels are ignored; min(len(predicted), len(reference)) pairs, the rest stay unmatched.
    """
    angles = angle_matrix(predicted, reference)
    rows, cols = linear_sum_assignment(angles)
    return [(int(i), int(j), float(angles[i, j])) for i, j in zip(rows, cols)]


def location_hits(predicted: list[dict], reference: list[dict]) -> int:
    """True positives of location-aware detection in one clip: a predicted source with a reference's
    label within DOA_THRESHOLD_DEG of it, each reference used once, as many as any pairing allows."""
    same_label = np.array([[p["label"] == r["label"] for r in reference] for p in predicted], dtype=bool)
    same_label = same_label.reshape(len(predicted), len(reference))  # also when either is empty
    allowed = same_label & (angle_matrix(predicted, reference) <= DOA_THRESHOLD_DEG)
    rows, cols = linear_sum_assignment(allowed, maximize=True)
    return int(allowed[rows, cols].sum())


def localization_metrics(pairs: list[tuple[dict, list[dict]]]) -> dict:
    """Scores of localization records against the reference sources of their windows.

    `pairs` holds (prediction record, reference sources sounding in its window); each pair is one
    "clip". Directions and distances are compared over the pairs of match_sources between the
    references and as many of the strongest predictions (records list sources best first): a system
    that adds a weaker second guess, say the mirror image of its first, gets no second chance. mAP ranks the
    clips by clip_scores for every class among the reference labels. Shares are fractions in [0, 1].
    """
    references = predictions = hits = 0
    angles, azimuth_errors, lateral_errors, distance_errors, left_right, front_back = [], [], [], [], [], []
    unconfused = []  # angles of the pairs not put on the wrong side of the frontal plane
    for prediction, reference in pairs:
        predicted = prediction["sources"]
        references += len(reference)
        predictions += len(predicted)
        hits += location_hits(predicted, reference)
        for i, j, angle in match_sources(predicted[: len(reference)], reference):
            p, r = predicted[i], reference[j]
            angles.append(angle)
            azimuth_errors.append(abs((p["azimuth_deg"] - r["azimuth_deg"] + 180) % 360 - 180))
            distance_errors.append(abs(p["distance_m"] - r["distance_m"]))
            p_lateral, p_frontal, _ = plane_angles(p["azimuth_deg"], p["elevation_deg"])
            r_lateral, r_frontal, _ = plane_angles(r["azimuth_deg"], r["elevation_deg"])
            lateral_errors.append(abs(p_lateral - r_lateral))
            if abs(r_lateral) > DIRECTION_MARGIN_DEG:
                left_right.append(p_lateral * r_lateral < 0)
            confused = abs(r_frontal) > DIRECTION_MARGIN_DEG and p_frontal * r_frontal < 0
            if abs(r_frontal) > DIRECTION_MARGIN_DEG:
                front_back.append(confused)
            if not confused:
                unconfused.append(angle)
    matched = len(angles)
    within = sum(angle <= DOA_THRESHOLD_DEG for angle in angles)
    return {
        "clips": len(pairs),
        "references": references,
        "predictions": predictions,
        "map": mean_average_precision([clip_scores(p) for p, _ in pairs], [{s["label"] for s in r} for _, r in pairs]),
        "doa_mae_deg": _mean(angles),
        "azimuth_mae_deg": _mean(azimuth_errors),
        "lateral_mae_deg": _mean(lateral_errors),
        "doa_mae_deg_no_front_back": _mean(unconfused),
        "er20": _share(references - within, references),  # a reference without a match counts as an error
        "distance_mae_m": _mean(distance_errors),
        "der": _mean([error > DISTANCE_THRESHOLD_M for error in distance_errors]),
        "left_right_confusion": _mean(left_right),
        "front_back_confusion": _mean(front_back),
        "front_calibration_error": calibration_error(front_calls(pairs)),
        "recall": _share(matched, references),
        "precision": _share(matched, predictions),
        "location_precision": _share(hits, predictions),
        "location_recall": _share(hits, references),
        "location_f1": _share(2 * hits, predictions + references),
    }


def front_reliability(calls: list[tuple[float, bool]]) -> list[dict]:
    """Reliability table of predicted front probabilities against where the sources were: per bin of
    FRONT_BINS over [0, 1], the number of sources, their mean predicted probability and the share in front."""
    table = []
    for index in range(FRONT_BINS):
        low, high = index / FRONT_BINS, (index + 1) / FRONT_BINS
        inside = [(p, front) for p, front in calls if low <= p < high or (index == FRONT_BINS - 1 and p == 1.0)]
        table.append({"from": low, "to": high, "sources": len(inside), "predicted": _mean([p for p, _ in inside]),
                      "observed": _mean([front for _, front in inside])})
    return table


def calibration_error(calls: list[tuple[float, bool]]) -> float | None:
    """Expected calibration error: the sources' mean gap between predicted and observed share, per reliability bin."""
    if not calls:
        return None
    return sum(row["sources"] * abs(row["predicted"] - row["observed"]) for row in front_reliability(calls) if row["sources"]) / len(calls)


def front_calls(pairs: list[tuple[dict, list[dict]]]) -> list[tuple[float, bool]]:
    """(front_probability, in front) of every predicted source matched to a reference off the frontal plane."""
    calls = []
    for prediction, reference in pairs:
        predicted = prediction["sources"]
        for i, j, _ in match_sources(predicted[: len(reference)], reference):
            r_frontal = plane_angles(reference[j]["azimuth_deg"], reference[j]["elevation_deg"])[1]
            if abs(r_frontal) > DIRECTION_MARGIN_DEG and isinstance(predicted[i].get("front_probability"), (int, float)):
                calls.append((float(predicted[i]["front_probability"]), r_frontal > 0))
    return calls


def localization_report(pairs: list[tuple[dict, list[dict]]]) -> dict:
    """localization_metrics over all pairs, and over those whose window has one and two reference sources.

    A group without any pair is None, so the three keys are always there. Windows with no or more
    than two reference sources count in "all" only.
    """
    report = {"all": localization_metrics(pairs)}
    for name, count in GROUPS.items():
        group = [pair for pair in pairs if len(pair[1]) == count]
        report[name] = localization_metrics(group) if group else None
    return report


# DCASE 2024 task 3 -------------------------------------------------------------------------------
#
# The SELD scores of the DCASE 2024 baseline (its SELDMetrics, frame-level, macro over classes), computed
# over 100-ms frames of sources; docs/evaluation.md says where they differ from ours.

RELATIVE_DISTANCE_THRESHOLD = 1.0  # DCASE 2024: a detection whose distance is off by more than this share is wrong


@dataclass
class _ClassCounts:
    true_positives: int = 0
    false_positives: int = 0  # predictions beyond the references' count, or without any reference
    spatial_false_positives: int = 0  # matched, but more than 20 deg or a relative distance of 1 off
    false_negatives: int = 0
    matched: int = 0
    angle_sum: float = 0.0
    relative_distance_sum: float = 0.0


def seld_metrics(frames: list[tuple[list[dict], list[dict]]]) -> dict:
    """DCASE 2024 SELD scores of (predicted sources, reference sources) per frame.

    In each frame the predictions and references of each class are paired by the least total angle.
    A pair counts as a true positive when within DOA_THRESHOLD_DEG and RELATIVE_DISTANCE_THRESHOLD,
    else as a false positive; unpaired predictions are false positives, unpaired references false
    negatives. Per class, F = TP / (TP + FP_spatial + (FP + FN) / 2), the DOA error is the mean angle of
    the pairs and the relative distance error the mean |predicted - reference| / reference distance over
    them; each is then averaged over the classes (a class with no pair has no DOA or distance error).
    `seld_score` is the mean of 1 - F, DOA error / 180 and relative distance error.
    """
    counts: dict[str, _ClassCounts] = {}
    for predicted, reference in frames:
        for label in sorted({s["label"] for s in predicted} | {s["label"] for s in reference}):
            p = [s for s in predicted if s["label"] == label]
            r = [s for s in reference if s["label"] == label]
            c = counts.setdefault(label, _ClassCounts())
            c.false_positives += max(0, len(p) - len(r))
            c.false_negatives += max(0, len(r) - len(p))
            if not (p and r):
                continue
            angles = angle_matrix(p, r)
            rows, cols = linear_sum_assignment(angles)
            for i, j in zip(rows, cols):
                truth = r[j]["distance_m"]
                relative = abs(p[i]["distance_m"] - truth) / (truth + np.finfo(float).eps)  # as the baseline
                wrong = angles[i, j] > DOA_THRESHOLD_DEG or relative > RELATIVE_DISTANCE_THRESHOLD
                c.spatial_false_positives += wrong
                c.true_positives += not wrong
                c.matched += 1
                c.angle_sum += float(angles[i, j])
                c.relative_distance_sum += float(relative)
    f = [c.true_positives / (c.true_positives + c.spatial_false_positives + (c.false_positives + c.false_negatives) / 2)
         for c in counts.values()]
    doa = [c.angle_sum / c.matched for c in counts.values() if c.matched]
    rde = [c.relative_distance_sum / c.matched for c in counts.values() if c.matched]
    f20, doa_error, relative_error = _mean(f), _mean(doa), _mean(rde)
    parts = [value for value in (None if f20 is None else 1 - f20, None if doa_error is None else doa_error / 180,
                                 relative_error) if value is not None]
    return {
        "frames": len(frames),
        "classes": len(counts),
        "f20": f20,
        "doa_error_deg": doa_error,
        "relative_distance_error": relative_error,
        "seld_score": _mean(parts),
    }


def _mean(values) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _share(count: int, total: int) -> float | None:
    return count / total if total else None


# Answers to questions ------------------------------------------------------------------------------
#
# References are question records of `bat simulate` (qa.jsonl): `question_type` A-E or free, `answer`
# and `answer_kind`, `reasoning` for type E. Answers are parsed leniently: case, surrounding
# punctuation, spacing and word order do not matter, and synonyms of the answer words are accepted.

QUESTION_TYPES = ("A", "B", "C", "D", "E", "free")
ANSWER_KINDS = ("labels", "label", "direction_distance", "distance", "yes_no", "count", "option", "unanswerable")
LABEL_KINDS = ("labels", "label")  # answers that name sound classes (a set of them; one, or "nothing")
# The figures answer_report puts beside the scores of all questions.
HEADLINE_KEYS = ("reasoning_binary_accuracy", "reasoning_direction_accuracy", "reasoning_distance_accuracy",
                 "direction_accuracy_single_source", "der_single_source")

YES_WORDS = frozenset({"yes", "yeah", "yep", "yup", "true", "correct"})
NO_WORDS = frozenset({"no", "nope", "false", "incorrect"})
# Words that say a sound is not there: "none" (where is an absent sound), "nothing" (what is on my left).
NONE_WORDS = frozenset({"none", "nothing", "nowhere", "absent", "silence", "no", "not", "isn't", "aren't", "don't",
                        "can't", "cannot"})
# Answer words and the direction word each stands for (the simulator writes the first of each group).
DIRECTION_SYNONYMS = {
    "left": "left",
    "right": "right",
    "front": "front", "ahead": "front", "forward": "front", "forwards": "front",
    "behind": "behind", "back": "behind", "rear": "behind", "backwards": "behind",
    "above": "above", "up": "above", "overhead": "above",
    "below": "below", "down": "below", "under": "below", "beneath": "below", "underneath": "below",
}
# Words around the class names of a detection answer that name nothing ("I can hear a dog on my left").
FILLER_WORDS = frozenset({
    "a", "an", "the", "some", "any", "and", "or", "i", "you", "we", "can", "could", "hear", "there", "is", "are",
    "it", "it's", "its", "this", "that", "sound", "sounds", "of", "only", "just", "also", "both", "else", "here",
    "plus", "with", "at", "all", "on", "in", "to", "from", "my", "me", "side", "coming", "one",
}) | frozenset(DIRECTION_SYNONYMS)
NUMBER_WORDS = {word: value for value, word in enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"))}

_PUNCTUATION = " \t\r\n.,;:!?\"'`()[]{}"
# An answer that says the question cannot be answered from the sound ("I can't tell that from the sound").
CANNOT_TELL = re.compile(r"\b(?:can't|cannot|can not|unable to|no way to|impossible to) (?:tell|say|know|hear)\b|\bdon't know\b")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_HALF = r"(?P<half>\s+and\s+a\s+half)?"
_UNIT = r"\s*(?P<unit>centimet(?:er|re)s?|cm|met(?:er|re)s?|m)?(?![a-z])"
_DIGITS = re.compile(r"(?<![\w.])(?P<number>\d+(?:\.\d+)?|\.\d+)" + _HALF + _UNIT)
_NUMBER_WORD = re.compile(r"(?<![a-z])(?P<number>" + "|".join(NUMBER_WORDS) + "|half)" + _HALF + _UNIT)
_LIST_SEPARATOR = re.compile(r"[;,&]|\band\b")


def normalize_answer(text: str) -> str:
    """Lower case, surrounding whitespace and punctuation dropped, inner whitespace runs made one space:
    the form in which two answers are the same for the `exact` score."""
    return " ".join(text.lower().strip(_PUNCTUATION).split())


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def parse_yes_no(text: str) -> bool | None:
    """True or False by the first yes- or no-word ("Yes.", "yes, it is", "No"); None when there is none."""
    for word in _words(text):
        if word in YES_WORDS:
            return True
        if word in NO_WORDS:
            return False
    return None


def _number(match: re.Match) -> float:
    word = match["number"]
    value = 0.5 if word == "half" else NUMBER_WORDS[word] if word in NUMBER_WORDS else float(word)
    return value + (0.5 if match["half"] else 0.0)


def parse_distance(text: str) -> float | None:
    """The first distance in metres: `2.5m`, `2.5 m`, `2.5 meters`, `2.5 metres`, `250 cm`, `2 and a half
    metres`, `two metres`, `half a metre`; a bare number is metres. None when the text holds no number."""
    lowered = text.lower()
    match = _DIGITS.search(lowered) or _NUMBER_WORD.search(lowered)
    if match is None:
        return None
    unit = match["unit"] or "m"
    return _number(match) / (100.0 if unit.startswith("c") else 1.0)


def parse_count(text: str) -> int | None:
    """A whole number in digits or words ("2", "two sounds"); 0 for "none", "no sounds"; else None,
    also for a length ("1.0m" answers how far, not how many)."""
    lowered = text.lower()
    match = _DIGITS.search(lowered) or _NUMBER_WORD.search(lowered)
    if match is not None:
        value = _number(match)
        return int(value) if value == int(value) and match["number"] != "half" and not match["unit"] else None
    return 0 if NONE_WORDS & set(_words(text)) else None


def parse_direction(text: str) -> frozenset[str]:
    """The direction words (left/right, front/behind, above/below) the text says, in any order and among
    other words: "to the left and in front" -> {left, front}; "back" is behind, "ahead" front, "up"
    above, "down" below (DIRECTION_SYNONYMS)."""
    return frozenset(DIRECTION_SYNONYMS[word] for word in _words(text) if word in DIRECTION_SYNONYMS)


def is_absent(text: str) -> bool:
    """Whether a where/how-far answer says the sound is not there ("none", "nothing", "it isn't there"):
    a none-word, and neither a direction word nor a number."""
    return bool(NONE_WORDS & set(_words(text))) and not parse_direction(text) and parse_distance(text) is None


@lru_cache(maxsize=8)
def _label_patterns(labels: frozenset[str]) -> list[tuple[str, re.Pattern]]:
    """(label, pattern) longest label first; a label matches as whole words, also with a plural -s/-es."""
    return [
        (label, re.compile(r"(?<!\w)" + re.escape(label) + r"(?:e?s)?(?!\w)"))
        for label in sorted(labels, key=lambda label: (-len(label), label))
    ]


def parse_labels(text: str, labels: Iterable[str] = ()) -> frozenset[str] | None:
    """The sound classes an answer names, in lower case.

    The known `labels` are found first, anywhere in the text as whole words (longest first, so
    "church bell" is one class even where "bell" is another). What is left is split at ";", ",", "&"
    and "and"; a piece of filler words only ("I can hear a ... on my left") names nothing, any other
    piece is a class as written, without a leading article. An answer that names no class is the empty
    set when it says so ("none", "nothing", "no sound") and None (no answer) otherwise.
    """
    rest = normalize_answer(text)
    found = set()
    for label, pattern in _label_patterns(frozenset(label.lower().strip() for label in labels if label.strip())):
        rest, hits = pattern.subn(";", rest)
        if hits:
            found.add(label)
    says_none = False
    for piece in _LIST_SEPARATOR.split(rest):
        words = _words(piece)
        if all(word in FILLER_WORDS or word in NONE_WORDS for word in words):
            says_none = says_none or bool(NONE_WORDS.intersection(words))
            continue
        kept = piece.strip(_PUNCTUATION).split()
        while kept and kept[0] in ("a", "an", "the", "some"):
            kept = kept[1:]
        found.add(" ".join(kept))
    if found:
        return frozenset(found)
    return frozenset() if says_none else None


def answer_kind(reference: dict) -> str | None:
    """A question record's `answer_kind`; for a record without one, the kind its question type and
    answer imply: A labels, B and D direction_distance, C label; else yes_no for a bare yes or no,
    count for a bare whole number, direction_distance or distance for a distance with or without
    direction words, label otherwise."""
    if "answer_kind" in reference:
        return reference["answer_kind"]
    fixed = {"A": "labels", "B": "direction_distance", "C": "label", "D": "direction_distance"}
    answer = reference.get("answer")
    if reference.get("question_type") in fixed or not isinstance(answer, str):
        return fixed.get(reference.get("question_type"))
    plain = normalize_answer(answer)
    if plain in YES_WORDS or plain in NO_WORDS:
        return "yes_no"
    if plain.isdigit():
        return "count"
    if parse_distance(answer) is not None:
        return "direction_distance" if parse_direction(answer) else "distance"
    return "label"


def known_labels(references: Iterable[dict], extra: Iterable[str] = ()) -> frozenset[str]:
    """The class names to look for in answers: the `extra` ones (a data set's labels.txt) and those of
    the reference answers of label kinds (`dog; church bell` -> dog, church bell) and of either/or
    questions between two sounds, in lower case."""
    labels = {label.strip().lower() for label in extra}
    for reference in references:
        kind = answer_kind(reference)
        if isinstance(reference.get("answer"), str) and (kind in LABEL_KINDS or kind == "option" and normalize_answer(reference["answer"]) not in OPTION_SIDES):
            labels.update(piece.strip(_PUNCTUATION).lower() for piece in reference["answer"].split(";"))
    return frozenset(label for label in labels if label and label not in NONE_WORDS)


@dataclass(frozen=True)
class Outcome:
    """How one answer fares against its reference (see score_answer)."""

    question_type: str
    kind: str
    reasoning: str | None
    answered: bool
    exact: bool  # normalize_answer() of both agree
    correct: bool  # right by the rule of its kind
    true_positives: int = 0  # label kinds: classes named in both
    false_positives: int = 0  # named only in the answer
    false_negatives: int = 0  # named only in the reference
    direction: bool | None = None  # direction_distance with a place in the reference: same set of direction words
    distance_asked: bool = False  # the reference gives a distance (direction_distance or distance, not "none")
    distance_error_m: float | None = None  # |answer - reference|; None when the answer holds no distance
    absent: bool | None = None  # the reference says "none": did the answer say so too
    on_kind: bool = False  # the answer is of the kind asked for, right or wrong (see answers_in_kind)


def answers_in_kind(answer: str, kind: str, labels: Iterable[str] = ()) -> bool:
    """Whether an answer is of the kind asked for, right or wrong: yes or no to a yes/no question; a
    number to "how many"; known classes or "nothing" to a which-sound question (not a bare yes or no);
    direction words or a distance, or "none", to a where- or how-far question (not a bare yes or no).
    A model that answers "no" to "what can you hear?" or "1.0m" to "is the dog behind me?" misreads the
    question, whatever it heard."""
    if kind == "yes_no":
        return parse_yes_no(answer) is not None
    if normalize_answer(answer) in YES_WORDS | NO_WORDS:
        return False
    if kind == "count":
        return parse_count(answer) is not None
    if kind in LABEL_KINDS:
        named = parse_labels(answer, labels)
        known = {label.lower() for label in labels}
        return named is not None and named <= known and parse_distance(answer) is None
    if kind == "distance":
        return parse_distance(answer) is not None or is_absent(answer)
    return bool(parse_direction(answer)) or parse_distance(answer) is not None or is_absent(answer)


def score_answer(answer: str | None, reference: dict, labels: Iterable[str] = ()) -> Outcome:
    """Score one answer (None: not answered, wrong in every respect) against a question record.

    Correct means, by answer_kind(): labels/label - the same set of classes (parse_labels; "nothing"
    is the empty set); direction_distance - the same set of direction words and a distance at most
    DISTANCE_THRESHOLD_M off, or "none" for "none"; distance - at most DISTANCE_THRESHOLD_M off, or
    "none" for "none"; yes_no - the same yes or no; count - the same number; option - of the two
    answers the question offers (the reference's `options`, or read from its question), the answer
    names the right one and not the other; unanswerable - the answer says it cannot tell.
    Raises ValueError (TypeError: no answer text) when the reference itself cannot be read that way.
    """
    kind, truth = answer_kind(reference), reference.get("answer")
    if kind not in ANSWER_KINDS:
        raise ValueError(f"answer_kind {kind!r} is not one of {', '.join(ANSWER_KINDS)}")
    if not isinstance(truth, str):
        raise TypeError("no 'answer' text")
    answered = isinstance(answer, str)
    given = answer if answered else ""
    common = {
        "question_type": str(reference.get("question_type")),
        "kind": kind,
        "reasoning": reference.get("reasoning"),
        "answered": answered,
        "exact": answered and normalize_answer(given) == normalize_answer(truth),
        "on_kind": answered and answers_in_kind(given, kind, labels),
    }
    if kind == "option":  # one of the two answers the question offers
        offered = [normalize_answer(o) for o in reference.get("options") or offered_options(str(reference.get("question", "")), list(labels)) or []]
        if normalize_answer(truth) not in offered:
            raise ValueError(f"answer {truth!r} is not one of the options the question offers")
        honest = answered and CANNOT_TELL.search(given.lower()) is not None  # "I can't tell front from behind" answers, wrongly
        said = [o for o in offered if re.search(rf"(?<![a-z]){re.escape(o)}(?![a-z])", given.lower())]
        picked = said[0] if len(said) == 1 and not honest else None  # an answer that says both options (or neither) picks none
        truth = normalize_answer(truth)
        return Outcome(**{**common, "on_kind": picked is not None or honest},
                       correct=picked is not None and OPTION_SIDES.get(picked, picked) == OPTION_SIDES.get(truth, truth))
    if kind == "unanswerable":
        honest = answered and CANNOT_TELL.search(given.lower()) is not None
        return Outcome(**{**common, "on_kind": honest}, correct=honest)
    if kind in LABEL_KINDS:
        expected = parse_labels(truth, labels)
        if expected is None:
            raise ValueError(f"answer {truth!r} names no class")
        named = parse_labels(given, labels) if answered else None
        found = named or frozenset()
        return Outcome(**common, correct=named == expected, true_positives=len(found & expected),
                       false_positives=len(found - expected), false_negatives=len(expected - found))
    if kind in ("direction_distance", "distance"):
        if is_absent(truth):
            absent = answered and is_absent(given)
            return Outcome(**common, correct=absent, absent=absent)
        distance = parse_distance(truth)
        if distance is None:
            raise ValueError(f"answer {truth!r} holds no distance")
        guessed = parse_distance(given) if answered else None
        error = None if guessed is None else abs(guessed - distance)
        near = error is not None and error <= DISTANCE_THRESHOLD_M
        if kind == "distance":
            return Outcome(**common, correct=near, distance_asked=True, distance_error_m=error)
        words = parse_direction(truth)
        if not words:
            raise ValueError(f"answer {truth!r} holds no direction word")
        direction = answered and parse_direction(given) == words
        return Outcome(**common, correct=direction and near, direction=direction, distance_asked=True,
                       distance_error_m=error)
    parse = parse_yes_no if kind == "yes_no" else parse_count
    expected = parse(truth)
    if expected is None:
        raise ValueError(f"answer {truth!r} is not a {'yes or no' if kind == 'yes_no' else 'number'}")
    return Outcome(**common, correct=answered and parse(given) == expected)


def answer_metrics(outcomes: list[Outcome]) -> dict:
    """Scores of a group of answers; every key is there, None where no question of the group has it.

    Shares are fractions in [0, 1]; an unanswered question counts, and counts as wrong, everywhere.
    """
    labelled = [o for o in outcomes if o.kind in LABEL_KINDS]
    tp = sum(o.true_positives for o in labelled)
    fp = sum(o.false_positives for o in labelled)
    fn = sum(o.false_negatives for o in labelled)
    errors = [o.distance_error_m for o in outcomes if o.distance_asked]
    binary = [o for o in outcomes if o.kind == "yes_no"]
    return {
        "questions": len(outcomes),
        "answered": sum(o.answered for o in outcomes),
        "exact": _mean([o.exact for o in outcomes]),
        "accuracy": _mean([o.correct for o in outcomes]),
        "kind_accuracy": _mean([o.on_kind for o in outcomes]),
        "precision": _share(tp, tp + fp),
        "recall": _share(tp, tp + fn),
        "f1": _share(2 * tp, 2 * tp + fp + fn),
        "set_accuracy": _mean([o.correct for o in labelled]),
        "direction_accuracy": _mean([o.direction for o in outcomes if o.direction is not None]),
        "der": _mean([error is None or error > DISTANCE_THRESHOLD_M for error in errors]),
        "distance_mae_m": _mean([error for error in errors if error is not None]),
        "absent_accuracy": _mean([o.absent for o in outcomes if o.absent is not None]),
        "binary_accuracy": _mean([o.correct for o in binary]),
        "binary_direction_accuracy": _mean([o.correct for o in binary if o.reasoning == "direction"]),
        "binary_distance_accuracy": _mean([o.correct for o in binary if o.reasoning == "distance"]),
        "count_accuracy": _mean([o.correct for o in outcomes if o.kind == "count"]),
    }


def answer_report(pairs: list[tuple[dict | None, dict]], labels: Iterable[str] = ()) -> dict:
    """Scores of answer records against question records, overall, per question type and per answer kind.

    `pairs` holds (answer record or None when the question went unanswered, question record); the
    answer's text is its `answer`. `labels` adds class names to those of the reference answers
    (known_labels). The result is answer_metrics over all questions, then the headline figures
    (`reasoning_binary_accuracy`, `reasoning_direction_accuracy`, `reasoning_distance_accuracy`: type E
    yes/no questions; `direction_accuracy_single_source`, `der_single_source`: type B), then one
    answer_metrics per question type (QUESTION_TYPES; None without questions) and, under `by_kind`,
    per answer kind (ANSWER_KINDS; None without questions).
    """
    known = known_labels([reference for _, reference in pairs], labels)
    outcomes = [score_answer(None if answer is None else answer.get("answer"), reference, known)
                for answer, reference in pairs]

    def group(keep) -> dict | None:
        chosen = [o for o in outcomes if keep(o)]
        return answer_metrics(chosen) if chosen else None

    report = answer_metrics(outcomes)
    types = {name: group(lambda o, name=name: o.question_type == name) for name in QUESTION_TYPES}
    e, b = types["E"] or {}, types["B"] or {}
    headline = (e.get("binary_accuracy"), e.get("binary_direction_accuracy"), e.get("binary_distance_accuracy"),
                b.get("direction_accuracy"), b.get("der"))
    report.update(zip(HEADLINE_KEYS, headline))
    report.update(types)
    report["by_kind"] = {kind: group(lambda o, kind=kind: o.kind == kind) for kind in ANSWER_KINDS}
    return report
