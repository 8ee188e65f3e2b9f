"""Faults: a run killed with kill -9, stopped by Ctrl-C or SIGTERM, or cut short by a full disk.

Each killed run leaves no process behind and resumes to exactly what an uninterrupted run gives;
each stop or full disk ends in one line on stderr and exit status 1, with every output whole or
absent. The commands run as a user runs them, in their own process group, and are found again by
an environment variable that their worker processes inherit.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import soundfile
import torch

from batcli import records
from batcli.records import read_tensors

from .conftest import TINY_LLM, set_options

ROOT = Path(__file__).resolve().parents[1]
MARK = "BAT_FAULT_TEST"

SIMULATE = ["simulate", "tiny", "--seed", 11, "--workers", 2, "--set", "sample_rate=16000", "--set", "duration_s=1.0"]

# The embedded language model at its smallest, in two curriculum stages of 2 and 8 steps.
LLM = [*TINY_LLM, "stages=[{types: [A, B], steps: 2, lr: 0.003}, {types: [A, B, C, D, E, free], steps: 8, lr: 0.003}]"]


class Run:
    """A `bat` command started in its own process group; `mark` finds it and every process it starts."""

    def __init__(self, *args):
        self.args, self.mark = [str(a) for a in args], uuid.uuid4().hex
        self.process = subprocess.Popen([sys.executable, "-m", "batcli", *self.args], env={**os.environ, MARK: self.mark},
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

    def wait_for(self, condition, what: str, timeout: float = 120):
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(f"bat {' '.join(self.args)} ended ({self.process.returncode}) before {what}:\n"
                                     f"{self.process.stderr.read()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.01)

    def signal_group(self, number: int) -> tuple[int, str, str]:
        """Send `number` to the whole group, as Ctrl-C or a job scheduler does; the exit status and output."""
        os.killpg(self.process.pid, number)
        out, err = self.process.communicate(timeout=60)
        return self.process.returncode, out, err

    def processes(self) -> list[int]:
        """Live processes that carry this run's mark (a reaped or zombie process has no environment)."""
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and f"{MARK}={self.mark}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def assert_nothing_left(self, within: float = 5.0):
        deadline = time.monotonic() + within
        while (left := self.processes()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, f"processes left behind: {left}"


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def partial_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".partial")]


def error_line(err: str) -> str:
    """The error, which must be one line and the last on stderr (after what a trainer says on starting)."""
    lines = err.splitlines()
    assert lines and lines[-1].startswith("bat: error: "), err
    assert not any(line.startswith("bat: error: ") or "Traceback" in line for line in lines[:-1]), err
    return lines[-1]


def killed_and_whole(bat, tmp_path: Path, command: list, ready, what: str, resume: tuple = ()) -> tuple[Path, Path]:
    """Run `command -o killed`, kill -9 it once `ready(killed)`, check that nothing is left, rerun it
    (with `resume`) to the end; then run it uninterrupted into `whole`. Returns both folders."""
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    run = Run(*command, "-o", killed)
    run.wait_for(lambda: ready(killed), what)
    run.process.kill()
    run.process.wait()
    assert run.process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    run.assert_nothing_left()
    bat(*command, "-o", killed, *resume, check=True)
    bat(*command, "-o", whole, check=True)
    return killed, whole


def checkpointed(run: Path) -> bool:
    return (run / "checkpoint.pt").is_file()


class TestKilled:
    def test_simulate_leaves_no_worker_and_resumes_to_the_same_bytes(self, bat, tmp_path):
        killed, whole = killed_and_whole(bat, tmp_path, [*SIMULATE, "-n", 300],
                                         lambda out: (out / ".parts").is_dir() and len(list((out / ".parts").glob("*.json"))) >= 5,
                                         "five finished clips")
        assert files(killed) == files(whole)

    def test_train_encoder_leaves_no_loader_and_resumes_to_the_same_weights(self, bat, tmp_path, scenes_dir, encoder_config):
        killed, whole = killed_and_whole(bat, tmp_path, ["train-encoder", encoder_config, "--data", scenes_dir], checkpointed,
                                         "the first checkpoint", ("--resume",))
        for name in ("model.safetensors", "metrics.jsonl"):
            assert (killed / name).read_bytes() == (whole / name).read_bytes(), name

    def test_train_llm_resumes_to_the_same_weights_and_metrics(self, bat, tmp_path, questions_dir, encoder_dir):
        command = ["train-llm", "--data", questions_dir, "--encoder", encoder_dir, *set_options(LLM)]
        killed, whole = killed_and_whole(bat, tmp_path, command, checkpointed, "the first checkpoint", ("--resume",))
        for name in ("projector.safetensors", "lm/model.safetensors", "metrics.jsonl"):
            assert (killed / name).read_bytes() == (whole / name).read_bytes(), name


