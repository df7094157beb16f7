"""File stability: has this file stopped changing?  The one rule, used by ingest.

Public API: :class:`StabilityTracker`, ``Signature``.

A file is stable once the same signature (size, mtime, ctime) has been seen for ``window_s``
seconds of *our* clock: no comparison with the file server's clock, which may be wrong.
ctime counts too because copy tools may set mtime back to the source's while still writing;
nobody can set ctime.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

#: (size, mtime_ns, ctime_ns) of a file.
Signature = tuple[int, int, int]
StrPath = str | os.PathLike[str]


class StabilityTracker:
    """Remembers the last signature seen per path and since when it held."""

    def __init__(self, window_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        # One flat tuple per path (signature, since): a cold start may track 100,000 files.
        self._seen: dict[str, tuple[int, int, int, float]] = {}

    def observe(
        self, path: StrPath, *, now: float | None = None, st: os.stat_result | None = None
    ) -> bool:
        """Stat the file (or take ``st``) and :meth:`see` its signature.

        A vanished file is forgotten and its ``FileNotFoundError`` re-raised.
        """
        key = os.fspath(path)
        if st is None:
            try:
                st = os.stat(key)
            except FileNotFoundError:
                self._seen.pop(key, None)
                raise
        return self.see(key, (st.st_size, st.st_mtime_ns, st.st_ctime_ns), now=now)

    def see(
        self, key: str, sig: Signature, *, now: float | None = None, window: float | None = None
    ) -> bool:
        """Record ``key``'s current signature; True if unchanged for the whole window
        (``window`` seconds instead of ``window_s`` if given)."""
        t = self._clock() if now is None else now
        need = self.window_s if window is None else window
        prev = self._seen.get(key)
        if prev is None or prev[:3] != sig:
            self._seen[key] = (*sig, t)
            return need <= 0
        return t - prev[3] >= need

    def restart(self, key: str, *, now: float | None = None) -> None:
        """Start ``key``'s window again (e.g. it changed while being read), if tracked."""
        prev = self._seen.get(key)
        if prev is not None:
            self._seen[key] = (*prev[:3], self._clock() if now is None else now)

    def signature(self, key: str) -> Signature | None:
        """The last signature seen for ``key`` (None if not tracked)."""
        prev = self._seen.get(key)
        return None if prev is None else (prev[0], prev[1], prev[2])

    def unchanged_for(self, path: StrPath, *, now: float | None = None) -> float | None:
        """Seconds since the last observed change, or None if never observed."""
        prev = self._seen.get(os.fspath(path))
        if prev is None:
            return None
        return (self._clock() if now is None else now) - prev[3]

    def forget(self, path: StrPath) -> None:
        self._seen.pop(os.fspath(path), None)

    def __len__(self) -> int:
        return len(self._seen)

    def __iter__(self) -> Iterator[str]:
        return iter(self._seen)
