"""Question/answer pairs about where the sounds of a simulated scene are.

Types follow BAT: A detection and B direction + distance of a single source; C the sound at a
given place, D direction + distance of a named sound and E reasoning, on two-source clips; plus
"free" everyday questions on either, among them either/or choices ("left or right?", answered with
the offered word) and questions the sound cannot answer ("what colour is the car?"). A template's
phrasings are constructions of the question grammar (grammar.py: `(a|b)` alternatives, `<sound>`
synonyms); every fourth one is held out of training as a whole. Every template turns a scene into
candidate questions with exact answers; a question whose answer would flip under a small error in the scene's numbers
(a direction near the margin where its word is said or not, two nearly equal angles or distances,
a distance near a rounding boundary) is never made, so the answers teach no guesswork.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from itertools import permutations
from typing import Callable, Iterator, Sequence

import numpy as np

from ..geometry import DIRECTION_MARGIN_DEG, direction_words, plane_angles, to_cartesian
from ..grammar import LEXICON, OPTION_SIDES, UNANSWERABLE, UNNAMED, expand, offered_options


# Everyday sounds the built-in library does not make and that none of its classes could pass for.
OTHER_SOUNDS = (
    "dog", "cat", "cow", "rooster", "sheep", "horse", "baby crying", "speech", "laughter", "singing",
    "coughing", "snoring", "piano", "trumpet", "flute", "helicopter", "airplane", "motorcycle",
    "vacuum cleaner", "thunder", "fireworks", "glass breaking", "toilet flush", "dishes",
)


@dataclass
class QuestionConfig:
    per_clip: int = field(default=4, metadata={"help": "questions per clip (fewer when fewer apply)", "range": (0, 64)})
    ambiguity_band_deg: float = field(default=4.0, metadata={"help": "no answer hinges on a plane angle this close to where its word flips", "range": (0.0, DIRECTION_MARGIN_DEG)})
    angle_gap_deg: float = field(default=15.0, metadata={"help": "smallest angle difference for comparing the directions of two sounds", "range": (0.0, 90.0)})
    distance_gap_m: float = field(default=1.0, metadata={"help": "smallest distance difference for comparing the distances of two sounds", "range": (0.0, 10.0)})
    rounding_guard_m: float = field(default=0.1, metadata={"help": "no distance answer within this of a rounding boundary (x.25, x.75 m)", "range": (0.0, 0.25)})
    absent_share: float = field(default=0.2, metadata={"help": "share of where/how-far/is-it questions that name a sound absent from the clip (absent yes/no ones fill the No half, hence at most 0.5)", "range": (0.0, 0.5)})
    absent_names: list[str] = field(default_factory=lambda: list(OTHER_SOUNDS), metadata={"help": "names of sounds never in the clips that questions about an absent sound may ask for, beside the library's classes not in the clip, so that a model learns to say `none` to any name it does not hear (names of library classes are skipped)"})


DISTANCE_STEP_M = 0.5  # distances are answered to the nearest half metre
NOTHING = "nothing"  # answer of "what is on my left?" when no sound is there
ABSENT = "none"  # answer of where/how-far questions about a sound that is not in the clip

# Each place: (index into plane_angles(), sign of that angle on this side, phrases in a question;
# every fourth phrase is held out for the test split, as for the templates' phrasings).
PLACES = {
    "left": (0, 1.0, ("on my left", "to my left", "on my left-hand side", "on the left")),
    "right": (0, -1.0, ("on my right", "to my right", "on my right-hand side", "on the right")),
    "front": (1, 1.0, ("in front of me", "ahead of me", "before me", "in front")),
    "behind": (1, -1.0, ("behind me", "at my back", "in back of me", "behind")),
    "above": (2, 1.0, ("above me", "over my head", "overhead", "above")),
    "below": (2, -1.0, ("below me", "beneath me", "under me", "below")),
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
    for side in PLACES:
        answer = who_is_at(clip, side)
        yield {"place": side}, None if answer == NOTHING else answer


def build_left_of(clip: Clip) -> Built:
    for x, y in permutations(clip.named, 2):
        yield {"x": x.label, "y": y.label}, compare(x.angles[0] - y.angles[0], clip.config.angle_gap_deg)


def build_right_of(clip: Clip) -> Built:
    for x, y in permutations(clip.named, 2):
        yield {"x": x.label, "y": y.label}, compare(y.angles[0] - x.angles[0], clip.config.angle_gap_deg)


def build_above(clip: Clip) -> Built:
    for x, y in permutations(clip.named, 2):
        yield {"x": x.label, "y": y.label}, compare(x.angles[2] - y.angles[2], clip.config.angle_gap_deg)


def build_below(clip: Clip) -> Built:
    for x, y in permutations(clip.named, 2):
        yield {"x": x.label, "y": y.label}, compare(y.angles[2] - x.angles[2], clip.config.angle_gap_deg)


def build_both_at(clip: Clip) -> Built:
    for side in PLACES:
        states = [side_state(s, side, clip.config) for s in clip.sources]
        yield {"place": side}, "No" if False in states else "Yes" if all(states) else None


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
    """Every sound clearly on the side ("dog; siren" when both are), NOTHING when none is."""
    for side in PLACES:
        states = [side_state(s, side, clip.config) for s in clip.sources]
        there = [s.label for s, state in zip(clip.sources, states) if state]
        yield {"place": side}, None if None in states else "; ".join(there) or NOTHING


def build_closest(clip: Clip) -> Built:
    near, far = sorted(clip.sources, key=lambda s: s.distance_m)
    yield {}, near.label if far.distance_m - near.distance_m >= clip.config.distance_gap_m else None


def build_how_far(clip: Clip) -> Built:
    for s in clip.named:
        yield {"x": s.label}, distance_answer(s.distance_m, clip.config)


def build_count(clip: Clip) -> Built:
    yield {}, str(len(clip.sources))


def build_is_there(clip: Clip) -> Built:
    for s in clip.named:
        yield {"x": s.label}, "Yes"


def build_is_at(clip: Clip) -> Built:
    for s in clip.named:
        for side in PLACES:
            state = side_state(s, side, clip.config)
            yield {"x": s.label, "place": side}, None if state is None else "Yes" if state else "No"


def side_choice(axis: tuple[str, str]) -> Callable[[Clip], Built]:
    """Either/or between the two sides of an axis ("left or right?"): the side the sound is clearly on
    (the offered word for it replaces this answer when the question is worded), of each named sound and,
    on a one-source clip, of "the sound"."""
    def build(clip: Clip) -> Built:
        subjects = [(s.label, s) for s in clip.named] + ([(UNNAMED, clip.sources[0])] if len(clip.sources) == 1 else [])
        for name, s in subjects:
            states = [side_state(s, side, clip.config) for side in axis]
            yield {"x": name}, axis[states.index(True)] if True in states else None
    return build


def build_closer_choice(clip: Clip) -> Built:
    for x, y in permutations(clip.named, 2):
        yield {"x": x.label, "y": y.label}, {"Yes": x.label, "No": y.label}.get(compare(y.distance_m - x.distance_m, clip.config.distance_gap_m))


def build_left_choice(clip: Clip) -> Built:
    for x, y in permutations(clip.named, 2):
        yield {"x": x.label, "y": y.label}, {"Yes": x.label, "No": y.label}.get(compare(x.angles[0] - y.angles[0], clip.config.angle_gap_deg))


def build_unanswerable(clip: Clip) -> Built:
    for s in clip.named:
        yield {"x": s.label}, UNANSWERABLE


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
        "What do you hear?",
        "What is making this sound?",
        "Which sound can you hear in this clip?",
        "Tell me what you hear.",
        "What sounds can be heard here?",
        "What kind of sound is it?",
        "Can you name the sound?",
        "What is that noise?",
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
        "Where is the sound?",
        "Where is it coming from, and how far?",
        "How far away is the sound and where is it?",
        "Where is the sound and how far is it?",
        "Which direction is the sound coming from, and how close is it?",
        "Where is the noise coming from and how far away?",
        "Tell me where the sound is and its distance.",
        "Where does this sound come from, and from how far?",
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
        "Which sound do you hear {place}?",
        "Name the sound {place}.",
        "What's the source {place}?",
        "What is making noise {place}?",
        "Tell me which sound is {place}.",
        "What kind of sound is {place}?",
        "Which sound source is {place}?",
        "What sound do I hear {place}?",
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
        "Where is the {x} and how far?",
        "Which way is the {x} and how far away?",
        "Where and how far is the {x}?",
        "Where's the {x}, and how far away?",
        "Tell me the direction and distance of the {x}.",
        "What direction is the {x} in, and at what distance?",
        "How far and in which direction is the {x}?",
        "Where is the {x} and at what distance?",
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
        "Is the {x} left of the {y} from where I stand?",
        "Is the {x} farther to the left than the {y}?",
        "Does the {x} come from further left than the {y}?",
        "Is the {x} on the left of the {y}?",
        "Is the {x} more leftward than the {y}?",
        "Relative to the {y}, is the {x} to the left?",
        "Is the {x} positioned left of the {y}?",
        "Is the {x} further to my left than the {y}?",
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
        "Is the {x} up higher than the {y}?",
        "Is the {x} over the {y}?",
        "Is the {x} placed higher than the {y}?",
        "Is the {x} above the {y} from where I am?",
        "Relative to the {y}, is the {x} higher up?",
        "Is the {x} at a greater height than the {y}?",
        "Is the {x} positioned above the {y}?",
        "Is the {x} situated higher than the {y}?",
    ), reasoning="direction"),
    Template("e_right_of", "E", "yes_no", 2, build_right_of, (
        "Is the {x} to the right of the {y}?",
        "Is the {x} further right than the {y}?",
        "Is the {x} more to the right than the {y}?",
        "Would you say the {x} is right of the {y}?",
        "Is the {x} on the right side of the {y}?",
        "Compared with the {y}, is the {x} more to my right?",
        "Is the {x} right of the {y}?",
        "Does the {x} sit to the right of the {y}?",
    ), reasoning="direction"),
    Template("e_below", "E", "yes_no", 2, build_below, (
        "Is the {x} below the {y}?",
        "Is the {x} lower than the {y}?",
        "Is the {x} lower down than the {y}?",
        "Does the {x} come from lower down than the {y}?",
        "Is the {x} located below the {y}?",
        "Is the {x} further down than the {y}?",
        "Compared with the {y}, is the {x} lower?",
        "Would you say the {x} is beneath the {y}?",
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
        "Are both of them {place}?",
        "Are the sounds both {place}?",
        "Is every sound {place}?",
        "Are all the sounds {place}?",
        "Are both sound sources located {place}?",
        "Are the two of them {place}?",
        "Is each sound {place}?",
        "Are both noises {place}?",
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
        "Which sound is on my {side}?",
        "Which one is on my {side}?",
        "Which of them is on the {side}?",
        "Which sound is to the {side}?",
        "Which of the two is on the {side}?",
        "Which sound do I hear on the {side}?",
        "Which of the two sounds comes from the {side}?",
        "Which source is on the {side}?",
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
        "Is the {x} less far away than the {y}?",
        "Is the {x} nearer than the {y} is?",
        "Is the {y} further away than the {x}?",
        "Is the {x} a shorter way off than the {y}?",
        "Is the {y} more distant than the {x}?",
        "Is the {x} closer by than the {y}?",
        "Does the {x} sound closer than the {y}?",
        "Is the {x} at a smaller distance than the {y}?",
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
        "How far is it from the {x} to the {y}?",
        "What's the gap between the {x} and the {y}?",
        "How far are the {x} and the {y} from each other?",
        "How many metres lie between the {x} and the {y}?",
        "How much distance separates the {x} and the {y}?",
        "How far apart is the {x} from the {y}?",
        "What is the separation between the {x} and the {y}?",
        "How distant are the {x} and the {y} from one another?",
        "How many metres are there between the {x} and the {y}?",
        "How many meters apart are the {x} and the {y}?",
        "In metres, how far apart are the {x} and the {y}?",
        "How many meters from the {x} is the {y}?",
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
        "What is there {place}?",
        "What sound is there {place}?",
        "What's that {place}?",
        "What is it that I hear {place}?",
        "What's happening {place}?",
        "Which sound, if any, is {place}?",
        "What noise is {place}?",
        "What is making a sound {place}?",
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
        "What is the nearest sound?",
        "Which sound is the closest to me?",
        "Which one is closest?",
        "What sound is closest to me?",
        "Which is nearer to me?",
        "What's nearest to me?",
        "Which sound source is nearest?",
        "Which sound is the nearest one?",
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
        "How far from me is the {x}?",
        "How distant is the {x}?",
        "How far away's the {x}?",
        "What is the distance to the {x}?",
        "How near is the {x}?",
        "How far is the {x} from here?",
        "Roughly how far away is the {x}?",
        "How many meters away is the {x}?",
        "How many metres from me is the {x}?",
        "How many meters is the {x} from here?",
        "In metres, how far is the {x}?",
        "How many metres off is the {x}?",
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
        "How many sounds can you hear?",
        "How many sources are there?",
        "How many different sounds are there?",
        "How many things can I hear?",
        "Count the sounds.",
        "How many sound sources are in the clip?",
        "How many noises are there?",
        "How many sounds are playing?",
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
        "Is there a {x} {place}?",
        "Do I hear the {x} {place}?",
        "Is the {x} positioned {place}?",
        "Is the {x} {place} or not?",
        "Is it true that the {x} is {place}?",
        "Tell me if the {x} is {place}.",
        "Is the {x} situated {place}?",
        "Does the {x} sit {place}?",
    ), absent_answer="No"),
    Template("free_is_there", "free", "yes_no", None, build_is_there, (
        "Is there a {x}?",
        "Can you hear a {x}?",
        "Do you hear the {x}?",
        "Is a {x} audible?",
        "Is there any {x} in this clip?",
        "Can I hear the {x}?",
        "Is the {x} making a sound here?",
        "Is there a {x} somewhere?",
        "Does this recording contain a {x}?",
        "Is a {x} present?",
        "Do I hear a {x}?",
        "Is any {x} here?",
        "Is a {x} playing?",
        "Can a {x} be heard?",
        "Is there the sound of a {x}?",
        "Does the clip have a {x} in it?",
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
        "Where's that {x}?",
        "Where is the {x} coming from?",
        "From where does the {x} come?",
        "Where can I find the {x}?",
        "In which direction is the {x}?",
        "Which way is the {x}?",
        "Where is the {x}, please?",
        "Where do you hear the {x}?",
    ), absent_answer=ABSENT),
    # Either/or questions: answered with one of the two offered words (grammar.offered_options).
    Template("free_left_or_right", "free", "option", None, side_choice(("left", "right")), (
        "Is the {x} (on|to) (the|my) left or (on|to) (the|my) right?",
        "Is the {x} coming from (the|my) (left or right|right or left)?",
        "(Which|What) side is the {x} on, (left or right|right or left)?",
        "{x}: (left or right|right or left)?",
        "Is the {x} on the right or on the left?",
        "Does the {x} come from (the|my) left or from (the|my) right?",
        "Left or right: where is the {x}?",
        "Tell me (if|whether) the {x} is on the left or on the right.",
    )),
    Template("free_front_or_back", "free", "option", None, side_choice(("front", "behind")), (
        "Is the {x} (in front of me|ahead of me|in front|ahead) or (behind me|behind)?",
        "Is the {x} behind me or (in front of me|ahead of me)?",
        "Is the {x} (coming from|) in front or (from|) behind?",
        "{x}: (in front or behind|ahead or behind|behind or in front)?",
        "Is the {x} ahead or behind (me|)?",
        "Does the {x} come from in front or from behind?",
        "In front or behind: where is the {x}?",
        "Tell me (if|whether) the {x} is in front of me or behind me.",
    )),
    Template("free_above_or_below", "free", "option", None, side_choice(("above", "below")), (
        "Is the {x} above (me|) or below (me|)?",
        "Is the {x} (higher or lower|lower or higher) than (me|my head)?",
        "Is the {x} (coming from|) above or (from|) below?",
        "{x}: (above or below|up or down)?",
        "Is the {x} below me or above me?",
        "Does the {x} come from above or from below?",
        "Up or down: where is the {x}?",
        "Tell me (if|whether) the {x} is above or below me.",
    )),
    Template("e_closer_choice", "E", "option", 2, build_closer_choice, (
        "Which is (closer|nearer), the {x} or the {y}?",
        "Is the {x} or the {y} (closer|nearer) (to me|)?",
        "Which (<sound>|one) is (closer|nearer) to me, the {x} or the {y}?",
        "(Closer|Nearer): the {x} or the {y}?",
        "Which do I hear (closer|nearer), the {x} or the {y}?",
        "Which is (closer|nearer) by, the {x} or the {y}?",
        "Which of them is (closer|nearer), the {x} or the {y}?",
        "Tell me which is (closer|nearer): the {x} or the {y}.",
    ), reasoning="distance"),
    Template("e_left_choice", "E", "option", 2, build_left_choice, (
        "Which is (further|more) to the left, the {x} or the {y}?",
        "Is the {x} or the {y} further (to the|) left?",
        "Which (<sound>|one) is more to my left, the {x} or the {y}?",
        "Further left: the {x} or the {y}?",
        "Which do I hear further left, the {x} or the {y}?",
        "Which is (further|farther) left, the {x} or the {y}?",
        "Which of them is more to the left, the {x} or the {y}?",
        "Tell me which is further left: the {x} or the {y}.",
    ), reasoning="direction"),
    # Questions the audio cannot answer, answered honestly.
    Template("free_unanswerable", "free", "unanswerable", None, build_unanswerable, (
        "What (colour|color) is the {x}?",
        "Who is (speaking|talking|there)?",
        "What is the {x} made of?",
        "How old is the {x}?",
        "What brand is the {x}?",
        "Is the {x} (happy|angry|friendly)?",
        "What is the name of the {x}?",
        "What does the {x} look like?",
        "How much does the {x} (weigh|cost)?",
        "What time of day is it?",
        "What is the weather like (outside|)?",
        "Who owns the {x}?",
        "How (big|tall|heavy|large) is the {x}?",
        "How (fast|quickly) is the {x} moving?",
        "Is the {x} (new|broken|expensive|clean)?",
        "What shape is the {x}?",
    )),
)
TEMPLATES_BY_ID = {t.id: t for t in TEMPLATES}


def split_pool(pool: Sequence[str], split: str) -> list[str]:
    """The phrasings of a pool used for `split`: every fourth one only for "test", the rest for "train"."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return [p for i, p in enumerate(pool) if (i % 4 == 3) == (split == "test")]