def whole_audio(folder: Path) -> None:
    for path in (folder / "audio").glob("*.wav"):
        assert soundfile.info(str(path)).frames == 16000, path


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stopped_simulate_keeps_whole_clips_and_says_how_to_resume(bat, tmp_path, number):
    out = tmp_path / "out"
    run = Run(*SIMULATE, "-n", 400, "-o", out)
    run.wait_for(lambda: (out / ".parts").is_dir() and len(list((out / ".parts").glob("*.json"))) >= 3, "three finished clips")
    code, stdout, stderr = run.signal_group(number)
    line = error_line(stderr)
    assert code == 1 and stdout == ""
    assert f"stopped by {signal.Signals(number).name}" in line and "the same command resumes" in line
    assert not (out / "scenes.jsonl").exists() and not partial_files(out)
    whole_audio(out)
    run.assert_nothing_left()


def model_folder_loads(folder: Path) -> None:
    for path in folder.rglob("*.safetensors"):
        read_tensors(path)
    if (folder / "checkpoint.pt").exists():
        torch.load(folder / "checkpoint.pt", weights_only=True)


@pytest.mark.parametrize("trainer", ["train-encoder", "train-llm"])
def test_a_stopped_training_keeps_its_last_checkpoint_and_says_how_to_resume(bat, tmp_path, trainer, scenes_dir, questions_dir,
                                                                            encoder_dir, encoder_config):
    out = tmp_path / "run"
    if trainer == "train-encoder":
        run = Run(trainer, encoder_config, "--data", scenes_dir, "-o", out)
    else:
        run = Run(trainer, "--data", questions_dir, "--encoder", encoder_dir, *set_options(LLM), "-o", out)
    run.wait_for((out / "metrics.jsonl").is_file, "the first validation")
    code, stdout, stderr = run.signal_group(signal.SIGTERM)
    line = error_line(stderr)
    assert code == 1 and stdout == ""
    assert "stopped by SIGTERM" in line and "--resume" in line
    assert not partial_files(out)
    model_folder_loads(out)
    run.assert_nothing_left()


LEAK = """
import multiprocessing, os, sys
import batcli.cli

def leave_a_semaphore():  # as a run stopped while its loader processes hold their queues
    held = multiprocessing.get_context("forkserver").Lock()
    os._exit(1 if held else 0)

batcli.cli.app = leave_a_semaphore
batcli.cli.main() if sys.argv[1] == "bat" else leave_a_semaphore()
"""


@pytest.mark.parametrize("through_bat", [True, False])
def test_the_resource_tracker_says_nothing_after_bat_stops(through_bat):
    """The tracker outlives the stopped process and cleans up after it; under bat it does so silently,
    so bat's one-line error stays the last line (without bat's main, the same leak is reported)."""
    result = subprocess.run([sys.executable, "-c", LEAK, "bat" if through_bat else "plain"], capture_output=True, text=True, timeout=60)
    assert ("leaked semaphore" in result.stderr) != through_bat, result.stderr


def test_stopped_localize_and_ask_leave_no_output_file(tmp_path, llm_run, questions_dir):
    recordings = [str(p) for p in sorted((questions_dir / "audio").glob("*.wav"))] * 30
    questions = tmp_path / "questions.jsonl"
    lines = (questions_dir / "qa.jsonl").read_text().splitlines()
    questions.write_text("".join(json.dumps({**json.loads(line), "audio": str(questions_dir / json.loads(line)["audio"])}) + "\n"
                                 for line in lines * 20))
    for command in (["localize", "--batch-size", 1, *recordings], ["ask", "--model", llm_run, "--batch-size", 1, "--questions", questions]):
        out = tmp_path / f"{command[0]}.jsonl"
        run = Run(*command, "-o", out)
        run.wait_for(out.with_name(f".{out.name}.partial").is_file, "the first records")
        code, stdout, stderr = run.signal_group(signal.SIGTERM)
        assert (code, stdout, error_line(stderr)) == (1, "", "bat: error: stopped by SIGTERM")
        assert not out.exists() and not partial_files(tmp_path)


