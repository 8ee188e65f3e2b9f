"""Word dropout leaves out filler words only, never what a question asks about."""

from batcli.llm.data import FILLER_WORDS, drop_filler_words

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
