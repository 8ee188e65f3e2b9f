"""The manifest of recorded sounds from unpacked Debian packages."""

import io
import json
import zipfile

import numpy as np
import pytest
import soundfile

from batcli.errors import BatError
from batcli.sim.library import SoundConfig, load_library
from batcli.sim.recorded import SOURCES, build_manifest, label_of


def _sound(path, seconds=0.3, rate=22050, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(len(str(path))).standard_normal(int(rate * seconds)) * 0.1
    soundfile.write(path, noise, rate, format=fmt)


def _unpacked(root):
    """A stand-in for `make sounds`' unpacked packages: one folder per package, a few recordings each."""
    for package in SOURCES:
        (root / package).mkdir(parents=True)
    stamps = root / "tuxpaint-stamps-default/usr/share/tuxpaint/stamps"
    _sound(stamps / "animals/mammals/dogs/dog.ogg", fmt="OGG")
    _sound(stamps / "animals/mammals/dogs/dog_desc_fr.ogg", fmt="OGG")
    _sound(stamps / "household/kettle.ogg", fmt="OGG")
    (stamps / "animals/lizards").mkdir(parents=True)
    soundfile.write(stamps / "animals/lizards/iguana.ogg", np.zeros(4000), 22050, format="OGG")  # silent: left out
    _sound(root / "hydrogen-drumkits/usr/share/hydrogen/data/drumkits/Kit/snare.flac")
    (root / "hydrogen-drumkits/usr/share/hydrogen/data/drumkits/Kit/kit.png").write_bytes(b"PNG")  # not audio: left out
    archive = root / "ufoai-sound/usr/share/games/ufoai/base/0snd.pk3"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as members:
        for name in ("sound/footsteps/step1.wav", "sound/doors/open.wav", "sound/ui/click.wav"):
            buffer = io.BytesIO()
            soundfile.write(buffer, np.zeros(2205) + 0.01, 22050, format="WAV")
            members.writestr(name, buffer.getvalue())


def test_rules_label_by_package_and_path():
    assert label_of("tuxpaint-stamps-default", "/usr/share/tuxpaint/stamps/animals/mammals/dogs/dog_desc_ru.ogg") == "speech"
    assert label_of("tuxpaint-stamps-default", "/usr/share/tuxpaint/stamps/animals/mammals/dogs/dog.ogg") == "animal"
    assert label_of("ufoai-sound", "sound/weapons/rifle.ogg") == "weapon"
    assert label_of("ufoai-sound", "sound/ui/click.ogg") is None
    assert label_of("klettres-data", "/usr/share/tuxpaint/stamps/animals/dog.ogg") is None  # rules are per package


def test_manifest_labels_recordings_copies_archive_members_and_feeds_the_library(tmp_path):
    _unpacked(tmp_path / "unpacked")
    counts = build_manifest(tmp_path / "unpacked", tmp_path)
    assert counts == {"animal": 1, "speech": 1, "household": 1, "drum": 1, "footsteps": 1, "door": 1}
    records = [json.loads(line) for line in (tmp_path / "recorded.jsonl").read_text().splitlines()]
    assert all(not record["path"].startswith("/") for record in records)  # relative: the folder can move
    assert (tmp_path / "files/ufoai-sound/sound/doors/open.wav").is_file()
    library = load_library(SoundConfig(library=f"procedural,{tmp_path / 'recorded.jsonl'}", test_fraction=0.0), "train")
    assert {"animal", "speech", "door", "siren"} <= set(library.labels)
    audio, description = library.draw("door", np.random.default_rng(0), 16000, 16000)
    assert description["library"] == "file" and audio.size > 0


def test_missing_packages_are_named(tmp_path):
    (tmp_path / "unpacked" / "ufoai-sound").mkdir(parents=True)
    with pytest.raises(BatError, match="tuxpaint-stamps-default"):
        build_manifest(tmp_path / "unpacked", tmp_path)
