"""``spoold`` with one protocol safeguard taken out: the deliberately broken variants that the
share fault tests must catch (test-only; the product has no switch for any of this).

Usage: ``python broken_spoold.py VARIANT SPOOLD-ARGS...`` (then as ``python -m spoold``).

- ``fenceless-claim``: a claim's heartbeat takes every failure, its claim file being gone
  included, for a hiccup, and a completion that failed on I/O is retried until the share
  answers again, without a new fence.  A device whose claim another device broke then neither
  learns it while the task runs nor stops at the fence before writing: it lands its record
  over the winner's (``tests/test_netshare_partition.py``).  The retry makes that happen
  whatever error the share's client gives during the cut: SMB's client answers a call made
  while cut off with EIO at times and blocks until the heal at others, and the variant must
  misbehave in both cases for the test to judge the judge.
- ``lease-by-create``: the daemon takes its lease by creating a lease file of its own instead
  of renaming the free or the stale one, so it starts beside a live holder
  (``tests/test_netshare_failover.py``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spoold.cli.main import main
from spoold.spool import fsops
from spoold.spool.claim import Claim
from spoold.spool.lease import DaemonLease

#: How long the broken completion keeps retrying (the partition tests' cut is shorter).
RETRY_S = 120.0


def fenceless_beat(self: Claim) -> float:
    """The lease's one refresh (``Claim._beat``: heartbeats and the completion's fence)."""
    now = time.time()
    try:
        now = self.spool.server_now()
        os.utime(self.path, (now, now))
    except OSError:
        pass  # the bug: a claim file that is gone (or any failure) is taken for a hiccup
    return now


def fenceless_heartbeat(self: Claim) -> None:
    fenceless_beat(self)


_sound_complete = Claim.complete


def retrying_complete(self: Claim, *args: Any, **kwargs: Any) -> Path:
    deadline = time.monotonic() + RETRY_S
    while True:
        try:
            return _sound_complete(self, *args, **kwargs)
        except OSError:  # the bug: retried until the share answers, never fenced again
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def acquire_by_create(self: DaemonLease) -> None:
    self.dir.mkdir(exist_ok=True)
    # the bug: our own name is unique, so this create always succeeds, live holder or not
    fsops.write_new(self.path, b"spoold daemon lease\n", fsync=True)
    now = self.spool.server_now()
    os.utime(self.path, (now, now))
    self.held = True


VARIANTS: dict[str, list[tuple[type, str, Callable[..., Any]]]] = {
    "fenceless-claim": [
        (Claim, "_beat", fenceless_beat),
        (Claim, "heartbeat", fenceless_heartbeat),
        (Claim, "complete", retrying_complete),
    ],
    "lease-by-create": [(DaemonLease, "acquire", acquire_by_create)],
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in VARIANTS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(VARIANTS)}}} SPOOLD-ARGS...")
    for cls, attr, broken in VARIANTS[sys.argv[1]]:
        if not callable(getattr(cls, attr, None)):  # renamed: the variant would break nothing
            sys.exit(f"{cls.__name__}.{attr} is gone: update {sys.argv[0]}")
        setattr(cls, attr, broken)
    sys.argv = ["spoold", *sys.argv[2:]]
    main()
