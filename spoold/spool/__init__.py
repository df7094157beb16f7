"""The spool: a directory of JSON task files whose folder is their state.

Public API (everything else in this package is internal)::

    from spoold.spool import Spool, Claim
    spool = Spool.init("/srv/spool")          # or Spool(root) for an existing one
    spool.publish(spool.new_task("detect", "gpu", "clip-1"))
    claim = spool.claim("gpu", "gpu-4090")     # None when nothing is eligible
    claim.heartbeat(); claim.complete(outputs=[...], children=[...])

Also exported: :class:`Location`, :class:`Published`, :class:`ClaimName`, :class:`Layout`,
:func:`queue_name`, :func:`queue_class`, :func:`parse_task_bytes`, and the host helpers :func:`short_hostname`,
:func:`pid_alive`, :func:`process_start`.  Submodules with their own public API:
``fsops`` (file operations), ``inspect`` (status and check), ``activity``, ``lease`` (the
daemon's lease and files), ``display`` (how ages read).

This package is the only code that renames, writes or removes spool files; the protocol it
follows is ``spool_layout.md``.  How it is put together: :mod:`spoold.spool.spool`.
"""

from spoold.spool.claim import Claim
from spoold.spool.host import pid_alive, process_start, short_hostname
from spoold.spool.layout import ClaimName, Layout, queue_class, queue_name
from spoold.spool.lookup import Location, Published
from spoold.spool.spool import Spool
from spoold.spool.taskfile import parse_task_bytes

__all__ = [
    "Claim",
    "ClaimName",
    "Layout",
    "Location",
    "Published",
    "Spool",
    "parse_task_bytes",
    "pid_alive",
    "process_start",
    "queue_class",
    "queue_name",
    "short_hostname",
]
