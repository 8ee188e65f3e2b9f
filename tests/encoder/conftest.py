"""A very small encoder config, shared by the encoder tests (their clips: scenes_dir in ../conftest.py)."""

from batcli.config import from_dict
from batcli.encoder.train import EncoderTrainConfig

RATE = 16000

# 1-s clips at 16 kHz: a grid of 2 x 6 patches, a 32-wide single-layer transformer.
TINY_TRAIN = {
    "seed": 3,
    "model": {"sample_rate": RATE, "clip_s": 1.0, "n_fft": 512, "hop": 160, "n_mels": 32, "f_max": 7600.0,
              "width": 32, "depth": 1, "heads": 2, "dropout": 0.1},
    "data": {"batch_size": 8, "workers": 0, "val_clips": 8},
    "optim": {"steps": 6, "lr": 0.003, "warmup_steps": 2},
    "eval_every": 3,
    "checkpoint_every": 3,
}


def tiny_train_config(**changes) -> EncoderTrainConfig:
    data = {key: dict(value) if isinstance(value, dict) else value for key, value in TINY_TRAIN.items()}
    for dotted, value in changes.items():
        *parents, name = dotted.split("__")
        node = data
        for parent in parents:
            node = node[parent]
        node[name] = value
    return from_dict(EncoderTrainConfig, data)
