"""train-llm with the embedded model and with local Hugging Face models (LoRA), and resuming by stage."""

import json

import pytest
import torch
from safetensors.torch import load_file

from batcli.ask import ask, load_answerer, read_question_file
from batcli.config import load_config
from batcli.errors import BatError
from batcli.llm.heard import listen
from batcli.llm.model import load_spatial_lm
from batcli.llm.train import LLMTrainConfig, train

from .conftest import save_random_lm

TWO_STAGES = "stages=[{types: [A, B], steps: 3, lr: 0.003}, {types: [A, B, C, D, E, free], steps: 3, lr: 0.003}]"
SMALL = [TWO_STAGES, "val_clips=4", "val_questions=8", "batch_size=4", "checkpoint_every=2", "max_answer_tokens=6",
         "projector.queries=4", "projector.width=32", "projector.heads=2", "projector.layers=1",
         "lm.hidden_size=32", "lm.layers=1", "lm.heads=2", "lm.intermediate_size=64", "lm.vocab_size=400"]


def config(*extra):
    return load_config(LLMTrainConfig, "llm", None, [*SMALL, *extra])


def rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_the_embedded_model_trains_by_stage_and_answers(questions_dir, encoder_dir, tmp_path):
    run = tmp_path / "run"
    summary = train(config(), [questions_dir], encoder_dir, run, device="cpu")
    assert summary["step"] == 6
    assert [(r["stage"], r["step"]) for r in rows(run)] == [(1, 3), (2, 6)]
    assert rows(run)[0]["val_questions"] > 0
    for name in ("bat-llm.json", "projector.safetensors", "lm/model.safetensors", "tokenizer/tokenizer.json", "encoder/model.safetensors"):
        assert (run / name).is_file(), name
    questions = list(read_question_file(str(questions_dir / "qa.jsonl")))[:5]
    answers = list(ask(questions, load_answerer(str(run), "cpu"), max_tokens=4))
    assert [a["question_id"] for a in answers] == [q["question_id"] for q in questions]
    assert all(isinstance(a["answer"], str) for a in answers)


def test_stage_by_stage_with_resume_equals_one_run(questions_dir, encoder_dir, tmp_path):
    train(config(), [questions_dir], encoder_dir, tmp_path / "whole", device="cpu")
    train(config(), [questions_dir], encoder_dir, tmp_path / "parts", device="cpu", until_stage=1)
    assert [r["stage"] for r in rows(tmp_path / "parts")] == [1]
    train(config(), [questions_dir], encoder_dir, tmp_path / "parts", device="cpu", resume=True)
    whole, parts = (load_file(str(tmp_path / f / "projector.safetensors")) for f in ("whole", "parts"))
    assert all(torch.equal(whole[k], parts[k]) for k in whole)
    assert rows(tmp_path / "parts") == rows(tmp_path / "whole")


