"""Tiny random Hugging Face models for the LLM tests (their encoder and questions: ../conftest.py)."""

import torch

from batcli.llm.tokenizer import train_tokenizer

CORPUS = ["what is to my left?", "where is the dog?", "left, front; 2.5m", "yes", "no", "none", "how many sounds are there?"] * 5


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
