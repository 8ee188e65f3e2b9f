"""Copy a trained encoder and language model into the package as the shipped defaults, as float16.

Usage: python -m batcli.ship ENCODER_RUN LLM_RUN DEST   (DEST: batcli/data; `make models` runs it)

Only what `bat localize` and `bat ask` read is copied: no checkpoint, cache or metrics. The language
model is told to use the shipped encoder ("builtin"), which must be the one it was trained on.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .errors import BatError
from .llm.data import encoder_fingerprint


def half(source: Path, target: Path) -> None:
    tensors = load_file(str(source))
    save_file({k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}, str(target))


def ship(encoder_run: Path, llm_run: Path, dest: Path) -> None:
    meta = json.loads((llm_run / "bat-llm.json").read_text(encoding="utf-8"))
    if meta["lm"]["weights"] != "full":
        raise BatError(f"{llm_run}: only a model with full weights can ship (LoRA needs its base model)")
    if meta["encoder_fingerprint"] != encoder_fingerprint(encoder_run):
        raise BatError(f"{llm_run} was not trained on the encoder in {encoder_run}")
    encoder, llm = dest / "encoder", dest / "llm"
    for folder in (encoder, llm):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    for name in ("config.json", "labels.txt"):
        shutil.copy(encoder_run / name, encoder / name)
    half(encoder_run / "model.safetensors", encoder / "model.safetensors")
    shutil.copytree(llm_run / "tokenizer", llm / "tokenizer")
    (llm / "lm").mkdir()
    for name in ("config.json", "generation_config.json"):
        shutil.copy(llm_run / "lm" / name, llm / "lm" / name)
    half(llm_run / "lm" / "model.safetensors", llm / "lm" / "model.safetensors")
    half(llm_run / "projector.safetensors", llm / "projector.safetensors")
    meta.update(encoder="builtin", encoder_fingerprint=encoder_fingerprint(encoder))
    (llm / "bat-llm.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[2])
    torch.set_num_threads(1)
    ship(*map(Path, sys.argv[1:]))
