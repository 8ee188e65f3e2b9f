import subprocess
import sys

import pytest


@pytest.fixture
def bat():
    """Run the `bat` command line in a subprocess, as a user would; returns the CompletedProcess."""

    def run(*args, stdin: str | None = None, check: bool = False):
        result = subprocess.run(
            [sys.executable, "-m", "batcli", *map(str, args)], input=stdin, capture_output=True, text=True, timeout=600
        )
        if check and result.returncode != 0:
            raise AssertionError(f"bat {' '.join(map(str, args))} failed ({result.returncode}):\n{result.stderr}")
        return result

    return run
