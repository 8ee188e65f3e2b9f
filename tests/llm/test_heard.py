"""The heard words: what the encoder's heads say, as weights over words and as the language model's embeddings of them."""

import pytest
import torch

from batcli.encoder.model import load_model
from batcli.encoder.readout import bin_centres
from batcli.grammar import FRONT_UNSURE, answer_choices
from batcli.llm.heard import (EMPTY, PLACE_COLUMNS, front_left_open, group_slices, heard_sounds, heard_text, heard_vocabulary, listen,
                               options_as_heard)
from batcli.llm.model import Projector, ProjectorConfig, SpatialLM

from .conftest import save_random_lm


def encoder_saying(encoder_dir, present: bool, label: str, azimuth_deg: float, elevation_deg: float, distance_m: float):
    """The test encoder with its heads forced to one answer whatever it hears."""
    encoder = load_model(encoder_dir)
    azimuth, elevation, distance = bin_centres(encoder.dims)
    bias = torch.full((sum(encoder.sizes),), -30.0)
    starts = torch.tensor([0, *encoder.sizes]).cumsum(0).tolist()
    bias[0] = 30.0 if present else -30.0
    for group, index in ((1, encoder.labels.index(label)), (2, int((azimuth - azimuth_deg).abs().argmin())),
                         (3, int((elevation - elevation_deg).abs().argmin())), (4, int((distance - distance_m).abs().argmin()))):
        bias[starts[group] + index] = 30.0
    with torch.no_grad():
        encoder.head.weight.zero_()
        encoder.head.bias.copy_(bias)
    return encoder


def heard_words(encoder, weights):
    """The words weighted over one half, group by group, for the first slot."""
    vocabulary = heard_vocabulary(encoder)
    return [[word for word, w in zip(group, weights[0, 0, part]) if w > 0.5] for group, part in zip(vocabulary, group_slices(vocabulary))]


@pytest.mark.parametrize("azimuth, elevation, sides", [
    (60.0, 30.0, ["left", "front", "above"]),
    (300.0, -30.0, ["right", "front", "below"]),
    (150.0, 40.0, ["left", "behind", "above"]),
    (200.0, -50.0, ["right", "behind", "below"]),
])
def test_a_located_sound_is_heard_as_its_class_sides_and_distance(encoder_dir, azimuth, elevation, sides):
    encoder = encoder_saying(encoder_dir, True, "siren", azimuth, elevation, 2.5)
    _, weights = listen(encoder, torch.zeros(1, 2, encoder.dims.clip_samples))
    assert heard_words(encoder, weights) == [["siren"], *[[side] for side in sides], ["2.5m"]]


def test_an_empty_slot_is_heard_as_none_and_every_group_sums_to_one(encoder_dir):
    encoder = encoder_saying(encoder_dir, False, "siren", 90.0, 0.0, 1.0)
    tokens, weights = listen(encoder, torch.randn(3, 2, encoder.dims.clip_samples, generator=torch.Generator().manual_seed(0)))
    assert tokens.shape[0] == 3 and weights.shape == (3, encoder.dims.slots, sum(map(len, heard_vocabulary(encoder))) + PLACE_COLUMNS)
    assert heard_words(encoder, weights)[0] == [EMPTY]
    for part in group_slices(heard_vocabulary(encoder)):
        assert torch.allclose(weights[..., part].sum(-1), torch.ones(3, encoder.dims.slots))


@pytest.mark.parametrize("layout, per_slot", [("slot", 1), ("words", 5), ("both", 6), ("text", 0)])
def test_the_language_model_gets_its_own_embeddings_of_the_heard_words(encoder_dir, tmp_path, layout, per_slot):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = save_random_lm(tmp_path / "llama", "llama")
    lm, tokenizer = AutoModelForCausalLM.from_pretrained(base), AutoTokenizer.from_pretrained(base)
    encoder = encoder_saying(encoder_dir, True, "siren", 60.0, 30.0, 2.5)
    queries = 3
    model = SpatialLM(Projector(ProjectorConfig(queries=queries, width=16, layers=1, heads=2), encoder.dims.width, 32), lm, tokenizer,
                      heard_vocabulary(encoder), layout)
    tokens, weights = listen(encoder, torch.zeros(1, 2, encoder.dims.clip_samples))
    inputs = model.audio_inputs(tokens, weights)
    assert inputs.shape == (1, queries + encoder.dims.slots * per_slot, 32)
    table = lm.get_input_embeddings().weight
    embeddings = [table[tokenizer(" " + word, add_special_tokens=False)["input_ids"]].mean(0) for word in ["siren", "left", "front", "above", "2.5m"]]
    if layout == "text":  # the words are in the prompt instead
        assert model.prompts([" where is it? "], weights) == ["Heard: 1 sound: siren (left, front, above; 2.5m)\nQuestion: Where is it?\nAnswer:"]
        return
    assert model.prompts(["where is it?"], weights) == ["Question: Where is it?\nAnswer:"]
    first_slot = inputs[0, queries:queries + per_slot]
    if layout != "words":  # the slot's sum comes first
        assert torch.allclose(first_slot[0], torch.stack(embeddings).sum(0), atol=1e-5)
    if layout != "slot":  # then each word apart
        for embedding, position in zip(embeddings, first_slot[-5:]):
            assert torch.allclose(position, embedding, atol=1e-5)