@pytest.mark.parametrize("architecture", ["llama", "qwen2", "gpt2"])
def test_a_local_hugging_face_model_gets_lora_adapters_and_answers(questions_dir, encoder_dir, tmp_path, architecture):
    base = save_random_lm(tmp_path / architecture, architecture)
    before = load_file(str(base / "model.safetensors"))
    run = tmp_path / "run"
    train(config(f"lm.path={base}"), [questions_dir], encoder_dir, run, device="cpu")
    adapter = json.loads((run / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 8 and adapter["lora_alpha"] == 32
    assert (run / "adapter" / "adapter_model.safetensors").is_file() and not (run / "lm").exists()
    assert all(torch.equal(before[k], v) for k, v in load_file(str(base / "model.safetensors")).items())  # base untouched
    model, meta = load_spatial_lm(run, torch.device("cpu"))
    assert meta["lm"]["weights"] == "adapter"
    trainable = [n for n, p in model.named_parameters() if "lora_" in n]
    assert trainable, "the loaded model has its adapters"
    questions = list(read_question_file(str(questions_dir / "qa.jsonl")))[:3]
    answerer = load_answerer(str(run), "cpu")
    together = [a["answer"] for a in ask(questions, answerer, max_tokens=5)]
    alone = [next(ask([q], answerer, max_tokens=5))["answer"] for q in questions]
    assert together == alone  # batching (left padding) does not change an answer


def test_the_loss_covers_only_the_answer(questions_dir, encoder_dir, tmp_path):
    base = save_random_lm(tmp_path / "llama", "llama")
    settings = config(f"lm.path={base}", "lm.finetune=full")
    from batcli.llm.model import Projector, SpatialLM, load_pretrained_lm

    lm, tokenizer = load_pretrained_lm(settings.lm)
    model = SpatialLM(Projector(settings.projector, 32, 32), lm, tokenizer)
    said = tokenizer(" left, front; 2.5m", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    predicted = []
    lm.get_output_embeddings().register_forward_hook(lambda module, inputs, output: predicted.append(output.shape[0]))
    tokens = torch.randn(1, 10, 32)
    loss = model(tokens, None, ["where is the dog?"], ["left, front; 2.5m"])
    assert predicted == [len(said)]  # the output layer runs only where an answer token is predicted
    embeds, mask, labels = model._teacher_forced(tokens, None, ["where is the dog?"], ["left, front; 2.5m"])
    assert labels[labels != -100].tolist() == said
    whole = lm(inputs_embeds=embeds, attention_mask=mask, labels=labels).loss  # every position's logits
    assert torch.allclose(loss, whole, atol=1e-5)


def test_in_the_chat_template_the_question_is_the_users_turn_and_the_answer_the_assistants(encoder_dir, tmp_path):
    from batcli.llm.model import Projector, ProjectorConfig, SpatialLM, load_pretrained_lm

    base = save_random_lm(tmp_path / "llama", "llama")
    settings = config(f"lm.path={base}", "lm.finetune=full")
    lm, tokenizer = load_pretrained_lm(settings.lm)
    projector = Projector(ProjectorConfig(queries=2, width=16, layers=1, heads=2), 32, 32)
    with pytest.raises(BatError, match="no chat template"):
        SpatialLM(projector, lm, tokenizer, prompt="chat")
    tokenizer.chat_template = ("{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>\n{% endfor %}"
                               "{% if add_generation_prompt %}<s>assistant\n{% endif %}")
    model = SpatialLM(projector, lm, tokenizer, prompt="chat")
    [prompt] = model.prompts([" where is the dog? "], None)
    assert prompt.endswith("<s>user\nQuestion: Where is the dog?</s>\n<s>assistant\n")
    _, _, labels = model._teacher_forced(torch.randn(1, 10, 32), None, ["where is the dog?"], ["left, front; 2.5m"])
    assert labels[labels != -100].tolist() == tokenizer("left, front; 2.5m", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def test_shipping_copies_only_what_ask_reads_as_float16(questions_dir, encoder_dir, tmp_path):
    from batcli.encoder.model import load_model
    from batcli.ship import ship_encoder, ship_llm

    run = tmp_path / "run"
    train(config(), [questions_dir], encoder_dir, run, device="cpu")
    shipped = tmp_path / "data"
    ship_encoder(encoder_dir, shipped)
    ship_llm(run, shipped)
    assert sorted(p.name for p in (shipped / "encoder").iterdir()) == ["config.json", "labels.txt", "model.safetensors"]
    assert not (shipped / "llm" / "checkpoint.pt").exists() and not (shipped / "llm" / "cache").exists()
    assert not (shipped / "llm" / "encoder").exists()  # it listens through the shipped encoder
    assert all(v.dtype == torch.float16 for v in load_file(str(shipped / "llm" / "projector.safetensors")).values())
    assert json.loads((shipped / "llm" / "bat-llm.json").read_text())["encoder"] == "builtin"
    original, copy = load_model(encoder_dir), load_model(shipped / "encoder")
    for name, value in original.state_dict().items():
        assert torch.allclose(value, copy.state_dict()[name], rtol=1e-3, atol=1e-4)
    model, _ = load_spatial_lm(shipped / "llm", torch.device("cpu"))
    tokens, heard = listen(copy, torch.zeros(1, 2, copy.dims.clip_samples))
    [answer] = model.answer(tokens, heard, ["where is the dog?"], 3)
    assert isinstance(answer, str)


def test_a_language_model_trained_on_another_encoder_ships_with_its_own(questions_dir, encoder_dir, tmp_path):
    from batcli.encoder.model import EncoderDims, SpatialEncoder, save_model
    from batcli.ship import ship_encoder, ship_llm

    run, other, shipped = tmp_path / "run", tmp_path / "other-encoder", tmp_path / "data"
    train(config(), [questions_dir], encoder_dir, run, device="cpu")
    torch.manual_seed(5)
    save_model(SpatialEncoder(EncoderDims(sample_rate=16000, clip_s=1.0, n_fft=512, hop=160, n_mels=32, f_max=7600.0, width=32,
                                          depth=1, heads=2), ["dog", "siren"]), other)
    ship_encoder(other, shipped)
    ship_llm(run, shipped)
    assert json.loads((shipped / "llm" / "bat-llm.json").read_text())["encoder"] == "encoder"
    assert (shipped / "llm" / "encoder" / "model.safetensors").is_file()
    questions = list(read_question_file(str(questions_dir / "qa.jsonl")))[:2]
    answerer = load_answerer(str(shipped / "llm"), "cpu")
    assert answerer.encoder.labels != ["dog", "siren"]
    assert len(list(ask(questions, answerer, max_tokens=3))) == 2


def test_the_heard_words_layout_is_kept_with_the_model_and_an_older_one_is_refused(questions_dir, encoder_dir, tmp_path):
    from batcli.encoder.model import load_model

    run = tmp_path / "run"
    train(config("projector.heard_words=words"), [questions_dir], encoder_dir, run, device="cpu")
    model, _ = load_spatial_lm(run, torch.device("cpu"))
    encoder = load_model(encoder_dir)
    tokens, heard = listen(encoder, torch.zeros(1, 2, encoder.dims.clip_samples))
    assert model.audio_inputs(tokens, heard).shape[1] == 4 + 5 * encoder.dims.slots  # 4 queries, then five words per slot
    meta = json.loads((run / "bat-llm.json").read_text())
    meta["projector"]["heard_words"] = True  # what bat wrote before the layouts had names
    (run / "bat-llm.json").write_text(json.dumps(meta))
    with pytest.raises(BatError, match="train it again"):
        load_spatial_lm(run, torch.device("cpu"))


def test_a_run_can_start_from_a_trained_language_model_of_the_same_build(questions_dir, encoder_dir, tmp_path):
    train(config(), [questions_dir], encoder_dir, tmp_path / "first", device="cpu")
    # another seed, and a learning rate of 0: the weights can only be the ones it started from
    still = ["seed=7", "stages=[{types: [A, B], steps: 1, lr: 0.0}]", f"init={tmp_path / 'first'}"]
    train(config(*still), [questions_dir], encoder_dir, tmp_path / "second", device="cpu")
    train(config(*still[:2]), [questions_dir], encoder_dir, tmp_path / "fresh", device="cpu")
    # the heard words' layout may change: no weights belong to it
    train(config(*still, "projector.heard_words=text"), [questions_dir], encoder_dir, tmp_path / "text", device="cpu")
    for name in ("projector.safetensors", "lm/model.safetensors"):
        first, second, text, fresh = (load_file(str(tmp_path / run / name)) for run in ("first", "second", "text", "fresh"))
        assert all(torch.equal(first[k], second[k]) and torch.equal(first[k], text[k]) for k in first), name
        assert not all(torch.equal(first[k], fresh[k]) for k in first), name
    with pytest.raises(BatError, match="projector settings differ"):
        train(config(*still, "projector.queries=2"), [questions_dir], encoder_dir, tmp_path / "other", device="cpu")


def test_the_training_pool_sees_rarer_families_and_absent_sounds_more_often():
    from batcli.llm.data import Question
    from batcli.llm.train import training_pool

    def question(template, answer="dog", kind="C"):
        return Question(0, "?", answer, {"question_type": kind, "template": template})

    questions = [question("c_what_at")] * 16 + [question("e_left_of", kind="E")] * 4 + [question("e_closer", "none", kind="E")]
    plain = training_pool(questions, ["C", "E"], config("family_balance=0", "absent_weight=3"))
    assert len(plain) == 16 + 4 + 3
    balanced = training_pool(questions, ["C", "E"], config("family_balance=0.5", "absent_weight=3"))
    seen = [questions[i].record["template"] for i in balanced]
    assert seen.count("c_what_at") == 16 and seen.count("e_left_of") == 4 * 2 and seen.count("e_closer") == 3 * 4  # (16/4)^0.5, (16/1)^0.5
    assert set(training_pool(questions, ["E"], config("family_balance=0.5"))) == set(range(16, 21))  # the types chosen, balanced among themselves
