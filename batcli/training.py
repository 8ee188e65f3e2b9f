"""What the encoder and language-model trainers share: run folders, distributed start, schedule.

A run folder holds train.yaml (the resolved config), checkpoint.pt and metrics.jsonl. A new run
never overwrites one; --resume continues one only with the same config.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TypeVar

import torch
import yaml

from .config import dump_yaml, from_dict
from .errors import BatError, UsageError
from .records import atomic_write, dumps, load_jsonl, write_text

T = TypeVar("T")


def open_run_folder(config: T, out_dir: Path, resume: bool, main: bool = True) -> None:
    """Check that `out_dir` can start (or, with resume, continue) a run of `config`; write train.yaml for a new one."""
    checkpoint = out_dir / "checkpoint.pt"
    if resume and not checkpoint.is_file():
        raise UsageError(f"--resume: {checkpoint} does not exist")
    if not resume and checkpoint.is_file():
        raise UsageError(f"{out_dir} already holds a run; add --resume to continue it, or choose another -o")
    if resume:
        saved = from_dict(type(config), yaml.safe_load((out_dir / "train.yaml").read_text(encoding="utf-8")))
        if saved != config:
            raise UsageError(f"--resume: the config differs from the one in {out_dir / 'train.yaml'}; resume with the same config")
    elif main:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_text(out_dir / "train.yaml", dump_yaml(config))


def start_distributed() -> tuple[int, int]:
    """Rank and world size; joins the process group when started by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return torch.distributed.get_rank(), world


def warmup_cosine(position: int, steps: int, warmup: int, final_fraction: float) -> float:
    """Learning-rate factor: linear warm-up to 1, then cosine decay to `final_fraction` at `steps`."""
    if position < warmup:
        return (position + 1) / warmup
    progress = (position - warmup) / max(1, steps - warmup)
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def append_metrics(out_dir: Path, row: dict) -> None:
    with open(out_dir / "metrics.jsonl", "a", encoding="utf-8") as stream:
        stream.write(dumps(row) + "\n")


def drop_metrics_after(out_dir: Path, step: int) -> None:
    """Drop metrics.jsonl rows written after the checkpoint a resumed run starts from."""
    path = out_dir / "metrics.jsonl"
    if path.is_file():
        rows = [row for row in load_jsonl(path) if row["step"] <= step]
        with atomic_write(path) as stream:
            stream.writelines(dumps(row) + "\n" for row in rows)


def last_metrics(out_dir: Path) -> dict:
    path = out_dir / "metrics.jsonl"
    rows = load_jsonl(path) if path.is_file() else []
    return {"metrics": rows[-1]} if rows else {}


def read_checkpoint(out_dir: Path) -> dict:
    """RUNDIR/checkpoint.pt, loaded with weights_only (no code runs from it); a missing or damaged
    one is a BatError naming it."""
    path = out_dir / "checkpoint.pt"
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged zip or pickle fails in torch's reader, in many ways
        raise BatError(f"{path}: damaged ({str(err).splitlines()[0] if str(err) else type(err).__name__}); "
                       f"train again without --resume, or restore the file") from None
