"""Question/answer pairs about where the sounds of a simulated scene are.

Types follow BAT: A detection and B direction + distance of a single source; C the sound at a
given place, D direction + distance of a named sound and E reasoning, on two-source clips; plus
"free" everyday questions on either. Every template turns a scene into candidate questions with
exact answers; a question whose answer would flip under a small error in the scene's numbers
(a direction near the margin where its word is said or not, two nearly equal angles or distances,
a distance near a rounding boundary) is never made, so the answers teach no guesswork.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import permutations
from typing import Callable, Iterator, Sequence

import numpy as np

from ..geometry import DIRECTION_MARGIN_DEG, direction_words, plane_angles, to_cartesian


@dataclass
class QuestionConfig:
    per_clip: int = field(default=4, metadata={"help": "questions per clip (fewer when fewer apply)", "range": (0, 64)})
    ambiguity_band_deg: float = field(default=4.0, metadata={"help": "no answer hinges on a plane angle this close to where its word flips", "range": (0.0, DIRECTION_MARGIN_DEG)})
    angle_gap_deg: float = field(default=15.0, metadata={"help": "smallest angle difference for comparing the directions of two sounds", "range": (0.0, 90.0)})
    distance_gap_m: float = field(default=1.0, metadata={"help": "smallest distance difference for comparing the distances of two sounds", "range": (0.0, 10.0)})
    rounding_guard_m: float = field(default=0.1, metadata={"help": "no distance answer within this of a rounding boundary (x.25, x.75 m)", "range": (0.0, 0.25)})
    absent_share: float = field(default=0.2, metadata={"help": "share of where/how-far/is-it questions that name a sound absent from the clip (absent yes/no ones fill the No half, hence at most 0.5)", "range": (0.0, 0.5)})


DISTANCE_STEP_M = 0.5  # distances are answered to the nearest half metre
NOTHING = "nothing"  # answer of "what is on my left?" when no sound is there
ABSENT = "none"  # answer of where/how-far questions about a sound that is not in the clip

# Each place: (index into plane_angles(), sign of that angle on this side, phrase in a question).
PLACES = {
    "left": (0, 1.0, "on my left"),
    "right": (0, -1.0, "on my right"),
    "front": (1, 1.0, "in front of me"),
    "behind": (1, -1.0, "behind me"),
    "above": (2, 1.0, "above me"),
    "below": (2, -1.0, "below me"),
}


@dataclass(frozen=True)
class Source:
    label: str
    azimuth_deg: float
    elevation_deg: float
    distance_m: float
    angles: tuple[float, float, float]  # lateral, frontal, vertical plane angles (positive left, front, up)


@dataclass
class Clip:
    sources: list[Source]
    named: list[Source]  # sources whose label is unique in the clip, so a question can name them
    absent_label: str | None  # a class from the data set that is not in the clip
    config: QuestionConfig


def side_state(source: Source, side: str, config: QuestionConfig) -> bool | None:
    """True when the source is clearly on `side`, False when clearly not, None in the ambiguity band."""
    plane, sign, _ = PLACES[side]
    angle = sign * source.angles[plane]
    if angle > DIRECTION_MARGIN_DEG + config.ambiguity_band_deg:
        return True
    if angle < DIRECTION_MARGIN_DEG - config.ambiguity_band_deg:
        return False
    return None


def direction_answer(source: Source, config: QuestionConfig) -> str | None:
    """Direction words, or None when any component lies in the band where its word flips."""
    if any(abs(abs(angle) - DIRECTION_MARGIN_DEG) <= config.ambiguity_band_deg for angle in source.angles):
        return None
    return direction_words(source.azimuth_deg, source.elevation_deg) or None


def distance_answer(distance_m: float, config: QuestionConfig) -> str | None:
    """`2.5m`, or None when the distance is within the guard of a rounding boundary."""
    steps = distance_m / DISTANCE_STEP_M
    if abs(steps - np.floor(steps) - 0.5) * DISTANCE_STEP_M <= config.rounding_guard_m:
        return None
    return f"{np.floor(steps + 0.5) * DISTANCE_STEP_M:.1f}m"


def place_answer(source: Source, config: QuestionConfig) -> str | None:
    """`left, above; 2.5m`, or None when either part is ambiguous."""
    direction, distance = direction_answer(source, config), distance_answer(source.distance_m, config)
    return f"{direction}; {distance}" if direction and distance else None


def compare(difference: float, gap: float) -> str | None:
    """Yes when `difference` is clearly positive, No when clearly negative, None within the gap."""
    if abs(difference) < gap:
        return None
    return "Yes" if difference > 0 else "No"


def who_is_at(clip: Clip, side: str) -> str | None:
    """The label of the one source clearly on `side` (NOTHING if none is), None if unclear or several."""
    states = [side_state(s, side, clip.config) for s in clip.sources]
    if None in states or states.count(True) > 1:
        return None
    return clip.sources[states.index(True)].label if True in states else NOTHING


# Template builders: each yields (fills for the phrasing, answer or None when ambiguous).

Built = Iterator[tuple[dict[str, str], str | None]]


def build_detect(clip: Clip) -> Built:
    yield {}, "; ".join(s.label for s in clip.sources)


def build_where_single(clip: Clip) -> Built:
    yield {}, place_answer(clip.sources[0], clip.config)


def build_where_named(clip: Clip) -> Built:
    for s in clip.named:
        yield {"x": s.label}, place_answer(s, clip.config)


def build_what_at(clip: Clip) -> Built:
    for side, (_, _, place) in PLACES.items():
        answer = who_is_at(clip, side)
        yield {"place": place}, None if answer == NOTHING else answer


def build_left_of(clip: Clip) -> Built:
    for x, y in permutations(clip.named, 2):
        yield {"x": x.label, "y": y.label}, compare(x.angles[0] - y.angles[0], clip.config.angle_gap_deg)


def build_above(clip: Clip) -> Built:
    for x, y in permutations(clip.named, 2):
        yield {"x": x.label, "y": y.label}, compare(x.angles[2] - y.angles[2], clip.config.angle_gap_deg)


def build_both_at(clip: Clip) -> Built:
    for side, (_, _, place) in PLACES.items():
        states = [side_state(s, side, clip.config) for s in clip.sources]
        yield {"place": place}, "No" if False in states else "Yes" if all(states) else None


def build_which_side(clip: Clip) -> Built:
    """Asked only where "on the left" reads the same as absolute (on my left) and relative (more left)."""
    lateral_gap = abs(clip.sources[0].angles[0] - clip.sources[1].angles[0])
    for side in ("left", "right"):
        answer = who_is_at(clip, side)
        clear = answer not in (None, NOTHING) and lateral_gap >= clip.config.angle_gap_deg
        yield {"side": side}, answer if clear else None


def build_closer(clip: Clip) -> Built:
    for x, y in permutations(clip.named, 2):
        yield {"x": x.label, "y": y.label}, compare(y.distance_m - x.distance_m, clip.config.distance_gap_m)


def build_apart(clip: Clip) -> Built:
    if len(clip.named) == 2:
        x, y = clip.named
        gap_m = np.linalg.norm(to_cartesian(x.azimuth_deg, x.elevation_deg, x.distance_m)
                               - to_cartesian(y.azimuth_deg, y.elevation_deg, y.distance_m))
        yield {"x": x.label, "y": y.label}, distance_answer(float(gap_m), clip.config)


def build_what_is_at(clip: Clip) -> Built:
    for side, (_, _, place) in PLACES.items():
        yield {"place": place}, who_is_at(clip, side)


def build_closest(clip: Clip) -> Built:
    near, far = sorted(clip.sources, key=lambda s: s.distance_m)
    yield {}, near.label if far.distance_m - near.distance_m >= clip.config.distance_gap_m else None


def build_how_far(clip: Clip) -> Built:
    for s in clip.named:
        yield {"x": s.label}, distance_answer(s.distance_m, clip.config)


def build_count(clip: Clip) -> Built:
    yield {}, str(len(clip.sources))


def build_is_at(clip: Clip) -> Built:
    for s in clip.named:
        for side, (_, _, place) in PLACES.items():
            state = side_state(s, side, clip.config)
            yield {"x": s.label, "place": place}, None if state is None else "Yes" if state else "No"


@dataclass(frozen=True)
class Template:
    id: str
    question_type: str
    answer_kind: str
    n_sources: int | None  # 1 or 2: only on clips with that many sources; None: on any clip
    build: Callable[[Clip], Built]
    phrasings: tuple[str, ...]  # every fourth one is held out for the test split
    reasoning: str | None = None  # type E: "direction" or "distance"
    absent_answer: str | None = None  # the answer when the named sound {x} is absent; None: never asked


TEMPLATES = (
    Template("a_detect", "A", "labels", 1, build_detect, (
        "What sound events can you hear?",
        "What sounds are in this recording?",
        "What can you hear?",
        "Which sound events are present in the audio?",
        "What's making noise here?",
        "Identify the sounds you hear.",
        "Name the sound events in this clip.",
        "What sound is this?",
    )),
    Template("b_where", "B", "direction_distance", 1, build_where_single, (
        "Where is the sound coming from and how far away is it?",
        "In which direction is the sound, and at what distance?",
        "Where's that sound, and how far off?",
        "Tell me the direction and distance of the sound.",
        "Which way is the sound, and how far is it from me?",
        "Locate the sound: direction and distance?",
        "From which direction and how far away does the sound come?",
        "Where is the sound source and how far away?",
    )),
    Template("c_what_at", "C", "label", 2, build_what_at, (
        "What sound is {place}?",
        "What is the sound {place}?",
        "What's that noise {place}?",
        "Identify the sound {place}.",
        "What do you hear {place}?",
        "Which of the sounds is {place}?",
        "What's making the sound {place}?",
        "Can you tell me what the sound {place} is?",
    )),
    Template("d_where", "D", "direction_distance", 2, build_where_named, (
        "Where is the {x} and how far away is it?",
        "In which direction and at what distance is the {x}?",
        "Where's the {x} coming from, and how far off?",
        "Give the direction and distance of the {x}.",
        "Locate the {x}: which way and how far?",
        "Which direction is the {x} in, and how far is it?",
        "How far away is the {x}, and in which direction?",
        "Tell me where the {x} is and how far from me.",
    )),
    Template("e_left_of", "E", "yes_no", 2, build_left_of, (
        "Is the {x} to the left of the {y}?",
        "Is the {x} further left than the {y}?",
        "Is the {x} more to the left than the {y}?",
        "Would you say the {x} is left of the {y}?",
        "Is the {x} on the left side of the {y}?",
        "Compared with the {y}, is the {x} more to my left?",
        "Is the {x} left of the {y}?",
        "Does the {x} sit to the left of the {y}?",
    ), reasoning="direction"),
    Template("e_above", "E", "yes_no", 2, build_above, (
        "Is the {x} above the {y}?",
        "Is the {x} higher than the {y}?",
        "Is the {x} higher up than the {y}?",
        "Does the {x} come from higher up than the {y}?",
        "Is the {x} located above the {y}?",
        "Is the {x} further up than the {y}?",
        "Compared with the {y}, is the {x} higher?",
        "Would you say the {x} is above the {y}?",
    ), reasoning="direction"),
    Template("e_both_at", "E", "yes_no", 2, build_both_at, (
        "Are both sounds {place}?",
        "Are the two sounds both {place}?",
        "Are both sound sources {place}?",
        "Is everything I hear {place}?",
        "Are the sounds all {place}?",
        "Are both of the sounds {place}?",
        "Are the two sources {place}?",
        "Is each of the sounds {place}?",
    ), reasoning="direction"),
    Template("e_which_side", "E", "label", 2, build_which_side, (
        "Which sound is on the {side}?",
        "Which of the two sounds is on the {side}?",
        "Which one is on the {side}?",
        "Which sound comes from the {side}?",
        "What's the sound on the {side}?",
        "Of the two sounds, which is on the {side}?",
        "Which sound source is on the {side}?",
        "Which of the sounds is coming from the {side}?",
    ), reasoning="direction"),
    Template("e_closer", "E", "yes_no", 2, build_closer, (
        "Is the {x} closer than the {y}?",
        "Is the {x} nearer to me than the {y}?",
        "Is the {x} closer to me than the {y} is?",
        "Is the {x} nearer than the {y}?",
        "Is the {y} farther away than the {x}?",
        "Would you say the {x} is closer than the {y}?",
        "Is the {x} at a shorter distance than the {y}?",
        "Is the {y} further off than the {x}?",
    ), reasoning="distance"),
    Template("e_apart", "E", "distance", 2, build_apart, (
        "How far apart are the {x} and the {y}?",
        "What is the distance between the {x} and the {y}?",
        "How far is the {x} from the {y}?",
        "How much space is there between the {x} and the {y}?",
        "How far is the {y} from the {x}?",
        "What's the distance from the {x} to the {y}?",
        "Roughly how far apart are the {x} and the {y}?",
        "How many metres separate the {x} and the {y}?",
    ), reasoning="distance"),
    Template("free_what_is_at", "free", "label", None, build_what_is_at, (
        "What is {place}?",
        "What's {place}?",
        "What can I hear {place}?",
        "What do I have {place}?",
        "What's going on {place}?",
        "What sound, if any, is {place}?",
        "What am I hearing {place}?",
        "Tell me what's {place}.",
    )),
    Template("free_closest", "free", "label", 2, build_closest, (
        "Which sound is closest?",
        "Which sound is nearest to me?",
        "What's the closest sound?",
        "Which of the sounds is the nearest?",
        "What is closest to me?",
        "Which sound source is the closest one?",
        "What's the nearest thing I can hear?",
        "What sound is nearest?",
    )),
    Template("free_how_far", "free", "distance", None, build_how_far, (
        "How far away is the {x}?",
        "How far is the {x}?",
        "How far off is the {x}?",
        "What's the distance to the {x}?",
        "How close is the {x}?",
        "How far is the {x} from me?",
        "At what distance is the {x}?",
        "How many metres away is the {x}?",
    ), absent_answer=ABSENT),
    Template("free_count", "free", "count", None, build_count, (
        "How many sounds are there?",
        "How many sound sources can you hear?",
        "How many separate sounds are in this clip?",
        "How many things are making noise?",
        "How many sounds do you hear?",
        "Count the sound sources.",
        "How many sound events are there?",
        "How many sources are playing?",
    )),
    Template("free_is_at", "free", "yes_no", None, build_is_at, (
        "Is the {x} {place}?",
        "Is the {x} somewhere {place}?",
        "Is that {x} {place}?",
        "Would you say the {x} is {place}?",
        "Does the {x} sound like it's {place}?",
        "Is the {x} located {place}?",
        "Can you hear the {x} {place}?",
        "The {x}, is it {place}?",
    ), absent_answer="No"),
    Template("free_where", "free", "direction_distance", None, build_where_named, (
        "Where is the {x}?",
        "Where's the {x}?",
        "Where is the {x} located?",
        "Can you tell where the {x} is?",
        "Where does the {x} come from?",
        "Where is the {x} relative to me?",
        "Where would I find the {x}?",
        "Do you know where the {x} is?",
    ), absent_answer=ABSENT),
)
TEMPLATES_BY_ID = {t.id: t for t in TEMPLATES}


def phrasings(template_id: str, split: str) -> list[str]:
    """The phrasings of a template used for `split`: every fourth one only for "test", the rest for "train"."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    pool = TEMPLATES_BY_ID[template_id].phrasings
    return [p for i, p in enumerate(pool) if (i % 4 == 3) == (split == "test")]


