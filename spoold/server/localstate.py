"""The daemon's own files outside the spool: its cache and its finalize journal.

Public API:

- :func:`state_file(cfg, spool) <state_file>` — the local cache for this spool (inbox
  fingerprints, chain watermarks) in ``cfg.state_dir()``, named by the spool's path.
- :func:`read_state(path) <read_state>` — the cache's content, or None when there is none, it
  is unreadable (logged) or of another version; :func:`write_state` replaces it.
- :func:`finalize_journal(cfg, spool) <finalize_journal>` — next to the cache: which claimed
  finalize tasks only wait for an index batch (see
  :class:`~spoold.server.executors.index.IndexService`).
- :func:`write_journal(path, queued) <write_journal>` — record those claims; a journal that
  cannot be written is removed.
- :func:`take_back_queued(spool, path, device) <take_back_queued>` — at start, put back
  uncharged the claims a killed daemon held only in its batch queue.

Both files are replaced by temp file and rename, without fsync: they matter after a kill,
and a lost one is rebuilt (a cold cache; every held finalize claim charged).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from spoold.server.settings import DaemonConfig
from spoold.spool import Spool, pid_alive, queue_name

log = logging.getLogger(__name__)

__all__ = [
    "STATE_VERSION",
    "finalize_journal",
    "read_state",
    "state_file",
    "take_back_queued",
    "write_journal",
    "write_state",
]

STATE_VERSION = 1


def state_file(cfg: DaemonConfig, spool: Spool) -> Path:
    """The daemon's local cache for this spool (fingerprints, chain watermarks)."""
    key = hashlib.sha1(str(spool.root.resolve()).encode()).hexdigest()[:12]
    return cfg.state_dir() / f"daemon-{key}.json"


def finalize_journal(cfg: DaemonConfig, spool: Spool) -> Path:
    """Which claimed finalize tasks wait for a batch (see ``IndexService``), next to the cache."""
    state = state_file(cfg, spool)
    return state.with_name(f"{state.stem}.finalize-queue.json")


def _local_tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _write_local(path: Path, data: Any) -> None:
    """Replace one of the daemon's local files (outside the spool) with ``data`` as JSON, by
    temp file and rename; no fsync: they matter after a kill, and a lost one is rebuilt."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _local_tmp(path)
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(tmp, path)


def read_state(path: Path) -> dict[str, Any] | None:
    """The cache at ``path``: None when missing, unreadable (a warning) or of another version."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("state file %s unreadable (%s): starting with a cold cache", path, exc)
        return None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        return None
    return data


def write_state(
    path: Path, spool_root: Path, inboxes: dict[str, Any], chain: dict[str, Any]
) -> None:
    """Replace the cache with the inboxes' and the chainer's exported state (OSError when it
    cannot be written)."""
    data = {"version": STATE_VERSION, "spool": str(spool_root), "inboxes": inboxes, "chain": chain}
    _write_local(path, data)


def write_journal(path: Path, queued: list[str]) -> None:
    """Record the finalize claims that only wait for an index batch (called by the index
    service whenever they change, and before a batch starts: from then on they ran)."""
    try:
        _write_local(path, {"pid": os.getpid(), "queued": queued})
    except OSError as exc:
        # A journal we cannot update must not survive: a stale one would spare tasks
        # that did run.  Without one, every held claim is charged, as without batches.
        log.warning("cannot write %s (%s): removing it", path, exc)
        for p in (_local_tmp(path), path):
            try:
                p.unlink(missing_ok=True)
            except OSError as again:
                log.error("cannot remove %s either: %s", p, again)


def take_back_queued(spool: Spool, path: Path, device: str) -> int:
    """Put back, without counting an attempt, the finalize claims that a killed daemon
    of this device (the journal's pid, dead) held only in its batch queue: they never
    ran.  Before the first claim, which would charge them all.  Returns how many."""
    try:
        data = json.loads(path.read_bytes())
        pid, queued = int(data["pid"]), set(data["queued"])
    except FileNotFoundError:
        return 0
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("ignoring the finalize journal %s: %s", path, exc)
        pid, queued = 0, set()
    n = 0
    if queued and pid != os.getpid() and not pid_alive(pid):
        for queue in sorted({"server", queue_name("server", device)}):
            for cn, age, kind in spool.stale_claims(queue, device):
                if cn.device == device and cn.pid == pid and cn.task_id in queued:
                    n += spool.break_claim(queue, cn, kind, age, device, charge=False)
    path.unlink(missing_ok=True)
    if n:
        log.info("put back %d finalize task(s) the killed daemon had only queued", n)
    return n
