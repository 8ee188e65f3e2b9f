"""A tiny encoder, a small simulated question set and tiny random Hugging Face models, for the LLM tests."""

import pytest
import torch

from batcli.config import from_dict
from batcli.encoder.model import EncoderDims, SpatialEncoder, save_model
from batcli.llm.tokenizer import train_tokenizer
from batcli.sim.simulate import SimulateConfig, simulate

RATE = 16000
CORPUS = ["what is to my left?", "where is the dog?", "left, front; 2.5m", "yes", "no", "none", "how many sounds are there?"] * 5


@pytest.fixture(scope="session")
def encoder_dir(tmp_path_factory):
    torch.manual_seed(0)
    dims = EncoderDims(sample_rate=RATE, clip_s=1.0, n_fft=512, hop=160, n_mels=32, f_max=7600.0, width=32, depth=1, heads=2)
    from batcli.sim.sounds import CLASSES

    folder = tmp_path_factory.mktemp("encoder")
    save_model(SpatialEncoder(dims, list(CLASSES)), folder)
    return folder


@pytest.fixture(scope="session")
def questions_dir(tmp_path_factory):
    """24 one-second clips with 4 questions each."""
    out = tmp_path_factory.mktemp("llm-data") / "data"
    config = from_dict(SimulateConfig, {"seed": 2, "num_clips": 24, "sample_rate": RATE, "duration_s": 1.0,
                                        "scene": {"min_event_s": 0.5}, "questions": {"per_clip": 4}})
    simulate(config, out, workers=2)
    return out


def save_random_lm(folder, architecture: str):
    """A randomly initialised model of a real architecture, with a tokenizer, as a local HF directory."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    tokenizer = train_tokenizer(CORPUS, 400)
    size = len(tokenizer)
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    torch.manual_seed(1)
    if architecture == "llama":
        model = LlamaForCausalLM(LlamaConfig(vocab_size=size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                             num_attention_heads=2, num_key_value_heads=2, **ids))
    elif architecture == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(vocab_size=size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                             num_attention_heads=2, num_key_value_heads=2, **ids))
    else:
        model = GPT2LMHeadModel(GPT2Config(vocab_size=size, n_embd=32, n_layer=2, n_head=2, **ids))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
