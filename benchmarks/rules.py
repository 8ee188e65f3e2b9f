"""A rule-based peer for the language model: answers the simulator's template questions from
`bat localize` records, by keyword rules written for the templates' phrasings.

The question's sound names are looked up among known names (in the order they are said: the first
is the one asked about), its side among the side words of the templates' places, and its intent by
key words, in this order: how many; two names: how far apart, or a comparison (left/right/up/down
before near/far, since "further left" compares sides); which is closest; are both at a side; one
name: where, how far, or yes/no (is it there; is it at the side); no name: what is at the side,
where the one sound is, what sounds there are. The answers come from the localized sources (best
first) in the simulator's styles: `dog; siren`, `left, front; 2.5m`, `1.5m`, `Yes`, `2`, and `none`,
`No` or `nothing` for a sound that was not localized or a side where none was. Sides are read from the
records' direction words, which leave front and behind out where `bat localize` is unsure, as the
language model's heard text does: both read the same words.

Benchmark code, not part of the package. Usage from another benchmark:
    from rules import answer; text = answer(question, localization_record, names)
"""

from __future__ import annotations

import re

import numpy as np

from batcli.geometry import direction_words, plane_angles, to_cartesian
from batcli.grammar import FRONT_UNSURE, OPTION_SIDES, UNANSWERABLE, offered_options
from batcli.sim.questions import ABSENT, DISTANCE_STEP_M, NOTHING

# Words that name a side in the templates' places ("at my back", "before me", "over my head").
SIDE_WORDS = {
    "left": "left", "right": "right",
    "front": "front", "ahead": "front", "before": "front",
    "behind": "behind", "back": "behind",
    "above": "above", "overhead": "above", "head": "above",
    "below": "below", "beneath": "below", "under": "below",
}
APART = ("apart", "between", "separate", "separates", "separation", "space", "gap", "distance", "from the",
         "from one another", "each other")
NEAR, FAR = ("closer", "nearer", "shorter", "less far", "smaller"), ("farther", "further", "more distant")
LEFT, RIGHT = ("left", "leftward"), ("right", "rightward")
UP, DOWN = ("above", "higher", "up", "over", "height"), ("below", "lower", "down", "beneath")
ALL = ("both", "all", "every", "everything", "each", "two")
WHERE = ("where", "direction", "which way", "locate")
HOW_FAR = ("how far", "distance", "how close", "how near", "metres", "meters", "how distant")
# What the sound cannot tell: looks, size, speed, state, identity, age, price, feelings, the weather.
UNKNOWABLE = ("colour", "color", "who", "whose", "brand", "made of", "how old", "name of", "look like", "weigh", "cost",
              "weather", "time of day", "owns", "happy", "angry", "friendly", "how big", "how tall", "how heavy", "how large",
              "how fast", "how quickly", "new", "broken", "expensive", "clean", "shape")


def has(text: str, words: tuple[str, ...]) -> bool:
    """Whether the text holds any of the words (or phrases) as whole words."""
    return any(re.search(r"(?<![a-z])" + re.escape(word) + r"(?![a-z])", text) for word in words)


def names_in(question: str, names: list[str]) -> tuple[list[str], str]:
    """The known sound names a question says, in the order said, and the question without them."""
    found, rest = [], question
    for name in sorted(set(names), key=len, reverse=True):
        match = re.search(r"(?<![a-z])" + re.escape(name) + r"(?![a-z])", rest)
        if match:
            found.append((match.start(), name))
            rest = rest[: match.start()] + "#" * len(name) + rest[match.end():]  # keeps the others' positions
    return [name for _, name in sorted(found)], rest


def side_of(text: str) -> str | None:
    words = re.findall(r"[a-z]+", text)
    return next((SIDE_WORDS[word] for word in words if word in SIDE_WORDS), None)


def said(source: dict) -> str:
    """The direction words of a localized source as `bat localize` says them (front and behind left out
    where it is unsure): what the language model's heard text says too."""
    return source.get("direction", direction_words(source["azimuth_deg"], source["elevation_deg"]))


def at(source: dict, side: str) -> bool:
    """Whether the direction words of the source say `side`."""
    return side in said(source).split(", ")


def distance(metres: float) -> str:
    return f"{np.floor(metres / DISTANCE_STEP_M + 0.5) * DISTANCE_STEP_M:.1f}m"


def place(source: dict) -> str:
    return f"{said(source)}; {distance(source['distance_m'])}"


