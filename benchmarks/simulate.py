"""Simulator throughput: clips per second and peak memory for 10-s, 32-kHz clips of 1-2 sources.

Runs `bat simulate` with the built-in defaults (reverberant rooms, 10 % anechoic, half the clips
with two sources, half with background noise) for each worker count, in a fresh process, and
checks that the outputs are byte-identical. Writes benchmarks/results/simulate.json.
Usage: python benchmarks/simulate.py [--clips N] [--workers 1 2]
"""

import argparse
import hashlib
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(clips: int, workers: int, out: Path) -> dict:
    command = [sys.executable, "-m", "batcli", "simulate", "-o", str(out), "--num-clips", str(clips), "--workers", str(workers)]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    # Peak resident memory of the largest process among the finished children (parent or one worker).
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    digests = {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*")) if p.is_file()}
    return {"workers": workers, "clips": clips, "seconds": round(seconds, 2), "clips_per_s": round(clips / seconds, 2),
            "peak_rss_mib": round(peak_mib, 1), "files": digests}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for workers in args.workers:
            rows.append(run(args.clips, workers, Path(folder) / f"w{workers}"))
    results = {
        "benchmark": "simulate",
        "machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores",
        "python": platform.python_version(),
        "differing_files": sorted({name for row in rows for name in row["files"] if row["files"][name] != rows[0]["files"].get(name)}),
        "runs": [{k: v for k, v in row.items() if k != "files"} for row in rows],
    }
    target = Path(__file__).parent / "results" / "simulate.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'workers':>8} {'clips':>6} {'seconds':>8} {'clips/s':>8} {'peak MiB':>9}")
    for row in rows:
        print(f"{row['workers']:>8} {row['clips']:>6} {row['seconds']:>8} {row['clips_per_s']:>8} {row['peak_rss_mib']:>9}")
    print(f"files that differ between worker counts: {results['differing_files'] or 'none'}")


if __name__ == "__main__":
    main()
