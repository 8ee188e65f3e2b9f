"""Peak memory of `bat localize` on long recordings and of `bat ask` on a long question file.

Writes one binaural 16-bit WAV per length (noise at 32 kHz, or --rate), runs `bat localize` on it in a
child process and reads the child's peak resident memory (ru_maxrss); then `bat ask --questions` on
a file of N questions about the example recordings, with the time to its first answer on stdout
(answers stream out as they are made). Writes benchmarks/results/memory.json.
Usage: python benchmarks/memory.py [--minutes 30 120] [--rate 32000] [--questions 10000] [--keep DIR]
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "audio"


def write_noise(path: Path, minutes: float, rate: int) -> None:
    """Minutes of quiet noise, written a minute at a time (the writer needs no more memory than that)."""
    rng = np.random.default_rng(0)
    with soundfile.SoundFile(path, "w", rate, 2, subtype="PCM_16") as stream:
        for _ in range(int(minutes)):
            stream.write((rng.standard_normal((60 * rate, 2)) * 0.05).astype(np.float32))


def peak_mb(command: list[str], stdin=None, first_line: bool = False) -> tuple[float, float, float | None]:
    """Run a child to its end: (its peak resident memory in MB, seconds, seconds to its first stdout line)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    first = None
    for _ in process.stdout:
        first = first or time.perf_counter() - start
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    return usage.ru_maxrss / 1024, time.perf_counter() - start, first if first_line else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[30, 120])
    parser.add_argument("--rate", type=int, default=32000)
    parser.add_argument("--questions", type=int, default=10000)
    parser.add_argument("--keep", default=None, help="folder for the long recordings (default: a temporary one)")
    args = parser.parse_args()
    bat = [sys.executable, "-m", "batcli"]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.keep or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for minutes in args.minutes:
            path = folder / f"noise-{minutes:g}min-{args.rate}.wav"
            if not path.is_file():
                write_noise(path, minutes, args.rate)
            peak, seconds, _ = peak_mb([*bat, "localize", str(path)])
            rows.append({"command": "localize", "minutes": minutes, "rate": args.rate, "peak_mb": round(peak, 1), "seconds": round(seconds, 1)})
        questions = folder / "questions.jsonl"
        wavs = sorted(EXAMPLES.glob("*.wav"))
        asked = ["What can you hear?", "Is the sound on my left or on my right?", "How many sounds are there?", "Where is the siren?"]
        questions.write_text("".join(json.dumps({"audio": str(wavs[i % len(wavs)]), "question": asked[i % len(asked)]}) + "\n"
                                     for i in range(args.questions)))
        with open(questions) as stream:
            peak, seconds, first = peak_mb([*bat, "ask", "--questions", "-"], stdin=stream, first_line=True)
        rows.append({"command": "ask", "questions": args.questions, "peak_mb": round(peak, 1), "seconds": round(seconds, 1),
                     "first_answer_s": round(first, 1), "answers_per_s": round(args.questions / seconds, 2)})
    results = {"benchmark": "memory", "device": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
               "rows": rows, "self_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    target = Path(__file__).parent / "results" / "memory.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'command':<34} {'peak MB':>9} {'seconds':>9}")
    for row in rows:
        name = f"localize {row['minutes']:g} min at {row['rate']} Hz" if row["command"] == "localize" else f"ask {row['questions']} questions"
        print(f"{name:<34} {row['peak_mb']:>9} {row['seconds']:>9}")


if __name__ == "__main__":
    main()
