"""Accuracy of the shipped models on a fresh simulated test set (a seed not used in training).

Simulates N reverberant 4-s clips (test split: sounds and phrasings kept out of training, no
anechoic rooms) with `bat simulate tiny --seed 2`, then scores `bat localize` against the scenes and
`bat ask --questions` against the questions with `bat eval`. Writes benchmarks/results/accuracy.json.
Usage: python benchmarks/accuracy.py [--clips 1000] [--seed 2] [--encoder DIR] [--llm DIR] [--keep DIR]
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def bat(*args: str, stdin: str | None = None) -> str:
    return subprocess.run([sys.executable, "-m", "batcli", *args], input=stdin, check=True, capture_output=True, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--encoder", default=None, help="encoder model directory (default: the shipped one)")
    parser.add_argument("--llm", default=None, help="language-model directory (default: the shipped one)")
    parser.add_argument("--keep", default=None, help="folder to keep the test set and predictions in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.keep or scratch)
        data = folder / f"test-seed{args.seed}"
        if not (data / "scenes.jsonl").is_file():
            bat("simulate", "tiny", "-n", str(args.clips), "--seed", str(args.seed), "--set", "split=test",
                "--set", "room.anechoic_fraction=0", "-o", str(data))
        paths = "".join(f"{data / json.loads(line)['audio']}\n" for line in (data / "scenes.jsonl").read_text().splitlines())
        (folder / "localized.jsonl").write_text(bat("localize", "-", *(["--model", args.encoder] if args.encoder else []), stdin=paths))
        localization = json.loads(bat("eval", str(folder / "localized.jsonl"), "--ref", str(data / "scenes.jsonl")))
        (folder / "answers.jsonl").write_text(bat("ask", "--questions", str(data / "qa.jsonl"), *(["--model", args.llm] if args.llm else [])))
        answers = json.loads(bat("eval", str(folder / "answers.jsonl"), "--ref", str(data / "qa.jsonl")))
    results = {"benchmark": "accuracy", "clips": args.clips, "seed": args.seed, "localization": localization, "answers": answers}
    target = Path(__file__).parent / "results" / "accuracy.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n")
    one, two = localization["single_source"], localization["two_source"]
    print(f"{'localization':<34} {'1 source':>9} {'2 sources':>9}")
    for key in ("map", "doa_mae_deg", "er20", "distance_mae_m", "der", "front_back_confusion", "left_right_confusion", "location_f1"):
        print(f"{key:<34} {one[key] if one[key] is not None else '-':>9} {two[key] if two and two[key] is not None else '-':>9}")
    print(f"{'answers':<34} {'value':>9}")
    for key in ("reasoning_binary_accuracy", "reasoning_direction_accuracy", "reasoning_distance_accuracy",
                "direction_accuracy_single_source", "der_single_source", "exact", "accuracy"):
        print(f"{key:<34} {answers.get(key) if answers.get(key) is not None else '-':>9}")


if __name__ == "__main__":
    main()
