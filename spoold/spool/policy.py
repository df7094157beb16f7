"""The tunable rules of one :class:`~spoold.spool.Spool`: lease, durability, re-listing, backoff.

Public API: :class:`Policy`.

One mutable object shared by the spool's parts (lister, lander, claim logic, recovery), so a
setting changed on the ``Spool`` (tests lower ``relist_interval``) applies to all of them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Policy:
    #: Seconds without heartbeat after which a claim counts as abandoned (from the marker).
    lease: float = 60.0
    #: fsync publishes (file + folder) and completion/failure records (file).
    fsync: bool = True
    #: How long a cached queue listing is trusted before the folder is looked at again.
    relist_interval: float = 5.0
    #: Backstop re-list of an unchanged-looking queue, for shares with coarse mtimes.
    idle_relist: float = 600.0
    backoff_base: float = 10.0
    backoff_max: float = 3600.0
    free_retries: int = 1

    def backoff(self, attempts: int) -> float:
        """Seconds to wait before attempt ``attempts + 1``: 0 for the first free retries, then
        doubling from ``backoff_base`` up to ``backoff_max``."""
        n = attempts - self.free_retries
        if n <= 0:
            return 0.0
        return float(min(self.backoff_max, self.backoff_base * 2 ** (n - 1)))

    def lease_tag(self) -> int:
        """The lease written into claim names (whole seconds, at least 1)."""
        return max(1, round(self.lease))