class SmallDisk:
    """An `open` for records.atomic_write, on a disk with `free` bytes left: a write past them fails
    with ENOSPC, as on a full disk. `free=None` counts what is written."""

    def __init__(self, free: int | None = None):
        self.free, self.written = free, []

    def open(self, path, mode="r", **options):
        stream = open(path, mode, **options)
        return _Capped(stream, self, Path(path)) if "w" in mode else stream


class _Capped:
    def __init__(self, stream, disk: SmallDisk, path: Path):
        self.stream, self.disk, self.path = stream, disk, path

    def write(self, data):
        size = len(data)
        if self.disk.free is not None:
            if size > self.disk.free:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.disk.free -= size
        self.disk.written.append((self.path.name.removeprefix(".").removesuffix(".partial"), size))
        return self.stream.write(data)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __getattr__(self, name):
        return getattr(self.stream, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.stream.__exit__(*exc)


def bat_here(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """Run `bat` in this process (so that the disk can be made small), as `bat ARGS` would run."""
    from batcli import cli

    monkeypatch.setattr(sys, "argv", ["bat", *map(str, args)])
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        cli.main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def bytes_until(written: list[tuple[str, int]], name: str, occurrence: int = 1) -> int:
    """Bytes written up to and including the `occurrence`-th write of file `name`'s last chunk."""
    total, seen = 0, 0
    for index, (written_name, size) in enumerate(written):
        total += size
        if written_name == name and (index + 1 == len(written) or written[index + 1][0] != name):
            seen += 1
            if seen == occurrence:
                return total
    raise AssertionError(f"{name} was written {seen} times")


def test_a_full_disk_stops_training_in_one_line_and_a_rerun_with_space_resumes(monkeypatch, capsys, tmp_path, scenes_dir, encoder_config):
    command = ["train-encoder", encoder_config, "--data", scenes_dir, "--set", "data.workers=0"]
    counting = SmallDisk()
    monkeypatch.setattr(records, "open", counting.open, raising=False)
    assert bat_here(monkeypatch, capsys, *command, "-o", tmp_path / "whole")[0] == 0
    # The disk fills up just after the second checkpoint is written.
    monkeypatch.setattr(records, "open", SmallDisk(bytes_until(counting.written, "checkpoint.pt", 2) + 100).open, raising=False)
    code, out, err = bat_here(monkeypatch, capsys, *command, "-o", tmp_path / "full")
    assert code == 1 and out == ""
    assert error_line(err).endswith(": cannot write it (No space left on device)")
    assert not partial_files(tmp_path / "full")
    monkeypatch.setattr(records, "open", open, raising=False)
    assert bat_here(monkeypatch, capsys, *command, "-o", tmp_path / "full", "--resume")[0] == 0
    assert (tmp_path / "full" / "model.safetensors").read_bytes() == (tmp_path / "whole" / "model.safetensors").read_bytes()


def test_a_full_disk_while_simulate_assembles_is_one_line_and_a_rerun_finishes_it(monkeypatch, capsys, tmp_path):
    command = [*SIMULATE, "-n", 6]
    counting = SmallDisk()
    monkeypatch.setattr(records, "open", counting.open, raising=False)
    assert bat_here(monkeypatch, capsys, *command, "-o", tmp_path / "whole")[0] == 0
    # This process writes the config and labels, then, once the workers are done, the JSONL files.
    monkeypatch.setattr(records, "open", SmallDisk(bytes_until(counting.written, "config.yaml")).open, raising=False)
    code, out, err = bat_here(monkeypatch, capsys, *command, "-o", tmp_path / "full")
    assert code == 1 and out == ""
    assert error_line(err) == f"bat: error: {tmp_path / 'full' / 'qa.jsonl'}: cannot write it (No space left on device)"
    assert not (tmp_path / "full" / "qa.jsonl").exists() and not partial_files(tmp_path / "full")
    monkeypatch.setattr(records, "open", open, raising=False)
    assert bat_here(monkeypatch, capsys, *command, "-o", tmp_path / "full")[0] == 0
    assert files(tmp_path / "full") == files(tmp_path / "whole")


def test_a_full_disk_leaves_no_records_file(monkeypatch, capsys, tmp_path):
    out = tmp_path / "records.jsonl"
    monkeypatch.setattr(records, "open", SmallDisk(100).open, raising=False)
    code, stdout, err = bat_here(monkeypatch, capsys, "localize", ROOT / "examples" / "audio" / "siren-left.wav", "-o", out)
    assert (code, stdout) == (1, "")
    assert error_line(err) == f"bat: error: {out}: cannot write it (No space left on device)"
    assert not out.exists() and not partial_files(tmp_path)
