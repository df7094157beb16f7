"""Plate text: normalization and the OCR-confusion-tolerant canonical form.

Public API: :func:`normalize_plate`, :func:`canonical_plate`, :func:`prefix_bounds`,
``OCR_CONFUSIONS``.

Two reads are "the same plate" when their canonical forms are equal.  The canonical form maps
each letter that OCR confuses with a digit onto that digit, so ``B0S1`` and ``8OSI`` both become
``8051``.  Search (``/api/plates?q=``), timelines and sighting merging all use it.
"""

from __future__ import annotations

import re

#: Letter -> digit pairs that plate OCR confuses (the same shapes in most plate fonts).
OCR_CONFUSIONS = {"O": "0", "I": "1", "B": "8", "S": "5", "Z": "2"}
_CANON = str.maketrans(OCR_CONFUSIONS)
_SEPARATORS = re.compile(r"[ ._-]+")
_NORMALIZED = re.compile(r"^[A-Z0-9]{1,32}$")


def normalize_plate(text: str) -> str | None:
    """Upper-case ``text`` and drop separators (space . _ -).

    ``None`` unless the result is ``[A-Z0-9]{1,32}``.
    """
    cleaned = _SEPARATORS.sub("", text).upper()
    return cleaned if _NORMALIZED.match(cleaned) else None


def canonical_plate(normalized: str) -> str:
    """The OCR-confusion-free form of a normalized plate (letters O I B S Z become 0 1 8 5 2)."""
    return normalized.translate(_CANON)


def prefix_bounds(canonical_prefix: str) -> tuple[str, str]:
    """``[lo, hi)`` such that ``lo <= canon < hi`` iff ``canon`` starts with the prefix.

    A range rather than ``starts_with`` lets DuckDB prune Parquet row groups by min/max.
    ``~`` sorts after every character a canonical plate can contain.
    """
    return canonical_prefix, canonical_prefix + "~"
