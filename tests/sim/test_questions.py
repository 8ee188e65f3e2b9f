"""Questions about simulated scenes: every answer is re-derived here from the scene's numbers with
this file's own head-frame arithmetic (x front, y left, z up), and no question is ambiguous."""

import json
import math
import random
import re
from collections import Counter

import numpy as np
import pytest

from batcli.grammar import expand
from batcli.sim.questions import TEMPLATES, QuestionConfig, generate_questions, phrasings, place_phrases

CFG = QuestionConfig()
MARGIN_DEG = 10.0  # design.md: a direction word is said only more than 10 deg from its plane
LABELS = ["church bell", "dog", "speech", "car horn", "rain", "acoustic guitar", "siren", "baby cry"]
SIDES = {  # (axis of the unit vector, sign on that side): phrases naming the side
    (1, 1): ("on my left", "to my left", "on my left-hand side", "on the left"),
    (1, -1): ("on my right", "to my right", "on my right-hand side", "on the right"),
    (0, 1): ("in front of me", "ahead of me", "before me", "in front"),
    (0, -1): ("behind me", "at my back", "in back of me", "behind"),
    (2, 1): ("above me", "over my head", "overhead", "above"),
    (2, -1): ("below me", "beneath me", "under me", "below"),
}
PLACES = {phrase: side for side, phrases in SIDES.items() for phrase in phrases}
WORDS = [(1, "left", "right"), (0, "front", "behind"), (2, "above", "below")]
AMBIGUOUS = "<ambiguous>"  # the test's verdict for a question that must never be asked
TYPES_BY_COUNT = {1: {"A", "B", "free"}, 2: {"C", "D", "E", "free"}}
SOUND_WORDS = ("sound", "noise", "source", "thing")  # "the sound": the one sound of a one-source clip
OPTION_WORDS = {  # words an either/or question offers, and the place each one means
    "left": "on my left", "right": "on my right", "in front": "in front", "ahead": "in front", "behind": "behind",
    "above": "above", "up": "above", "higher": "above", "below": "below", "down": "below", "lower": "below",
}
CANNOT_TELL = "I can't tell that from the sound"


def source(label, azimuth_deg, elevation_deg, distance_m):
    return {"label": label, "azimuth_deg": azimuth_deg, "elevation_deg": elevation_deg, "distance_m": distance_m}


def scene(clip_id, *sources):
    return {"clip_id": clip_id, "audio": f"audio/{clip_id}.wav", "sample_rate": 32000, "duration_s": 10.0,
            "sources": list(sources), "room": {}}


def random_scene(rng, k):
    n = 1 + k % 2
    labels = list(rng.choice(LABELS, size=n, replace=False))
    if n == 2 and k % 10 == 1:
        labels[1] = labels[0]  # two sounds of one class: neither can be named
    sources = [
        source(str(label), float(rng.uniform(0, 360)), math.degrees(math.asin(rng.uniform(-1, 1))),
               float(rng.uniform(0.5, 10)))
        for label in labels
    ]
    return scene(f"{k:06d}", *sources)


# The test's own geometry.

def unit(s):
    az, el = math.radians(s["azimuth_deg"]), math.radians(s["elevation_deg"])
    return (math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el))


def angle_from_plane(s, axis):
    return math.degrees(math.asin(max(-1.0, min(1.0, unit(s)[axis]))))


def lateral(s):
    return angle_from_plane(s, 1)


def on_side(s, place):
    """True when clearly on that side, False when clearly not, None when too close to call."""
    axis, sign = PLACES[place]
    angle = sign * angle_from_plane(s, axis)
    if angle > MARGIN_DEG + CFG.ambiguity_band_deg:
        return True
    if angle < MARGIN_DEG - CFG.ambiguity_band_deg:
        return False
    return None


def words(s):
    said = []
    for axis, positive, negative in WORDS:
        angle = angle_from_plane(s, axis)
        if MARGIN_DEG - CFG.ambiguity_band_deg <= abs(angle) <= MARGIN_DEG + CFG.ambiguity_band_deg:
            return AMBIGUOUS
        if abs(angle) > MARGIN_DEG:
            said.append(positive if angle > 0 else negative)
    return ", ".join(said) or AMBIGUOUS