def phrasings(template_id: str, split: str) -> list[str]:
    return split_pool(TEMPLATES_BY_ID[template_id].phrasings, split)


@cache
def _test_wordings() -> re.Pattern:
    constructions = {text.lower() for t in TEMPLATES for pattern in phrasings(t.id, "test") for text in expand(pattern)}
    fills = re.compile(r"\\\{\w+\\\}")  # a template's fill, {x} or {place}, as re.escape writes it
    return re.compile("|".join(fills.sub(".+", re.escape(text)) for text in sorted(constructions)))


def is_test_wording(question: str) -> bool:
    """Whether a question takes one of the constructions held out for the test split, whatever its
    fills: a training question varied the ways people type (llm.data) is checked with it, so that
    no variation turns it into a held-out construction."""
    return _test_wordings().fullmatch(question.lower()) is not None


def place_phrases(side: str, split: str) -> list[str]:
    """How a question names a side ("to my left", "overhead") in `split`."""
    return split_pool(PLACES[side][2], split)


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
    about a present sound of the same template, so it waits for such a one beside it; otherwise
    clips whose present sounds are all ambiguous would be flooded with absent ones."""
    present = {c.template.id for c in pool if not c.absent}
    return [c for c in pool if c.template.id in present]


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
    absent, present = [c for c in pool if c.absent], [c for c in pool if not c.absent]
    if absent and present:
        share = 2 * absent_share if pool[0].answer == "No" else absent_share  # absent yes/no ones fill only the No half
        pool = absent if rng.random() < share else present
    return pool[rng.integers(len(pool))]


def make_clip(scene: dict, rng: np.random.Generator, labels: Sequence[str], config: QuestionConfig) -> Clip:
    sources = [
        Source(s["label"], s["azimuth_deg"], s["elevation_deg"], s["distance_m"],
               plane_angles(s["azimuth_deg"], s["elevation_deg"]))
        for s in scene["sources"]
    ]
    present = [s.label for s in sources]
    absent = [label for label in labels if label not in present] + [name for name in config.absent_names if name not in labels]
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
        text = word(pick, split, rng)
        if text in asked:
            continue
        asked.add(text)
        questions.append(question_record(f"{scene['clip_id']}-{len(questions)}", scene["audio"], text, pick))
    return questions


def word(candidate: Candidate, split: str, rng: np.random.Generator) -> str:
    """A candidate worded by one of its template's constructions for `split` (one of the texts the
    construction makes)."""
    pattern = phrasings(candidate.template.id, split)
    texts = expand(pattern[rng.integers(len(pattern))])
    text = texts[rng.integers(len(texts))] if len(texts) > 1 else texts[0]
    fills = dict(candidate.fills)
    if "place" in fills:
        places = place_phrases(fills["place"], split)
        fills["place"] = places[rng.integers(len(places))]
    if fills.get("x") == UNNAMED:
        fills["x"] = LEXICON["sound"][rng.integers(len(LEXICON["sound"]))]
    text = text.format(**fills)
    return text[0].upper() + text[1:]


def question_record(question_id: str, audio: str, text: str, candidate: Candidate) -> dict:
    """The qa.jsonl record of a question worded `text` whose answer is `candidate`'s (as offered_answer
    words it), with what the question is about (`about`: the template's fills, such as {"x": "dog",
    "place": "left"}, from which answer_for answers it again about other sources)."""
    template = candidate.template
    answer = offered_answer(template, text, candidate.fills, candidate.answer)
    extra = {"options": offered_options(text, [candidate.fills.get("x", ""), candidate.fills.get("y", "")]) or []} if template.answer_kind == "option" else {}
    record = {"question_id": question_id, "audio": audio, "question_type": template.question_type, "question": text,
              "answer": answer, "answer_kind": template.answer_kind, "template": template.id, **extra, "about": dict(candidate.fills)}
    if template.reasoning:
        record["reasoning"] = template.reasoning
    return record


def offered_answer(template: Template, text: str, fills: dict[str, str], answer: str) -> str:
    """An either/or question's answer in the words it offers ("ahead" for front, when it asks "ahead or
    behind?"); any other answer as it is."""
    if template.answer_kind != "option":
        return answer
    offered = offered_options(text, [fills.get("x", ""), fills.get("y", "")]) or []
    return next((o for o in offered if OPTION_SIDES.get(o, o) == answer), answer)


