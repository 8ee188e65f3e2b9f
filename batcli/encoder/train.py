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
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from rich.progress import TextColumn

from ..config import dump_yaml, from_dict
from ..errors import BatError, UsageError
from ..metrics import localization_report
from ..progress import progress_bar, stderr
from ..records import atomic_write, dumps, load_jsonl
from ..runtime import autocast, pick_device
from .data import DataConfig, EpochSampler, Examples, collate, read_clips, split_validation
from .model import EncoderDims, SpatialEncoder, save_model
from .readout import decode, make_targets, slot_loss


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


def train(config: EncoderTrainConfig, data: list[Path], out_dir: Path, responses: Path | None = None, val: list[Path] | None = None,
          device: str = "auto", resume: bool = False, until: int | None = None) -> dict:
    rank, world = _start_distributed()
    device = pick_device(device)
    main = rank == 0
    checkpoint_path = out_dir / "checkpoint.pt"
    if resume and not checkpoint_path.is_file():
        raise UsageError(f"--resume: {checkpoint_path} does not exist")
    if not resume and checkpoint_path.is_file():
        raise UsageError(f"{out_dir} already holds a run; add --resume to continue it, or choose another -o")
    if resume:
        saved = from_dict(EncoderTrainConfig, yaml.safe_load((out_dir / "train.yaml").read_text(encoding="utf-8")))
        if saved != config:
            raise UsageError(f"--resume: the config differs from the one in {out_dir / 'train.yaml'}; resume with the same config")
    if config.data.batch_size % world:
        raise UsageError(f"data.batch_size {config.data.batch_size} does not divide among {world} processes")

    clips, labels = read_clips(data)
    if val:
        val_clips, _ = read_clips(val)
    else:
        clips, val_clips = split_validation(clips, config.data.val_clips)
    dims = config.model
    torch.manual_seed(config.seed)
    model = SpatialEncoder(dims, labels).to(device)
    optimizer = torch.optim.AdamW(_parameter_groups(model, config.optim.weight_decay), lr=config.optim.lr, betas=(0.9, 0.95))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, config.optim))
    step, smoothed = 0, None
    if resume:
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step, smoothed = state["step"], state["smoothed_loss"]
        torch.set_rng_state(state["rng"])
        if device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"])
        _truncate_metrics(out_dir / "metrics.jsonl", step)
    elif main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "train.yaml").write_text(dump_yaml(config), encoding="utf-8")
    trained = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model

    examples = Examples(clips, dims.sample_rate, dims.clip_samples, config.seed, responses, config.data.mixed_per_epoch,
                        swap_ears=config.data.swap_ears, band_limit=config.data.band_limit)
    batches = iter(_loader(examples, config, EpochSampler(len(examples), config.seed, step * config.data.batch_size, config.data.batch_size, rank, world)))
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
                with open(out_dir / "metrics.jsonl", "a", encoding="utf-8") as stream:
                    stream.write(dumps(row) + "\n")
                trained.train()
            if main and (step % config.checkpoint_every == 0 or step == last):
                _save_checkpoint(model, optimizer, schedule, step, smoothed, device, out_dir)
    if world > 1:
        torch.distributed.destroy_process_group()
    rows = load_jsonl(out_dir / "metrics.jsonl") if (out_dir / "metrics.jsonl").is_file() else []
    summary = {"run": str(out_dir), "step": step, "steps": config.optim.steps}
    if first_step_done and step > first_step_done[1]:  # throughput after the first step (start-up, loader warm-up)
        summary["clips_per_s"] = round((step - first_step_done[1]) * config.data.batch_size / (time.perf_counter() - first_step_done[0]), 2)
    return {**summary, **({"metrics": rows[-1]} if rows else {})}


@torch.no_grad()
def validate(model: SpatialEncoder, examples: Examples, config: EncoderTrainConfig, device: torch.device) -> dict:
    """Validation loss and localization scores of the decoded slots on the fixed held-out clips."""
    model.eval()
    dims, pairs, losses = config.model, [], []
    loader = torch.utils.data.DataLoader(examples, batch_size=config.data.batch_size, sampler=[(0, i) for i in range(len(examples))],
                                         collate_fn=collate, num_workers=0)
    for audio, sources in loader:
        with autocast(device):
            outputs = model(audio.to(device))
        losses.append(float(slot_loss(outputs, make_targets(sources, model.labels, dims.slots).to(device), dims)[0]) * len(audio))
        for prediction, reference in zip(decode(outputs, dims, model.labels, config.threshold), sources):
            pairs.append((prediction, reference))
    report = localization_report(pairs)
    scores = {"val_loss": round(sum(losses) / max(len(examples), 1), 4)}
    for group, metrics in report.items():
        for name in ("map", "doa_mae_deg", "er20", "distance_mae_m", "der", "location_f1") if metrics else ():
            if metrics[name] is not None:
                scores[f"{group}/{name}"] = round(metrics[name], 4)
    return scores


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
        persistent_workers=bool(workers),
        prefetch_factor=4 if workers else None,
    )


def _parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, plain = [], []
    for name, parameter in model.named_parameters():
        (decay if parameter.ndim >= 2 and name not in ("position", "slot_queries") else plain).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


def _lr_factor(step: int, optim: OptimConfig) -> float:
    if step < optim.warmup_steps:
        return (step + 1) / optim.warmup_steps
    progress = (step - optim.warmup_steps) / max(1, optim.steps - optim.warmup_steps)
    return optim.final_lr_fraction + (1 - optim.final_lr_fraction) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _save_checkpoint(model, optimizer, schedule, step: int, smoothed: float, device: torch.device, out_dir: Path) -> None:
    """The model directory's files and checkpoint.pt, each replaced only once completely written."""
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
             "step": step, "smoothed_loss": smoothed, "rng": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state()
    with atomic_write(out_dir / "checkpoint.pt", "wb") as stream:
        torch.save(state, stream)
    staging = out_dir / ".model.partial"
    save_model(model, staging)
    for name in os.listdir(staging):
        os.replace(staging / name, out_dir / name)
    staging.rmdir()


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop validation rows written after the checkpoint a resumed run starts from."""
    if path.is_file():
        rows = [row for row in load_jsonl(path) if row["step"] <= step]
        with atomic_write(path) as stream:
            stream.writelines(dumps(row) + "\n" for row in rows)


def _start_distributed() -> tuple[int, int]:
    """Rank and world size; joins the process group when started by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return torch.distributed.get_rank(), world
