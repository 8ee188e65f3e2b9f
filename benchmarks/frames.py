"""What frame length and noise removal do to a template matcher, apart from any network.

Each single-source clip of a `bat simulate` folder is matched as a whole against every measured
direction of KEMAR: the clip's powers and cross-spectrum per linear STFT bin (each frame weighted by
the square of its rise in level with --onset, as at an onset the direct sound leads its echoes), minus
those of the clip's quietest tenth of frames with --denoise (a stationary background's interaural
spectrum is nobody's direction), scored against each direction's level difference per bin and phase
below 1.5 kHz by the evidence front end's own template_scores; the best direction is the answer. Reported: the
front/back confusion of sources more than 15 deg off the frontal plane (all clips, clips without
background noise, clips with it) and the DoA error.

In a free field the simulator renders through the nearest measured direction, so a clip's interaural
spectrum is one of the templates exactly: what the matcher gets wrong there comes from the analysis.

Usage: python benchmarks/frames.py FOLDER [--clips 400] [--onset]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from batcli.encoder.features import NOISE_SHARE, direction_templates, template_scores
from batcli.geometry import DIRECTION_MARGIN_DEG, great_circle_deg, plane_angles
from batcli.sim.hrtf import load_hrtf

SETTINGS = [(256, False), (256, True), (512, False), (512, True), (1024, False), (1024, True)]


def best_direction(ears: np.ndarray, n_fft: int, denoise: bool, onset: bool, templates) -> int:
    ild_templates, phase_templates, _ = templates
    window = np.hanning(n_fft + 1)[:-1]
    frames = np.lib.stride_tricks.sliding_window_view(ears, n_fft, axis=1)[:, :: n_fft // 2] * window
    spectra = np.fft.rfft(frames, axis=-1)[..., 1:]  # (2, frames, bins), no DC
    power, cross = np.abs(spectra) ** 2, spectra[0] * spectra[1].conj()
    level = 10 * np.log10(power.sum(axis=(0, 2)) + 1e-20)
    level = np.maximum(level, level.max() - 80.0)
    weight = np.concatenate([[0.0], np.maximum(np.diff(level), 0.0)]) ** 2 + 1e-2 if onset else np.ones_like(level)
    weight = weight / weight.mean()
    left, right, both_cross = ((x * weight[:, None]).mean(0) for x in (power[0], power[1], cross))
    if denoise:
        quiet = np.argsort(level)[: max(int(len(level) * NOISE_SHARE), 1)]
        left, right, both_cross = left - power[0][quiet].mean(0), right - power[1][quiet].mean(0), both_cross - cross[quiet].mean(0)
    both = np.where((left > 0) & (right > 0), left + right, 0.0)  # taking the noise out can leave a bin with less than nothing
    ild = 10 * np.log10(np.maximum(left, 1e-20) / np.maximum(right, 1e-20))
    per_bin = [torch.from_numpy(x).float()[None, :, None] for x in (both, ild, both_cross.real, both_cross.imag, np.maximum(np.abs(both_cross), 1e-20))]
    return int(template_scores(*per_bin, ild_templates, phase_templates)[0, :, 0].argmax())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--clips", type=int, default=400)
    parser.add_argument("--onset", action="store_true", help="weight frames by their onsets (rooms)")
    args = parser.parse_args()
    hrtf = load_hrtf("kemar", 32000)
    templates = {n_fft: direction_templates(hrtf, n_fft, np.arange(len(hrtf.irs))) for n_fft in {n for n, _ in SETTINGS}}
    scenes = [json.loads(line) for line in (args.folder / "scenes.jsonl").read_text().splitlines()[: args.clips]]
    scenes = [s for s in scenes if len(s["sources"]) == 1]
    clips = [(s, sf.read(args.folder / s["audio"], dtype="float64")[0].T) for s in scenes]
    rows = []
    for n_fft, denoise in SETTINGS:
        errors, flips = [], []
        for scene, ears in clips:
            source = scene["sources"][0]
            best = best_direction(ears, n_fft, denoise, args.onset, templates[n_fft])
            errors.append(great_circle_deg(hrtf.azimuth_deg[best], hrtf.elevation_deg[best], source["azimuth_deg"], source["elevation_deg"]))
            frontal = plane_angles(source["azimuth_deg"], source["elevation_deg"])[1]
            if abs(frontal) > DIRECTION_MARGIN_DEG:
                flips.append((bool(scene.get("noise")), (frontal > 0) != (plane_angles(hrtf.azimuth_deg[best], hrtf.elevation_deg[best])[1] > 0)))
        share = lambda keep: float(np.mean([f for noisy, f in flips if keep(noisy)] or [np.nan]))  # noqa: E731
        rows.append({"frame_ms": 1000 * n_fft / 32000, "denoise": denoise, "front_back": share(lambda n: True),
                     "front_back_quiet": share(lambda n: not n), "front_back_noisy": share(lambda n: n), "doa_mae_deg": float(np.mean(errors))})
    results = {"benchmark": "frames", "folder": str(args.folder), "clips": len(clips), "onset": args.onset, "rows": rows}
    target = Path(__file__).parent / "results" / "frames.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{len(clips)} single-source clips of {args.folder}, {'onset-weighted' if args.onset else 'every frame alike'}")
    print(f"{'frames':>7} {'noise out':>9} {'front/back':>10} {'quiet':>6} {'noisy':>6} {'DoA':>6}")
    for r in rows:
        print(f"{r['frame_ms']:5.0f}ms {'yes' if r['denoise'] else 'no':>9} {100 * r['front_back']:9.1f}% {100 * r['front_back_quiet']:5.1f}% "
              f"{100 * r['front_back_noisy']:5.1f}% {r['doa_mae_deg']:5.1f}°")


if __name__ == "__main__":
    main()