def test_each_slot_is_heard_at_the_place_bat_localize_decodes(encoder_dir):
    encoder = encoder_saying(encoder_dir, True, "siren", 250.0, -20.0, 3.5)
    _, heard = listen(encoder, torch.zeros(1, 2, encoder.dims.clip_samples))
    assert torch.allclose(heard[0, :, -PLACE_COLUMNS:-1], torch.tensor([250.0, -20.0, 3.5]).expand(encoder.dims.slots, 3), atol=1e-3)
    assert (heard[0, :, -1] < 0.01).all()  # the front probability: all of the azimuth's mass is behind


@pytest.mark.parametrize("azimuth, elevation, text", [
    (60.0, 30.0, "1 sound: siren (left, front, above; 2.5m)"),
    (200.0, -50.0, "1 sound: siren (right, behind, below; 2.5m)"),
    (90.0, 0.0, "1 sound: siren (left; 2.5m)"),  # on the frontal and the horizontal plane: no word for either, as in answers
    (100.0, -5.0, "1 sound: siren (left; 2.5m)"),  # within 10 deg of both planes: no word either, as in answers
    (0.0, 0.0, "1 sound: siren (front; 2.5m)"),
])
def test_the_heard_text_says_the_decoded_direction_in_the_answers_words(encoder_dir, azimuth, elevation, text):
    encoder = encoder_saying(encoder_dir, True, "siren", azimuth, elevation, 2.5)
    _, weights = listen(encoder, torch.zeros(1, 2, encoder.dims.clip_samples))
    assert heard_text(heard_vocabulary(encoder), weights[0].tolist()) == text


def test_the_heard_text_of_silence_is_nothing_and_of_two_sounds_counts_them_and_says_how_they_lie_to_each_other(encoder_dir):
    encoder = encoder_saying(encoder_dir, False, "siren", 90.0, 0.0, 1.0)
    _, weights = listen(encoder, torch.zeros(1, 2, encoder.dims.clip_samples))
    vocabulary = heard_vocabulary(encoder)
    assert heard_text(vocabulary, weights[0].tolist()) == "nothing"
    classes = group_slices(vocabulary)[0]
    first, second = vocabulary[0][:2]
    two = weights[0].clone()
    # one sound up on the left at 1 m, another on the right at ear height, 3 m away: 3.9 m apart
    for slot, label, place in ((0, first, [90.0, 30.0, 1.0, 0.5]), (1, second, [270.0, 0.0, 3.0, 0.5])):
        two[slot, classes] = torch.tensor([float(word == label) for word in vocabulary[0]])
        two[slot, -PLACE_COLUMNS:] = torch.tensor(place)
    assert heard_text(vocabulary, two.tolist()) == (
        f"2 sounds: {first} (left, above; 1.0m) and {second} (right; 3.0m); {first} is further left, higher and nearer than {second}, 4.0m apart")
    two[0, classes.stop - 1], two[1, classes.stop - 1] = 0.2, 0.1  # the second is the stronger: named first, compared from its side
    assert heard_text(vocabulary, two.tolist()) == (
        f"2 sounds: {second} (right; 3.0m) and {first} (left, above; 1.0m); {second} is further right, lower and farther than {first}, 4.0m apart")
    two[1, classes] = two[0, classes]  # two slots of one class: the sound is named once
    assert heard_text(vocabulary, two.tolist()) == f"1 sound: {first} (left, above; 1.0m)"


def two_sounds(encoder_dir, places):
    """A heard row of two sounds, the first two classes at `places` ([azimuth, elevation, distance,
    front probability] each), the first the stronger."""
    encoder = encoder_saying(encoder_dir, True, "siren", 90.0, 0.0, 1.0)
    _, weights = listen(encoder, torch.zeros(1, 2, encoder.dims.clip_samples))
    vocabulary = heard_vocabulary(encoder)
    classes = group_slices(vocabulary)[0]
    row = weights[0].clone()
    for slot, label, place in zip((0, 1), vocabulary[0][:2], places):
        row[slot, classes] = torch.tensor([float(word == label) for word in vocabulary[0]])
        row[slot, -PLACE_COLUMNS:] = torch.tensor(place)
    row[0, classes.stop - 1], row[1, classes.stop - 1] = 0.1, 0.2
    return vocabulary, row.tolist()


