"""The spatial audio encoder: binaural features -> patches -> transformer -> source slots.

Spatial-AST style (a ViT over fused binaural maps), with one change that matters: instead of one
class/direction/distance readout per clip, `slots` learned tokens each describe one source
(present or not, its class, azimuth, elevation and distance). Every slot uses the same heads, and
training assigns slots to the clip's sources by the cheapest permutation (see readout.py), so a
two-source mixture yields two located sources, and a sound of a class the model never heard still
gets a slot with a direction and a distance.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from ..config import from_dict
from ..errors import BatError, UsageError
from ..records import check_input_version, read_json, read_tensors, write_tensors, write_text
from ..sim.hrtf import load_hrtf
from .features import INPUT_VERSION, VOTE_ROWS, BinauralFeatures, DirectCues


@dataclass
class EncoderDims:
    sample_rate: int = field(default=32000, metadata={"help": "audio rate of the model (inputs are resampled to it)", "range": (8000, 192000)})
    clip_s: float = field(default=10.0, metadata={"help": "length of the audio the model sees at once (longer files are cut into windows)", "range": (0.5, 60)})
    n_fft: int = field(default=1024, metadata={"help": "STFT size", "range": (64, 8192)})
    hop: int = field(default=320, metadata={"help": "STFT hop in samples", "range": (16, 4096)})
    n_mels: int = field(default=128, metadata={"help": "mel bands (a multiple of patch_mels)", "range": (16, 512)})
    f_min: float = field(default=50.0, metadata={"help": "lowest mel frequency (Hz)", "range": (0, 1000)})
    f_max: float = field(default=14000.0, metadata={"help": "highest mel frequency (Hz)", "range": (1000, 96000)})
    features: Literal["paper", "binaural", "onset", "direct", "evidence"] = field(default="paper", metadata={
        "help": "front end: paper (per-ear log-mel, IPD cos/sin), binaural (+ ILD, interaural coherence, GCC-PHAT lags), "
                "onset (+ the ILD and IPD of the direct sound per mel band, pooled over the onsets) or direct (binaural, and "
                "every token reads the onsets' interaural cues per linear bin of a short STFT: what tells front from back) "
                "or evidence (direct, and how well those cues fit each direction of the evidence_hrtf set)"})
    direct_fft: int = field(default=256, metadata={
        "help": "features direct, evidence: STFT size of the per-bin cues (256 at 32 kHz: 8-ms frames, 128 bins of 125 Hz)", "range": (16, 4096)})
    evidence_hrtf: str = field(default="kemar", metadata={
        "help": "features evidence: the HRTF set (built-in name or SOFA file) whose directions the cues are fitted to"})
    stem: Literal["patches", "cnn"] = field(default="patches", metadata={
        "help": "how maps become tokens: patches (a ViT's patch embedding) or cnn (conv blocks, one token per patch_frames frames)"})
    stem_channels: tuple[int, ...] = field(default=(24, 48, 96, 96), metadata={
        "help": "cnn stem: channels of each conv block (each halves the bands)", "range": (1, 1024)})
    patch_mels: int = field(default=16, metadata={"help": "patch height in mel bands (n_mels: one patch spans the whole spectrum)", "range": (1, 512)})
    patch_frames: int = field(default=16, metadata={"help": "patch width in STFT frames", "range": (1, 256)})
    width: int = field(default=768, metadata={"help": "transformer width", "range": (16, 4096)})
    depth: int = field(default=12, metadata={"help": "transformer layers", "range": (1, 64)})
    heads: int = field(default=12, metadata={"help": "attention heads (width must divide by it)", "range": (1, 64)})
    dropout: float = field(default=0.0, metadata={"help": "dropout in the transformer", "range": (0, 0.9)})
    slots: int = field(default=2, metadata={"help": "most sources reported per clip", "range": (1, 8)})
    azimuth_bins: int = field(default=72, metadata={"help": "azimuth classes over 360 deg", "range": (8, 720)})
    elevation_bins: int = field(default=37, metadata={"help": "elevation classes over -90..90 deg", "range": (3, 361)})
    distance_bins: int = field(default=21, metadata={"help": "distance classes over 0..max_distance_m", "range": (2, 201)})
    max_distance_m: float = field(default=10.0, metadata={"help": "farthest distance the model reports", "range": (1, 1000)})

    @property
    def clip_samples(self) -> int:
        return round(self.clip_s * self.sample_rate)

    @property
    def grid(self) -> tuple[int, int]:
        """Tokens along mel bands and along frames."""
        frames = self.clip_samples // self.hop + 1
        if self.stem == "cnn":
            return 1, frames // self.patch_frames
        return self.n_mels // self.patch_mels, frames // self.patch_frames

    def check(self) -> None:
        if self.stem == "cnn":
            blocks = len(self.stem_channels)
            if self.n_mels % 2**blocks:
                raise BatError(f"model.n_mels {self.n_mels} does not halve {blocks} times (one per model.stem_channels block)")
            if self.patch_frames & (self.patch_frames - 1) or self.patch_frames > 2**blocks:
                raise BatError(f"model.patch_frames {self.patch_frames}: the cnn stem needs a power of 2 up to {2**blocks}")
        elif self.n_mels % self.patch_mels:
            raise BatError(f"model.n_mels {self.n_mels} is not a multiple of model.patch_mels {self.patch_mels}")
        if self.width % self.heads:
            raise BatError(f"model.width {self.width} does not divide by model.heads {self.heads}")
        if min(self.grid) < 1:
            raise BatError(f"model.clip_s {self.clip_s} s is shorter than one patch of {self.patch_frames} frames")
        if self.f_max > self.sample_rate / 2:
            raise BatError(f"model.f_max {self.f_max} Hz is above the Nyquist frequency of {self.sample_rate} Hz")


FRONT_EVIDENCE = VOTE_ROWS + 1  # what the front calibration weighs beside the mass: each row's vote balance, the long row's again in dry clips
IDENTITY = (1.0, *([0.0] * FRONT_EVIDENCE), 0.0)  # a front calibration that leaves the front mass as it is and ignores the votes


@dataclass
class SlotOutputs:
    """Logits per slot: presence (batch, slots) and classes, azimuth, elevation, distance (batch, slots, bins);
    with the evidence front end, when asked for, the clip's template votes (batch, VOTE_ROWS, directions) for the
    HRTF set's measured directions (unit vectors, (directions, 3)) and its coherence (batch,), both from DirectCues.votes."""

    presence: torch.Tensor
    classes: torch.Tensor
    azimuth: torch.Tensor
    elevation: torch.Tensor
    distance: torch.Tensor
    votes: torch.Tensor | None = None
    vote_directions: torch.Tensor | None = None
    coherence: torch.Tensor | None = None

    def cpu(self) -> SlotOutputs:
        """The same outputs as float32 on the CPU."""
        return SlotOutputs(*(None if getattr(self, f.name) is None else getattr(self, f.name).float().cpu() for f in fields(self)))


