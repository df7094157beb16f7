"""Imported (as ``sitecustomize``) only by processes the clock-skew test runs under libfaketime.

libfaketime 0.9.10 (Debian 12) mistranslates ``clock_nanosleep(CLOCK_MONOTONIC,
TIMER_ABSTIME)`` when the monotonic clock is left real (``FAKETIME_DONT_FAKE_MONOTONIC=1``):
the call fails with EINVAL, and Python >= 3.11's ``time.sleep`` is exactly that call.  (With
the monotonic clock faked too, ``threading.Event.wait`` hangs instead.)  A device with a wrong
wall clock has a right monotonic clock, so keep that and sleep with ``select``, whose timeout
is relative and which libfaketime leaves alone.  Nothing of spoold is changed.
"""

from __future__ import annotations

import select
import time
from typing import SupportsIndex


def _sleep(secs: float | SupportsIndex) -> None:
    secs = float(secs)
    if secs < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + secs
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


time.sleep = _sleep
