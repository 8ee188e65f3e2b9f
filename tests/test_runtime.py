"""Where work runs: stops held over a block that must finish, workers that follow the main process."""

import os
import signal
import subprocess
import sys
import time

import pytest

from batcli.runtime import uninterrupted


def test_a_stop_during_an_uninterrupted_block_is_acted_on_when_the_block_ends():
    def stop(_number, _frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    finished = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with uninterrupted():
                signal.raise_signal(signal.SIGTERM)
                finished.append("the rest of the block")
            finished.append("after the block")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert finished == ["the rest of the block"]
    assert signal.getsignal(signal.SIGTERM) is previous


def test_a_worker_exits_when_its_main_process_is_killed():
    worker_program = (
        "import os, sys, time\n"
        "from batcli.runtime import follow_main_process\n"
        "follow_main_process(int(sys.argv[1]))\n"
        "print(os.getpid(), flush=True)\n"
        "time.sleep(600)\n"
    )
    main_program = (
        "import os, subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {worker_program!r}, str(os.getpid())])\n"
        "time.sleep(600)\n"
    )
    main = subprocess.Popen([sys.executable, "-c", main_program], stdout=subprocess.PIPE, text=True)
    worker = int(main.stdout.readline())  # the worker's stdout is the main process's
    assert _alive(worker)
    main.kill()
    main.wait()
    deadline = time.monotonic() + 5
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stream:  # a zombie has exited; only its parent has not reaped it
        return stream.read().split(") ")[-1][0] != "Z"
