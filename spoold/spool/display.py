"""How spool times read to people: compact ages for ``spoold status``/``ls`` and the dashboard.

Public API: :func:`format_age`.
"""

from __future__ import annotations


def format_age(seconds: float) -> str:
    """``45s``, ``12m``, ``5h``, ``3d``: one unit, rounded down (negative reads as ``0s``)."""
    s = int(max(0, seconds))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h"
    return f"{s // 86400}d"
