"""How much front/back information each part of the front end carries, whatever model reads it, and
which training augmentations blur it.

A probe, not a localizer: single-source scenes are mixed from a response bank (as the trainer mixes
them), each clip is summarised by the frame-weighted mean of some of its feature maps (the `onset`
front end of batcli/encoder/features.py at the `cpu` preset's sizes) and by the clip-wide direct-sound
cues per linear bin and their fit to KEMAR's directions (DirectCues, one token for the whole clip), the
same bins' level differences with each bin weighted by its own onsets, and a small MLP learns front against
back from those numbers. Its error is measured on scenes mixed with another seed (reverberant and
anechoic apart) and on the single-source clips of the accuracy benchmark's reverberant test set
(accuracy.py's `bat simulate` command, rendered here when missing). Sources within 15 deg of the
interaural axis, where front and back meet, are left out.
`--augment` trains the probe on the direct cues again with the trainer's augmentations one at a time
(head size and colouring; band limiting; a second head's bank) and scores it on the same test clips.
Writes benchmarks/results/front_back.json.
Usage: python benchmarks/front_back.py [--bank build/encoder/bank-kemar] [--train 6000] [--test DIR] [--augment --second-head BANK]
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
from batcli.encoder.data import augment, bank_config, load_bank
from batcli.encoder.features import DIRECT_CUES, EVIDENCE_AZIMUTHS, EVIDENCE_ELEVATIONS, BinauralFeatures, DirectCues, onset_weights
from batcli.records import load_jsonl
from batcli.sim.hrtf import load_hrtf
from batcli.sim.library import load_library
from batcli.sim.mixing import HeadVariation, mix_responses

RATE, SAMPLES, BANDS, BINS = 32000, 128000, 64, 128
AXIS_COS = math.sin(math.radians(15))  # |cos azimuth| below this: within 15 deg of the interaural axis
FEATURES = BinauralFeatures(RATE, 1024, 320, BANDS, 50.0, 14000.0, "onset")
DIRECT = DirectCues(256, load_hrtf("kemar", RATE))
GRID = len(EVIDENCE_AZIMUTHS) * len(EVIDENCE_ELEVATIONS)


def mel_columns(*maps: int) -> np.ndarray:
    """Columns of a summary that hold the given maps of the onset front end (10 maps of BANDS bands)."""
    return np.concatenate([np.arange(m * BANDS, (m + 1) * BANDS) for m in maps])


def direct_columns(*cues: int) -> np.ndarray:
    """Columns that hold the given cues of DirectCues (ILD, cos IPD, sin IPD, coherence, onset level; BINS bins each)."""
    return 10 * BANDS + np.concatenate([np.arange(c * BINS, (c + 1) * BINS) for c in cues])


MAP_SETS = {
    "interaural (ILD, IPD, coherence)": mel_columns(2, 3, 4, 5),
    "interaural + per-ear levels": mel_columns(0, 1, 2, 3, 4, 5),
    "onset ILD, IPD (mel bands, 32-ms frames)": mel_columns(7, 8, 9),
    "direct cues, all five (linear bins, 8-ms frames)": direct_columns(*range(DIRECT_CUES)),
    "direct ILD only": direct_columns(0),
    "direct IPD only": direct_columns(1, 2),
    "HRTF evidence (fit to KEMAR's grid)": 10 * BANDS + DIRECT_CUES * BINS + 1 + np.arange(GRID),
    "direct ILD, each bin weighted by its own onsets": 10 * BANDS + DIRECT_CUES * BINS + 1 + GRID + np.arange(BINS),
}


def own_onset_ild(samples: torch.Tensor) -> np.ndarray:
    """(BINS,) the level difference (dB / 40) per linear bin of 8-ms frames, each frame of a bin weighted
    by the square of the rise of that bin's own level into it (DirectCues weighs every bin of a frame by
    the rise of the frame's broadband level): a narrowband source's direct sound counts in its own bins
    even where another source makes the broadband onsets."""
    spec = torch.stft(samples[0], 256, 128, window=torch.hann_window(256), return_complex=True)[:, 1:]  # (2, BINS, frames)
    power = spec.real.square() + spec.imag.square() + 1e-12
    level = 10 * torch.log10(power.sum(0))
    weight = onset_weights(level)
    left, right = (power * weight).sum(-1)
    return (10 * torch.log10(left / right) / 40).clamp(-2.0, 2.0).numpy()


def summary(audio: np.ndarray) -> np.ndarray:
    """The onset front end's maps, each a mean over frames weighted by level (louder frames count more),
    then the direct cues and HRTF evidence of the whole clip, then own_onset_ild: (10 * BANDS + DIRECT_CUES * BINS + 1 + GRID + BINS,)."""
    with torch.no_grad():
        samples = torch.from_numpy(np.ascontiguousarray(audio)).float()[None]
        maps = FEATURES(samples)[0]
        direct = DIRECT(samples, 1)[0, 0]
    weight = maps[:2].mean(dim=(0, 1)) + 1 + 1e-6  # levels are on [-1, 1]
    return np.concatenate([((maps * weight).sum(-1) / weight.sum()).flatten().numpy(), direct.numpy(), own_onset_ild(samples)])


def off_axis(azimuth_deg: float) -> bool:
    return abs(math.cos(math.radians(azimuth_deg))) >= AXIS_COS


def mixed(banks: list[Path], count: int, seed: int, head: HeadVariation | None = None,
          band_limit: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Summaries, front (bool) and anechoic (bool) of `count` single-source scenes mixed from the banks,
    through heads drawn from `head` and band-limited in a `band_limit` share, as the trainer does."""
    config = bank_config(banks[0], RATE)
    scene = dataclasses.replace(config.scene, two_source_fraction=0.0)
    bank, library, hrtf = load_bank(banks), load_library(config.sounds, "train"), load_hrtf(config.hrtf, RATE)
    rows, front, anechoic = [], [], []
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        audio, (source,) = augment(rng, *mix_responses(rng, library, hrtf, bank, scene, RATE, SAMPLES, head), RATE, 0.0, band_limit)
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
    parser.add_argument("--bank", type=Path, default=Path("build/encoder/bank-kemar"), help="KEMAR response bank (make encoder writes it)")
    parser.add_argument("--augment", action="store_true", help="also probe the direct cues under each training augmentation")
    parser.add_argument("--second-head", type=Path, default=Path("build/encoder/bank-head2"), help="the second head's bank (for --augment)")
    parser.add_argument("--train", type=int, default=6000, help="scenes mixed to train each probe")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--test", type=Path, default=Path("build/bench/acc/test-seed2"), help="accuracy.py's test set")
    args = parser.parse_args()
    x, front, _ = mixed([args.bank], args.train, args.seed)
    x_held, front_held, anechoic_held = mixed([args.bank], args.train // 3, args.seed + 1)
    x_test, front_test = test_clips(args.test)
    results = {"train_scenes": len(x), "held_out_scenes": len(x_held), "test_clips": len(x_test), "front_back_error": {}}
    for name, columns in MAP_SETS.items():
        predict = fit(x[:, columns], front, args.seed)
        with torch.no_grad():
            held_wrong, test_wrong = predict(x_held[:, columns]) != front_held, predict(x_test[:, columns]) != front_test
        results["front_back_error"][name] = {"mixed_reverberant": round(float(held_wrong[~anechoic_held].mean()), 4),
                                             "mixed_anechoic": round(float(held_wrong[anechoic_held].mean()), 4),
                                             "test_clips": round(float(test_wrong.mean()), 4)}
    if args.augment:
        columns = MAP_SETS["direct cues, all five (linear bins, 8-ms frames)"]
        trainer_head = HeadVariation(size=(0.9, 1.12), colouring_db=3.0, ear_colouring_db=1.0)
        results["augmented_direct_cues"] = {}
        for name, banks, head, band_limit in (("head size and colouring", [args.bank], trainer_head, 0.0),
                                              ("band limiting (20 %)", [args.bank], None, 0.2),
                                              ("second head's bank", [args.bank, args.second_head], None, 0.0),
                                              ("all three (as trained)", [args.bank, args.second_head], trainer_head, 0.2)):
            x_aug, front_aug, _ = mixed(banks, args.train, args.seed, head, band_limit)
            predict = fit(x_aug[:, columns], front_aug, args.seed)
            with torch.no_grad():
                results["augmented_direct_cues"][name] = round(float((predict(x_test[:, columns]) != front_test).mean()), 4)
    target = Path(__file__).parent / "results" / "front_back.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"front/back error of a probe on clip summaries ({len(x)} training scenes, {len(x_test)} test clips)")
    print(f"{'maps':<50} {'mixed, room':>12} {'mixed, free':>12} {'test clips':>11}")
    for name, errors in results["front_back_error"].items():
        print(f"{name:<50} " + " ".join(f"{errors[k]:>12.1%}" for k in ("mixed_reverberant", "mixed_anechoic")) + f" {errors['test_clips']:>11.1%}")
    for name, error in results.get("augmented_direct_cues", {}).items():
        print(f"direct cues, trained with {name:<24} {'':>25} {error:>11.1%}")


if __name__ == "__main__":
    main()
