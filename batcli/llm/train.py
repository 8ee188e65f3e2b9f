"""`bat train-llm`: teach a language model to answer questions about where sounds are.

The frozen encoder's tokens are cached once per clip; the projector and the language model (LoRA
adapters, or all its weights) train on the questions in curriculum stages: each stage has its own
question types, steps and learning rate (warm-up, then cosine decay within the stage). After each
stage the validation questions are answered and scored into RUNDIR/metrics.jsonl, and the model
directory is written, so a run can stop after any stage (--until-stage) and --resume later.
"""

from __future__ import annotations

import math
import time
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from rich.progress import TextColumn

from ..encoder.model import load_model, shipped_encoder_dir
from ..errors import BatError, UsageError
from ..metrics import answer_report
from ..progress import progress_bar, stderr
from ..records import atomic_write
from ..runtime import autocast, pick_device, uninterrupted
from ..training import (
    append_metrics,
    drop_metrics_after,
    last_metrics,
    open_run_folder,
    read_checkpoint,
    start_distributed,
    warmup_cosine,
)
from .data import Question, answered_as_heard, as_typed, cached_encoding, encoder_fingerprint, read_questions
from .gguf import reference
from .heard import heard_vocabulary
from .model import (
    INPUT_VERSION,
    LMConfig,
    Projector,
    ProjectorConfig,
    SpatialLM,
    build_embedded_lm,
    load_pretrained_lm,
    load_spatial_lm,
    save_spatial_lm,
)
from .tokenizer import train_tokenizer

QUESTION_TYPES = ("A", "B", "C", "D", "E", "free")


@dataclass
class Stage:
    types: list[str] = field(default_factory=lambda: list(QUESTION_TYPES), metadata={"help": "question types trained in this stage: A, B, C, D, E, free"})
    steps: int = field(default=1000, metadata={"help": "optimizer steps of this stage", "range": (1, 10**9)})
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate of this stage", "range": (0, 1)})


def _curriculum() -> list[Stage]:
    """The paper's three stages: detection and single-source location, then mixtures, then reasoning."""
    return [Stage(["A", "B"], 1000, 1e-3), Stage(["A", "B", "C", "D"], 1000, 1e-3), Stage(list(QUESTION_TYPES), 2000, 5e-4)]


@dataclass
class LLMTrainConfig:
    seed: int = field(default=0, metadata={"help": "seed of the initial weights and the question order", "range": (0, 2**31 - 1)})
    lm: LMConfig = field(default_factory=LMConfig)
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    stages: list[Stage] = field(default_factory=_curriculum, metadata={"help": "curriculum stages, trained in order"})
    batch_size: int = field(default=32, metadata={"help": "questions per optimizer step (all processes together)", "range": (1, 65536)})
    warmup_steps: int = field(default=100, metadata={"help": "warm-up steps at the start of each stage", "range": (0, 10**9)})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay", "range": (0, 1)})
    clip_grad_norm: float = field(default=1.0, metadata={"help": "gradient norm clipping (0: off)", "range": (0, 1000)})
    family_balance: float = field(default=0.0, metadata={"help": "how much more often a question of a rarer family (its template) is seen per epoch: (the commonest family's count / its own) to this power, rounded; 0: as often as simulated. Two-sound comparisons are a twentieth of the questions each, too few to learn from otherwise", "range": (0, 1)})
    absent_weight: int = field(default=4, metadata={"help": "times a question about a sound that is not there (answer 'none') is seen per epoch: they are few, and a model that never says 'none' invents places", "range": (1, 100)})
    word_dropout: float = field(default=0.2, metadata={"help": "share of filler words (the, my, on, ...) left out of the questions at random in training, so that answers rest on the words that matter, not on a template's exact wording", "range": (0, 0.9)})
    terse_share: float = field(default=0.15, metadata={"help": "share of training questions asked without their yes/no opening, as people type them ('Is the siren on my left?' -> 'siren on my left?')", "range": (0, 1)})
    synonym_share: float = field(default=0.3, metadata={"help": "share of the words for a sound (sound, noise, source, thing) swapped for another in the training questions, so that 'how many things' is read as 'how many sounds'", "range": (0, 1)})
    typo_share: float = field(default=0.1, metadata={"help": "share of training questions with one typo in a question word ('wheres', 'wher'; never a sound's name or a side)", "range": (0, 1)})
    max_answer_tokens: int = field(default=24, metadata={"help": "longest answer generated in validation (tokens)", "range": (1, 4096)})
    val_clips: int = field(default=200, metadata={"help": "clips whose questions are held out for validation (without --val)", "range": (0, 10**7)})
    val_questions: int = field(default=600, metadata={"help": "most validation questions answered after each stage", "range": (0, 10**7)})
    checkpoint_every: int = field(default=500, metadata={"help": "steps between checkpoints (and at the end of each stage)", "range": (1, 10**9)})
    init: str | None = field(default=None, metadata={
        "help": "language-model directory (a train-llm run, or the shipped batcli/data/llm) whose trained weights and "
                "tokenizer the run starts from, with a fresh optimizer and curriculum: to train a finished model further. "
                "It must have this run's lm, projector and encoder"})