def metres(d):
    boundary = math.floor(d * 2) / 2 + 0.25
    if abs(d - boundary) <= CFG.rounding_guard_m:
        return AMBIGUOUS
    return f"{boundary - 0.25 if d < boundary else boundary + 0.25:.1f}m"


def where(s):
    direction, distance = words(s), metres(s["distance_m"])
    return AMBIGUOUS if AMBIGUOUS in (direction, distance) else f"{direction}; {distance}"


def yes_if(difference, gap):
    return AMBIGUOUS if abs(difference) < gap else "Yes" if difference > 0 else "No"


def the_one_at(sources, place):
    """The label of the single source clearly there, "nothing" if none is, else ambiguous."""
    states = [on_side(s, place) for s in sources]
    if None in states or states.count(True) > 1:
        return AMBIGUOUS
    return sources[states.index(True)]["label"] if True in states else "nothing"


def offered(question):
    """The two option words of an either/or question, in the order said."""
    found = sorted((m.start(), word) for word in OPTION_WORDS for m in re.finditer(rf"(?<![a-z]){word}(?![a-z])", question.lower()))
    words = [word for _, word in found]
    assert len(words) == 2, f"{question!r} offers {words}"
    return words


def expected_answer(template, fills, sources, question):
    """The answer re-derived from the scene, or AMBIGUOUS for a question that must not exist."""
    if template in ("free_left_or_right", "free_front_or_back", "free_above_or_below"):
        if fills["x"] in SOUND_WORDS:
            assert len(sources) == 1, f"{question!r} asks about 'the {fills['x']}' in a clip of {len(sources)} sounds"
            subject = sources[0]
        else:
            subject = next((s for s in sources if s["label"] == fills["x"]), None)
            assert subject is not None, f"{template} names an absent sound"
        clear = [word for word in offered(question) if on_side(subject, OPTION_WORDS[word])]
        return clear[0] if len(clear) == 1 else AMBIGUOUS
    if template == "free_unanswerable":
        return CANNOT_TELL
    named = {}
    for key in ("x", "y"):
        if key in fills:
            matches = [s for s in sources if s["label"] == fills[key]]
            assert len(matches) <= 1, f"{template} names {fills[key]!r}, which two sources share"
            named[key] = matches[0] if matches else None
    if any(s is None for s in named.values()):
        assert template in ("free_where", "free_how_far", "free_is_at", "free_is_there"), f"{template} names an absent sound"
        return "No" if template in ("free_is_at", "free_is_there") else "none"
    x, y = named.get("x"), named.get("y")
    if template == "a_detect":
        return "; ".join(s["label"] for s in sources)
    if template == "b_where":
        return where(sources[0])
    if template in ("d_where", "free_where"):
        return where(x)
    if template == "c_what_at":
        answer = the_one_at(sources, fills["place"])
        return AMBIGUOUS if answer == "nothing" else answer
    if template == "free_what_is_at":
        states = [on_side(s, fills["place"]) for s in sources]
        there = [s["label"] for s, state in zip(sources, states) if state]
        return AMBIGUOUS if None in states else "; ".join(there) or "nothing"
    if template == "e_left_of":
        return yes_if(lateral(x) - lateral(y), CFG.angle_gap_deg)
    if template == "e_right_of":
        return yes_if(lateral(y) - lateral(x), CFG.angle_gap_deg)
    if template == "e_above":
        return yes_if(angle_from_plane(x, 2) - angle_from_plane(y, 2), CFG.angle_gap_deg)
    if template == "e_below":
        return yes_if(angle_from_plane(y, 2) - angle_from_plane(x, 2), CFG.angle_gap_deg)
    if template == "e_closer":
        return yes_if(y["distance_m"] - x["distance_m"], CFG.distance_gap_m)
    if template == "e_both_at":
        states = [on_side(s, fills["place"]) for s in sources]
        return "No" if False in states else "Yes" if states == [True, True] else AMBIGUOUS
    if template == "e_which_side":
        answer = the_one_at(sources, f"on my {fills['side']}")
        far_enough = abs(lateral(sources[0]) - lateral(sources[1])) >= CFG.angle_gap_deg
        return answer if answer != "nothing" and far_enough else AMBIGUOUS
    if template == "e_apart":
        px, py = ([c * s["distance_m"] for c in unit(s)] for s in (x, y))
        return metres(math.dist(px, py))
    if template == "free_closest":
        near, far = sorted(sources, key=lambda s: s["distance_m"])
        return near["label"] if far["distance_m"] - near["distance_m"] >= CFG.distance_gap_m else AMBIGUOUS
    if template == "e_closer_choice":
        return {"Yes": x["label"], "No": y["label"]}.get(yes_if(y["distance_m"] - x["distance_m"], CFG.distance_gap_m), AMBIGUOUS)
    if template == "e_left_choice":
        return {"Yes": x["label"], "No": y["label"]}.get(yes_if(lateral(x) - lateral(y), CFG.angle_gap_deg), AMBIGUOUS)
    if template == "free_how_far":
        return metres(x["distance_m"])
    if template == "free_is_there":
        return "Yes"
    if template == "free_count":
        return str(len(sources))
    if template == "free_is_at":
        state = on_side(x, fills["place"])
        return AMBIGUOUS if state is None else "Yes" if state else "No"
    raise AssertionError(f"unknown template {template}")


