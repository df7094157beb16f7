"""The spool: a directory of JSON task files whose folder is their state.

Public API (everything else in this package is internal)::

    from spoold.spool import Spool, Claim
    spool = Spool.init("/srv/spool")          # or Spool(root) for an existing one
    spool.publish(spool.new_task("detect", "gpu", "clip-1"))
    claim = spool.claim("gpu", "gpu-4090")     # None when nothing is eligible
    claim.heartbeat(); claim.complete(outputs=[...], children=[...])

This package is the only code that renames, writes or removes spool files; the protocol it
follows is ``spool_layout.md``.
"""

from spoold.spool.core import (
    Claim,
    Location,
    Published,
    Spool,
    parse_task_bytes,
    pid_alive,
    short_hostname,
)
from spoold.spool.layout import ClaimName, Layout, queue_name

__all__ = [
    "Claim",
    "ClaimName",
    "Layout",
    "Location",
    "Published",
    "Spool",
    "parse_task_bytes",
    "pid_alive",
    "queue_name",
    "short_hostname",
]
