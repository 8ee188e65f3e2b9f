"""Training: the loss falls, a resumed run equals an uninterrupted one, on-the-fly mixing."""

import json

from dataclasses import replace

import numpy as np
import pytest
import torch

from batcli.encoder.data import Examples, read_clips
from batcli.encoder.model import IDENTITY, load_model
from batcli.encoder.train import train
from batcli.errors import BatError, UsageError
from batcli.geometry import great_circle_deg

from ..conftest import RATE
from .conftest import tiny_train_config


def rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_a_few_steps_lower_the_loss_on_the_training_clips(scenes_dir, tmp_path):
    config = tiny_train_config(optim__steps=40, eval_every=5, checkpoint_every=40, model__dropout=0.0)
    summary = train(config, [scenes_dir], tmp_path / "run", val=[scenes_dir], device="cpu")  # validate on the training clips
    losses = [row["val_loss"] for row in rows(tmp_path / "run")]
    assert summary["step"] == 40 and len(losses) == 8
    assert losses[-1] < 0.92 * losses[0]  # an untrained or broken step leaves it where it started
    for name in ("config.json", "model.safetensors", "labels.txt", "checkpoint.pt", "train.yaml"):
        assert (tmp_path / "run" / name).is_file()


@pytest.mark.parametrize("features", ["paper", "evidence"])
def test_resume_gives_the_same_model_as_an_uninterrupted_run(scenes_dir, tmp_path, features):
    config = tiny_train_config(data__workers=1, model__features=features)
    train(config, [scenes_dir], tmp_path / "whole", device="cpu")
    train(config, [scenes_dir], tmp_path / "parts", device="cpu", until=3)
    assert rows(tmp_path / "parts")[-1]["step"] == 3
    train(config, [scenes_dir], tmp_path / "parts", device="cpu", resume=True)
    assert (tmp_path / "parts" / "model.safetensors").read_bytes() == (tmp_path / "whole" / "model.safetensors").read_bytes()
    assert rows(tmp_path / "parts") == rows(tmp_path / "whole")
    assert all(len(row["front_calibration"]) == len(IDENTITY) for row in rows(tmp_path / "whole"))
    assert load_model(tmp_path / "whole").front_calibration == pytest.approx(rows(tmp_path / "whole")[-1]["front_calibration"], abs=1e-4)


def test_a_run_folder_is_not_overwritten_and_resumes_only_with_its_config(scenes_dir, tmp_path):
    config = tiny_train_config(optim__steps=2, eval_every=2, checkpoint_every=2)
    train(config, [scenes_dir], tmp_path / "run", device="cpu")
    with pytest.raises(UsageError, match="already holds a run"):
        train(config, [scenes_dir], tmp_path / "run", device="cpu")
    with pytest.raises(UsageError, match="config differs"):
        train(tiny_train_config(optim__steps=4), [scenes_dir], tmp_path / "run", device="cpu", resume=True)


def test_a_run_can_start_from_a_trained_model_of_the_same_shape(scenes_dir, tmp_path):
    train(tiny_train_config(optim__steps=2, eval_every=2, checkpoint_every=2), [scenes_dir], tmp_path / "first", device="cpu")
    first = load_model(tmp_path / "first").state_dict()
    # another seed, and a learning rate of 0: the weights can only be the ones it started from
    still = tiny_train_config(seed=7, optim__steps=1, optim__lr=0.0, optim__warmup_steps=0, eval_every=1, checkpoint_every=1)
    train(replace(still, init=str(tmp_path / "first")), [scenes_dir], tmp_path / "second", device="cpu")
    train(still, [scenes_dir], tmp_path / "fresh", device="cpu")
    second, fresh = load_model(tmp_path / "second").state_dict(), load_model(tmp_path / "fresh").state_dict()
    assert all(torch.equal(first[name], second[name]) for name in first)
    assert not all(torch.equal(first[name], fresh[name]) for name in first)
    wider = tiny_train_config(model__width=64, model__heads=2, init=str(tmp_path / "first"))
    with pytest.raises(BatError, match="model dimensions differ"):
        train(wider, [scenes_dir], tmp_path / "wider", device="cpu")


