"""Scores for localization: detection mAP, direction and distance errors, location-aware F1.

Pure functions over records as read from JSONL (dicts); numpy and scipy only. A share with an
empty denominator is None (null in JSON), never NaN. Angles are great-circle angles in degrees.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from .geometry import DIRECTION_MARGIN_DEG, great_circle_deg, plane_angles

DOA_THRESHOLD_DEG = 20.0  # ER20 and location-aware F1: a direction more than this far off is wrong
DISTANCE_THRESHOLD_M = 0.5  # DER: a distance more than this far off is wrong

# The groups of localization_report: windows with this many reference sources.
GROUPS = {"single_source": 1, "two_source": 2}

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
    "clip". Directions and distances are compared over the pairs of match_sources; mAP ranks the
    clips by clip_scores for every class among the reference labels. Shares are fractions in [0, 1].
    """
    references = predictions = hits = 0
    angles, distance_errors, left_right, front_back = [], [], [], []
    for prediction, reference in pairs:
        predicted = prediction["sources"]
        references += len(reference)
        predictions += len(predicted)
        hits += location_hits(predicted, reference)
        for i, j, angle in match_sources(predicted, reference):
            p, r = predicted[i], reference[j]
            angles.append(angle)
            distance_errors.append(abs(p["distance_m"] - r["distance_m"]))
            p_lateral, p_frontal, _ = plane_angles(p["azimuth_deg"], p["elevation_deg"])
            r_lateral, r_frontal, _ = plane_angles(r["azimuth_deg"], r["elevation_deg"])
            if abs(r_lateral) > DIRECTION_MARGIN_DEG:
                left_right.append(p_lateral * r_lateral < 0)
            if abs(r_frontal) > DIRECTION_MARGIN_DEG:
                front_back.append(p_frontal * r_frontal < 0)
    matched = len(angles)
    within = sum(angle <= DOA_THRESHOLD_DEG for angle in angles)
    return {
        "clips": len(pairs),
        "references": references,
        "predictions": predictions,
        "map": mean_average_precision([clip_scores(p) for p, _ in pairs], [{s["label"] for s in r} for _, r in pairs]),
        "doa_mae_deg": _mean(angles),
        "er20": _share(references - within, references),  # a reference without a match counts as an error
        "distance_mae_m": _mean(distance_errors),
        "der": _mean([error > DISTANCE_THRESHOLD_M for error in distance_errors]),
        "left_right_confusion": _mean(left_right),
        "front_back_confusion": _mean(front_back),
        "recall": _share(matched, references),
        "precision": _share(matched, predictions),
        "location_precision": _share(hits, predictions),
        "location_recall": _share(hits, references),
        "location_f1": _share(2 * hits, predictions + references),
    }


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


def _mean(values) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _share(count: int, total: int) -> float | None:
    return count / total if total else None
