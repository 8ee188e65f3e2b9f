"""Sounds outside every class the encoder trains on, for the count and detection figures of issue 28.

Fetches four Debian packages no training uses (city ambiences of LinCity-NG, the environment and
explosions of Minetest, the slides and hits of Extreme Tux Racer, the snoring and applause of Frozen
Bubble; all GPL-2+ or CC), unpacks them and writes DIR/unseen.jsonl, one class per package, for
`python benchmarks/accuracy.py --sounds DIR/unseen.jsonl`: a test set of recordings whose every sound
is one the encoder never heard, so its count of sources and its `unknown` labels can be scored.
Music (files over MAX_SECONDS) and silent files are left out.
Usage: python benchmarks/unseen_sounds.py DIR   (needs apt-get and dpkg-deb; about 200 MB)
"""

import json
import subprocess
import sys
from pathlib import Path

import soundfile

from batcli.sim.recorded import audible, is_audio

PACKAGES = {"lincity-ng-data": "city", "minetest-data": "game world", "extremetuxracer-data": "slide", "frozen-bubble-data": "game"}
MAX_SECONDS = 20.0


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.splitlines()[-1])
    folder = Path(sys.argv[1])
    debs = folder / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=debs, check=True)
    records = []
    for package, label in PACKAGES.items():
        [deb] = debs.glob(f"{package}_*.deb")
        target = folder / "unpacked" / package
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
        for path in sorted(p for p in target.rglob("*") if p.is_file() and is_audio(p.name)):
            if soundfile.info(str(path)).duration <= MAX_SECONDS and audible(path):
                records.append({"path": path.relative_to(folder).as_posix(), "labels": [label]})
    (folder / "unseen.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    print(json.dumps({"manifest": str(folder / "unseen.jsonl"), "recordings": len(records)}))


if __name__ == "__main__":
    main()