# Builds that read the first one or two sources of a clip ("where is the sound?", "which is closer?"),
# and so answer only on clips of their template's number of sources.
READS_FIRST_SOURCES = (build_where_single, build_which_side, build_closest)


def answer_for(template_id: str, about: dict[str, str], sources: list[dict], config: QuestionConfig) -> str | None:
    """The answer a template gives to the question about `about` (a record's fills) on a clip of
    `sources` (label, azimuth_deg, elevation_deg, distance_m): as generate_questions would answer it
    had these been the scene's sources. A named sound that is not among them gets the template's
    answer for an absent sound. None where the template has no clear answer there (a side within the
    ambiguity band, a clip with another number of sources than the template asks about)."""
    template = TEMPLATES_BY_ID.get(template_id)
    if template is None:
        return None
    clip_sources = [Source(s["label"], s["azimuth_deg"], s["elevation_deg"], s["distance_m"], plane_angles(s["azimuth_deg"], s["elevation_deg"]))
                    for s in sources]
    present = [s.label for s in clip_sources]
    if any(about.get(key) not in (None, UNNAMED) and about[key] not in present for key in ("x", "y")):
        return template.absent_answer
    if not clip_sources:
        return NOTHING if template.build is build_detect else None
    if template.build in READS_FIRST_SOURCES and len(clip_sources) != template.n_sources:
        return None
    clip = Clip(clip_sources, [s for s in clip_sources if present.count(s.label) == 1], None, config)
    return next((answer for fills, answer in template.build(clip) if fills == about), None)
