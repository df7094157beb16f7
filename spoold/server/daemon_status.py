"""What ``spoold status`` shows of the daemon: its lease and the last ``status.json``.

Public API:

- :func:`read_status(spool, lease_s=None) <read_status>` — the lease holder, its heartbeat age
  and the daemon's last status (``SPOOL/daemon/status.json``, written by
  :class:`~spoold.server.daemon.Daemon` every ``status_interval_s``) as one dict with
  ``alive``; None when no daemon ever ran on this spool.
- :func:`status_lines(status) <status_lines>` — that dict as human lines: the daemon, storage
  outages, inbox problems.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from spoold.spool import Spool
from spoold.spool.lease import DaemonLease

__all__ = ["read_status", "status_lines"]


def read_status(spool: Spool, lease_s: float | None = None) -> dict[str, Any] | None:
    """What ``spoold status`` shows about the daemon: its lease and last status (or None)."""
    lease = DaemonLease(spool, lease_s or 30.0)
    holder = lease.holder()
    try:
        data: dict[str, Any] = json.loads((lease.dir / "status.json").read_bytes())
    except (OSError, ValueError):
        data = {}
    if holder is None and not data:
        return None
    if holder is not None:
        h, age = holder
        data["lease"] = {"host": h.host, "pid": h.pid, "heartbeat_age_s": round(age, 1)}
        data["alive"] = age <= (lease_s or 30.0) and data.get("state") != "stopped"
    else:
        data["alive"] = False
    return data


def status_lines(st: dict[str, Any] | None) -> list[str]:
    """Human lines for ``spoold status``: the daemon, storage outages, inbox problems."""
    if st is None:
        return ["daemon: never ran on this spool"]
    lease = st.get("lease") or {}
    if st.get("alive"):
        head = (
            f"daemon: running, pid {lease.get('pid')} on {lease.get('host')} "
            f"(heartbeat {lease.get('heartbeat_age_s')} s ago), {st.get('videos', 0)} videos, "
            f"{len(st.get('running') or [])} server task(s) running"
        )
    else:
        head = f"daemon: not running (last seen on {st.get('host', '?')}, pid {st.get('pid', '?')})"
    lines = [head]
    for name, s in sorted((st.get("storage") or {}).items()):
        if s.get("state") != "ok":
            since = datetime.fromtimestamp(s.get("since", 0), timezone.utc).strftime(
                "%Y-%m-%d %H:%M:%SZ"
            )
            lines.append(f"  storage {name}: {s.get('state')} since {since}: {s.get('message')}")
    for name, b in sorted((st.get("inboxes") or {}).items()):
        if b.get("problem"):
            lines.append(f"  inbox {name}: {b['problem']}")
    return lines
