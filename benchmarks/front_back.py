"""How much front/back information each part of the front end carries, whatever model reads it.

A probe, not a localizer: single-source scenes are mixed from a response bank (as the trainer mixes
them, no head variation), each clip is summarised by the frame-weighted mean of some of its feature
maps (the `onset` front end of batcli/encoder/features.py at the `cpu` preset's sizes), and a small
MLP learns front against back from those numbers. Its error is measured on scenes mixed with another
seed (reverberant and anechoic apart) and on the single-source clips of the accuracy benchmark's
reverberant test set (accuracy.py's `bat simulate` command, rendered here when missing). Sources
within 15 deg of the interaural axis, where front and back meet, are left out.
Writes benchmarks/results/front_back.json.
Usage: python benchmarks/front_back.py [--bank build/encoder-cpu/bank-kemar] [--train 6000] [--test DIR]
"""

import argparse
import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from batcli.audio import read_binaural
from batcli.encoder.data import bank_config, load_bank
from batcli.encoder.features import BinauralFeatures
from batcli.records import load_jsonl
from batcli.sim.hrtf import load_hrtf
from batcli.sim.library import load_library
from batcli.sim.mixing import mix_responses

RATE, SAMPLES = 32000, 128000
AXIS_COS = math.sin(math.radians(15))  # |cos azimuth| below this: within 15 deg of the interaural axis
MAP_SETS = {  # rows of the onset front end's ten maps
    "interaural (ILD, IPD, coherence)": [2, 3, 4, 5],
    "interaural + per-ear levels": [0, 1, 2, 3, 4, 5],
    "onset ILD, IPD": [7, 8, 9],
    "interaural + onset": [2, 3, 4, 5, 7, 8, 9],
}
FEATURES = BinauralFeatures(RATE, 1024, 320, 64, 50.0, 14000.0, "onset")


def summary(audio: np.ndarray) -> np.ndarray:
    """(10 * 64,) mean of every map over frames, each frame weighted by its level (louder frames count more)."""
    with torch.no_grad():
        maps = FEATURES(torch.from_numpy(np.ascontiguousarray(audio)).float()[None])[0]
    weight = maps[:2].mean(dim=(0, 1)) + 1 + 1e-6  # levels are on [-1, 1]
    return ((maps * weight).sum(-1) / weight.sum()).flatten().numpy()


def off_axis(azimuth_deg: float) -> bool:
    return abs(math.cos(math.radians(azimuth_deg))) >= AXIS_COS


def mixed(bank_dir: Path, count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Summaries, front (bool) and anechoic (bool) of `count` single-source scenes mixed from the bank."""
    config = bank_config(bank_dir, RATE)
    scene = dataclasses.replace(config.scene, two_source_fraction=0.0)
    bank, library, hrtf = load_bank([bank_dir]), load_library(config.sounds, "train"), load_hrtf(config.hrtf, RATE)
    rows, front, anechoic = [], [], []
    for index in range(count):
        audio, (source,) = mix_responses(np.random.default_rng([seed, index]), library, hrtf, bank, scene, RATE, SAMPLES)
        if off_axis(source["azimuth_deg"]):
            rows.append(summary(audio))
            front.append(math.cos(math.radians(source["azimuth_deg"])) > 0)
            anechoic.append(source["anechoic"])
    return np.array(rows), np.array(front), np.array(anechoic)


def test_clips(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    if not (folder / "scenes.jsonl").is_file():
        subprocess.run([sys.executable, "-m", "batcli", "simulate", "tiny", "-n", "1000", "--seed", "2", "--set", "split=test",
                        "--set", "room.anechoic_fraction=0", "-o", str(folder)], check=True)
    rows, front = [], []
    for scene in load_jsonl(folder / "scenes.jsonl"):
        if len(scene["sources"]) == 1 and off_axis(scene["sources"][0]["azimuth_deg"]):
            rows.append(summary(read_binaural(folder / scene["audio"], RATE)))
            front.append(math.cos(math.radians(scene["sources"][0]["azimuth_deg"])) > 0)
    return np.array(rows), np.array(front)


def fit(x: np.ndarray, front: np.ndarray, seed: int):
    """A two-layer MLP on standardised inputs; returns a function giving front (bool) per row."""
    torch.manual_seed(seed)
    x, y = torch.tensor(x).float(), torch.tensor(front).float()
    mean, std = x.mean(0), x.std(0) + 1e-6
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 256), torch.nn.GELU(), torch.nn.Dropout(0.2),
                              torch.nn.Linear(256, 256), torch.nn.GELU(), torch.nn.Dropout(0.2), torch.nn.Linear(256, 1))
    optimizer = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=1e-2)
    for _ in range(30):
        for batch in torch.randperm(len(x)).split(128):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net((x[batch] - mean) / std)[:, 0], y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    net.eval()
    return lambda rows: (net((torch.tensor(rows).float() - mean) / std)[:, 0] > 0).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bank", type=Path, default=Path("build/encoder-cpu/bank-kemar"), help="KEMAR response bank (make encoder-cpu writes it)")
    parser.add_argument("--train", type=int, default=6000, help="scenes mixed to train each probe")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--test", type=Path, default=Path("build/bench/acc/test-seed2"), help="accuracy.py's test set")
    args = parser.parse_args()
    x, front, _ = mixed(args.bank, args.train, args.seed)
    x_held, front_held, anechoic_held = mixed(args.bank, args.train // 3, args.seed + 1)
    x_test, front_test = test_clips(args.test)
    results = {"train_scenes": len(x), "held_out_scenes": len(x_held), "test_clips": len(x_test), "front_back_error": {}}
    for name, maps in MAP_SETS.items():
        columns = np.concatenate([np.arange(m * 64, (m + 1) * 64) for m in maps])
        predict = fit(x[:, columns], front, args.seed)
        with torch.no_grad():
            held_wrong, test_wrong = predict(x_held[:, columns]) != front_held, predict(x_test[:, columns]) != front_test
        results["front_back_error"][name] = {"mixed_reverberant": round(float(held_wrong[~anechoic_held].mean()), 4),
                                             "mixed_anechoic": round(float(held_wrong[anechoic_held].mean()), 4),
                                             "test_clips": round(float(test_wrong.mean()), 4)}
    target = Path(__file__).parent / "results" / "front_back.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"front/back error of a probe on clip summaries ({len(x)} training scenes, {len(x_test)} test clips)")
    print(f"{'maps':<34} {'mixed, room':>12} {'mixed, free':>12} {'test clips':>11}")
    for name, errors in results["front_back_error"].items():
        print(f"{name:<34} " + " ".join(f"{errors[k]:>12.1%}" for k in ("mixed_reverberant", "mixed_anechoic")) + f" {errors['test_clips']:>11.1%}")


if __name__ == "__main__":
    main()