class SpatialEncoder(nn.Module):
    def __init__(self, dims: EncoderDims, labels: list[str]):
        super().__init__()
        dims.check()
        self.dims, self.labels = dims, list(labels)
        self.front_calibration = IDENTITY  # readout.calibrated's (a, *b, c), fitted on validation clips in training
        self.features = BinauralFeatures(dims.sample_rate, dims.n_fft, dims.hop, dims.n_mels, dims.f_min, dims.f_max, dims.features)
        if dims.stem == "cnn":
            self.stem = conv_stem(self.features.maps, dims)
        else:
            patch = (dims.patch_mels, dims.patch_frames)
            self.stem = nn.Sequential(nn.Conv2d(self.features.maps, 16, 3, padding=1), nn.GELU(), nn.Conv2d(16, dims.width, patch, stride=patch))
        if dims.features in ("direct", "evidence"):
            hrtf = load_hrtf(dims.evidence_hrtf, dims.sample_rate) if dims.features == "evidence" else None
            self.direct = DirectCues(dims.direct_fft, hrtf)
            self.direct_project = nn.Sequential(nn.Linear(self.direct.size, 2 * dims.width), nn.GELU(), nn.Linear(2 * dims.width, dims.width))
        rows, cols = dims.grid
        self.position = nn.Parameter(torch.randn(1, rows * cols, dims.width) * 0.02)
        self.slot_queries = nn.Parameter(torch.randn(1, dims.slots, dims.width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            dims.width, dims.heads, 4 * dims.width, dims.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, dims.depth, norm=nn.LayerNorm(dims.width), enable_nested_tensor=False)
        self.sizes = [1, len(self.labels), dims.azimuth_bins, dims.elevation_bins, dims.distance_bins]
        self.head = nn.Linear(dims.width, sum(self.sizes))

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """(batch, 2, clip_samples) -> tokens (batch, slots + patches, width): the slots first."""
        maps = self.features(audio)
        rows, cols = self.dims.grid
        maps = maps[..., : rows * self.dims.patch_mels if self.dims.stem == "patches" else None, : cols * self.dims.patch_frames]
        patches = self.stem(maps)  # (batch, width, rows, cols)
        if self.dims.features in ("direct", "evidence"):  # each column of tokens gets the direct-sound cues of its frames
            patches = patches + self.direct_project(self.direct(audio, cols)).transpose(1, 2)[:, :, None]
        patches = patches.flatten(2).transpose(1, 2) + self.position
        tokens = torch.cat([self.slot_queries.expand(len(audio), -1, -1), patches], dim=1)
        return self.transformer(tokens)

    def read_slots(self, tokens: torch.Tensor) -> SlotOutputs:
        presence, classes, azimuth, elevation, distance = self.head(tokens[:, : self.dims.slots]).split(self.sizes, dim=-1)
        return SlotOutputs(presence.squeeze(-1), classes, azimuth, elevation, distance)

    def forward(self, audio: torch.Tensor, votes: bool = False) -> SlotOutputs:
        """Slot logits; `votes` adds the evidence front end's template votes (what the readout weighs
        front against back with)."""
        outputs = self.read_slots(self.encode(audio))
        return self.add_votes(outputs, audio) if votes else outputs

    def add_votes(self, outputs: SlotOutputs, audio: torch.Tensor) -> SlotOutputs:
        """The outputs with the evidence front end's template votes and the clip's coherence (left as
        they are for other front ends)."""
        if self.dims.features == "evidence":
            outputs.votes, outputs.coherence = self.direct.votes(audio)
            outputs.vote_directions = self.direct.vote_directions
        return outputs


class Tokens(nn.Module):
    """(batch, channels, bands, frames) -> (batch, width, 1, frames): every band's channels of a frame in one token."""

    def __init__(self, channels: int, bands: int, width: int):
        super().__init__()
        self.project = nn.Linear(channels * bands, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, bands, frames = x.shape
        return self.project(x.reshape(batch, channels * bands, frames).transpose(1, 2)).transpose(1, 2)[:, :, None]


def conv_stem(maps: int, dims: EncoderDims) -> nn.Sequential:
    """Conv blocks (3x3 conv, batch norm, GELU, pooling) as in DCASE SELD systems: each block halves the
    bands, the first log2(patch_frames) blocks halve the frames too; then one token per frame."""
    layers, channels = [], maps
    time_pools = dims.patch_frames.bit_length() - 1
    for block, out in enumerate(dims.stem_channels):
        layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.GELU(),
                   nn.AvgPool2d((2, 2 if block < time_pools else 1))]
        channels = out
    return nn.Sequential(*layers, Tokens(channels, dims.n_mels // 2 ** len(dims.stem_channels), dims.width))


def hear_with(model: SpatialEncoder, hrtf: str) -> None:
    """Fit the evidence front end's cues to another HRTF set (the recording head's own SOFA file, say)
    instead of the one the model was trained with; the weights stay as they are."""
    if model.dims.features != "evidence":
        raise UsageError(f"--hrtf: this encoder's front end ({model.dims.features}) does not read an HRTF set; "
                         "only model.features evidence does")
    device = model.direct.window.device
    model.direct = DirectCues(model.dims.direct_fft, load_hrtf(hrtf, model.dims.sample_rate)).to(device)
    model.dims = replace(model.dims, evidence_hrtf=hrtf)


MODEL_FILES = ("config.json", "model.safetensors", "labels.txt")


def shipped_encoder_dir() -> Path:
    """The encoder trained by the project (the `cpu` preset), shipped inside the package (`make models` rebuilds it)."""
    return Path(str(resources.files("batcli") / "data" / "encoder"))


def save_model(model: SpatialEncoder, folder: str | Path, dtype: torch.dtype = torch.float32) -> None:
    """Write a model directory: config.json (dimensions), model.safetensors, labels.txt."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous() for k, v in model.state_dict().items()}
    write_tensors(folder / "model.safetensors", state)
    write_text(folder / "labels.txt", "".join(f"{label}\n" for label in model.labels))
    meta = {"kind": "bat-encoder", "input_version": INPUT_VERSION, "dims": asdict(model.dims),
            "front_calibration": list(model.front_calibration)}
    write_text(folder / "config.json", json.dumps(meta, indent=2) + "\n")


def load_model(folder: str | Path, device: str | torch.device = "cpu") -> SpatialEncoder:
    """Read a model directory written by save_model; BatError names what is missing or wrong."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BatError(f"{folder}: no such model folder")
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise BatError(f"{folder}: not an encoder model directory (missing {', '.join(missing)})")
    meta = read_json(folder / "config.json")
    if meta.get("kind") != "bat-encoder":
        raise BatError(f"{folder / 'config.json'}: not a bat encoder (kind {meta.get('kind')!r})")
    check_input_version(folder / "config.json", meta.get("input_version"), INPUT_VERSION, "the encoder's features", "make encoder")
    try:
        dims = from_dict(EncoderDims, meta["dims"])
    except (KeyError, UsageError) as err:
        raise BatError(f"{folder / 'config.json'}: not the dimensions of a bat encoder ({err})") from None
    labels = [line.strip() for line in (folder / "labels.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    model = SpatialEncoder(dims, labels)
    calibration = meta.get("front_calibration", list(IDENTITY))
    if not (isinstance(calibration, list) and len(calibration) == len(IDENTITY) and all(isinstance(v, (int, float)) for v in calibration)):
        raise BatError(f"{folder / 'config.json'}: front_calibration must be {len(IDENTITY)} numbers (mass, {VOTE_ROWS} rows of votes, the long row in dry clips, bias), "
                       f"got {calibration!r}")
    model.front_calibration = tuple(float(v) for v in calibration)
    state = {k: v.float() if v.is_floating_point() else v for k, v in read_tensors(folder / "model.safetensors")[0].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        detail = [line.strip() for line in str(err).splitlines() if line.strip()][-1]  # the first line only names the class
        raise BatError(f"{folder / 'model.safetensors'}: weights do not fit config.json and the {len(labels)} classes "
                       f"of labels.txt ({detail})") from None
    return model.to(device).eval()
