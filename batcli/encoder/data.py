"""Training examples for the encoder: simulated clips from `bat simulate` folders, and new scenes
mixed on the fly from a bank of room responses.

Every example is a pure function of (seed, epoch, index): the crop of a long clip and the whole
draw of a mixed scene come from a generator seeded by those numbers, so the data order and content
survive a resume and do not depend on the number of loader workers.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import yaml

from ..audio import read_binaural
from ..config import from_dict
from ..errors import BatError
from ..metrics import sources_in_window
from ..records import check_tensors, load_jsonl
from ..sim.hrtf import load_hrtf
from ..sim.library import load_library
from ..sim.mixing import HeadVariation, ResponseBank, mix_responses
from ..sim.simulate import SimulateConfig, load_response


@dataclass
class Clip:
    audio: Path
    duration_s: float
    sources: list[dict]


@dataclass
class DataConfig:
    batch_size: int = field(default=32, metadata={"help": "clips per optimizer step (all processes together)", "range": (1, 65536)})
    workers: int = field(default=2, metadata={"help": "data-loading processes per training process (0: load in the training process)", "range": (0, 64)})
    val_clips: int = field(default=256, metadata={"help": "clips held out of the data folders for validation, chosen by a hash of their path", "range": (0, 10**7)})
    mixed_per_epoch: int = field(default=0, metadata={"help": "new scenes mixed from the response bank (--responses) per epoch", "range": (0, 10**8)})
    swap_ears: float = field(default=0.5, metadata={"help": "share of training examples with left and right swapped (azimuth mirrored)", "range": (0, 1)})
    band_limit: float = field(default=0.2, metadata={"help": "share of training examples low-passed at 4-11 kHz, as recordings at 8-22 kHz are", "range": (0, 1)})
    head: HeadVariation = field(default_factory=lambda: HeadVariation(size=(0.9, 1.12), colouring_db=3.0, ear_colouring_db=1.0))
    sounds: Optional[str] = field(default=None, metadata={
        "help": "sound library the mixed scenes draw from, as sounds.library (procedural,build/sounds/recorded.jsonl, say); "
                "default: the first response bank's"})


def read_clips(folders: list[Path]) -> tuple[list[Clip], list[str]]:
    """The scenes of `bat simulate` output folders and their joint label list (first folder's order first)."""
    clips, labels = [], []
    for folder in folders:
        scenes, label_file = folder / "scenes.jsonl", folder / "labels.txt"
        if not scenes.is_file():
            raise BatError(f"{folder}: not a finished `bat simulate` folder (no scenes.jsonl)")
        if label_file.is_file():
            labels += [line.strip() for line in label_file.read_text(encoding="utf-8").splitlines() if line.strip() and line.strip() not in labels]
        for record in load_jsonl(scenes):
            anechoic = bool((record.get("room") or {}).get("anechoic", False))
            clips.append(Clip(folder / record["audio"], float(record["duration_s"]), [{**s, "anechoic": anechoic} for s in record["sources"]]))
            labels += [s["label"] for s in record["sources"] if s["label"] not in labels]
    if not clips:
        raise BatError(f"{', '.join(map(str, folders))}: no clips")
    return clips, labels


def split_validation(clips: list[Clip], count: int) -> tuple[list[Clip], list[Clip]]:
    """A fixed validation set: the `count` clips with the lowest hash of their file name."""
    if count >= len(clips):
        raise BatError(f"data.val_clips {count} leaves no training clips out of {len(clips)}")
    ranked = sorted(range(len(clips)), key=lambda i: (zlib.crc32(str(clips[i].audio).encode()), i))
    held = set(ranked[:count])
    return [c for i, c in enumerate(clips) if i not in held], [c for i, c in enumerate(clips) if i in held]


def fit_length(audio: np.ndarray, samples: int) -> np.ndarray:
    """Cut or zero-pad (2, n) audio to exactly `samples`."""
    if audio.shape[1] >= samples:
        return audio[:, :samples]
    return np.pad(audio, ((0, 0), (0, samples - audio.shape[1])))


def bank_config(folder: Path, sample_rate: int) -> SimulateConfig:
    """The simulate config of a response bank, checked to be usable at the model's rate and to hold
    no damaged response (the loader processes read them later, where an error would stop a long run)."""
    if not (folder / "responses.jsonl").is_file() or not (folder / "config.yaml").is_file():
        raise BatError(f"{folder}: not a response bank (write one with `bat simulate --num-clips 0 --set responses=N`)")
    config = from_dict(SimulateConfig, yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8")))
    if config.sample_rate != sample_rate:
        raise BatError(f"{folder}: responses are at {config.sample_rate} Hz, the model runs at {sample_rate} Hz")
    for record in load_jsonl(folder / "responses.jsonl"):
        check_tensors(folder / record["response"])
    return config


def load_bank(folders: list[Path]) -> ResponseBank:
    """The responses of one or more banks (rendered through different HRTF sets, say) as one bank."""
    banks = [ResponseBank.from_items([(load_response(folder / r["response"])[0], r) for r in load_jsonl(folder / "responses.jsonl")], str(folder))
             for folder in folders]
    return sum(banks[1:], banks[0])


class Examples(torch.utils.data.Dataset):
    """Keys are (epoch, index): indices below len(clips) are simulated clips (randomly cropped when
    longer than the model's clip), the next `mixed_per_epoch` are scenes mixed from the response banks
    (the first bank's config gives the scene draws, background noise and, unless `sounds` names a library,
    the sounds).

    The banks, the sound library and the HRTF are loaded lazily, once per loader process.
    """

    def __init__(self, clips: list[Clip], sample_rate: int, clip_samples: int, seed: int, banks: list[Path] = (),
                 mixed_per_epoch: int = 0, random_crop: bool = True, swap_ears: float = 0.0, band_limit: float = 0.0,
                 head: HeadVariation | None = None, sounds: str | None = None):
        self.clips, self.sample_rate, self.clip_samples, self.seed = clips, sample_rate, clip_samples, seed
        self.banks, self.mixed_per_epoch, self.random_crop = list(banks), mixed_per_epoch if banks else 0, random_crop
        self.swap_ears, self.band_limit, self.head = swap_ears, band_limit, head
        configs = [bank_config(bank, sample_rate) for bank in self.banks]  # every bank checked, the first one's scene draws used
        self.bank_config = configs[0] if configs else None
        if self.bank_config and sounds:
            self.bank_config = replace(self.bank_config, sounds=replace(self.bank_config.sounds, library=sounds))
        self._mixing = None

    def mixed_labels(self) -> list[str]:
        """The classes the mixed scenes can hold (none without banks)."""
        return load_library(self.bank_config.sounds, "train").labels if self.mixed_per_epoch else []

    def __len__(self) -> int:
        return len(self.clips) + self.mixed_per_epoch

    def __getitem__(self, key: tuple[int, int]) -> tuple[np.ndarray, list[dict]]:
        epoch, index = key
        rng = np.random.default_rng([self.seed, epoch, index])
        audio, sources = self._mix(rng) if index >= len(self.clips) else self._clip(rng, self.clips[index])
        return augment(rng, audio, sources, self.sample_rate, self.swap_ears, self.band_limit)

    def _clip(self, rng: np.random.Generator, clip: Clip) -> tuple[np.ndarray, list[dict]]:
        audio = read_binaural(clip.audio, self.sample_rate)
        spare = audio.shape[1] - self.clip_samples
        start = int(rng.integers(spare + 1)) if spare > 0 and self.random_crop else 0
        window = fit_length(audio[:, start:], self.clip_samples)
        start_s = start / self.sample_rate
        return window, sources_in_window(clip.sources, start_s, start_s + self.clip_samples / self.sample_rate)

    def _mix(self, rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
        config = self.bank_config
        if self._mixing is None:
            self._mixing = (load_bank(self.banks), load_library(config.sounds, "train"), load_hrtf(config.hrtf, self.sample_rate))
        bank, library, hrtf = self._mixing
        return mix_responses(rng, library, hrtf, bank, config.scene, self.sample_rate, self.clip_samples, self.head)


def augment(rng: np.random.Generator, audio: np.ndarray, sources: list[dict], sample_rate: int, swap_ears: float,
            band_limit: float) -> tuple[np.ndarray, list[dict]]:
    """Swap the ears (a mirror image: azimuth a becomes 360 - a) and band-limit, each with its probability.

    The swap doubles the directions heard, as the head is nearly symmetric; band-limiting teaches the
    model that recordings made at 16 or 22.05 kHz, which have nothing above 8 or 11 kHz, still carry
    their directions.
    """
    if rng.random() < swap_ears:
        audio = audio[::-1].copy()
        sources = [{**s, "azimuth_deg": (360.0 - s["azimuth_deg"]) % 360.0} for s in sources]
    if rng.random() < band_limit:
        cutoff = rng.uniform(4000.0, min(11025.0, sample_rate / 2))
        spectrum = np.fft.rfft(audio, axis=-1)
        spectrum[:, np.fft.rfftfreq(audio.shape[-1], 1 / sample_rate) > cutoff] = 0
        audio = np.fft.irfft(spectrum, audio.shape[-1], axis=-1).astype(np.float32)
    return audio, sources


def collate(items: list[tuple[np.ndarray, list[dict]]]) -> tuple[torch.Tensor, list[list[dict]]]:
    return torch.from_numpy(np.stack([audio for audio, _ in items])).float(), [sources for _, sources in items]


class EpochSampler(torch.utils.data.Sampler):
    """(epoch, index) keys for this process from `start` (a count of examples over all processes):
    a fresh seeded permutation per epoch, each global batch split between the processes."""

    def __init__(self, size: int, seed: int, start: int, batch_size: int, rank: int = 0, world: int = 1):
        self.size, self.seed, self.start, self.batch_size, self.rank, self.world = size, seed, start, batch_size, rank, world

    def __iter__(self):
        position = self.start
        order, order_epoch = None, -1
        while True:
            epoch, offset = divmod(position, self.size)
            if epoch != order_epoch:
                order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed * 100003 + epoch)).tolist()
                order_epoch = epoch
            if (position % self.batch_size) % self.world == self.rank:
                yield epoch, order[offset]
            position += 1
