"""Training questions varied as typed ones vary (another word for a sound, filler words left out, the
yes/no opening left out, a typo), never in what they ask about, never into a held-out construction."""

import pytest

from batcli.grammar import LEXICON, expand
from batcli.llm.data import FILLER_WORDS, TYPO_WORDS, as_typed, drop_filler_words, misspell, shorten, vary_sound_words
from batcli.sim.questions import phrasings

QUESTION = "Is the siren on my left?"


def test_dropout_keeps_sound_names_sides_and_question_words():
    variants = {drop_filler_words(QUESTION, 0.9, (0, i)) for i in range(200)}
    assert "Is siren left?" in variants  # every filler word can go
    for variant in variants:
        assert variant.split()[0] == "Is" and "siren" in variant and variant.endswith("left?")
        kept_fillers = [w for w in variant.split() if w.lower() in FILLER_WORDS]
        assert len(variant.split()) == 3 + len(kept_fillers)


def test_dropout_is_seeded_and_off_at_zero():
    assert drop_filler_words(QUESTION, 0.5, (3, 1)) == drop_filler_words(QUESTION, 0.5, (3, 1))
    assert len({drop_filler_words(QUESTION, 0.5, (3, i)) for i in range(50)}) > 1
    assert drop_filler_words(QUESTION, 0.0, (3, 1)) == QUESTION


def test_a_question_of_filler_words_alone_is_never_emptied():
    assert all(drop_filler_words("the audio clip", 0.9, (0, i)) for i in range(100))


@pytest.mark.parametrize("question, terse", [
    ("Is the siren on my left?", "siren on my left?"),
    ("Is there a dog?", "dog?"),
    ("Can you hear a cricket behind me?", "cricket behind me?"),
    ("Are both sounds above me?", "both sounds above me?"),
    ("Would you say the fan is left of the drum?", "fan is left of the drum?"),
])
def test_a_yes_no_question_can_lose_its_opening_and_nothing_else(question, terse):
    assert shorten(question, 1.0, (0,)) == terse
    assert shorten(question, 0.0, (0,)) == question


def test_only_yes_no_openings_are_left_out_and_as_often_as_asked():
    for question in ("Where is the siren?", "What is on my left?", "How many sounds are there?", "Which sound is closest?"):
        assert shorten(question, 1.0, (0,)) == question
    shortened = sum(shorten("Is the siren on my left?", 0.3, (i,)) != "Is the siren on my left?" for i in range(1000))
    assert 240 < shortened < 360


def edits(a: str, b: str) -> int:
    """Levenshtein distance with adjacent swaps counted once (a typo's size)."""
    rows = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[-1][-1]


def test_a_typo_changes_one_question_word_by_one_edit_never_a_name_or_a_side():
    question = "Where's the water drip, and how far away is the sound on my left?"
    typed = {misspell(question, 1.0, (i,)) for i in range(300)}
    assert len(typed) > 10 and "Wheres the water drip, and how far away is the sound on my left?" in typed
    for variant in typed:
        changed = [(a, b) for a, b in zip(question.split(), variant.split()) if a != b]
        assert len(variant.split()) == len(question.split()) and len(changed) == 1
        [(word, typo)] = changed
        assert word.lower().strip("?,") in TYPO_WORDS and edits(word, typo) == 1
    assert misspell(question, 0.0, (1,)) == question and misspell(question, 0.5, (4,)) == misspell(question, 0.5, (4,))


@pytest.mark.parametrize("question, kept", [
    ("How many sounds are there?", "How many {}s are there?"),
    ("Which thing is closest to me?", "Which {} is closest to me?"),
    ("Is the noise on my left, and where is the siren?", "Is the {} on my left, and where is the siren?"),
])
def test_a_word_for_a_sound_is_swapped_for_another_of_the_same_number(question, kept):
    variants = {vary_sound_words(question, 1.0, (i,)) for i in range(60)}
    assert variants == {kept.format(word) for word in LEXICON["sound"]} - {question}
    assert vary_sound_words(question, 0.0, (1,)) == question


@pytest.mark.parametrize("question", ["How many things are making noise?", "How many sound events are there?",
                                      "How many sound sources can you hear?", "Does the siren sound closer than the dog?"])
def test_only_a_word_that_names_a_sound_is_swapped(question):
    assert {vary_sound_words(question, 1.0, (i,)) for i in range(30)} <= {question, *(
        question.replace("things", f"{w}s", 1) for w in LEXICON["sound"])}
    assert "making noise" not in question or all("making noise" in vary_sound_words(question, 1.0, (i,)) for i in range(30))