def compare(question: str, x: dict, y: dict) -> str:
    """Yes or No to "is x left of / right of / above / below / closer than / farther than y"."""
    angles_x, angles_y = (plane_angles(s["azimuth_deg"], s["elevation_deg"]) for s in (x, y))
    if has(question, LEFT + RIGHT):
        more_left = angles_x[0] > angles_y[0]
        yes = more_left if has(question, LEFT) else not more_left
    elif has(question, UP + DOWN):
        higher = angles_x[2] > angles_y[2]
        yes = higher if has(question, UP) else not higher
    else:
        nearer = x["distance_m"] < y["distance_m"]
        yes = nearer if has(question, NEAR) else not nearer
    return "Yes" if yes else "No"


def choose(rest: str, options: list[str], named: list[str], by_label: dict, sources: list[dict]) -> str:
    """The option of an either/or question that the localized sources bear out: the side the sound
    named (or the one sound) lies on (FRONT_UNSURE where its record says neither front nor behind), or
    which of two sounds is closer (farther, further left, ...)."""
    if all(option in OPTION_SIDES for option in options):
        source = by_label.get(named[0]) if named else (sources[0] if sources else None)
        if source is None:
            return options[0]
        axis = {"left": 0, "right": 0, "front": 1, "behind": 1, "above": 2, "below": 2}[OPTION_SIDES[options[0]]]
        if axis == 1 and not {"front", "behind"} & set(said(source).split(", ")):  # bat localize left that side open
            return FRONT_UNSURE
        angles = plane_angles(source["azimuth_deg"], source["elevation_deg"])
        positive = OPTION_SIDES[options[0]] in ("left", "front", "above")
        return options[0] if (angles[axis] > 0) == positive else options[1]
    x, y = (by_label.get(option) for option in options)
    if x is None or y is None:
        return options[0] if y is None else options[1]
    if has(rest, LEFT + RIGHT + UP + DOWN):
        return options[0] if compare(rest, x, y) == "Yes" else options[1]
    nearer = x["distance_m"] < y["distance_m"]
    return options[0] if nearer == (not has(rest, FAR)) else options[1]


def answer(question: str, record: dict, names: list[str]) -> str:
    """The answer to a template question about the clip that `record` (from `bat localize`) localizes."""
    text = question.lower()
    sources = record["sources"]
    by_label = {}
    for source in sources:
        by_label.setdefault(source["label"].lower(), source)  # the best-scored source of a label
    named, rest = names_in(text, [*(name.lower() for name in names), *by_label])
    side = side_of(rest)
    first = rest.split()[0] if rest.split() else ""
    options = offered_options(question, [*(name.lower() for name in names), *by_label])
    if options:
        return choose(rest, options, named, by_label, sources)
    if has(rest, UNKNOWABLE) and not has(rest, ("between",)):  # "how big is the gap between ..." asks how far apart
        return UNANSWERABLE
    if has(rest, ("how many", "count")) and not has(rest, ("metres", "meters")):
        return str(len(sources))
    if len(named) >= 2:
        # "Compared with the y, is the x ...": the second name is the one asked about
        subject, other = named[:2] if first not in ("compared", "relative") else named[1::-1]
        x, y = by_label.get(subject), by_label.get(other)
        apart = has(rest, APART) and not has(rest, ("than",) + NEAR + FAR)
        if x is None or y is None:
            return ABSENT if apart else "No"  # a comparison with a sound that is not there is not true
        if apart:
            gap = to_cartesian(x["azimuth_deg"], x["elevation_deg"], x["distance_m"]) - to_cartesian(
                y["azimuth_deg"], y["elevation_deg"], y["distance_m"])
            return distance(float(np.linalg.norm(gap)))
        return compare(rest, x, y)
    if has(rest, ("closest", "nearest", "nearer", "closer")) and sources:
        return min(sources, key=lambda s: s["distance_m"])["label"]
    if side and first in ("is", "are") and has(rest, ALL):
        return "Yes" if sources and all(at(s, side) for s in sources) else "No"
    if named:
        source = by_label.get(named[0])
        if has(rest, WHERE):
            return place(source) if source else ABSENT
        if has(rest, HOW_FAR):
            return distance(source["distance_m"]) if source else ABSENT
        return "Yes" if source and (side is None or at(source, side)) else "No"
    if side:
        return "; ".join(dict.fromkeys(s["label"] for s in sources if at(s, side))) or NOTHING
    if has(rest, WHERE + HOW_FAR):
        return place(sources[0]) if sources else ABSENT
    return "; ".join(dict.fromkeys(s["label"] for s in sources)) or NOTHING