def test_the_heard_text_relates_the_two_sounds_in_the_order_the_question_names_them(encoder_dir):
    vocabulary, row = two_sounds(encoder_dir, ([90.0, 30.0, 1.0, 0.5], [270.0, 0.0, 3.0, 0.5]))
    first, second = vocabulary[0][:2]
    strongest_first = f"{first} is further left, higher and nearer than {second}, 4.0m apart"
    assert heard_text(vocabulary, row).endswith(strongest_first)
    assert heard_text(vocabulary, row, f"Is the {first} left of the {second}?").endswith(strongest_first)
    asked_second_first = f"Is the {second.upper()} to the left of the {first}?"  # names are found whatever their case
    assert heard_text(vocabulary, row, asked_second_first).endswith(
        f"{second} is further right, lower and farther than {first}, 4.0m apart")
    assert heard_text(vocabulary, row, f"Where is the {second}?").endswith(strongest_first)  # one name: the strongest two


@pytest.mark.parametrize("fronts, question, left_open", [
    ((0.9, 0.5), "Is the {first} in front or behind?", False),
    ((0.9, 0.5), "Is the {second} in front or behind?", True),
    ((0.5, 0.05), "is the {second} behind me", False),
    ((0.9, 0.05), "Is the dog in front or behind?", None),  # a sound not heard
    ((0.9, 0.05), "Is it in front or behind?", None),  # two heard, neither named
])
def test_front_is_left_open_where_the_heard_text_leaves_it_open_for_the_sound_asked_about(encoder_dir, fronts, question, left_open):
    vocabulary, row = two_sounds(encoder_dir, ([60.0, 0.0, 1.0, fronts[0]], [300.0, 0.0, 3.0, fronts[1]]))
    first, second = vocabulary[0][:2]
    assert front_left_open(question.format(first=first, second=second), heard_sounds(vocabulary, row)) is left_open


def test_the_one_sound_heard_is_the_one_asked_about_when_none_is_named(encoder_dir):
    vocabulary, row = two_sounds(encoder_dir, ([60.0, 0.0, 1.0, 0.5], [300.0, 0.0, 3.0, 0.5]))
    one = heard_sounds(vocabulary, row)[:1]
    assert front_left_open("Is the sound in front of me or behind me?", one) is True


@pytest.mark.parametrize("fronts, asked, offered", [
    ((0.95, 0.5), "first", ["in front", "behind"]),  # heard in front: the two sides, the model to choose
    ((0.95, 0.5), "second", [FRONT_UNSURE]),  # heard without a side: only that it cannot tell
    ((0.95, 0.5), "dog", ["in front", "behind", FRONT_UNSURE]),  # not heard: all three
])
def test_a_front_or_behind_choice_offers_what_was_heard_of_the_sound_asked_about(encoder_dir, fronts, asked, offered):
    vocabulary, row = two_sounds(encoder_dir, ([60.0, 0.0, 1.0, fronts[0]], [300.0, 0.0, 3.0, fronts[1]]))
    name = {"first": vocabulary[0][0], "second": vocabulary[0][1]}.get(asked, asked)
    question = f"Is the {name} in front of me or behind me?"
    assert options_as_heard(answer_choices(question, vocabulary[0]), question, vocabulary, row) == offered
    other_axis = f"Is the {name} on my left or on my right?"
    assert options_as_heard(answer_choices(other_axis, vocabulary[0]), other_axis, vocabulary, row) == ["left", "right"]


@pytest.mark.parametrize("front, words", [(0.95, "left, front, above"), (0.7, "left, above"), (0.25, "left, above"), (0.1, "left, behind, above")])
def test_the_heard_text_says_front_or_behind_only_where_bat_localize_does(encoder_dir, front, words):
    encoder = encoder_saying(encoder_dir, True, "siren", 60.0, 30.0, 2.5)
    _, weights = listen(encoder, torch.zeros(1, 2, encoder.dims.clip_samples))
    row = weights[0].clone()
    row[:, -PLACE_COLUMNS:] = torch.tensor([60.0 if front >= 0.5 else 120.0, 30.0, 2.5, front])
    assert heard_text(heard_vocabulary(encoder), row.tolist()) == f"1 sound: siren ({words}; 2.5m)"