def train(config: LLMTrainConfig, data: list[Path], encoder_dir: Path | None, out_dir: Path, val: list[Path] | None = None,
          device: str = "auto", resume: bool = False, until_stage: int | None = None) -> dict:
    rank, world = start_distributed()
    device = pick_device(device)
    main = rank == 0
    for number, stage in enumerate(config.stages, start=1):
        unknown = sorted(set(stage.types) - set(QUESTION_TYPES))
        if unknown:
            raise UsageError(f"stages[{number}].types: unknown question types {unknown}; known: {', '.join(QUESTION_TYPES)}")
    if config.batch_size % world:
        raise UsageError(f"batch_size {config.batch_size} does not divide among {world} processes")
    open_run_folder(config, out_dir, resume, main)

    builtin = encoder_dir is None
    encoder_dir = shipped_encoder_dir() if builtin else encoder_dir
    encoder = load_model(encoder_dir, device)
    fingerprint = encoder_fingerprint(encoder_dir)
    train_questions, train_audio = _questions_and_audio(data, encoder, fingerprint, out_dir, device, "train")
    if val:
        val_questions, val_audio = _questions_and_audio(val, encoder, fingerprint, out_dir, device, "val")
    else:
        train_questions, val_questions = _hold_out(train_questions, config.val_clips)
        val_audio = train_audio
    vocabulary = heard_vocabulary(encoder) if config.projector.heard_words != "off" else None
    if vocabulary:
        train_questions = [answered_as_heard(q, train_audio[1][q.clip].tolist(), vocabulary) for q in train_questions]
    encoder_width = encoder.dims.width
    del encoder

    torch.manual_seed(config.seed)
    tokenizer_dir = out_dir / "tokenizer"
    if config.lm.path is None:
        from transformers import AutoTokenizer

        if resume or config.init:
            tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir if resume else Path(config.init) / "tokenizer", local_files_only=True)
        else:
            texts = [f"{q.question} {q.answer}" for q in train_questions] + [q.answer for q in train_questions]
            tokenizer = train_tokenizer(texts, config.lm.vocab_size)
        lm = build_embedded_lm(config.lm, tokenizer)
    else:
        lm, tokenizer = load_pretrained_lm(config.lm)
    projector = Projector(config.projector, encoder_width, lm.get_input_embeddings().embedding_dim)
    model = SpatialLM(projector, lm, tokenizer, vocabulary, config.projector.heard_words, config.projector.prompt).to(device)
    meta = _meta(config, encoder_dir, builtin, fingerprint, encoder_width, vocabulary)
    if config.init and not resume:
        start_from(model, Path(config.init), meta)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.stages[0].lr, weight_decay=config.weight_decay, betas=(0.9, 0.98))
    total = sum(stage.steps for stage in config.stages)
    step, carried_loss = 0, None
    if resume:
        state = read_checkpoint(out_dir)
        model.load_state_dict(state["model"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        step, carried_loss = state["step"], state.get("smoothed_loss")  # absent from checkpoints of older runs
        torch.set_rng_state(state["rng"])
        drop_metrics_after(out_dir, step)
    elif main:
        tokenizer.save_pretrained(tokenizer_dir)
    trained = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model

    if main:
        stderr.print(f"train-llm: {len(train_questions)} training questions, {len(val_questions)} validation questions, "
                     f"{sum(p.numel() for p in trainable) / 1e6:.2f} M trainable of {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, on {device}")
    last_stage = min(until_stage or len(config.stages), len(config.stages))
    stop = sum(stage.steps for stage in config.stages[:last_stage])
    timing = None
    with progress_bar(TextColumn("stage {task.fields[stage]}"), TextColumn("loss {task.fields[loss]}")) as progress:
        task = progress.add_task("train-llm", total=total, completed=step, unit="questions", scale=config.batch_size, first=step, stage="-", loss="-")
        start = 0
        for number, stage in enumerate(config.stages, start=1):
            end = start + stage.steps
            if step >= end:
                start = end
                continue
            if step >= stop:
                break
            pool = training_pool(train_questions, stage.types, config)
            if not pool:
                raise BatError(f"stage {number}: no training questions of types {stage.types}")
            smoothed, carried_loss = (carried_loss if step > start else None), None  # a stage resumed halfway goes on with its loss
            model.train()
            while step < end:
                rows = _batch_rows(config.seed, number, step - start, len(pool), config.batch_size, rank, world)
                batch = [train_questions[pool[i]] for i in rows]
                tokens, heard = _audio_of(train_audio, [q.clip for q in batch], device)
                for group in optimizer.param_groups:
                    group["lr"] = stage.lr * warmup_cosine(step - start, stage.steps, config.warmup_steps, 0.05)
                with autocast(device):
                    questions = [as_typed(q.question, (config.seed, step, row), config.synonym_share, config.word_dropout, config.terse_share, config.typo_share)
                                 for row, q in zip(rows, batch)]
                    loss = trained(tokens, heard, questions, [q.answer for q in batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.clip_grad_norm:
                    torch.nn.utils.clip_grad_norm_(trainable, config.clip_grad_norm)
                optimizer.step()
                step += 1
                value = loss.item()
                if not math.isfinite(value):
                    raise BatError(f"train-llm: the loss became {value} at step {step}; lower the stage's lr")
                smoothed = value if smoothed is None else 0.98 * smoothed + 0.02 * value
                timing = timing or (time.perf_counter(), step)
                progress.update(task, completed=step, stage=f"{number}/{len(config.stages)}", loss=f"{smoothed:.3f}")
                if main and step % config.checkpoint_every == 0 and step < end:
                    _save_checkpoint(model, optimizer, step, smoothed, out_dir)
            if main:
                row = {"step": step, "stage": number, "types": stage.types, "train_loss": round(smoothed, 4),
                       **validate(model, val_questions, val_audio, stage.types, config, device)}
                with uninterrupted():  # the checkpoint last: a stage counts as done once its metrics and model are written
                    append_metrics(out_dir, row)
                    save_spatial_lm(model, out_dir, meta, None if builtin else encoder_dir)
                    _save_checkpoint(model, optimizer, step, smoothed, out_dir)
            start = end
    if world > 1:
        torch.distributed.destroy_process_group()
    summary = {"run": str(out_dir), "step": step, "steps": total}
    if timing and step > timing[1]:
        summary["questions_per_s"] = round((step - timing[1]) * config.batch_size / (time.perf_counter() - timing[0]), 2)
    return {**summary, **last_metrics(out_dir)}


def training_pool(questions: list[Question], types: list[str], config: LLMTrainConfig) -> list[int]:
    """Indices of the questions of `types`, each repeated as often as it is seen per epoch: absent_weight
    times for a question answered `none`, times (the commonest family's count / its family's) **
    family_balance, rounded, where a family is a question's template (its type without one)."""
    families = [q.record.get("template") or q.record.get("question_type") for q in questions]
    chosen = [i for i, q in enumerate(questions) if q.record.get("question_type") in types]
    counts = Counter(families[i] for i in chosen)
    commonest = max(counts.values(), default=1)
    return [i for i in chosen
            for _ in range((config.absent_weight if questions[i].answer == "none" else 1) * round((commonest / counts[families[i]]) ** config.family_balance))]


@torch.no_grad()
def validate(model: SpatialLM, questions: list[Question], audio: tuple[torch.Tensor, torch.Tensor], types: list[str],
             config: LLMTrainConfig, device: torch.device, batch_size: int = 64) -> dict:
    """Answer up to val_questions of the stage's types and score them as `bat eval` does."""
    model.eval()
    chosen = [q for q in questions if q.record.get("question_type") in types][: config.val_questions]
    pairs = []
    for start in range(0, len(chosen), batch_size):
        batch = chosen[start : start + batch_size]
        with autocast(device):
            answers = model.answer(*_audio_of(audio, [q.clip for q in batch], device), [q.question for q in batch], config.max_answer_tokens)
        pairs += [({**q.record, "answer": answer}, q.record) for q, answer in zip(batch, answers)]
    model.train()
    return {"val_questions": len(pairs), **_headline(answer_report(pairs))} if pairs else {"val_questions": 0}


def _headline(report: dict) -> dict:
    """The report's top-level scores, rounded: one readable metrics.jsonl line per stage."""
    return {key: round(value, 4) if isinstance(value, float) else value for key, value in report.items() if not isinstance(value, dict)}


def _questions_and_audio(folders: list[Path], encoder, fingerprint: str, out_dir: Path, device, role: str):
    """The questions of the folders and, per clip, the encoder's tokens and heard-word weights."""
    questions, tokens, heard, offset = [], [], [], 0
    for index, folder in enumerate(folders):
        clips, found = read_questions(folder)
        cache = out_dir / "cache" / f"{role}-{index}-{zlib.crc32(str(folder.resolve()).encode()):08x}.safetensors"
        encoded, words = cached_encoding(cache, fingerprint, clips, encoder, device, f"encode {folder.name}")
        tokens.append(encoded)
        heard.append(words)
        questions += [Question(q.clip + offset, q.question, q.answer, q.record) for q in found]
        offset += len(clips)
    return questions, (torch.cat(tokens), torch.cat(heard))


def _audio_of(audio: tuple[torch.Tensor, torch.Tensor], clips: list[int], device) -> tuple[torch.Tensor, torch.Tensor]:
    tokens, heard = audio
    return tokens[clips].to(device, torch.float32), heard[clips].to(device)


def _hold_out(questions: list[Question], clips: int) -> tuple[list[Question], list[Question]]:
    """The questions of `clips` clips chosen by a hash of their audio path, kept out of training."""
    names = {q.clip: q.record["audio"] for q in questions}
    held = set(sorted(names, key=lambda c: (zlib.crc32(names[c].encode()), c))[:clips])
    if len(held) >= len(names):
        raise UsageError(f"val_clips {clips} leaves no training clips out of {len(names)}")
    return [q for q in questions if q.clip not in held], [q for q in questions if q.clip in held]


def _batch_rows(seed: int, stage: int, position: int, size: int, batch_size: int, rank: int, world: int) -> list[int]:
    """This process's rows of the stage's `position`-th global batch: epochs of seeded permutations."""
    rows, orders = [], {}
    for item in range(position * batch_size, (position + 1) * batch_size):
        epoch, offset = divmod(item, size)
        if (item % batch_size) % world == rank:
            if epoch not in orders:
                orders[epoch] = torch.randperm(size, generator=torch.Generator().manual_seed(seed * 1_000_003 + stage * 10_007 + epoch))
            rows.append(int(orders[epoch][offset]))
    return rows


def start_from(model: SpatialLM, folder: Path, meta: dict) -> None:
    """Copy the trained weights of the language-model directory `folder` into `model`, which must be
    built as it was: the same language model and fine-tuning, projector, heard words and encoder.
    Only the heard words' layout (slot to text, say) and the prompt may change: no weights belong to them."""
    trained, trained_meta = load_spatial_lm(folder, torch.device("cpu"))
    if _projector_build(trained_meta) != _projector_build(meta):
        raise BatError(f"init {folder}: its projector settings differ from this run's; give the same config")
    for key, what in (("heard_words", "heard words"), ("encoder_fingerprint", "encoder")):
        if trained_meta.get(key) != meta[key]:
            raise BatError(f"init {folder}: its {what} differ from this run's; give the same config and --encoder")
    if {k: trained_meta["lm"].get(k) for k in ("weights", "source")} != {k: meta["lm"][k] for k in ("weights", "source")}:
        raise BatError(f"init {folder}: trained on {trained_meta['lm'].get('source')} ({trained_meta['lm'].get('weights')} weights), "
                       f"this run on {meta['lm']['source']} ({meta['lm']['weights']} weights)")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in trained.state_dict().items()})


def _projector_build(meta: dict) -> dict:
    """The projector settings of a model's bat-llm.json that its weights depend on: all but the
    prompt and the heard words' layout, of which only whether there are heard words at all."""
    settings = {key: value for key, value in meta["projector"].items() if key != "prompt"}
    return {**settings, "heard_words": settings.get("heard_words") != "off"}


def _meta(config: LLMTrainConfig, encoder_dir: Path, builtin: bool, fingerprint: str, encoder_width: int,
          vocabulary: list[list[str]] | None) -> dict:
    lora = config.lm.path is not None and config.lm.finetune == "lora"
    return {
        "kind": "bat-llm",
        "input_version": INPUT_VERSION,
        "projector": asdict(config.projector),
        "encoder_width": encoder_width,
        "heard_words": vocabulary,
        "encoder": "builtin" if builtin else "encoder",
        "encoder_fingerprint": fingerprint,
        "lm": {"weights": "adapter" if lora else "full", "base": reference(config.lm.path) if lora else None,
               "source": "embedded" if config.lm.path is None else reference(config.lm.path)},
        "max_answer_tokens": config.max_answer_tokens,
    }


def _save_checkpoint(model: SpatialLM, optimizer, step: int, smoothed_loss: float, out_dir: Path) -> None:
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    state = {"model": {k: v for k, v in model.state_dict().items() if k in trainable}, "optimizer": optimizer.state_dict(),
             "step": step, "smoothed_loss": smoothed_loss, "rng": torch.get_rng_state()}
    with uninterrupted(), atomic_write(out_dir / "checkpoint.pt", "wb") as stream:
        torch.save(state, stream)