@pytest.mark.parametrize("template, trained, held_out", [
    ("e_which_side", "Which sound is on the left?", "Which source is on the left?"),
    ("e_closer", "Is the dog nearer to me than the siren?", "Is the dog nearer than the siren?"),
])
def test_a_varied_training_question_never_takes_a_held_out_construction(template, trained, held_out):
    test_wordings = {text.format(x="dog", y="siren", side="left") for p in phrasings(template, "test") for text in expand(p)}
    assert held_out in test_wordings and trained not in test_wordings
    varied = {drop_filler_words(vary_sound_words(trained, 0.5, (i, 3)), 0.5, (i,)) for i in range(200)}
    assert held_out in varied  # the variations alone would make it
    typed = {as_typed(trained, (i,), synonyms=0.5, dropout=0.5, terse=0.0, typos=0.0) for i in range(200)}
    assert held_out not in typed and trained in typed and len(typed) > 3


def heard_row(vocabulary, label, azimuth, elevation, distance, front):
    """One heard slot that names `label` at a place with a front probability (heard.listen's layout)."""
    classes = [float(word == label) for word in vocabulary[0]]
    rest = [0.5] * sum(len(group) for group in vocabulary[1:])
    return classes + rest + [azimuth, elevation, distance, front]


@pytest.mark.parametrize("front, question, answer", [
    (0.5, "Is the siren in front of me or behind me?", "I can't tell front from behind"),  # unsure: it says so
    (0.95, "Is the siren in front of me or behind me?", "in front"),  # sure: the scene's answer stands
    (0.5, "Is the noise ahead or behind?", "I can't tell front from behind"),  # the only sound heard
    (0.5, "Is the siren on my left or on my right?", "left"),  # another axis: nothing to leave open
])
def test_a_front_or_behind_choice_is_answered_unsure_where_the_heard_text_is(front, question, answer):
    from batcli.llm.data import Question, answered_as_heard

    vocabulary = [["siren", "dog", "none"], ["left", "right"], ["front", "behind"], ["above", "below"], ["1.0m", "2.0m"]]
    truth = "in front" if "front" in question else "left"
    asked = Question(0, question, truth, {"question": question, "answer": truth})
    heard = [heard_row(vocabulary, "siren", 60.0, 0.0, 2.0, front), heard_row(vocabulary, "none", 0.0, 0.0, 0.0, 0.5)]
    assert answered_as_heard(asked, heard, vocabulary).answer == answer


def answered(question, record, heard, vocabulary):
    from batcli.llm.data import Question, answered_as_heard

    return answered_as_heard(Question(0, question, record["answer"], {"question": question, **record}), heard, vocabulary).answer


def test_training_answers_follow_what_the_encoder_heard():
    """Where the encoder misheard the scene, the training answer is what the heard text bears out (the
    model cannot know better); a record that does not say what it is about keeps the scene's answer."""
    vocabulary = [["siren", "dog", "none"], ["left", "right"], ["front", "behind"], ["above", "below"], ["1.0m", "2.0m"]]
    siren_left, dog_right = heard_row(vocabulary, "siren", 60.0, 0.0, 2.2, 0.95), heard_row(vocabulary, "dog", 300.0, 0.0, 4.2, 0.95)
    nothing = heard_row(vocabulary, "none", 0.0, 0.0, 0.0, 0.5)
    left_of = {"answer": "No", "answer_kind": "yes_no", "template": "e_left_of", "about": {"x": "siren", "y": "dog"}}
    assert answered("Is the siren to the left of the dog?", left_of, [siren_left, dog_right], vocabulary) == "Yes"
    assert answered("Is the siren to the left of the dog?", {k: v for k, v in left_of.items() if k != "about"},
                    [siren_left, dog_right], vocabulary) == "No"
    count = {"answer": "2", "answer_kind": "count", "template": "free_count", "about": {}}
    assert answered("How many sounds are there?", count, [siren_left, nothing], vocabulary) == "1"
    closer = {"answer": "the dog", "answer_kind": "option", "template": "e_closer_choice", "about": {"x": "siren", "y": "dog"}}
    assert answered("Which is closer, the siren or the dog?", closer, [siren_left, dog_right], vocabulary) == "siren"


def test_a_where_answer_leaves_out_the_side_the_heard_text_leaves_open():
    vocabulary = [["siren", "dog", "none"], ["left", "right"], ["front", "behind"], ["above", "below"], ["1.0m", "2.0m"]]
    where = {"answer": "left, behind; 2.0m", "answer_kind": "direction_distance", "template": "free_where", "about": {"x": "siren"}}
    nothing = heard_row(vocabulary, "none", 0.0, 0.0, 0.0, 0.5)
    unsure = heard_row(vocabulary, "siren", 60.0, 0.0, 2.0, 0.6)
    assert answered("Where is the siren?", where, [unsure, nothing], vocabulary) == "left; 2.0m"
    sure = heard_row(vocabulary, "siren", 60.0, 0.0, 2.0, 0.9)
    assert answered("Where is the siren?", where, [sure, nothing], vocabulary) == "left, front; 2.0m"
