"""The kinds of failure `bat` reports as one line on stderr, with the exit status they map to."""


class BatError(Exception):
    """Bad data or a runtime failure: exit status 1."""

    exit_code = 1


class UsageError(BatError):
    """Bad usage (options, config keys, values): exit status 2."""

    exit_code = 2


class Stopped(BaseException):
    """Ctrl-C or SIGTERM (exit status 1). A BaseException, as KeyboardInterrupt is, so that no
    `except Exception` swallows it; not KeyboardInterrupt itself, which click answers with its own
    two-line "Aborted!"."""

    exit_code = 1