def parse(record, split, labels=LABELS):
    """The fills of the question, found by matching it against its template's phrasings for `split`."""
    alternatives = {
        "x": "|".join(map(re.escape, [*labels, *CFG.absent_names, *SOUND_WORDS])),
        "y": "|".join(map(re.escape, labels)),
        "place": "|".join(map(re.escape, sorted(PLACES, key=len, reverse=True))),
        "side": "left|right",
    }
    for phrasing in (text for pattern in phrasings(record["template"], split) for text in expand(pattern)):
        pattern = re.escape(phrasing[0].lower() + phrasing[1:])  # the question opens with a capital, whatever it opens with
        for name, options in alternatives.items():
            pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>{options})")
        match = re.fullmatch(pattern, record["question"][0].lower() + record["question"][1:])
        if match:
            return match.groupdict()
    raise AssertionError(f"{record['question']!r} is not a {split} phrasing of {record['template']}")


def ask(s, seed=0, split="train", per_clip=4, labels=LABELS, **config):
    config = QuestionConfig(per_clip=per_clip, **config)
    return generate_questions(s, np.random.default_rng(seed), split, labels, config)


def test_phrasing_pools_are_split_into_disjoint_train_and_test_sets():
    every = [p for t in TEMPLATES for p in t.phrasings]
    assert len(every) == len(set(every)), "a phrasing is shared by two templates"
    for t in TEMPLATES:
        train, test = phrasings(t.id, "train"), phrasings(t.id, "test")
        assert len(t.phrasings) >= 4
        assert train and test and not set(train) & set(test)
        assert sorted(train + test) == sorted(t.phrasings)
        assert len(test) <= math.ceil(len(t.phrasings) / 4)
    for side in ("left", "right", "front", "behind", "above", "below"):
        train, test = place_phrases(side, "train"), place_phrases(side, "test")
        assert train and test and not set(train) & set(test)
        assert set(train + test) == set(SIDES[next(k for k, v in SIDES.items() if v[0] == train[0])])
    with pytest.raises(ValueError):
        phrasings(TEMPLATES[0].id, "dev")


@pytest.mark.parametrize("split", ["train", "test"])
def test_every_answer_agrees_with_the_scene(split):
    rng = np.random.default_rng(1)
    kinds, seen = {}, Counter()
    for k in range(300):
        s = random_scene(rng, k)
        records = ask(s, seed=k, split=split, per_clip=64)  # every question that applies
        assert len({r["question"] for r in records}) == len(records)
        assert [r["question_id"] for r in records] == [f"{s['clip_id']}-{i}" for i in range(len(records))]
        for r in records:
            assert r["audio"] == s["audio"]
            assert r["question_type"] in TYPES_BY_COUNT[len(s["sources"])]
            assert ("reasoning" in r) == (r["question_type"] == "E")
            assert kinds.setdefault(r["template"], r["answer_kind"]) == r["answer_kind"]
            expected = expected_answer(r["template"], parse(r, split), s["sources"], r["question"])
            assert expected != AMBIGUOUS, f"ambiguous question asked: {r} about {s['sources']}"
            assert r["answer"] == expected, f"{r} about {s['sources']}"
            seen[r["template"]] += 1
    assert set(seen) == {t.id for t in TEMPLATES}
    assert set(kinds.values()) <= {"labels", "label", "direction_distance", "distance", "yes_no", "count", "option", "unanswerable"}
    assert {t.reasoning for t in TEMPLATES if t.question_type == "E"} == {"direction", "distance"}


