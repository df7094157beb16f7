"""Scratch folders: one per running task, named so that a dead worker's can be found.

Public API: :func:`new_scratch`, :func:`sweep_scratch`, :data:`SCRATCH_PREFIX`.

Each task runs in ``$TMPDIR/spoold-work.HOST.PID.TASKID-XXXXXX``, removed when the task ends.
A worker killed mid-task cannot remove its own (a Jetson's scratch may hold a video's
frames), so every worker and the daemon, when they start, remove those of this host's dead
processes with :func:`sweep_scratch`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from spoold.spool import pid_alive, short_hostname

log = logging.getLogger(__name__)

SCRATCH_PREFIX = "spoold-work."


def new_scratch(task_id: str) -> Path:
    """A new scratch folder for running ``task_id`` in this process (see :func:`sweep_scratch`)."""
    prefix = f"{SCRATCH_PREFIX}{short_hostname()}.{os.getpid()}.{task_id[:40]}-"
    return Path(tempfile.mkdtemp(prefix=prefix))


def sweep_scratch(tmpdir: str | Path | None = None) -> list[Path]:
    """Remove the scratch folders that workers of this host left when they were killed.

    Only folders named by a worker of this host (other hosts and containers may share the
    folder) whose process no longer exists; returns the folders removed.
    """
    base = Path(tmpdir or tempfile.gettempdir())
    mine = f"{SCRATCH_PREFIX}{short_hostname()}."
    removed: list[Path] = []
    try:
        entries = list(os.scandir(base))
    except OSError as exc:
        log.warning("cannot look for old scratch folders in %s: %s", base, exc)
        return removed
    for e in entries:
        if not e.name.startswith(mine) or not e.is_dir(follow_symlinks=False):
            continue
        pid_text = e.name[len(mine) :].split(".", 1)[0]
        if not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        shutil.rmtree(e.path, ignore_errors=True)
        if not os.path.lexists(e.path):
            log.warning("removed %s: scratch folder of worker pid %s, which died", e.path, pid_text)
            removed.append(Path(e.path))
    return removed
