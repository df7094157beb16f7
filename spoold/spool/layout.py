"""Where things live in a spool: directory names, file names, and how to parse them.

Public API: :class:`Layout`, :class:`ClaimName`, :func:`queue_name`, :func:`split_queue`,
:func:`home_queue`, :func:`legacy_queue_names`, :func:`queue_class`, :func:`task_file_name`,
:func:`is_ignorable`, :data:`PORTABLE_RE`, the directory-name constants.

This module only computes paths; it never touches the disk.  ``spool_layout.md`` documents
the same names, and ``tests/test_layout_doc.py`` keeps the two in agreement.

Every name written uses only the POSIX portable filename characters (:data:`PORTABLE_RE`):
share clients mangle others (an SMB client lists ``@`` as ``%40``).  Names of the first
scheme, which used ``@`` as separator, are still read, in both spellings (``@`` and the
SMB client's ``%40``), so a running spool upgrades in place; a name read is kept as it is on
disk, because only that name renames the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from schemas.task import NAME_RE, TASK_ID_RE

MARKER = ".spoold-spool"
TMP = "tmp"
PENDING = "pending"
COMPLETE = "complete"
CLAIMED = "claimed"
DEFERRED = "deferred"
#: Quarantine of a queue: claimed files that are not valid tasks for their name.
INVALID = "invalid"
#: Every directory spool_layout.md must describe.
DIRECTORIES = (TMP, PENDING, COMPLETE, CLAIMED, DEFERRED, INVALID)
#: The characters of every name the protocol writes (POSIX portable filename set).
PORTABLE_RE = re.compile(r"^[A-Za-z0-9._-]+$")

TASK_SUFFIX = ".json"
TASK_FILE_RE = re.compile(r"^(?P<id>" + TASK_ID_RE.pattern[1:-1] + r")\.json$")
_NAME = r"[a-z0-9][a-z0-9_-]{0,62}"
#: Separators between a claim's or pinned queue's parts: ``.`` now; ``@`` (and ``%40``, as an
#: SMB client lists it) in names written before portable names.
_SEP = r"(?P<sep>\.|@|%40)"
CLAIM_FILE_RE = re.compile(
    r"^(?P<id>" + TASK_ID_RE.pattern[1:-1] + r")" + _SEP + r"(?P<device>" + _NAME + r")"
    r"(?P=sep)(?P<token>[0-9]+-[0-9a-f]{4,16})(?:-L(?P<lease>[0-9]{1,7}))?\.json$"
)
#: A file in a queue's ``invalid/``: ``ID.json``, or ``ID.json.N`` when that name was taken.
INVALID_FILE_RE = re.compile(r"^(?P<id>" + TASK_ID_RE.pattern[1:-1] + r")\.json(?:\.[0-9]{1,6})?$")
#: A day folder of complete/ (``YYYY-MM-DD``, the UTC day of the task id's stamp).
DAY_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
QUEUE_RE = re.compile(r"^(?P<cls>" + _NAME + r")(?:" + _SEP + r"(?P<dev>" + _NAME + r"))?$")
#: Separators of the first naming scheme, as written and as an SMB client lists them.
LEGACY_SEPS = ("@", "%40")

# Names editors, sync tools and OSes leave behind; skipped without a word.
_IGNORABLE_RE = re.compile(
    r"^\.|~$|^#.*#$|\.(swp|swo|swx|tmp|bak|orig|part|rej)$|^(4913|Thumbs\.db|desktop\.ini)$",
    re.IGNORECASE,
)


def is_ignorable(name: str) -> bool:
    """Dotfiles, editor swap/backup files, sync-tool temp files (never tasks, never errors)."""
    return bool(_IGNORABLE_RE.search(name))


def queue_name(device_class: str, device: str | None = None) -> str:
    """``jetson`` for the class, ``jetson.jetson-01`` for tasks pinned to one device."""
    return f"{device_class}.{device}" if device else device_class


def legacy_queue_names(device_class: str, device: str) -> tuple[str, ...]:
    """The pinned queue's folder names of the first scheme (``CLASS@DEVICE``, and the
    ``CLASS%40DEVICE`` an SMB client lists): still claimed from, never published to."""
    return tuple(f"{device_class}{sep}{device}" for sep in LEGACY_SEPS)


def split_queue(name: str) -> tuple[str, str | None] | None:
    """(class, device or None) of a queue folder name, either scheme; None if not one."""
    m = QUEUE_RE.match(name)
    if not m:
        return None
    return m["cls"], m["dev"]


def queue_class(name: str) -> str:
    """The device class of a queue folder name (the name itself if it is not one)."""
    parts = split_queue(name)
    return parts[0] if parts else name


def home_queue(name: str) -> str:
    """The queue folder a task of folder ``name`` goes back to: ``name`` itself, or for a
    pinned folder of the first scheme its new name (tasks leave legacy folders, never enter)."""
    parts = split_queue(name)
    return name if parts is None or parts[1] is None else queue_name(*parts)


def task_file_name(task_id: str) -> str:
    return task_id + TASK_SUFFIX


class ClaimName(NamedTuple):
    """``<task_id>.<device>.<pid>-<nonce>-L<lease>.json``: a claimed task, who holds it, and
    for how many seconds without a heartbeat the holder may be presumed dead.  (A named
    tuple: one is built per claim, and a frozen dataclass costs several times more.)

    Parsed from the right (device and token hold no dot, a task id may).  ``disk`` is the
    name as listed when it was parsed (a first-scheme ``ID@DEV@TOKEN`` or ``ID%40DEV%40TOKEN``
    one included): :attr:`name` is that name, so a rename always names the file that exists.
    """

    task_id: str
    device: str
    token: str
    lease: int | None = None
    disk: str | None = None

    @property
    def name(self) -> str:
        if self.disk is not None:
            return self.disk
        lease = f"-L{self.lease}" if self.lease is not None else ""
        return f"{self.task_id}.{self.device}.{self.token}{lease}{TASK_SUFFIX}"

    @property
    def legacy(self) -> bool:
        """Written by the first naming scheme (``@`` separators, or ``%40`` as listed)."""
        return self.disk is not None and not self.disk.startswith(f"{self.task_id}.")

    @property
    def pid(self) -> int:
        return int(self.token.split("-", 1)[0])

    @classmethod
    def parse(cls, name: str) -> ClaimName | None:
        m = CLAIM_FILE_RE.match(name)
        if not m:
            return None
        return cls(m["id"], m["device"], m["token"], int(m["lease"]) if m["lease"] else None, name)


def day_of(task_id: str) -> str:
    """The complete/ partition of a task: the UTC day of its id's stamp, ``YYYY-MM-DD``."""
    s = task_id[:8]
    return f"{s[:4]}-{s[4:6]}-{s[6:8]}"


