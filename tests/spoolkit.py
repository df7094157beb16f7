"""Small builders shared by the spool tests (plain functions, so any test file can use them)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from schemas.task import FileRef, Task
from spoold.spool import Spool


def new_spool(tmp_path: Path, **kwargs: Any) -> Spool:
    kwargs.setdefault("fsync", False)  # fsync changes durability, not the protocol's logic
    return Spool.init(tmp_path / "spool", **kwargs)


def task(
    spool: Spool,
    key: str = "clip1",
    *,
    task_type: str = "preprocess",
    device_class: str = "jetson",
    stamp: str = "20261125T101530Z",
    **kw: Any,
) -> Task:
    kw.setdefault("inputs", [FileRef(device="indoor-nas", path=f"cam/{key}.mp4", type="video")])
    return spool.new_task(task_type, device_class, key, stamp=stamp, **kw)


def files_under(root: Path) -> list[str]:
    """Every file below ``root``, relative, sorted (the spool as `find -type f` shows it)."""
    out = []
    for dirpath, _, names in os.walk(root):
        for n in names:
            out.append(str(Path(dirpath, n).relative_to(root)))
    return sorted(out)


def later(spool: Spool, seconds: float) -> None:
    """Move this Spool's view of server time forward (claims age without sleeping)."""
    spool.clock_offset += seconds


def dead_pid() -> int:
    """A process id that is not running (a child that has exited and been reaped)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


#: Names a process leaves in tmp/, each with its pid: its clock probe (spool_layout.md §5), a
#: staged copy (§4.1) and a spare (§4.4).
_TEMP_NAMES = (
    re.compile(r"^clock\.[^.]+\.(\d+)$"),
    re.compile(r"\.json\.(\d+)-\d+-[0-9a-f]+\.tmp$"),
    re.compile(r"^[^.]+\.(\d+)\.\d+\.spare$"),
)


def temp_file_pid(name: str) -> int | None:
    """The pid of the process that left ``tmp/NAME``; None if no spool process names a
    file that way."""
    for pattern in _TEMP_NAMES:
        if m := pattern.search(name):
            return int(m[1])
    return None


def age_tmp_files(root: Path, seconds: float) -> None:
    """Stand in for the hour that makes a dead writer's temp file safe to delete."""
    old = time.time() - seconds
    for p in (root / "tmp").iterdir():
        os.utime(p, (old, old))


def spoold(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the ``spoold`` CLI in a child process (as an operator would)."""
    return subprocess.run(
        [sys.executable, "-m", "spoold", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
