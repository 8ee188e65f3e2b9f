"""Sound libraries: the built-in procedural one, the user's own, and several pooled."""

import numpy as np
import pytest
import soundfile

from batcli.errors import BatError
from batcli.sim.library import SoundConfig, load_library


def _tones(root, label, count, frequency):
    (root / label).mkdir(parents=True)
    t = np.arange(8000) / 16000
    for i in range(count):
        soundfile.write(root / label / f"{label}-{i}.wav", 0.3 * np.sin(2 * np.pi * frequency * (1 + 0.01 * i) * t), 16000)


def test_pooled_libraries_draw_a_shared_class_from_both_and_the_others_from_their_own(tmp_path):
    _tones(tmp_path / "lib", "drum", 3, 150.0)  # a procedural class too
    _tones(tmp_path / "lib", "low hum", 3, 100.0)
    library = load_library(SoundConfig(library=f"procedural, {tmp_path / 'lib'}", test_fraction=0.0), "train")
    assert "low hum" in library.labels and "siren" in library.labels and library.labels.count("drum") == 1
    rng = np.random.default_rng(0)
    drums = [library.draw("drum", rng, 16000, 16000)[1]["library"] for _ in range(40)]
    assert 8 < drums.count("file") < 32 and 8 < drums.count("procedural") < 32
    assert {library.draw("low hum", rng, 16000, 16000)[1]["library"] for _ in range(5)} == {"file"}
    assert {library.draw("siren", rng, 16000, 16000)[1]["library"] for _ in range(5)} == {"procedural"}


def test_classes_keep_part_of_a_pooled_library_and_an_unknown_procedural_class_is_refused(tmp_path):
    _tones(tmp_path / "lib", "low hum", 2, 100.0)
    kept = load_library(SoundConfig(library=f"procedural,{tmp_path / 'lib'}", classes=["siren", "low hum"], test_fraction=0.0), "train")
    assert kept.labels == ["siren", "low hum"]
    with pytest.raises(BatError, match="unknown procedural classes"):
        load_library(SoundConfig(classes=["low hum"]), "train")
    with pytest.raises(BatError, match="sound library not found"):
        load_library(SoundConfig(library=f"procedural,{tmp_path / 'absent'}"), "train")


def test_a_pure_procedural_library_draws_the_same_sounds_as_before_pooling_existed():
    """No extra random draw for a library that is procedural alone: data sets keep their bytes."""
    from batcli.sim import sounds

    library = load_library(SoundConfig(), "train")
    audio, description = library.draw("siren", np.random.default_rng(5), 16000, 8000)
    assert description == {"library": "procedural"}
    assert np.array_equal(audio, sounds.synthesize("siren", np.random.default_rng(5), 16000, 8000))
