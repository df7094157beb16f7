"""``spoold`` with one protocol safeguard taken out: the deliberately broken variants that the
share fault tests must catch (test-only; the product has no switch for any of this).

Usage: ``python broken_spoold.py VARIANT SPOOLD-ARGS...`` (then as ``python -m spoold``).

- ``fenceless-claim``: a claim's heartbeat does not notice that its claim file is gone.  A
  device whose claim another device broke then neither learns it while the task runs nor
  stops at the fence before writing: it lands its record over the winner's
  (``tests/test_netshare_partition.py``).
- ``lease-by-create``: the daemon takes its lease by creating a lease file of its own instead
  of renaming the free or the stale one, so it starts beside a live holder
  (``tests/test_netshare_failover.py``).
"""

from __future__ import annotations

import os
import sys

from spoold.cli.main import main
from spoold.spool import fsops
from spoold.spool.claim import Claim
from spoold.spool.lease import DaemonLease


def fenceless_heartbeat(self: Claim) -> None:
    now = self.spool.server_now()
    try:
        os.utime(self.path, (now, now))
    except OSError as exc:
        if not fsops.is_gone(exc):
            raise
        # the bug: a claim file that is gone is taken for a hiccup, not for a lost claim


def acquire_by_create(self: DaemonLease) -> None:
    self.dir.mkdir(exist_ok=True)
    # the bug: our own name is unique, so this create always succeeds, live holder or not
    fsops.write_new(self.path, b"spoold daemon lease\n", fsync=True)
    now = self.spool.server_now()
    os.utime(self.path, (now, now))
    self.held = True


VARIANTS = {
    "fenceless-claim": (Claim, "heartbeat", fenceless_heartbeat),
    "lease-by-create": (DaemonLease, "acquire", acquire_by_create),
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in VARIANTS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(VARIANTS)}}} SPOOLD-ARGS...")
    cls, attr, broken = VARIANTS[sys.argv[1]]
    setattr(cls, attr, broken)
    sys.argv = ["spoold", *sys.argv[2:]]
    main()
