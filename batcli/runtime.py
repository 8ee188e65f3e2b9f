"""Where work runs: the device a user asked for, mixed precision on CUDA, and worker processes
that never outlive bat's main process."""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from contextlib import contextmanager, nullcontext

import torch

from .errors import UsageError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def pick_device(name: str) -> torch.device:
    """`auto` (CUDA when there is one), `cpu` or `cuda`; under torchrun, this process's own GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name not in ("cpu", "cuda"):
        raise UsageError(f"--device {name}: expected auto, cpu or cuda")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    index = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def autocast(device: torch.device):
    """bf16 autocast on CUDA; full precision on the CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


def follow_main_process(main_pid: int, _worker_id: int = 0) -> None:
    """Make this worker process exit as soon as bat's main process `main_pid` ends, however it ends,
    kill -9 included. Ctrl-C, which reaches the whole process group, is left to the main process,
    which stops its workers itself; SIGTERM (the main process's way of stopping a worker, and a
    job scheduler's way of stopping them all) ends the worker quietly, with no traceback and an exit
    status that torch's loader does not report as a crash.

    Workers started by a fork server are the server's children, not the main process's, so neither
    the parent-death signal nor torch's own watchdog notices the main process going; and the fork
    server waits for its workers. A thread waiting on the main process's pidfd (Linux), or polling
    its pid elsewhere, does. The second argument lets torch's DataLoader call it as worker_init_fn."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda _number, _frame: os._exit(0))
    threading.Thread(target=_exit_when_gone, args=(main_pid,), name="bat-follow-main", daemon=True).start()


def _exit_when_gone(pid: int) -> None:
    try:
        handle = os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux, or the process is gone already
        while _alive(pid):
            time.sleep(0.5)
    else:
        select.select([handle], [], [])
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def uninterrupted():
    """Hold Ctrl-C and SIGTERM until the block is done, then act on them: a stop never leaves a
    model folder, a checkpoint or a set of records half rewritten."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = []
    previous = {number: signal.signal(number, lambda number, _frame: held.append(number)) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if held:
            signal.raise_signal(held[0])
