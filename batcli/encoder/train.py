"""`bat train-encoder`: train the spatial encoder on simulated scenes.

AdamW with linear warm-up and cosine decay, gradient clipping, bf16 autocast on CUDA. Several GPUs
through torchrun (`torchrun --nproc-per-node 4 -m batcli train-encoder ...`): each process takes
its share of every global batch and DistributedDataParallel averages the gradients.

The run folder is a model directory (config.json, model.safetensors, labels.txt: what `bat
localize --model` reads) plus train.yaml (the resolved training config), checkpoint.pt (model,
optimizer, schedule, step and random state, for --resume) and metrics.jsonl (one line per validation).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from contextlib import nullcontext
from functools import partial
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rich.progress import TextColumn

from ..errors import BatError, UsageError
from ..metrics import localization_report
from ..progress import progress_bar, stderr
from ..records import atomic_write
from ..runtime import autocast, follow_main_process, pick_device, uninterrupted
from ..training import (
    append_metrics,
    drop_metrics_after,
    last_metrics,
    open_run_folder,
    read_checkpoint,
    start_distributed,
    warmup_cosine,
)
from .data import DataConfig, EpochSampler, Examples, collate, read_clips, split_validation
from .model import EncoderDims, SpatialEncoder, load_model, save_model
from .readout import calibration_data, decode, fit_calibration, make_targets, slot_loss


@dataclass
class OptimConfig:
    steps: int = field(default=50000, metadata={"help": "optimizer steps of the whole run", "range": (1, 10**9)})
    lr: float = field(default=2e-4, metadata={"help": "peak learning rate", "range": (0, 1)})
    final_lr_fraction: float = field(default=0.02, metadata={"help": "learning rate at the end of the cosine, as a share of lr", "range": (0, 1)})
    warmup_steps: int = field(default=1000, metadata={"help": "steps of linear warm-up", "range": (0, 10**9)})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay (not on norms, biases, embeddings)", "range": (0, 1)})
    clip_grad_norm: float = field(default=1.0, metadata={"help": "gradient norm clipping (0: off)", "range": (0, 1000)})


@dataclass
class EncoderTrainConfig:
    seed: int = field(default=0, metadata={"help": "seed of the initial weights, data order and mixing", "range": (0, 2**31 - 1)})
    model: EncoderDims = field(default_factory=EncoderDims)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval_every: int = field(default=1000, metadata={"help": "steps between validations (and at the end)", "range": (1, 10**9)})
    checkpoint_every: int = field(default=1000, metadata={"help": "steps between checkpoints (and at the end)", "range": (1, 10**9)})
    threshold: float = field(default=0.5, metadata={"help": "presence probability at which a slot counts as a source in validation", "range": (0, 1)})
    init: str | None = field(default=None, metadata={
        "help": "encoder model directory whose weights the run starts from (same model dimensions and classes), with a fresh "
                "optimizer and schedule: to train a finished model (the shipped one, say) further"})


def start_from(model: SpatialEncoder, folder: Path) -> None:
    """Copy the weights of the model in `folder` into `model`, which must have its dimensions and classes."""
    trained = load_model(folder)
    if trained.dims != model.dims or trained.labels != model.labels:
        what = "model dimensions" if trained.dims != model.dims else "classes"
        raise BatError(f"init {folder}: its {what} differ from this run's; give the same model config and data classes")
    model.load_state_dict(trained.state_dict())


def train(config: EncoderTrainConfig, data: list[Path], out_dir: Path, responses: list[Path] = (), val: list[Path] | None = None,
          device: str = "auto", resume: bool = False, until: int | None = None) -> dict:
    rank, world = start_distributed()
    device = pick_device(device)
    main = rank == 0
    if responses and not config.data.mixed_per_epoch:
        raise UsageError("--responses: data.mixed_per_epoch is 0, so no scene would be mixed from them; "
                         "add --set data.mixed_per_epoch=N")
    if config.data.batch_size % world:
        raise UsageError(f"data.batch_size {config.data.batch_size} does not divide among {world} processes")
    open_run_folder(config, out_dir, resume, main)

    clips, labels = read_clips(data)
    if val:
        val_clips, _ = read_clips(val)
    else:
        clips, val_clips = split_validation(clips, config.data.val_clips)
    dims = config.model
    examples = Examples(clips, dims.sample_rate, dims.clip_samples, config.seed, responses, config.data.mixed_per_epoch,
                        swap_ears=config.data.swap_ears, band_limit=config.data.band_limit, head=config.data.head, sounds=config.data.sounds)
    labels += [label for label in examples.mixed_labels() if label not in labels]  # classes only the mixed scenes hold
    torch.manual_seed(config.seed)
    model = SpatialEncoder(dims, labels)
    if config.init and not resume:
        start_from(model, Path(config.init))
    model = model.to(device)
    optimizer = torch.optim.AdamW(_parameter_groups(model, config.optim.weight_decay), lr=config.optim.lr, betas=(0.9, 0.95))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, config.optim.steps, config.optim.warmup_steps, config.optim.final_lr_fraction))
    step, smoothed = 0, None
    if resume:
        state = read_checkpoint(out_dir)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step, smoothed = state["step"], state["smoothed_loss"]
        torch.set_rng_state(state["rng"])
        if device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"])
        drop_metrics_after(out_dir, step)
    trained = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model

    batches = _one_line_errors(_loader(examples, config, EpochSampler(len(examples), config.seed, step * config.data.batch_size, config.data.batch_size, rank, world)))
    validation = Examples(val_clips, dims.sample_rate, dims.clip_samples, config.seed, random_crop=False)
    last = min(config.optim.steps, until or config.optim.steps)
    if main:
        stderr.print(f"train-encoder: {len(clips)} training clips (+{examples.mixed_per_epoch} mixed per epoch), {len(val_clips)} validation clips, "
                     f"{len(labels)} classes, {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters, on {device}"
                     + (f" x {world}" if world > 1 else ""))
    first_step_done = None
    with progress_bar(TextColumn("loss {task.fields[loss]}")) if main else nullcontext() as progress:
        task = progress.add_task("train-encoder", total=config.optim.steps, completed=step, unit="clips", scale=config.data.batch_size, first=step, loss="-") if main else None
        trained.train()
        while step < last:
            audio, sources = next(batches)
            targets = make_targets(sources, labels, dims.slots).to(device)
            with autocast(device):
                outputs = trained(audio.to(device, non_blocking=True))
            loss, _ = slot_loss(outputs, targets, dims)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.optim.clip_grad_norm:
                torch.nn.utils.clip_grad_norm_(trained.parameters(), config.optim.clip_grad_norm)
            optimizer.step()
            schedule.step()
            step += 1
            value = loss.item()
            first_step_done = first_step_done or (time.perf_counter(), step)
            if not math.isfinite(value):
                raise BatError(f"train-encoder: the loss became {value} at step {step}; lower optim.lr or raise optim.warmup_steps")
            smoothed = value if smoothed is None else 0.98 * smoothed + 0.02 * value
            if main:
                progress.update(task, completed=step, loss=f"{smoothed:.3f}")
            if main and (step % config.eval_every == 0 or step == config.optim.steps):
                row = {"step": step, "epoch": round(step * config.data.batch_size / len(examples), 3), "lr": schedule.get_last_lr()[0],
                       "train_loss": round(smoothed, 4), **validate(model, validation, config, device)}
                append_metrics(out_dir, row)
                trained.train()
            if main and (step % config.checkpoint_every == 0 or step == last):
                _save_checkpoint(model, optimizer, schedule, step, smoothed, device, out_dir)
    if world > 1:
        torch.distributed.destroy_process_group()
    summary = {"run": str(out_dir), "step": step, "steps": config.optim.steps}
    if first_step_done and step > first_step_done[1]:  # throughput after the first step (start-up, loader warm-up)
        summary["clips_per_s"] = round((step - first_step_done[1]) * config.data.batch_size / (time.perf_counter() - first_step_done[0]), 2)
    return {**summary, **last_metrics(out_dir)}


@torch.no_grad()
def validate(model: SpatialEncoder, examples: Examples, config: EncoderTrainConfig, device: torch.device) -> dict:
    """Validation loss and localization scores of the decoded slots on the fixed held-out clips. Fits the
    model's front calibration on the same clips first (the model directory keeps it with the weights)."""
    model.eval()
    dims, batches, losses = config.model, [], []
    loader = torch.utils.data.DataLoader(examples, batch_size=config.data.batch_size, sampler=[(0, i) for i in range(len(examples))],
                                         collate_fn=collate, num_workers=0)
    for audio, sources in loader:
        with autocast(device):
            outputs = model(audio.to(device), votes=True)
        losses.append(float(slot_loss(outputs, make_targets(sources, model.labels, dims.slots).to(device), dims)[0]) * len(audio))
        batches.append((outputs.cpu(), sources))
    mass, evidence, front = (np.concatenate(parts) for parts in zip(*(calibration_data(o, dims, s, config.threshold) for o, s in batches)))
    if len(set(front.tolist())) == 2:  # both sides seen: otherwise the fit has nothing to separate
        model.front_calibration = fit_calibration(mass, evidence, front)
    pairs = [pair for outputs, sources in batches
             for pair in zip(decode(outputs, dims, model.labels, config.threshold, calibration=model.front_calibration), sources)]
    report = localization_report(pairs)
    scores = {"val_loss": round(sum(losses) / max(len(examples), 1), 4), "front_calibration": [round(v, 4) for v in model.front_calibration]}
    for group, metrics in report.items():
        for name in ("map", "doa_mae_deg", "er20", "distance_mae_m", "der", "location_f1", "front_back_confusion") if metrics else ():
            if metrics[name] is not None:
                scores[f"{group}/{name}"] = round(metrics[name], 4)
    return scores