@pytest.mark.parametrize("split", ["train", "test"])
def test_a_source_on_the_margin_gets_no_question_that_hinges_on_it(split):
    cases = [  # a source exactly on the margin of a word, and that word
        (scene("000001", source("dog", 10.0, 0.0, 3.0)), "left"),
        (scene("000002", source("dog", 350.0, 0.0, 3.0)), "right"),
        (scene("000003", source("dog", 0.0, 10.0, 3.0)), "above"),
        (scene("000004", source("dog", 180.0, -10.0, 3.0)), "below"),
    ]
    for s, word in cases:
        for seed in range(30):
            for r in ask(s, seed=seed, split=split, per_clip=64, labels=["dog"], absent_names=[]):  # no absent sounds
                assert not re.search(rf"\b{word}\b", r["question"]), r
                assert r["answer_kind"] != "direction_distance", r


def test_direction_and_distance_words_of_plain_positions():
    cases = [  # (azimuth, elevation, distance) -> answer worked out by hand from x front, y left, z up
        ((0.0, 0.0, 2.0), "front; 2.0m"),
        ((90.0, 0.0, 3.1), "left; 3.0m"),
        ((45.0, 0.0, 4.4), "left, front; 4.5m"),
        ((180.0, -60.0, 7.9), "behind, below; 8.0m"),
        ((270.0, 45.0, 1.6), "right, above; 1.5m"),
        ((0.0, 90.0, 9.95), "above; 10.0m"),
    ]
    for (azimuth, elevation, distance), answer in cases:
        s = scene("000009", source("dog", azimuth, elevation, distance))
        wheres = [r for seed in range(20) for r in ask(s, seed=seed, per_clip=64, labels=["dog"], absent_names=[])
                  if r["answer_kind"] == "direction_distance"]
        assert wheres and all(r["answer"] == answer for r in wheres), (answer, wheres)


def test_config_widens_what_is_too_close_to_call():
    beside = scene("000010", source("dog", 20.0, 0.0, 3.0))  # 20 deg left of the median plane
    pair = scene("000011", source("dog", 30.0, 0.0, 3.0), source("siren", 100.0, 0.0, 4.6))
    default = [r["question"] for seed in range(20) for r in ask(beside, seed=seed, per_clip=64, labels=["dog"], absent_names=[])]
    wide = [r["question"] for seed in range(20)
            for r in ask(beside, seed=seed, per_clip=64, labels=["dog"], absent_names=[], ambiguity_band_deg=10.5)]
    assert any("left" in q for q in default) and not any("left" in q for q in wide)
    default = {r["template"] for seed in range(20) for r in ask(pair, seed=seed, per_clip=64)}
    wide = {r["template"] for seed in range(20) for r in ask(pair, seed=seed, per_clip=64, distance_gap_m=2.0)}
    assert {"e_closer", "free_closest"} <= default and not {"e_closer", "free_closest"} & wide


def test_close_pairs_and_rounding_boundaries_are_not_asked_about():
    s = scene("000005", source("dog", 30.0, 0.0, 3.0), source("siren", 40.0, 0.0, 3.6))
    on_boundary = scene("000006", source("rain", 120.0, 30.0, 2.25))
    for seed in range(40):
        templates = {r["template"] for r in ask(s, seed=seed, per_clip=64)}
        assert not templates & {"e_left_of", "e_above", "e_closer", "free_closest", "e_which_side"}
        for r in ask(on_boundary, seed=seed, per_clip=64):
            assert r["answer_kind"] not in ("distance", "direction_distance") or r["answer"] == "none", r