def test_mixed_scenes_use_the_bank_directions_and_change_every_epoch(scenes_dir):
    clips, _ = read_clips([scenes_dir])
    examples = Examples(clips, RATE, RATE, seed=1, banks=[scenes_dir], mixed_per_epoch=5)
    assert len(examples) == len(clips) + 5
    bank = [json.loads(line) for line in (scenes_dir / "responses.jsonl").read_text().splitlines()]
    audio, sources = examples[(0, len(clips))]
    assert audio.shape == (2, RATE) and np.abs(audio).max() > 0
    assert 1 <= len(sources) <= 2
    for source in sources:
        assert any(great_circle_deg(source["azimuth_deg"], source["elevation_deg"], r["azimuth_deg"], r["elevation_deg"]) < 1e-6 for r in bank)
    again, _ = examples[(0, len(clips))]
    later, _ = examples[(1, len(clips))]
    assert np.array_equal(audio, again) and not np.array_equal(audio, later)


def test_mixed_scenes_can_draw_from_another_library_and_the_model_learns_its_classes(scenes_dir, tmp_path):
    """data.sounds pools recordings into the mixed scenes; their classes join the model's labels."""
    import soundfile

    (tmp_path / "lib" / "low hum").mkdir(parents=True)
    for i in range(3):
        t = np.arange(RATE // 2) / RATE
        soundfile.write(tmp_path / "lib" / "low hum" / f"{i}.wav", 0.3 * np.sin(2 * np.pi * 120 * (1 + 0.02 * i) * t), RATE)
    clips, _ = read_clips([scenes_dir])
    examples = Examples(clips, RATE, RATE, seed=1, banks=[scenes_dir], mixed_per_epoch=40, sounds=str(tmp_path / "lib"))
    assert examples.mixed_labels() == ["low hum"]
    heard = {s["label"] for i in range(len(clips), len(clips) + 10) for s in examples[(0, i)][1]}
    assert heard == {"low hum"}
    config = tiny_train_config(optim__steps=2, eval_every=2, checkpoint_every=2, data__mixed_per_epoch=8,
                               data__sounds=f"procedural,{tmp_path / 'lib'}")
    train(config, [scenes_dir], tmp_path / "run", responses=[scenes_dir], val=[scenes_dir], device="cpu")
    assert "low hum" in load_model(tmp_path / "run").labels


def test_a_clip_longer_than_the_model_is_cropped_and_keeps_only_the_sources_in_the_crop(scenes_dir):
    clips, _ = read_clips([scenes_dir])
    examples = Examples(clips, RATE, RATE // 4, seed=0)
    for index, clip in enumerate(clips):
        audio, sources = examples[(0, index)]
        assert audio.shape == (2, RATE // 4)
        assert all(source in clip.sources for source in sources)


def test_swapping_the_ears_mirrors_the_azimuth_and_band_limiting_empties_the_top():
    from batcli.encoder.data import augment

    rng = np.random.default_rng(0)
    audio = rng.standard_normal((2, RATE)).astype(np.float32)
    sources = [{"label": "dog", "azimuth_deg": 60.0, "elevation_deg": 10.0, "distance_m": 2.0}]
    swapped, moved = augment(np.random.default_rng(1), audio, sources, RATE, swap_ears=1.0, band_limit=0.0)
    assert np.array_equal(swapped[0], audio[1]) and np.array_equal(swapped[1], audio[0])
    assert moved[0]["azimuth_deg"] == 300.0 and sources[0]["azimuth_deg"] == 60.0
    limited, same = augment(np.random.default_rng(1), audio, sources, RATE, swap_ears=0.0, band_limit=1.0)
    assert same == sources
    spectrum = np.abs(np.fft.rfft(limited, axis=-1))
    frequencies = np.fft.rfftfreq(RATE, 1 / RATE)
    assert spectrum[:, frequencies > 7900].max() < 1e-3 * spectrum[:, frequencies < 3000].max()
