"""A very small encoder config, shared by the encoder tests (their clips: scenes_dir in ../conftest.py)."""

from batcli.config import from_dict
from batcli.encoder.train import EncoderTrainConfig

from ..conftest import TINY_DIMS

TINY_TRAIN = {
    "seed": 3,
    "model": {**TINY_DIMS, "dropout": 0.1},
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
