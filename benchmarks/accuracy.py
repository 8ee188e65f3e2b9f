"""Accuracy of the shipped models on a fresh simulated test set (a seed not used in training).

Simulates N reverberant 4-s clips (test split: sounds and phrasings kept out of training, no
anechoic rooms, 1-2 sources) with `bat simulate tiny --seed 2`, then scores `bat localize` against
the scenes and `bat ask --questions` against the questions with `bat eval`; `--condition free-field`
renders one source a clip in a free field instead. A training-free peer (peer.py: the onsets'
interaural spectra matched against the KEMAR templates) localizes the same clips and is scored beside
the encoder, and the reliability table of the encoder's front probability is printed;
a rule-based peer (rules.py: keyword rules over the encoder's localization records) answers the same
questions and is scored beside the language model.
`--hrtf FILE` renders the test set through another head (e.g. build/hrtf/example_sofa_2.sofa, a
human head no training saw: `make build/hrtf/example_sofa_2.sofa`); the peer still matches KEMAR.
Writes benchmarks/results/accuracy[-NAME].json.
`--hear-with FILE` gives `bat localize` the recording head's SOFA file (`--hrtf`).
`--sounds LIB` renders the test set from another sound library: `build/sounds/recorded.jsonl` (`make
sounds`) gives its test split, recordings no training heard.
count_right is the share of the one- and of the two-source clips for which the number of reported
sources is right. The single sources' distance errors are also told apart by the true distance (DER
and mean signed error per band), which shows whether far sources are heard as far.
Usage: python benchmarks/accuracy.py [--clips 1000] [--seed 2] [--condition rooms|free-field] [--hrtf FILE] [--hear-with FILE] [--sounds LIB] [--encoder DIR] [--llm DIR] [--keep DIR] [--no-answers]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from peer import Peer
from rules import answer

from batcli.evaluate import read_labels
from batcli.metrics import DISTANCE_THRESHOLD_M, QUESTION_TYPES
from batcli.records import write_jsonl
from batcli.sim.questions import OTHER_SOUNDS


CONDITIONS = {"rooms": ["--set", "room.anechoic_fraction=0"],
              "free-field": ["--set", "room.anechoic_fraction=1", "--set", "scene.two_source_fraction=0"]}


def bat(*args: str, stdin: str | None = None) -> str:
    return subprocess.run([sys.executable, "-m", "batcli", *args], input=stdin, check=True, capture_output=True, text=True).stdout


def both_found(localized: Path, scenes: Path) -> float:
    """Share of two-source clips for which two sources are reported."""
    two = {str(scenes.parent / r["audio"]) for r in map(json.loads, scenes.read_text().splitlines()) if len(r["sources"]) == 2}
    reported = [len(r["sources"]) for r in map(json.loads, localized.read_text().splitlines()) if r["audio"] in two]
    return round(sum(n >= 2 for n in reported) / max(len(reported), 1), 4)


def count_right(localized: Path, scenes: Path, sources: int) -> float | None:
    """Share of the clips holding `sources` sources for which exactly that many are reported (the first
    window of each file)."""
    held = {str(scenes.parent / r["audio"]) for r in map(json.loads, scenes.read_text().splitlines()) if len(r["sources"]) == sources}
    reported = {}
    for record in map(json.loads, localized.read_text().splitlines()):
        if record["audio"] in held:
            reported.setdefault(record["audio"], len(record["sources"]))
    return round(sum(n == sources for n in reported.values()) / len(reported), 4) if reported else None


DISTANCE_BANDS_M = ((0, 1), (1, 2), (2, 3), (3, 5), (5, 10))


def distance_by_range(localized: Path, scenes: Path) -> list[dict]:
    """Per band of true distance, over the one-source clips with a source reported (the first window's
    first): the sources, the share more than DISTANCE_THRESHOLD_M off (DER, as bat eval counts it) and the
    mean of predicted - true (m)."""
    truth = {str(scenes.parent / r["audio"]): r["sources"][0]["distance_m"]
             for r in map(json.loads, scenes.read_text().splitlines()) if len(r["sources"]) == 1}
    pairs = {}
    for record in map(json.loads, localized.read_text().splitlines()):
        if record["audio"] in truth and record["sources"]:
            pairs.setdefault(record["audio"], (truth[record["audio"]], record["sources"][0]["distance_m"]))
    rows = []
    for low, high in DISTANCE_BANDS_M:
        errors = [predicted - true for true, predicted in pairs.values() if low <= true < high]
        rows.append({"from_m": low, "to_m": high, "sources": len(errors),
                     "der": round(sum(abs(e) > DISTANCE_THRESHOLD_M for e in errors) / len(errors), 4) if errors else None,
                     "mean_error_m": round(sum(errors) / len(errors), 3) if errors else None})
    return rows


def rules_answers(questions: Path, localized: Path) -> list[dict]:
    """The rule-based peer's answer records to the question records of `questions`, from the
    localization records of their clips; it knows the names of the set's classes and of the
    simulator's absent sounds."""
    names = read_labels(questions.parent / "labels.txt") + list(OTHER_SOUNDS)
    heard = {}
    for record in map(json.loads, localized.read_text().splitlines()):
        heard.setdefault(os.path.normpath(record["audio"]), record)  # the first window
    answers = []
    for question in map(json.loads, questions.read_text().splitlines()):
        audio = os.path.normpath(questions.parent / question["audio"])
        answers.append({"question_id": question["question_id"], "question_type": question["question_type"],
                        "audio": audio, "question": question["question"],
                        "answer": answer(question["question"], heard[audio], names)})
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--encoder", default=None, help="encoder model directory (default: the shipped one)")
    parser.add_argument("--llm", default=None, help="language-model directory (default: the shipped one)")
    parser.add_argument("--keep", default=None, help="folder to keep the test set and predictions in")
    parser.add_argument("--condition", choices=CONDITIONS, default="rooms", help="rooms (1-2 sources) or free-field (1 source)")
    parser.add_argument("--hrtf", default=None, help="SOFA file to render the test set through (default: KEMAR)")
    parser.add_argument("--hear-with", default=None, help="SOFA file bat localize fits its evidence to (--hrtf): the recording head's own")
    parser.add_argument("--sounds", default=None, help="sound library of the test set (sounds.library; default: procedural), "
                                                      "e.g. build/sounds/recorded.jsonl: held-out recordings")
    parser.add_argument("--name", default=None, help="suffix of the results file")
    parser.add_argument("--no-answers", action="store_true", help="score localization only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.keep or scratch)
        data = folder / "-".join(["test", f"seed{args.seed}", *([] if args.condition == "rooms" else [args.condition]),
                                  *([Path(args.hrtf).stem] if args.hrtf else []), *([Path(args.sounds).stem] if args.sounds else [])])
        if not (data / "scenes.jsonl").is_file():
            bat("simulate", "tiny", "-n", str(args.clips), "--seed", str(args.seed), "--set", "split=test", *CONDITIONS[args.condition],
                *(["--set", f"hrtf={Path(args.hrtf).resolve()}"] if args.hrtf else []),
                *(["--set", f"sounds.library={Path(args.sounds).resolve()}"] if args.sounds else []), "-o", str(data))
        paths = "".join(f"{data / json.loads(line)['audio']}\n" for line in (data / "scenes.jsonl").read_text().splitlines())
        (folder / "localized.jsonl").write_text(bat("localize", "-", *(["--model", args.encoder] if args.encoder else []),
                                                    *(["--hrtf", str(Path(args.hear_with).resolve())] if args.hear_with else []), stdin=paths))
        localization = json.loads(bat("eval", str(folder / "localized.jsonl"), "--ref", str(data / "scenes.jsonl")))
        if localization["two_source"]:
            localization["two_source"]["both_found"] = both_found(folder / "localized.jsonl", data / "scenes.jsonl")
        for group, count in (("single_source", 1), ("two_source", 2)):
            if localization[group]:
                localization[group]["count_right"] = count_right(folder / "localized.jsonl", data / "scenes.jsonl", count)
        distances = distance_by_range(folder / "localized.jsonl", data / "scenes.jsonl")
        peer = Peer("kemar", 32000)
        write_jsonl((peer.localize(path) for path in paths.split()), folder / "peer.jsonl")
        peer_scores = json.loads(bat("eval", str(folder / "peer.jsonl"), "--ref", str(data / "scenes.jsonl")))
        if peer_scores["two_source"]:
            peer_scores["two_source"]["both_found"] = both_found(folder / "peer.jsonl", data / "scenes.jsonl")
        for group, count in (("single_source", 1), ("two_source", 2)):
            if peer_scores[group]:
                peer_scores[group]["count_right"] = count_right(folder / "peer.jsonl", data / "scenes.jsonl", count)
        answers, rules_scores = {}, {}
        if not args.no_answers:
            (folder / "answers.jsonl").write_text(bat("ask", "--questions", str(data / "qa.jsonl"), *(["--model", args.llm] if args.llm else [])))
            answers = json.loads(bat("eval", str(folder / "answers.jsonl"), "--ref", str(data / "qa.jsonl")))
            write_jsonl(rules_answers(data / "qa.jsonl", folder / "localized.jsonl"), folder / "rules.jsonl")
            rules_scores = json.loads(bat("eval", str(folder / "rules.jsonl"), "--ref", str(data / "qa.jsonl")))
    results = {"benchmark": "accuracy", "clips": args.clips, "seed": args.seed, "condition": args.condition, "hrtf": args.hrtf or "kemar",
               "heard_with": args.hear_with, "sounds": args.sounds or "procedural",
               "localization": localization, "distance_by_range": distances, "peer": peer_scores, "answers": answers, "rules": rules_scores}
    target = Path(__file__).parent / "results" / (f"accuracy-{args.name}.json" if args.name else "accuracy.json")
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'localization':<26} {'1 source':>9} {'2 sources':>9} {'peer 1':>9} {'peer 2':>9}")
    for key in ("map", "doa_mae_deg", "azimuth_mae_deg", "lateral_mae_deg", "doa_mae_deg_no_front_back", "er20", "distance_mae_m", "der",
                "front_back_confusion", "front_calibration_error", "left_right_confusion", "recall", "count_right", "both_found"):
        cells = []
        for scores in (localization, peer_scores):
            for group in ("single_source", "two_source"):
                value = (scores.get(group) or {}).get(key)
                peer_blind = scores is peer_scores and key in ("map", "distance_mae_m", "der")  # the peer says neither what nor how far
                cells.append("-" if value is None or peer_blind else round(value, 3))
        print(f"{key:<26} " + " ".join(f"{c:>9}" for c in cells))
    print(f"{'true distance':<18} {'sources':>8} {'DER':>10} {'mean error':>11}")
    for row in distances:
        cells = [row["sources"], *("-" if row[k] is None else round(row[k], 3) for k in ("der", "mean_error_m"))]
        print(f"{row['from_m']}-{row['to_m']} m{'':<13} {cells[0]:>8} {cells[1]:>10} {cells[2]:>11}")
    print(f"{'front probability':<18} {'sources':>8} {'predicted':>10} {'observed':>9}")
    for row in localization.get("front_reliability", []):
        cells = [row["sources"], *("-" if row[k] is None else round(row[k], 3) for k in ("predicted", "observed"))]
        print(f"{row['from']:.1f}-{row['to']:.1f}{'':<11} {cells[0]:>8} {cells[1]:>10} {cells[2]:>9}")
    if not answers:
        return
    print(f"{'answers':<34} {'model':>9} {'rules':>9}")
    keys = ("reasoning_binary_accuracy", "reasoning_direction_accuracy", "reasoning_distance_accuracy",
            "direction_accuracy_single_source", "der_single_source", "count_accuracy", "exact", "accuracy", "kind_accuracy")
    rows = [(key, key, None) for key in keys] + [(f"accuracy {group}", "accuracy", group) for group in QUESTION_TYPES]
    rows += [("absent: none share", "absent_accuracy", None)]
    for name, key, group in rows:
        values = [(scores if group is None else scores.get(group) or {}).get(key) for scores in (answers, rules_scores)]
        print(f"{name:<34} " + " ".join(f"{'-' if value is None else value:>9}" for value in values))


if __name__ == "__main__":
    main()