def _one_line_errors(loader: torch.utils.data.DataLoader):
    """The loader's batches. A BatError in a loader process (a damaged clip, say) reaches this
    process wrapped in that process's traceback; keep the one line it started as."""
    try:
        yield from loader
    except BatError as err:
        last = str(err).strip().splitlines()[-1]
        raise BatError(last.split("BatError: ", 1)[-1]) from None


def _loader(examples: Examples, config: EncoderTrainConfig, sampler: EpochSampler) -> torch.utils.data.DataLoader:
    workers = config.data.workers
    return torch.utils.data.DataLoader(
        examples,
        batch_size=config.data.batch_size // sampler.world,
        sampler=sampler,
        collate_fn=collate,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        # A loader's own generator keeps it from drawing on the global random state (dropout's),
        # and a fork server keeps workers from inheriting the locks of this process's threads.
        generator=torch.Generator(),
        multiprocessing_context="forkserver" if workers else None,
        worker_init_fn=partial(follow_main_process, os.getpid()) if workers else None,
        persistent_workers=bool(workers),
        prefetch_factor=4 if workers else None,
    )


def _parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, plain = [], []
    for name, parameter in model.named_parameters():
        (decay if parameter.ndim >= 2 and name not in ("position", "slot_queries") else plain).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


def _save_checkpoint(model, optimizer, schedule, step: int, smoothed: float, device: torch.device, out_dir: Path) -> None:
    """The model directory's files and checkpoint.pt, each replaced only once completely written,
    all of them before a stop is acted on."""
    with uninterrupted():
        _write_checkpoint(model, optimizer, schedule, step, smoothed, device, out_dir)


def _write_checkpoint(model, optimizer, schedule, step: int, smoothed: float, device: torch.device, out_dir: Path) -> None:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
             "step": step, "smoothed_loss": smoothed, "rng": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state()
    staging = out_dir / ".model.partial"
    try:
        save_model(model, staging)
        for name in os.listdir(staging):
            os.replace(staging / name, out_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    with atomic_write(out_dir / "checkpoint.pt", "wb") as stream:  # last: what a resumed run starts from is all written
        torch.save(state, stream)