@dataclass(frozen=True)
class Layout:
    """Paths inside one spool root (the top folders are built once: the claim path is hot)."""

    root: Path

    @cached_property
    def marker(self) -> Path:
        return self.root / MARKER

    @cached_property
    def tmp(self) -> Path:
        return self.root / TMP

    @cached_property
    def pending(self) -> Path:
        return self.root / PENDING

    @cached_property
    def complete(self) -> Path:
        return self.root / COMPLETE

    def queue(self, queue: str) -> Path:
        return self.pending / queue

    def ready(self, queue: str, task_id: str) -> Path:
        return self.pending.joinpath(queue, task_file_name(task_id))

    def deferred_dir(self, queue: str) -> Path:
        return self.pending.joinpath(queue, DEFERRED)

    def deferred(self, queue: str, task_id: str) -> Path:
        return self.pending.joinpath(queue, DEFERRED, task_file_name(task_id))

    def claimed_dir(self, queue: str) -> Path:
        return self.pending.joinpath(queue, CLAIMED)

    def claimed(self, queue: str, claim: ClaimName) -> Path:
        return self.pending.joinpath(queue, CLAIMED, claim.name)

    def invalid_dir(self, queue: str) -> Path:
        return self.pending.joinpath(queue, INVALID)

    def complete_dir(self, task_id: str) -> Path:
        return self.complete / day_of(task_id)

    def completed(self, task_id: str) -> Path:
        day = day_of(task_id)
        folder = self._day_dirs.get(day)
        if folder is None:  # one Path per day, reused: a full parse costs microseconds per task
            folder = self._day_dirs.setdefault(day, self.complete / day)
        return folder / task_file_name(task_id)

    @cached_property
    def _day_dirs(self) -> dict[str, Path]:
        return {}

    @cached_property
    def complete_str(self) -> str:
        return str(self.complete)

    def completed_str(self, task_id: str) -> str:
        """:meth:`completed` as a str (a Path costs a few microseconds; completion is hot)."""
        s = task_id[:8]
        return f"{self.complete_str}/{s[:4]}-{s[4:6]}-{s[6:8]}/{task_id}{TASK_SUFFIX}"

    def rel(self, path: Path) -> str:
        """A path as operators see it: relative to the spool root."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


def valid_queue_part(name: str) -> bool:
    return bool(NAME_RE.match(name))
