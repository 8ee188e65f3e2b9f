"""A small grammar of questions: constructions that compose into many phrasings.

A construction is one way of asking (a yes/no question, an either/or choice, a wh-question, an
imperative: form_of tells which) written as a pattern: `(a|b|)` chooses one of its alternatives (an
empty one leaves the part out), `<name>` stands for a word class of LEXICON (synonyms: sound, noise,
source, thing) and `{x}`, `{y}`, `{place}` are the template's fills. A construction belongs to one
split as a whole (sim/questions.py holds every fourth one of a template out of training): held-out
constructions are ways of asking that no training question ever takes, so a test on them measures
whether a model understands the question rather than recognising its wording.

Either/or questions offer their answers: offered_options reads them back from any question text (not
only the grammar's), so that `bat ask` can answer with one of them and `bat eval` can check that it did.
"""

from __future__ import annotations

import re
from itertools import product


AUXILIARIES = frozenset("is are was does do did can could would will has have am".split())
IMPERATIVE_VERBS = frozenset("tell name identify count locate give list say describe point find".split())
WH_WORDS = frozenset("what which where how who whose whom when why".split())
WANT_NAMING = frozenset("anything something anyone someone".split())

LEXICON = {
    "sound": ("sound", "noise", "source", "thing"),
}

# The words either/or questions offer for a side, as people say them, and the side each one means;
# the answer is the offered word itself. Two words offered together must lie on one axis.
OPTION_SIDES = {
    "left": "left", "right": "right",
    "in front": "front", "ahead": "front", "front": "front", "behind": "behind", "back": "behind",
    "above": "above", "up": "above", "higher": "above", "below": "below", "down": "below", "lower": "below",
}
AXES = (("left", "right"), ("front", "behind"), ("above", "below"))
UNNAMED = "<sound>"  # a fill that the phrasing replaces by a word for "sound": the one sound of a clip
UNANSWERABLE = "I can't tell that from the sound"
FRONT_UNSURE = "I can't tell front from behind"  # where what was heard leaves that side open
YES, NO = "Yes", "No"


def expand(pattern: str) -> list[str]:
    """Every text a pattern makes, in order, with word classes and alternatives spelt out and spaces
    tidied: `Is (the|that) <sound> (far|)?` -> `Is the sound far?`, `Is the sound?`, ..., `Is that thing?`."""
    text = re.sub(r"<(\w+)>", lambda m: "(" + "|".join(LEXICON[m.group(1)]) + ")", pattern)
    parts = re.split(r"\(([^()]*)\)", text)  # even items literal, odd ones alternatives
    choices = [[part] if i % 2 == 0 else part.split("|") for i, part in enumerate(parts)]
    texts = ("".join(pieces) for pieces in product(*choices))
    return list(dict.fromkeys(_tidy(t) for t in texts))


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s+([?.,!:])", r"\1", text)


def form_of(text: str, names: list[str] = ()) -> str:
    """Which form a question takes: either_or when it offers two answers, imperative when it opens
    with a verb of asking, yes_no when with an auxiliary, wh otherwise."""
    if offered_options(text, names):
        return "either_or"
    first = next(iter(_words(text).split()), "")
    if first in IMPERATIVE_VERBS:
        return "imperative"
    return "yes_no" if first in AUXILIARIES else "wh"


def canonical(question: str) -> str:
    """A question as the language model reads it, however it was typed: spaces collapsed, lower case
    but for the first letter, and one closing mark (a full stop after an imperative, else a question
    mark): "WHERE is the dog" and "where is the dog ?!" are both "Where is the dog?"."""
    text = " ".join(question.split()).lower().rstrip(" ?.!")
    if not text:
        return question.strip()
    return text[0].upper() + text[1:] + ("." if form_of(text) == "imperative" else "?")


def answer_choices(question: str, names: list[str] = ()) -> list[str] | None:
    """What an either/or question may be answered with: the two answers it offers and, for a choice
    between front and behind (which a static head often cannot hear), FRONT_UNSURE; None for a
    question that offers no choice."""
    options = offered_options(question, names)
    if options and {OPTION_SIDES.get(o) for o in options} == {"front", "behind"}:
        return [*options, FRONT_UNSURE]
    return options


def asks_yes_or_no(question: str) -> bool:
    """Whether a question wants a yes or a no: it opens with an auxiliary ("is the dog on my left?",
    "can you hear a dog?") and asks for nothing more: not with a wh-word ("can you tell me where the dog
    is?"), a verb of asking after a polite opening ("could you count the sounds?"), a choice other than
    "or not" ("is it one sound or two?") or an indefinite that wants naming ("is there anything on my
    left?" is answered with what is there)."""
    words = _words(question).split()
    if form_of(question) != "yes_no" or (WH_WORDS | WANT_NAMING) & set(words):
        return False
    if "or" in words and words[-2:] != ["or", "not"]:
        return False
    polite_request = words[1:2] == ["you"] and next((w for w in words[2:] if w != "please"), "") in IMPERATIVE_VERBS
    return not polite_request


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9']+", text.lower())) + " "


def offered_options(question: str, names: list[str] = ()) -> list[str] | None:
    """The two answers an either/or question offers, as it words them ("left or right?" -> left, right;
    "is the dog in front of me or behind me" -> in front, behind; "which is closer, the dog or the
    siren?" -> dog, siren, for known `names`), or None when it offers no choice."""
    text = _words(question)
    if " or " not in text:
        return None
    before, after = text.rsplit(" or ", 1)
    before, after = before + " ", " " + after
    a, b = _last_of(before, OPTION_SIDES), _first_of(after, OPTION_SIDES)
    if a and b and {OPTION_SIDES[a], OPTION_SIDES[b]} in map(set, AXES):
        return [a, b]
    spelt = sorted({n.lower() for n in names}, key=len, reverse=True)
    a, b = _last_of(before, spelt), _first_of(after, spelt)
    return [a, b] if a and b and a != b else None


def _last_of(text: str, words) -> str | None:
    found = [(text.rfind(f" {w} ") + len(w), len(w), w) for w in words if f" {w} " in text]  # the last to end, the longest there
    return max(found)[2] if found else None


def _first_of(text: str, words) -> str | None:
    found = [(text.find(f" {w} "), -len(w), w) for w in words if f" {w} " in text]
    return min(found)[2] if found else None