@dataclass(frozen=True)
class Candidate:
    template: Template
    fills: dict[str, str]
    answer: str
    absent: bool  # names a sound that is not in the clip


def candidates(template: Template, clip: Clip) -> list[Candidate]:
    """Every unambiguous question of a template on a clip, plus its questions about an absent sound."""
    built = list(template.build(clip))
    found = [Candidate(template, fills, answer, False) for fills, answer in built if answer is not None]
    if template.absent_answer and clip.absent_label:
        absent_fills = dict.fromkeys(tuple({**fills, "x": clip.absent_label}.items()) for fills, _ in built)
        found += [Candidate(template, dict(fills), template.absent_answer, True) for fills in absent_fills]
    return found


def narrow(pool: list[Candidate], key: Callable[[Candidate], object], rng: np.random.Generator) -> list[Candidate]:
    """The candidates sharing one value of `key`, that value drawn uniformly."""
    values = list(dict.fromkeys(key(c) for c in pool))
    value = values[rng.integers(len(values))]
    return [c for c in pool if key(c) == value]


def polarity(c: Candidate) -> bool:
    """Negative answers (No, nothing) against the rest, so that both come up evenly."""
    return c.answer in ("No", NOTHING)


def drawable(pool: list[Candidate]) -> list[Candidate]:
    """The candidates that may be drawn next. A question about an absent sound stands in for one
    about a present sound (same template, same polarity), so it waits for such a one beside it;
    otherwise clips whose present sounds are all ambiguous would be flooded with absent ones."""
    present = {(c.template.id, polarity(c)) for c in pool if not c.absent}
    return [c for c in pool if (c.template.id, polarity(c)) in present]


