"""One exception family for everything an operator or a worker may have to act on.

Every message names the file or task and says what happens next ("file left in place").
The CLI turns a :class:`SpoolError` into a one-line message and exit status 1, never a
traceback.
"""

from __future__ import annotations


class SpoolError(Exception):
    """Base class of every error spoold reports on purpose."""


class NotASpool(SpoolError):
    """The directory is not an initialised spool (or its share is not mounted)."""


class InvalidTaskFile(SpoolError, ValueError):
    """A task file that does not parse or does not validate; it is left where it is."""

    def __init__(self, path: str, reason: str, line: int | None = None) -> None:
        self.path = path
        self.reason = reason
        self.line = line
        where = f"{path}: line {line}" if line is not None else path
        super().__init__(f"{where}: {reason} — file left in place")


class TaskNotFound(SpoolError, LookupError):
    """No task with that id in pending/ or complete/."""


class TaskExists(SpoolError):
    """A task with that id already exists (where an operation needs it absent)."""


class LeaseLost(SpoolError):
    """This worker's claim was broken or moved: another device owns the task now."""


class ConfigError(SpoolError, ValueError):
    """A configuration file or option is wrong."""


class StorageUnavailable(SpoolError, OSError):
    """A storage root (NAS share) is not mounted, hangs or refuses access."""
