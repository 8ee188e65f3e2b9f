"""The encoder's shapes, and its model directory."""

import pytest
import torch

from batcli.encoder.model import EncoderDims, SpatialEncoder, load_model, save_model
from batcli.errors import BatError

LABELS = ["dog", "siren", "rain", "bell"]
DIMS = EncoderDims(sample_rate=16000, clip_s=1.0, n_fft=512, hop=160, n_mels=32, f_max=7600.0, width=32, depth=2, heads=2, slots=3)


def test_outputs_have_one_row_per_slot_and_the_tokens_follow_the_patch_grid():
    model = SpatialEncoder(DIMS, LABELS).eval()
    audio = torch.randn(2, 2, DIMS.clip_samples) * 0.1
    tokens = model.encode(audio)
    rows, cols = DIMS.grid
    assert (rows, cols) == (2, 6)  # 32 mels / 16, 101 frames // 16
    assert tokens.shape == (2, DIMS.slots + rows * cols, DIMS.width)
    out = model.read_slots(tokens)
    assert out.presence.shape == (2, 3)
    assert out.classes.shape == (2, 3, len(LABELS))
    assert out.azimuth.shape == (2, 3, DIMS.azimuth_bins)
    assert out.elevation.shape == (2, 3, DIMS.elevation_bins)
    assert out.distance.shape == (2, 3, DIMS.distance_bins)


def test_save_and_load_give_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = SpatialEncoder(DIMS, LABELS).eval()
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    audio = torch.randn(3, 2, DIMS.clip_samples) * 0.1
    with torch.no_grad():
        a, b = model(audio), loaded(audio)
    assert loaded.labels == LABELS and loaded.dims == DIMS
    for name in ("presence", "classes", "azimuth", "elevation", "distance"):
        assert torch.equal(getattr(a, name), getattr(b, name))


def test_the_front_calibration_is_kept_with_the_model_and_a_damaged_one_is_named(tmp_path):
    model = SpatialEncoder(DIMS, LABELS)
    model.front_calibration = (1.7, 0.4, 0.3, 0.6, -0.2)
    save_model(model, tmp_path / "m")
    assert load_model(tmp_path / "m").front_calibration == (1.7, 0.4, 0.3, 0.6, -0.2)
    config = tmp_path / "m" / "config.json"
    config.write_text(config.read_text().replace("1.7", '"x"'))
    with pytest.raises(BatError, match="front_calibration must be"):
        load_model(tmp_path / "m")


def test_a_folder_that_is_not_a_model_is_named(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(BatError, match="missing model.safetensors, labels.txt"):
        load_model(tmp_path)


@pytest.mark.parametrize("change, message", [({"n_mels": 40}, "not a multiple"), ({"heads": 3}, "does not divide"), ({"f_max": 9000.0}, "Nyquist")])
def test_inconsistent_dimensions_are_refused(change, message):
    with pytest.raises(BatError, match=message):
        SpatialEncoder(EncoderDims(**{**DIMS.__dict__, **change}), LABELS)


@pytest.mark.parametrize("features", ["binaural", "onset", "direct"])
def test_the_cnn_stem_gives_one_token_per_patch_frames_frames(features):
    dims = EncoderDims(sample_rate=16000, clip_s=1.0, n_fft=512, hop=160, n_mels=32, f_max=7600.0, width=32, depth=1, heads=2,
                       features=features, stem="cnn", stem_channels=(8, 8, 16), patch_frames=4)
    model = SpatialEncoder(dims, LABELS).eval()
    tokens = model.encode(torch.randn(2, 2, dims.clip_samples) * 0.1)
    assert dims.grid == (1, 101 // 4)
    assert tokens.shape == (2, dims.slots + 25, 32)


@pytest.mark.parametrize("change, message", [
    ({"n_mels": 36}, "does not halve"),
    ({"patch_frames": 3}, "power of 2"),
    ({"patch_frames": 16}, "power of 2"),
])
def test_a_cnn_stem_that_does_not_fit_the_bands_or_frames_is_refused(change, message):
    dims = EncoderDims(sample_rate=16000, clip_s=1.0, n_fft=512, hop=160, f_max=7600.0, width=32, depth=1, heads=2,
                       stem="cnn", stem_channels=(8, 8, 16), **{"n_mels": 32, "patch_frames": 4, **change})
    with pytest.raises(BatError, match=message):
        SpatialEncoder(dims, LABELS)
