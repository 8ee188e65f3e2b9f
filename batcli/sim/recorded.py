"""Recorded sounds that install offline: a labelled manifest of the recordings in Debian packages.

Every sound of the built-in library is synthesized; people localize speech, music, animals, doors and
footsteps. Debian ships recordings of all of these inside games and learning programs. `make sounds`
downloads the packages of SOURCES (`apt-get download`, no installation), unpacks each into a folder
named after it (`dpkg-deb -x`), and runs

    python -m batcli.sim.recorded UNPACKED OUT

which labels every recording by the first rule of RULES its path matches (package, path inside it),
copies the members of zip archives (a game's .pk3) out to OUT/files, and writes OUT/recorded.jsonl, a
manifest `sounds.library` reads (pooled with the procedural sounds as
`sounds.library=procedural,OUT/recorded.jsonl`). The library's hash split keeps a fifth of the
recordings (whole files, so whole utterances and speakers' takes) for the test set.
"""

from __future__ import annotations

import json
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from ..errors import BatError
from ..records import write_text
from .library import AUDIO_SUFFIXES

# package -> licences of its recordings (debian/copyright), named in the README
SOURCES = {
    "tuxpaint-stamps-default": "GPL-2",
    "ktuberling-data": "GPL-2+, CC-BY, CC0",
    "klettres-data": "GPL-2+, CC0-1.0",
    "hedgewars-data": "GPL-2, CC-BY-SA-3.0",
    "ufoai-sound": "GPL-2+, CC-BY-3.0, CC-BY-SA-3.0, public domain",
    "hydrogen-drumkits": "GPL-2+, CC-BY-3.0, CC-BY-SA-3.0, CC0",
    "sonic-pi-samples": "CC0 (131 files), CC-BY-SA-4.0",
}


@dataclass(frozen=True)
class Rule:
    package: str
    pattern: str  # regular expression searched in the path inside the package (or inside its archive)
    label: str


SILENT_PEAK = 1e-4  # -80 dB full scale

RULES = (
    # people speaking: spoken descriptions in 12 languages, words in 25, letters and syllables, game voices
    Rule("tuxpaint-stamps-default", r"_desc(_[a-zA-Z]+)?\.ogg$", "speech"),
    Rule("ktuberling-data", r"/sounds/[a-zA-Z_]+/[^/]+\.(ogg|wav)$", "speech"),
    Rule("klettres-data", r"/klettres/[a-zA-Z_]+/(alpha|syllab)/[^/]+\.ogg$", "speech"),
    Rule("hedgewars-data", r"/Sounds/voices/", "speech"),
    Rule("ufoai-sound", r"^sound/(soldiers|civilians)/", "speech"),
    # the stamps' own sounds: animals, household things, instruments, vehicles
    Rule("tuxpaint-stamps-default", r"/stamps/animals/.*\.ogg$", "animal"),
    Rule("tuxpaint-stamps-default", r"/stamps/household/.*\.ogg$", "household"),
    Rule("tuxpaint-stamps-default", r"/stamps/hobbies/music/.*\.ogg$", "music"),
    Rule("tuxpaint-stamps-default", r"/stamps/vehicles/.*\.ogg$", "vehicle"),
    Rule("sonic-pi-samples", r"/samples/(bd|sn|drum)_[^/]+\.flac$", "drum"),
    Rule("sonic-pi-samples", r"/samples/[a-z]+_[^/]+\.flac$", "music"),
    Rule("hydrogen-drumkits", r"/drumkits/.*\.(wav|flac)$", "drum"),
    Rule("ufoai-sound", r"^sound/footsteps/", "footsteps"),
    Rule("ufoai-sound", r"^sound/doors/", "door"),
    Rule("ufoai-sound", r"^sound/weapons/", "weapon"),
    Rule("ufoai-sound", r"^sound/impact/", "impact"),
    Rule("ufoai-sound", r"^sound/ugv/", "vehicle"),
)


def label_of(package: str, path: str) -> str | None:
    """The label of the first rule matching a recording's path inside its package, or None."""
    return next((rule.label for rule in RULES if rule.package == package and re.search(rule.pattern, path)), None)


def is_audio(name: str) -> bool:
    return Path(name).suffix.lower() in AUDIO_SUFFIXES


def audible(path: Path) -> bool:
    """Whether a recording holds sound above SILENT_PEAK (some of the stamps' sounds are silence: a
    wombat, an iguana)."""
    return float(np.abs(soundfile.read(str(path), dtype="float32", always_2d=True)[0]).max(initial=0.0)) > SILENT_PEAK


def build_manifest(unpacked: Path, out: Path) -> dict[str, int]:
    """Write out/recorded.jsonl from the packages unpacked under `unpacked` (one folder per package);
    returns the number of recordings per label."""
    missing = [package for package in SOURCES if not (unpacked / package).is_dir()]
    if missing:
        raise BatError(f"{unpacked}: packages not unpacked there: {', '.join(missing)} (make sounds fetches them)")
    records = []
    for package in SOURCES:
        root = unpacked / package
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            inside = "/" + path.relative_to(root).as_posix()
            if path.suffix.lower() == ".pk3":
                records += _archive_records(package, path, out / "files" / package)
            elif is_audio(path.name) and (label := label_of(package, inside)) and audible(path):
                records.append({"path": _relative(path, out), "labels": [label], "source": package})
    if not records:
        raise BatError(f"{unpacked}: no recordings matched the rules")
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "recorded.jsonl", "".join(json.dumps(record) + "\n" for record in records))
    counts: dict[str, int] = {}
    for record in records:
        counts[record["labels"][0]] = counts.get(record["labels"][0], 0) + 1
    return counts


def _archive_records(package: str, archive: Path, target: Path) -> list[dict]:
    """Copy the labelled recordings out of a zip archive; their records, paths relative to target's
    grandparent (the manifest's folder)."""
    records = []
    with zipfile.ZipFile(archive) as members:
        for name in sorted(members.namelist()):
            if is_audio(name) and (label := label_of(package, name)):
                file = target / name
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_bytes(members.read(name))
                if not audible(file):
                    file.unlink()
                    continue
                records.append({"path": file.relative_to(target.parent.parent).as_posix(), "labels": [label], "source": package})
    return records


def _relative(path: Path, out: Path) -> str:
    """The path as the manifest in `out` should name it: relative where it can be, else absolute."""
    try:
        return path.resolve().relative_to(out.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit("usage: python -m batcli.sim.recorded UNPACKED OUT")
    try:
        counts = build_manifest(Path(argv[0]), Path(argv[1]))
    except BatError as err:
        raise SystemExit(f"bat: error: {err}") from None
    print(json.dumps({"manifest": str(Path(argv[1]) / "recorded.jsonl"), "recordings": counts}))


if __name__ == "__main__":
    main(sys.argv[1:])
