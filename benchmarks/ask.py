"""Language-model speed: `bat ask` latency for one question, answers/s in batch mode, training throughput.

Latency: one question about one 4-s recording, models loaded once (their load time reported apart),
encoder and decoding included, median of 10. Batch: the questions of a fresh simulated set through
`ask` in batches. Training: the trainer's own questions/s (after its first step) for a preset (the
shipped model's, `smollm2`, by default) on that set, encoder tokens cached. Writes benchmarks/results/ask.json.
Usage: python benchmarks/ask.py [--model DIR] [--questions N] [--preset smollm2|tiny] [--train-steps N] [--device cpu]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="bat train-llm run folder (default: the shipped model)")
    parser.add_argument("--questions", type=int, default=256)
    parser.add_argument("--preset", default="smollm2", help="train-llm preset whose training speed is measured")
    parser.add_argument("--train-steps", type=int, default=40)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from batcli.ask import ask, load_answerer, read_question_file

    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        subprocess.run([sys.executable, "-m", "batcli", "simulate", "tiny", "-n", str(max(1, args.questions // 4)), "--seed", "99",
                        "--set", "split=test", "-o", str(data)], check=True, capture_output=True)
        questions = list(read_question_file(str(data / "qa.jsonl")))[: args.questions]
        start = time.perf_counter()
        answerer = load_answerer(args.model, args.device)
        load_s = time.perf_counter() - start
        list(ask(questions[:1], answerer))  # warm-up
        latencies = []
        for question in questions[1:11]:
            start = time.perf_counter()
            list(ask([question], answerer))
            latencies.append(time.perf_counter() - start)
        start = time.perf_counter()
        answers = list(ask(questions, answerer))
        batch_s = time.perf_counter() - start

        command = [sys.executable, "-m", "batcli", "train-llm", args.preset, "--data", str(data), "-o", str(Path(folder) / "run"),
                   "--device", args.device, "--set", f"stages=[{{types: [A, B, C, D, E, free], steps: {args.train_steps}, lr: 0.001}}]",
                   "--set", "val_questions=0", "--set", "val_clips=4"]
        summary = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)

    device = torch.cuda.get_device_name() if args.device == "cuda" else f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    results = {"benchmark": "ask", "device": device, "model_load_s": round(load_s, 3),
               "latency_s_median": round(statistics.median(latencies), 3), "latency_s_max": round(max(latencies), 3),
               "batch_questions": len(answers), "answers_per_s": round(len(answers) / batch_s, 2),
               "train_preset": args.preset, "train_questions_per_s": summary.get("questions_per_s")}
    target = Path(__file__).parent / "results" / "ask.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"device: {device}")
    for key in ("model_load_s", "latency_s_median", "latency_s_max", "answers_per_s", "train_questions_per_s"):
        print(f"{key:<24} {results[key]:>10}")


if __name__ == "__main__":
    main()
