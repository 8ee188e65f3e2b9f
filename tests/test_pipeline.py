"""examples/pipeline/Makefile: all six stages chained on a tiny config, rebuilding only what changed."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

PIPELINE = Path(__file__).resolve().parents[1] / "examples" / "pipeline"


def make(folder, *args):
    command = ["make", "-C", str(folder), f"BAT={sys.executable} -m batcli", "OUT=build", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONPATH": str(PIPELINE.parents[1])})


def test_the_pipeline_runs_every_stage_and_rebuilds_only_what_changed(tmp_path):
    folder = tmp_path / "pipeline"
    shutil.copytree(PIPELINE, folder)
    result = make(folder)
    assert result.returncode == 0, result.stderr[-3000:]
    build = folder / "build"
    localization = json.loads((build / "localize-scores.json").read_text())
    answers = json.loads((build / "answer-scores.json").read_text())
    assert localization["all"]["clips"] == 16
    assert answers["questions"] == len((build / "test" / "qa.jsonl").read_text().splitlines())

    assert make(folder, "-q").returncode == 0  # everything is up to date
    (folder / "llm.yaml").touch()
    planned = make(folder, "-n").stdout
    assert "train-llm" in planned and " ask " in planned
    for untouched in ("simulate", "train-encoder", "localize"):
        assert f"batcli {untouched}" not in planned
