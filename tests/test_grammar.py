"""The question grammar: patterns spelt out, the options an either/or question offers, its form."""

import pytest

from batcli.grammar import AXES, OPTION_SIDES, asks_yes_or_no, expand, form_of, offered_options


def test_alternatives_and_word_classes_are_spelt_out_in_order_with_spaces_tidied():
    assert expand("Is (the|that) {x} (on my left|) ?") == ["Is the {x} on my left?", "Is the {x}?", "Is that {x} on my left?", "Is that {x}?"]
    texts = expand("Where is the <sound>?")
    assert texts[0] == "Where is the sound?" and "Where is the noise?" in texts and len(texts) == len(set(texts)) >= 4
    assert expand("plain text.") == ["plain text."]


@pytest.mark.parametrize("question, options", [
    ("left or right?", ["left", "right"]),
    ("Is the sound in front of me or behind me?", ["in front", "behind"]),
    ("is the dog behind or ahead", ["behind", "ahead"]),
    ("Is the siren to the left of the drip or to the right of it?", ["left", "right"]),
    ("IS IT UP OR DOWN", ["up", "down"]),
    ("Which is closer, the dog or the water drip?", ["dog", "water drip"]),
    ("is the water drip or the dog nearer to me", ["water drip", "dog"]),
])
def test_an_either_or_question_offers_the_two_answers_it_words(question, options):
    assert offered_options(question, ["dog", "water drip", "drip"]) == options
    assert form_of(question, ["dog", "water drip"]) == "either_or"


@pytest.mark.parametrize("question", [
    "Is the dog on my left?",  # yes/no: no choice offered
    "Is the dog left or behind?",  # two sides of different axes are no choice between answers
    "Is there a dog or a cat?",  # names the model does not know
    "what is to my left",
])
def test_a_question_without_a_choice_offers_none(question):
    assert offered_options(question, ["dog", "siren"]) is None


def test_every_option_word_lies_on_one_axis():
    assert set(OPTION_SIDES.values()) == {side for axis in AXES for side in axis}


@pytest.mark.parametrize("question, form", [
    ("Tell me where the siren is", "imperative"),
    ("count the sounds", "imperative"),
    ("Is the dog on my left?", "yes_no"),
    ("can you hear a dog", "yes_no"),
    ("where's the dog", "wh"),
    ("how many sounds", "wh"),
])
def test_the_form_of_a_question(question, form):
    assert form_of(question, ["dog"]) == form


@pytest.mark.parametrize("typed", ["WHERE is the dog", "where is the dog ?!", "  Where  is the DOG?"])
def test_case_spacing_and_closing_marks_do_not_change_the_canonical_question(typed):
    from batcli.grammar import canonical

    assert canonical(typed) == "Where is the dog?"
    assert canonical("count the sounds") == "Count the sounds."


@pytest.mark.parametrize("question, wanted", [
    ("Is the dog on my left?", True),
    ("can you hear a dog", True),
    ("is the siren left of the drip or not", True),
    ("Does the dog sound far away?", True),
    ("Can you tell me where the siren is?", False),  # a wh-question behind a polite opening
    ("could you please count the sounds", False),  # a request
    ("is it one sound or two?", False),  # a choice, not a yes or no
    ("is there anything on my left?", False),  # answered with what is there
    ("the dog on my left?", False),  # no auxiliary to go by
    ("where is the dog", False),
    ("is", True),  # an auxiliary alone: nothing else asked for
])
def test_a_question_asks_for_yes_or_no_only_when_it_wants_nothing_more(question, wanted):
    assert asks_yes_or_no(question) is wanted
