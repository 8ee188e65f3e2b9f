"""Plain questions: does the language model understand questions typed the way people type them?

The hand-written questions of plain_questions.yaml (forms that no template of the simulator makes)
are asked about the clips of a fresh simulated test set (`bat simulate tiny --seed 2`, test split, no
anechoic rooms; the same set as accuracy.py's, so `--keep` shares it). Each phrasing is asked on up to
`--per-phrasing` clips where its rule has an answer, spread over present and absent sounds and over
positive and negative answers; the reference answer is that of the rule's template, computed from the
scene by the simulator's own answer functions. The plain questions and the set's template questions
are answered by `bat ask --questions` and scored by `bat eval`, side by side per question type.
Writes benchmarks/results/plain.json.
Usage: python benchmarks/plain.py [--clips 200] [--seed 2] [--per-phrasing 4] [--llm DIR] [--keep DIR]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from itertools import permutations
from pathlib import Path

import numpy as np
import yaml

from accuracy import rules_answers

from batcli.evaluate import read_labels
from batcli.grammar import LEXICON, UNNAMED, expand
from batcli.metrics import QUESTION_TYPES, known_labels, score_answer
from batcli.records import write_jsonl
from batcli.sim.questions import (
    PLACES,
    TEMPLATES,
    TEMPLATES_BY_ID,
    Candidate,
    Clip,
    QuestionConfig,
    candidates,
    make_clip,
    polarity,
    question_record,
)

QUESTIONS = Path(__file__).with_name("plain_questions.yaml")
SLOTS = ("x", "y")  # sound names in a phrasing


def bat(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "batcli", *args], check=True, capture_output=True, text=True).stdout


def normalize(text: str) -> str:
    """Lower case, apostrophes dropped, any other run of punctuation or spaces one space."""
    return " ".join(re.sub(r"[^a-z0-9{}]+", " ", text.lower().replace("'", "")).split())


def template_forms() -> set[str]:
    """Every question text the templates can make in any split, sound names left as {x} and {y}."""
    sides = [phrase for _, _, phrases in PLACES.values() for phrase in phrases]
    forms = set()
    for template in TEMPLATES:
        for text in (text for pattern in template.phrasings for text in expand(pattern)):
            for place in sides if "{place}" in text else [""]:
                for side in ("left", "right") if "{side}" in text else [""]:
                    for x in LEXICON["sound"] if template.answer_kind == "option" else ["{x}"]:  # the unnamed sound too
                        forms.add(normalize(text.format(x=x, y="{y}", place=place, side=side)))
                    forms.add(normalize(text.format(x="{x}", y="{y}", place=place, side=side)))
    return forms


def load_plain(path: Path = QUESTIONS) -> list[dict]:
    """The plain questions, checked: no template's text nor another entry's (case and punctuation
    aside), a known rule, the place or side the rule takes, known slots."""
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    seen = template_forms()
    for number, entry in enumerate(entries, start=1):
        where = f"{path.name}: entry {number} ({entry.get('text')!r})"
        if normalize(entry["text"]) in seen:
            raise ValueError(f"{where}: a template or an earlier entry already says this")
        seen.add(normalize(entry["text"]))
        template = TEMPLATES_BY_ID.get(entry.get("rule"))
        if template is None:
            raise ValueError(f"{where}: unknown rule {entry.get('rule')!r}")
        for key in ("place", "side"):
            if ("{" + key + "}" in "".join(template.phrasings)) != (key in entry):
                raise ValueError(f"{where}: rule {template.id} {'needs' if key not in entry else 'takes no'} {key}")
        if entry.get("place", "left") not in PLACES or entry.get("side", "left") not in ("left", "right"):
            raise ValueError(f"{where}: unknown place or side")
        if entry.get("sources", 1) not in (1, 2, "any"):
            raise ValueError(f"{where}: sources must be 1, 2 or any")
        try:
            entry["text"].format(**dict.fromkeys(SLOTS, ""))
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"{where}: slots other than {{x}} and {{y}} ({err})") from None
    return entries


def entry_candidates(entry: dict, clip: Clip) -> list[Candidate]:
    """The questions an entry asks about a clip: its rule's candidates at the entry's place or side
    that fill its slots. A rule that names no sound (free_closest, e_which_side) has its slots filled
    with the clip's sounds, either way round; a text that names no sound is never about an absent one."""
    template = TEMPLATES_BY_ID[entry["rule"]]
    sources = entry.get("sources", template.n_sources)
    if sources not in (None, "any", len(clip.sources)):
        return []
    fixed = {key: entry[key] for key in ("place", "side") if key in entry}
    slots = [slot for slot in SLOTS if "{" + slot + "}" in entry["text"]]
    found = []
    for c in candidates(template, clip):
        if any(c.fills.get(key) != value for key, value in fixed.items()) or (c.absent and "x" not in slots):
            continue
        if c.fills.get("x") == UNNAMED:  # "the sound" of a one-source clip: the entry's own words say it
            continue
        if all(slot in c.fills for slot in slots):
            found.append(c)
        elif not any(slot in c.fills for slot in slots) and len(clip.named) == len(clip.sources) == len(slots):
            for order in permutations(clip.named):
                fills = {**c.fills, **{slot: source.label for slot, source in zip(slots, order)}}
                found.append(Candidate(template, fills, c.answer, False))
    return found


