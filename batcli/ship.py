"""Copy a trained encoder or language model into the package as the shipped defaults, as float16.

Usage: python -m batcli.ship encoder|llm RUN DEST   (DEST: batcli/data; `make models` runs it)

Only what `bat localize` and `bat ask` read is copied: no checkpoint, cache or metrics. A language
model listens through the encoder it was trained on: when that is the shipped encoder it is told so
("builtin"); otherwise a float16 copy of its own encoder ships inside its folder.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from .errors import BatError
from .records import read_tensors, write_tensors, write_text
from .llm.data import encoder_fingerprint
from .llm.gguf import NAMED


def half(source: Path, target: Path) -> None:
    tensors, _ = read_tensors(source)
    write_tensors(target, {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()})


def fresh_folder(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def copy_encoder(encoder_run: Path, target: Path) -> None:
    fresh_folder(target)
    for name in ("config.json", "labels.txt"):
        shutil.copy(encoder_run / name, target / name)
    half(encoder_run / "model.safetensors", target / "model.safetensors")


def ship_encoder(encoder_run: Path, dest: Path) -> None:
    copy_encoder(encoder_run, dest / "encoder")


def ship_llm(llm_run: Path, dest: Path) -> None:
    meta = json.loads((llm_run / "bat-llm.json").read_text(encoding="utf-8"))
    adapter = meta["lm"]["weights"] == "adapter"
    if adapter and meta["lm"]["base"] not in NAMED:
        raise BatError(f"{llm_run}: its LoRA adapters sit on {meta['lm']['base']}, which another machine does not have; "
                       f"only adapters on a named model ({', '.join(NAMED)}) can ship")
    encoder_run = dest / "encoder" if meta["encoder"] == "builtin" else llm_run / meta["encoder"]
    if meta["encoder_fingerprint"] != encoder_fingerprint(encoder_run):
        raise BatError(f"{llm_run} was not trained on the encoder in {encoder_run}")
    with tempfile.TemporaryDirectory() as scratch:
        copy_encoder(encoder_run, Path(scratch) / "encoder")
        own_encoder = encoder_fingerprint(Path(scratch) / "encoder") != encoder_fingerprint(dest / "encoder")
        llm = fresh_folder(dest / "llm")
        if own_encoder:
            shutil.copytree(Path(scratch) / "encoder", llm / "encoder")
    shutil.copytree(llm_run / "tokenizer", llm / "tokenizer")
    if adapter:
        (llm / "adapter").mkdir()
        settings = json.loads((llm_run / "adapter" / "adapter_config.json").read_text(encoding="utf-8"))
        settings["base_model_name_or_path"] = meta["lm"]["base"]  # not this machine's cache folder
        if isinstance(settings.get("target_modules"), list):  # peft writes them from a set, in an order that changes run to run
            settings["target_modules"] = sorted(settings["target_modules"])
        write_text(llm / "adapter" / "adapter_config.json", json.dumps(settings, indent=2) + "\n")
        half(llm_run / "adapter" / "adapter_model.safetensors", llm / "adapter" / "adapter_model.safetensors")
    else:
        (llm / "lm").mkdir()
        for name in ("config.json", "generation_config.json"):
            shutil.copy(llm_run / "lm" / name, llm / "lm" / name)
        half(llm_run / "lm" / "model.safetensors", llm / "lm" / "model.safetensors")
    half(llm_run / "projector.safetensors", llm / "projector.safetensors")
    heard_through = llm / "encoder" if own_encoder else dest / "encoder"
    meta.update(encoder="encoder" if own_encoder else "builtin", encoder_fingerprint=encoder_fingerprint(heard_through))
    write_text(llm / "bat-llm.json", json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("encoder", "llm"):
        sys.exit(__doc__.strip().splitlines()[2])
    torch.set_num_threads(1)
    {"encoder": ship_encoder, "llm": ship_llm}[sys.argv[1]](*map(Path, sys.argv[2:]))
