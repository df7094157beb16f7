"""The ``cleanup`` executor: remove old temp files (:func:`run_cleanup`).

Public API: :func:`run_cleanup`, :func:`plan`.

Removes entries older than ``[maintenance] temp_ttl_s`` from the ``[maintenance] temp_dirs``
(``root:folder``) whose root is up, never following symlinks, and the spool's temp files older
than ``spool_tmp_ttl_s`` (:meth:`spoold.spool.Spool.purge_tmp`).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from schemas.task import Task
from spoold.server.executors.base import Host, Job, Outcome
from spoold.spool import Spool


def plan(task: Task, host: Host) -> Job:
    """In the threads of the first temp folder's root if it is up, else locally."""
    m = host.cfg.maintenance
    dirs = []
    for item in m.temp_dirs:
        name, _, rel = item.partition(":")
        if host.storage.available(name):
            dirs.append(host.cfg.storage[name] / rel)
    first = next((i.partition(":")[0] for i in m.temp_dirs), None)
    spool_root = host.spool.root
    return Job(
        first if first is not None and host.storage.available(first) else None,
        f"{task.task_type} of {task.task_id}",
        lambda: run_cleanup(spool_root, dirs, ttl=m.temp_ttl_s, spool_tmp_ttl=m.spool_tmp_ttl_s),
        host.cfg.daemon.probe_timeout_s,
    )


def run_cleanup(
    spool_root: Path, temp_dirs: list[Path], *, ttl: float, spool_tmp_ttl: float
) -> Outcome:
    """Remove entries older than ``ttl`` from each temp folder (never following symlinks)."""
    removed = 0
    now = time.time()
    for folder in temp_dirs:
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
                if now - st.st_mtime < ttl:
                    continue
                if e.is_dir(follow_symlinks=False):
                    shutil.rmtree(e.path)
                else:
                    os.unlink(e.path)
                removed += 1
            except FileNotFoundError:
                continue
    spool = Spool(spool_root, check=False)
    purged = len(spool.purge_tmp(spool_tmp_ttl))
    return Outcome("complete", result={"removed": removed, "spool_tmp_removed": purged})