def pick(found: list[tuple[dict, Candidate]], count: int, rng: np.random.Generator) -> list[tuple[dict, Candidate]]:
    """Up to `count` (scene, candidate) pairs, each on another clip, taken in turn from the groups of
    present and absent sounds and of negative and other answers."""
    groups = {}
    for item in found:
        groups.setdefault((item[1].absent, polarity(item[1])), []).append(item)
    queues = [[group[i] for i in rng.permutation(len(group))] for group in groups.values()]
    queues = [queues[i] for i in rng.permutation(len(queues))]
    chosen, used = [], set()
    while len(chosen) < count and any(queues):
        for queue in queues:
            while queue and queue[-1][0]["audio"] in used:
                queue.pop()
            if queue and len(chosen) < count:
                scene, candidate = queue.pop()
                used.add(scene["audio"])
                chosen.append((scene, candidate))
    return chosen


def plain_records(data: Path, out: Path, per_phrasing: int, seed: int) -> list[dict]:
    """Question records of the plain questions about the clips of `data`, in the simulator's schema, with
    audio paths relative to the folder of `out` (where they go); question_id `plainNNN-CLIP` (entry, clip)."""
    config = QuestionConfig(**yaml.safe_load((data / "config.yaml").read_text())["questions"])
    labels = read_labels(data / "labels.txt")
    scenes = [json.loads(line) for line in (data / "scenes.jsonl").read_text().splitlines()]
    clips = [make_clip(scene, np.random.default_rng([seed, i]), labels, config) for i, scene in enumerate(scenes)]
    rng = np.random.default_rng(seed)
    records = []
    for number, entry in enumerate(load_plain()):
        found = [(scene, c) for scene, clip in zip(scenes, clips) for c in entry_candidates(entry, clip)]
        for scene, c in pick(found, per_phrasing, rng):
            records.append(question_record(f"plain{number:03d}-{scene['clip_id']}", os.path.relpath(data / scene["audio"], out.parent),
                                           entry["text"].format(**c.fills), c))
    return records


def by_template(answers: Path, questions: Path) -> dict[str, tuple[int, float]]:
    """Per template (question family): (questions, accuracy) of the answer records, scored as bat eval does."""
    references = [json.loads(line) for line in questions.read_text().splitlines()]
    given = [json.loads(line)["answer"] for line in answers.read_text().splitlines()]
    labels = known_labels(references, read_labels(questions.parent / "labels.txt"))
    outcomes = {}
    for answer, reference in zip(given, references):
        outcomes.setdefault(reference["template"], []).append(score_answer(answer, reference, labels).correct)
    return {template: (len(right), sum(right) / len(right)) for template, right in outcomes.items()}


def cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def columns(report: dict) -> str:
    return f"{report.get('questions', 0):>9} {cell(report.get('accuracy')):>8} {cell(report.get('kind_accuracy')):>7}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--per-phrasing", type=int, default=4, help="clips each plain question is asked about")
    parser.add_argument("--llm", default=None, help="language-model directory (default: the shipped one)")
    parser.add_argument("--keep", default=None, help="folder to keep the test set, questions and answers in")
    args = parser.parse_args()
    model = ["--model", args.llm] if args.llm else []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.keep or scratch)
        data, plain = folder / f"test-seed{args.seed}", folder / "plain"
        if not (data / "scenes.jsonl").is_file():
            bat("simulate", "tiny", "-n", str(args.clips), "--seed", str(args.seed), "--set", "split=test",
                "--set", "room.anechoic_fraction=0", "-o", str(data))
        plain.mkdir(parents=True, exist_ok=True)
        shutil.copy(data / "labels.txt", plain / "labels.txt")  # bat eval reads the class names beside the questions
        records = plain_records(data, plain / "qa.jsonl", args.per_phrasing, args.seed)
        write_jsonl(records, plain / "qa.jsonl")
        localized = folder / "localized.jsonl"  # accuracy.py --keep of the same folder leaves the encoder's records here
        if not localized.is_file():
            paths = "".join(f"{data / json.loads(line)['audio']}\n" for line in (data / "scenes.jsonl").read_text().splitlines())
            localized.write_text(subprocess.run([sys.executable, "-m", "batcli", "localize", "-"], input=paths, check=True,
                                                capture_output=True, text=True).stdout)
        scores, templates = {}, {}
        for name, questions in (("plain", plain / "qa.jsonl"), ("template", data / "qa.jsonl")):
            answers, peer = plain / f"{name}-answers.jsonl", plain / f"{name}-rules.jsonl"
            bat("ask", "--questions", str(questions), "-o", str(answers), *model)
            write_jsonl(rules_answers(questions, localized), peer)
            scores[name] = json.loads(bat("eval", str(answers), "--ref", str(questions)))
            scores[f"{name}_rules"] = json.loads(bat("eval", str(peer), "--ref", str(questions)))
            templates[name] = {who: by_template(path, questions) for who, path in (("model", answers), ("rules", peer))}
    entries = load_plain()
    asked = {int(record["question_id"][5:8]) for record in records}
    results = {"benchmark": "plain", "clips": args.clips, "seed": args.seed, "per_phrasing": args.per_phrasing,
               "phrasings": len(entries), "questions": len(records),
               "not_asked": [entry["text"] for number, entry in enumerate(entries) if number not in asked], **scores,
               "by_template": templates}
    target = Path(__file__).parent / "results" / "plain.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{len(asked)} of {len(entries)} phrasings asked, {len(records)} questions")
    for text in results["not_asked"]:
        print(f"not asked: {text}")
    print(f"{'':<8} " + "   ".join(f"{name:>26}" for name in ("plain: model", "plain: rules", "template: model", "template: rules")))
    order = [scores[key] for key in ("plain", "plain_rules", "template", "template_rules")]
    print(f"{'type':<8} " + "   ".join(f"{'questions':>9} {'accuracy':>8} {'in kind':>7}" for _ in order))
    for group in ("all", *QUESTION_TYPES):
        print(f"{group:<8} " + "   ".join(columns(r if group == "all" else r[group] or {}) for r in order))
    for kind in ("option", "unanswerable"):
        print(f"{kind:<8} " + "   ".join(columns(r["by_kind"].get(kind) or {}) for r in order))
    print(f"{'absent':<8} " + "   ".join(f"{'':>9} {cell(r['absent_accuracy']):>8} {'':>7}" for r in order))
    print(f"{'template (family)':<22} " + " ".join(f"{name:>10}" for name in ("plain n", "model", "rules", "tmpl n", "model", "rules")))
    for template in TEMPLATES_BY_ID:
        cells = []
        for name in ("plain", "template"):
            model_row, rules_row = templates[name]["model"].get(template), templates[name]["rules"].get(template)
            cells += [str(model_row[0]) if model_row else "-", cell(model_row and model_row[1]), cell(rules_row and rules_row[1])]
        print(f"{template:<22} " + " ".join(f"{c:>10}" for c in cells))


if __name__ == "__main__":
    main()
