"""Encoder speed: real-time factor of `bat localize` and training throughput of the `tiny` preset.

Real-time factor = processing seconds / audio seconds, model loaded once (its load time is reported
apart), for a batch of 10-s binaural files (each cut into the model's windows) and for one short
file alone. Training throughput: clips/s over optimizer steps of the preset, with its data loader,
front end and loss, on clips rendered by `bat simulate tiny`. Writes benchmarks/results/localize.json.
Usage: python benchmarks/localize.py [--model DIR] [--files N] [--preset tiny] [--steps N] [--device cpu]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch


def localize_speed(model: str | None, files: int, device: str, folder: Path) -> dict:
    from batcli.localize import load_encoder, localize

    start = time.perf_counter()
    encoder = load_encoder(model, device)
    load_s = time.perf_counter() - start
    rng = np.random.default_rng(0)
    paths = []
    for i in range(files):
        path = folder / f"clip{i}.wav"
        soundfile.write(path, rng.standard_normal((320000, 2)) * 0.05, 32000, subtype="PCM_16")
        paths.append(str(path))
    list(localize(paths[:1], encoder))  # warm-up
    start = time.perf_counter()
    records = list(localize(paths, encoder))
    batch_s = time.perf_counter() - start
    start = time.perf_counter()
    list(localize(paths[:1], encoder))
    single_s = time.perf_counter() - start
    return {"load_s": round(load_s, 3), "files": files, "audio_s": 10.0 * files, "windows": len(records),
            "batch_rtf": round(batch_s / (10.0 * files), 4), "single_file_rtf": round(single_s / 10.0, 4),
            "single_file_s": round(single_s, 3)}


def train_speed(preset: str, steps: int, device: str, folder: Path) -> dict:
    """The trainer's own measure (clips/s after its first step), on 300 clips from `bat simulate tiny`."""
    data = folder / "data"
    subprocess.run([sys.executable, "-m", "batcli", "simulate", "tiny", "-n", "300", "-o", str(data)], check=True, capture_output=True)
    command = [sys.executable, "-m", "batcli", "train-encoder", preset, "--data", str(data), "-o", str(folder / "run"), "--device", device]
    for item in (f"optim.steps={steps}", f"eval_every={10**6}", f"checkpoint_every={10**6}", "data.val_clips=8"):
        command += ["--set", item]
    summary = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    return {"preset": preset, "steps": steps, "clips_per_s": summary["clips_per_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="encoder model directory (default: the shipped one)")
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        infer = localize_speed(args.model, args.files, args.device, Path(folder))
        training = train_speed(args.preset, args.steps, args.device, Path(folder))
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    results = {"benchmark": "localize", "device": device, "torch_threads": torch.get_num_threads(), "localize": infer, "train": training}
    target = Path(__file__).parent / "results" / "localize.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"device: {device}")
    print(f"{'localize':<28} {'value':>10}")
    print(f"{'model load (s)':<28} {infer['load_s']:>10}")
    print(f"{'RTF, ' + str(args.files) + ' x 10-s files':<28} {infer['batch_rtf']:>10}")
    print(f"{'RTF, one 10-s file':<28} {infer['single_file_rtf']:>10}")
    print(f"{'train ' + args.preset + ' (clips/s)':<28} {training['clips_per_s']:>10}")


if __name__ == "__main__":
    main()