def draw(pool: list[Candidate], rng: np.random.Generator, absent_share: float) -> Candidate:
    """One candidate, drawn level by level so that question types, reasoning kinds, templates and
    answer polarities come up evenly whatever their numbers of candidates."""
    levels = (
        lambda c: c.template.question_type,
        lambda c: c.template.reasoning,
        lambda c: c.template.id,
        polarity,
    )
    for key in levels:
        pool = narrow(pool, key, rng)
    absent = [c for c in pool if c.absent]
    if absent:
        share = 2 * absent_share if pool[0].answer == "No" else absent_share  # absent yes/no ones fill only the No half
        pool = absent if rng.random() < share else [c for c in pool if not c.absent]
    return pool[rng.integers(len(pool))]


def make_clip(scene: dict, rng: np.random.Generator, labels: Sequence[str], config: QuestionConfig) -> Clip:
    sources = [
        Source(s["label"], s["azimuth_deg"], s["elevation_deg"], s["distance_m"],
               plane_angles(s["azimuth_deg"], s["elevation_deg"]))
        for s in scene["sources"]
    ]
    present = [s.label for s in sources]
    absent = [label for label in labels if label not in present]
    absent_label = absent[rng.integers(len(absent))] if absent else None
    return Clip(sources, [s for s in sources if present.count(s.label) == 1], absent_label, config)


def generate_questions(
    scene: dict, rng: np.random.Generator, split: str, labels: Sequence[str], config: QuestionConfig
) -> list[dict]:
    """Up to `config.per_clip` question records about a scene, no two with the same text."""
    clip = make_clip(scene, rng, labels, config)
    n = len(clip.sources)
    remaining = [c for t in TEMPLATES if t.n_sources in (None, n) for c in candidates(t, clip)]
    questions, asked = [], set()
    while len(questions) < config.per_clip and (pool := drawable(remaining)):
        pick = draw(pool, rng, config.absent_share)
        remaining = [c for c in remaining if c is not pick]
        wordings = phrasings(pick.template.id, split)
        text = wordings[rng.integers(len(wordings))].format(**pick.fills)
        if text in asked:
            continue
        asked.add(text)
        record = {
            "question_id": f"{scene['clip_id']}-{len(questions)}",
            "audio": scene["audio"],
            "question_type": pick.template.question_type,
            "question": text,
            "answer": pick.answer,
            "answer_kind": pick.template.answer_kind,
            "template": pick.template.id,
        }
        if pick.template.reasoning:
            record["reasoning"] = pick.template.reasoning
        questions.append(record)
    return questions