def test_same_rng_state_gives_same_questions_and_global_state_is_untouched():
    rng = np.random.default_rng(7)
    scenes = [random_scene(rng, k) for k in range(50)]
    np.random.seed(3)
    random.seed(3)
    numpy_state, python_state = np.random.get_state()[1].copy(), random.getstate()
    first = [ask(s, seed=k) for k, s in enumerate(scenes)]
    assert first == [ask(s, seed=k) for k, s in enumerate(scenes)]
    assert first != [ask(s, seed=k + 1) for k, s in enumerate(scenes)]
    assert np.array_equal(np.random.get_state()[1], numpy_state) and random.getstate() == python_state


def test_yes_no_types_and_absent_sounds_are_balanced():
    rng = np.random.default_rng(11)
    answers, types, absent, nameable, there = Counter(), Counter(), 0, 0, Counter()
    for k in range(600):
        s = random_scene(rng, k)
        present = {src["label"] for src in s["sources"]}
        for r in ask(s, seed=k):
            types[len(s["sources"]), r["question_type"]] += 1
            if r["answer_kind"] == "yes_no":
                answers[r["answer"]] += 1
            if r["template"] in ("free_where", "free_how_far", "free_is_at"):
                nameable += 1
                absent += parse(r, "train")["x"] not in present
            if r["template"] == "free_is_there":  # "is there a dog?": No exactly when the sound is absent
                there[r["answer"], parse(r, "train")["x"] in present] += 1
    assert set(there) == {("Yes", True), ("No", False)} and 0.3 < there["Yes", True] / there.total() < 0.7, there
    assert answers["Yes"] + answers["No"] > 300
    assert 0.4 < answers["Yes"] / (answers["Yes"] + answers["No"]) < 0.6
    two = sum(types[2, t] for t in TYPES_BY_COUNT[2])
    assert all(0.05 * two < types[2, t] < 0.5 * two for t in TYPES_BY_COUNT[2]), types
    assert types[1, "A"] > 0.8 * 300, types  # detection is always unambiguous, so nearly every clip gets one
    assert 0.1 < absent / nameable < 0.3


def test_no_absent_questions_without_absent_classes_and_per_clip_is_a_limit():
    s = scene("000008", source("dog", 100.0, 40.0, 3.0), source("siren", 250.0, -40.0, 6.0))
    for seed in range(20):
        for r in ask(s, seed=seed, per_clip=64, labels=["dog", "siren"], absent_names=[]):
            assert r["answer"] != "none" and parse(r, "train").get("x", "dog") in ("dog", "siren"), r
    assert ask(s, per_clip=0) == []
    assert 0 < len(ask(s, per_clip=3)) <= 3
    asked = {r["question"]: r["answer"] for seed in range(20)
             for r in ask(s, seed=seed, per_clip=64, labels=["dog", "siren"], absent_names=["cow", "dog"])}
    about_cow = {answer for question, answer in asked.items() if "cow" in question}
    assert about_cow and about_cow <= {"none", "No"}  # a name outside the library is a sound that is not there


@pytest.mark.parametrize("split", ["train", "test"])
def test_every_answer_the_simulator_wrote_agrees_with_its_scene_record(bat, tmp_path, split):
    out = tmp_path / split
    settings = ["sample_rate=8000", "duration_s=1.0", f"split={split}", "questions.per_clip=8", "room.anechoic_fraction=1"]
    bat("simulate", "-o", out, "--num-clips", 24, *[a for s in settings for a in ("--set", s)], check=True)
    labels = (out / "labels.txt").read_text().splitlines()
    scenes = {json.loads(line)["audio"]: json.loads(line) for line in (out / "scenes.jsonl").read_text().splitlines()}
    records = [json.loads(line) for line in (out / "qa.jsonl").read_text().splitlines()]
    assert len(records) > 24 * 4
    for record in records:
        sources = scenes[record["audio"]]["sources"]
        expected = expected_answer(record["template"], parse(record, split, labels), sources, record["question"])
        assert record["answer"] == expected, f"{record} about {sources}"


