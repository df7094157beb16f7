"""The rejected files of a spool: what ``spoold ls --rejected`` lists and ``spoold status``
counts, read from the spool's complete ingest records, never from a daemon's memory.

Public API: :func:`rejections`, :func:`default_cache_dir`, :data:`INGEST_TYPE`.

A *rejection* is a complete ingest record whose result says ``rejected`` and is the latest
ingest record of its file (device and path): a rejection a later ingest of the same file
replaced (the copy went on after it was judged) and a task *superseded* by the file's new
content are not counted, so one file counts once.

A fleet's spool holds an ingest record per video, 100,000 a year, and reading each over
NFS costs a round trip: ``spoold status`` would take minutes.  So what each record says is
kept in a small cache file on the operator's machine (not in the spool), per day folder of
``complete/``: a day whose folder did not change since (:meth:`Spool.day_version`) is not
even listed, and a changed day reads only the records it did not hold before.  A complete
record is written once and never changes in place, so its cached verdict stays true; a day
folder changed within :data:`~spoold.spool.lister.RACY_S` of its mtime is listed again (a
second change within the mtime's granularity would not show).  A cache that cannot be
read or written is simply not used.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from schemas.task import Task
from spoold.spool import Spool
from spoold.spool.lister import RACY_S

#: The task type whose complete records are the ingestion verdicts (the first stage).
INGEST_TYPE = "ingest"

_CACHE_FORMAT = 1
#: What one record says: [device, path, the rejection row or None].
_Verdict = list[Any]


def default_cache_dir() -> Path:
    """``$SPOOLD_CACHE_DIR``, else ``$XDG_CACHE_HOME/spoold``, else ``~/.cache/spoold``."""
    env = os.environ.get("SPOOLD_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "spoold"


def rejections(spool: Spool, *, cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """The files whose latest complete ingest record is a rejection (not a supersession),
    oldest first: task id, video id, device, path, reason and detail of each.

    ``cache_dir`` defaults to :func:`default_cache_dir`."""
    cache_file = _cache_file(spool, cache_dir or default_cache_dir())
    days = _load(cache_file)
    fresh: dict[str, dict[str, Any]] = {}
    changed = False
    for day in spool.complete_days():
        version = spool.day_version(day)
        if version is None:
            continue
        held = days.get(day)
        if held is not None and held["v"] == version and not _racy(version):
            fresh[day] = held
            continue
        known: dict[str, _Verdict | None] = held["t"] if held is not None else {}
        verdicts: dict[str, _Verdict | None] = {}
        for task_id in spool.completed_ids(day, task_type=INGEST_TYPE):
            verdicts[task_id] = known[task_id] if task_id in known else _verdict(spool, task_id)
        fresh[day] = {"v": version, "t": verdicts}
        changed = True
    if changed or fresh.keys() != days.keys():
        _save(cache_file, fresh)
    latest: dict[tuple[str, str], tuple[str, dict[str, Any] | None]] = {}
    for entry in fresh.values():
        for task_id, verdict in entry["t"].items():
            if verdict is None:
                continue
            key = (verdict[0], verdict[1])
            if key not in latest or task_id > latest[key][0]:
                latest[key] = (task_id, verdict[2])
    return [row for _, row in sorted(latest.values(), key=lambda v: v[0]) if row is not None]


def _verdict(spool: Spool, task_id: str) -> _Verdict | None:
    """What one complete ingest record says; None when it cannot be read (moved meanwhile
    or unreadable: ``spoold check`` reports those) or names no file."""
    try:
        t: Task = spool.read(spool.layout.completed(task_id))
    except (OSError, ValueError):
        return None
    if not t.inputs:
        return None
    device, path = t.inputs[0].device, t.inputs[0].path
    res = t.result or {}
    row = None
    if t.verdict == "rejected":
        row = {
            "task_id": t.task_id,
            "video_id": t.video_id,
            "device": device,
            "path": path,
            "reason": res.get("reason"),
            "detail": res.get("detail"),
        }
    return [device, path, row]


def _racy(version_ns: int) -> bool:
    return time.time() - version_ns / 1e9 < RACY_S


def _cache_file(spool: Spool, cache_dir: Path) -> Path:
    key = hashlib.sha256(os.fsencode(os.path.realpath(spool.root))).hexdigest()[:20]
    return cache_dir / f"rejections-{key}.json"


def _load(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != _CACHE_FORMAT:
        return {}
    days = data.get("days")
    if not isinstance(days, dict):
        return {}
    # A damaged entry is dropped (its day is read again), never trusted.
    return {
        d: v
        for d, v in days.items()
        if isinstance(v, dict) and isinstance(v.get("v"), int) and isinstance(v.get("t"), dict)
    }


def _save(path: Path, days: dict[str, dict[str, Any]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".rejections-", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump({"format": _CACHE_FORMAT, "days": days}, fh, separators=(",", ":"))
        os.replace(tmp, path)  # a reader sees the old cache or the new one, whole
    except OSError:
        pass  # no cache: every run reads the records, as before
