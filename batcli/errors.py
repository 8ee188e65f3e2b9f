"""The two kinds of failure `bat` reports as one line on stderr, with the exit status they map to."""


class BatError(Exception):
    """Bad data or a runtime failure: exit status 1."""

    exit_code = 1


class UsageError(BatError):
    """Bad usage (options, config keys, values): exit status 2."""

    exit_code = 2