def test_held_out_constructions_never_word_a_training_question():
    from batcli.sim.questions import TEMPLATES_BY_ID

    rng = np.random.default_rng(4)
    scenes = [random_scene(rng, k) for k in range(200)]
    train = [r for k, s in enumerate(scenes) for r in ask(s, seed=k, split="train", per_clip=64)]
    test = [r for k, s in enumerate(scenes) for r in ask(s, seed=k, split="test", per_clip=64)]
    for records, split in ((train, "train"), (test, "test")):
        other = "test" if split == "train" else "train"
        for r in records:
            parse(r, split)  # a phrasing of its own split
            with pytest.raises(AssertionError):
                parse(r, other)  # never one of the other split's constructions
    asked = {r["template"] for r in test}
    assert {t for t in TEMPLATES_BY_ID if TEMPLATES_BY_ID[t].answer_kind in ("option", "unanswerable")} <= asked


def test_every_test_question_takes_a_test_wording_and_nearly_no_training_question_does():
    from batcli.sim.questions import is_test_wording

    rng = np.random.default_rng(6)
    scenes = [random_scene(rng, k) for k in range(100)]
    test = [r["question"] for k, s in enumerate(scenes) for r in ask(s, seed=k, split="test", per_clip=64)]
    train = [r["question"] for k, s in enumerate(scenes) for r in ask(s, seed=k, split="train", per_clip=64)]
    assert all(map(is_test_wording, test))
    assert sum(map(is_test_wording, train)) < 0.01 * len(train)  # a fill can stretch over a few words of a training wording


def test_every_either_or_construction_offers_two_answers_and_the_answer_is_one_of_them():
    from batcli.grammar import offered_options

    for template in (t for t in TEMPLATES if t.answer_kind == "option"):
        for pattern in template.phrasings:
            for text in expand(pattern):
                filled = text.format(x="dog", y="siren")
                assert offered_options(filled, ["dog", "siren"]), f"{template.id}: {filled!r} offers no choice"
    rng = np.random.default_rng(5)
    for k in range(200):
        for r in ask(random_scene(rng, k), seed=k, per_clip=64):
            if r["answer_kind"] == "option":
                assert r["answer"] in offered_options(r["question"], LABELS), r


def test_every_question_is_answered_again_from_what_it_is_about():
    """answer_for, given a record's `about` and the scene's own sources, gives the record's answer (in the
    words an either/or question offers): what the language model's training asks of other sources
    (the ones its encoder heard) is the simulator's own rule."""
    from batcli.sim.questions import TEMPLATES_BY_ID, answer_for, offered_answer

    rng = np.random.default_rng(3)
    for k in range(150):
        s = random_scene(rng, k)
        for r in ask(s, seed=k, split="train", per_clip=64):
            again = answer_for(r["template"], r["about"], s["sources"], QuestionConfig())
            assert offered_answer(TEMPLATES_BY_ID[r["template"]], r["question"], r["about"], again) == r["answer"], f"{r} about {s['sources']}"


def test_answers_about_other_sources_follow_them():
    from batcli.sim.questions import NOTHING, answer_for

    config = QuestionConfig()
    dog_left = {"label": "dog", "azimuth_deg": 60.0, "elevation_deg": 0.0, "distance_m": 2.2}
    siren_right = {"label": "siren", "azimuth_deg": 300.0, "elevation_deg": 30.0, "distance_m": 4.2}
    assert answer_for("e_left_of", {"x": "dog", "y": "siren"}, [dog_left, siren_right], config) == "Yes"
    assert answer_for("e_left_of", {"x": "siren", "y": "dog"}, [dog_left, siren_right], config) == "No"
    assert answer_for("free_count", {}, [dog_left], config) == "1"
    assert answer_for("free_closest", {}, [dog_left, siren_right], config) == "dog"
    assert answer_for("free_closest", {}, [dog_left], config) is None  # asks about two sounds
    assert answer_for("free_where", {"x": "cat"}, [dog_left], config) == "none"  # a sound not heard
    assert answer_for("a_detect", {}, [], config) == NOTHING
    assert answer_for("no_such_template", {}, [dog_left], config) is None
