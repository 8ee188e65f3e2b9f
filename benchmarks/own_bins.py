"""Whether weighting each frequency bin by its own onsets keeps a mixture's sources apart better than
weighting every bin by the frame's broadband onset (as DirectCues does).

Two-source scenes are mixed from a response bank (test-split sounds of the bank's library, two
positions in one room), each source's image rendered apart. A source's own bins are those where its
image is at least 10 dB louder over the clip than the other's (and within 30 dB of its loudest bin);
sources with fewer than 8 are left out. In those bins the mixture's level difference (8-ms frames,
pooled over the whole clip) is compared with the HRTF's at the source's measured direction (rms, dB),
and a template fit over those bins alone picks a direction among all measured ones (lateral and
great-circle error) and chooses between the source's direction and its front/back mirror (sources
15 deg or more off the interaural axis). Frames are weighted not at all, by the square of the rise of the
broadband level into them, or by the square of the rise of each bin's own level (alone, or smoothed
over three bins). Writes benchmarks/results/own_bins.json.
Usage: python benchmarks/own_bins.py [--bank build/encoder/bank-kemar] [--mixtures 1000] [--seed 77]
"""

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.signal import fftconvolve

from batcli.encoder.data import bank_config, load_bank
from batcli.encoder.features import DYNAMIC_RANGE_DB, direction_templates, onset_weights
from batcli.geometry import great_circle_deg, plane_angles, unit_vector
from batcli.sim.hrtf import load_hrtf
from batcli.sim.library import load_library
from batcli.sim.mixing import pick_positions
from batcli.sim.scenes import draw_event

RATE, SAMPLES, NFFT = 32000, 128000, 256
OWN_DB, RANGE_DB, MIN_BINS = 10.0, 30.0, 8
WEIGHTS = ("none", "broadband onsets", "each bin's own onsets", "own onsets, 3 bins smoothed")


def powers(audio: np.ndarray) -> torch.Tensor:
    """(2, bins, frames) power of a half-overlapping STFT of NFFT samples, DC left out."""
    spec = torch.stft(torch.from_numpy(audio).float(), NFFT, NFFT // 2, window=torch.hann_window(NFFT), return_complex=True)[:, 1:]
    return spec.real.square() + spec.imag.square()


def rise_weights(level: torch.Tensor) -> torch.Tensor:
    """onset_weights of levels (dB, (..., frames)) held at most DYNAMIC_RANGE_DB below the loudest, as DirectCues holds them."""
    return onset_weights(torch.maximum(level, level.max() - DYNAMIC_RANGE_DB))


def pooled_ild(power: torch.Tensor, weighting: str) -> np.ndarray:
    """(bins,) level difference (dB) of the clip's frames pooled under one of WEIGHTS."""
    both = power.sum(0)
    if weighting == "none":
        weight = torch.ones_like(both)
    elif weighting == "broadband onsets":
        weight = rise_weights(10 * torch.log10(both.sum(0) + 1e-20)).expand_as(both)
    else:
        if weighting == "own onsets, 3 bins smoothed":
            both = F.avg_pool1d(both.T[:, None], 3, 1, 1, count_include_pad=False)[:, 0].T
        weight = rise_weights(10 * torch.log10(both + 1e-20))
    left, right = (power * weight).sum(-1)
    return (10 * torch.log10((left + 1e-20) / (right + 1e-20))).clamp(-40, 40).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bank", type=Path, default=Path("build/encoder/bank-kemar"), help="response bank (make encoder writes one)")
    parser.add_argument("--mixtures", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=77)
    args = parser.parse_args()
    config = bank_config(args.bank, RATE)
    bank, library, hrtf = load_bank([args.bank]), load_library(config.sounds, "test"), load_hrtf(config.hrtf, RATE)
    templates = direction_templates(hrtf, NFFT, np.arange(len(hrtf.irs)))[0].numpy().clip(-40, 40)  # (directions, bins)
    scores = {w: {"ild_rms_db": [], "front_back_wrong": [], "lateral_error_deg": [], "doa_error_deg": []} for w in WEIGHTS}
    for index in range(args.mixtures):
        rng = np.random.default_rng([args.seed, index])
        labels = [library.labels[i] for i in rng.choice(len(library.labels), size=2, replace=False)]
        positions = pick_positions(rng, bank, 2, config.scene)
        images = []
        for label, position in zip(labels, positions):
            event = draw_event(rng, library, label, config.scene, RATE, SAMPLES)
            dry = np.zeros(SAMPLES, np.float32)
            dry[event.onset:event.onset + event.dry.size] = event.dry
            images.append(fftconvolve(dry[None], bank.responses[position], axes=-1)[:, :SAMPLES])
        totals = [powers(image).sum((0, 2)).numpy() for image in images]
        mixture = powers(images[0] + images[1])
        ilds = {w: pooled_ild(mixture, w) for w in WEIGHTS}
        for source, position in enumerate(positions):
            own = ((10 * np.log10(totals[source] / (totals[1 - source] + 1e-20) + 1e-20) >= OWN_DB)
                   & (totals[source] >= totals[source].max() * 10 ** (-RANGE_DB / 10)))
            if own.sum() < MIN_BINS:
                continue
            azimuth, elevation = bank.records[position]["azimuth_deg"], bank.records[position]["elevation_deg"]
            true = int(hrtf.nearest(unit_vector(azimuth, elevation)))
            mirror = int(hrtf.nearest(unit_vector(180.0 - azimuth, elevation)))
            for weighting in WEIGHTS:
                error = ((ilds[weighting][None, own] - templates[:, own]) ** 2).mean(1)
                best = int(error.argmin())
                found = (hrtf.azimuth_deg[best], hrtf.elevation_deg[best])
                scores[weighting]["ild_rms_db"].append(math.sqrt(error[true]))
                scores[weighting]["lateral_error_deg"].append(abs(plane_angles(*found)[0] - plane_angles(azimuth, elevation)[0]))
                scores[weighting]["doa_error_deg"].append(great_circle_deg(*found, azimuth, elevation))
                if abs(math.cos(math.radians(azimuth))) >= math.sin(math.radians(15)) and mirror != true:
                    scores[weighting]["front_back_wrong"].append(bool(error[mirror] < error[true]))
    results = {"mixtures": args.mixtures, "sources_scored": len(scores[WEIGHTS[0]]["ild_rms_db"]),
               "weights": {w: {k: round(float(np.mean(v)), 4) for k, v in s.items()} for w, s in scores.items()}}
    target = Path(__file__).parent / "results" / "own_bins.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{args.mixtures} two-source mixtures, {results['sources_scored']} sources scored in their own bins")
    print(f"{'frames weighted by':<30} {'ILD rms':>8} {'front/back':>10} {'lateral':>8} {'DoA':>6}")
    for weighting, s in results["weights"].items():
        print(f"{weighting:<30} {s['ild_rms_db']:>6.2f}dB {s['front_back_wrong']:>10.1%} {s['lateral_error_deg']:>7.1f}° {s['doa_error_deg']:>5.1f}°")


if __name__ == "__main__":
    main()
