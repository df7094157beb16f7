"""The filters of a videos list, and which month files of ``videos`` can hold its matches.

Public API: :class:`VideoFilters`; :func:`video_months` (the months a time range can
touch, with their files), :func:`months_for` and :func:`rows_of` (how many of them a page
needs, from what each file holds), :func:`month_of` (a sort key's month).

What each ``videos`` file holds (its rows per status, brand, channel, vehicle and
has_plate, and its sorted paths for a path filter) is read once per worker and file, while
the file is published (:meth:`~webui_export.api.db.Session.per_file`): a month none of whose
rows can match is not read at all, and a sparse filter's first group of months already holds
a page.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial

from webui_export.api.db import Session
from webui_export.index.files import EMPTY_PART, month_part


@dataclass(frozen=True)
class VideoFilters:
    after: datetime | None = None
    before: datetime | None = None
    channels: list[str] = field(default_factory=list)
    brands: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    vehicles: list[str] = field(default_factory=list)
    has_plate: bool | None = None
    bbox: tuple[float, float, float, float] | None = None  # min_lon, min_lat, max_lon, max_lat
    path: str | None = None  # a path prefix, or a glob when it has * ? [


def months_for(
    s: Session, months: list[tuple[str, list[str]]], rows: float, f: VideoFilters
) -> int:
    """How many of ``months`` (from the first) hold at least ``rows`` rows that may match
    ``f`` (at least one)."""
    for n in range(1, len(months) + 1):
        if rows_of(s, months[:n], f) >= rows:
            return n
    return max(1, len(months))


def rows_of(s: Session, months: list[tuple[str, list[str]]], f: VideoFilters) -> int:
    """How many rows of the files of ``months`` may match ``f``: exactly the rows matching
    its status, brand, channel, vehicle, has_plate or path prefix filter (the least of them
    when it has several), else every row.  From what each file holds, read once per process
    (:func:`_file_counts`, :func:`_file_paths`): a month none of whose rows can match is not
    read at all, and a sparse filter's first group of months already holds a page."""
    counted = _counted_filters(f)
    prefix = _path_prefix(f.path)
    total = 0
    for _, files in months:
        for path in files:
            counts = s.per_file("counts", path, partial(_file_counts, s, path))
            bound = counts.get(("rows", None), 0)
            for column, values in counted:
                bound = min(bound, sum(counts.get((column, v), 0) for v in values))
            if prefix and bound:
                paths = s.per_file("paths", path, partial(_file_paths, s, path))
                lo = bisect_left(paths, prefix)
                after = _after_prefix(prefix)
                hi = len(paths) if after is None else bisect_left(paths, after, lo)
                bound = min(bound, hi - lo)
            total += bound
    return total


#: The ``videos`` columns whose rows per value each file counts (the low-cardinality filters).
_COUNTED_COLUMNS = ("status", "brand", "channel", "vehicle")


def _counted_filters(f: VideoFilters) -> list[tuple[str, list[str]]]:
    """``(column, values)`` of those of ``f``'s filters that :func:`_file_counts` counts."""
    out = [
        (column, list(values))
        for column, values in zip(
            _COUNTED_COLUMNS, (f.statuses, f.brands, f.channels, f.vehicles), strict=True
        )
        if values
    ]
    if f.has_plate is not None:
        out.append(("has_plate", ["true" if f.has_plate else "false"]))
    return out


def _file_counts(s: Session, path: str) -> dict[tuple[str, str | None], int]:
    """A ``videos`` file's rows (key ``("rows", None)``) and its rows per value of each
    counted column and of ``has_plate`` (``"true"``, ``"false"``)."""
    per_value = " UNION ALL ".join(
        f"SELECT '{column}', {column}::VARCHAR, count(*) FROM read_parquet($f) GROUP BY 2"
        for column in _COUNTED_COLUMNS
    )
    found = s.rows(
        f"{per_value} UNION ALL SELECT 'has_plate', (n_plate_reads > 0)::VARCHAR, count(*)"
        " FROM read_parquet($f) GROUP BY 2"
        " UNION ALL SELECT 'rows', NULL, count(*) FROM read_parquet($f)",
        {"f": [path]},
    )
    return {(str(column), value): int(n) for column, value, n in found}


def _file_paths(s: Session, path: str) -> list[str]:
    """A ``videos`` file's paths, sorted as Python compares strings (read only for a path
    filter; kept per worker: about 80 bytes a video)."""
    return sorted(str(r[0]) for r in s.rows("SELECT path FROM read_parquet($f)", {"f": [path]}))


def _path_prefix(path: str | None) -> str:
    """What every path the ``path`` filter matches starts with: the prefix itself, or a
    glob's text before its first wildcard (or backslash)."""
    if not path:
        return ""
    if not any(c in path for c in "*?["):
        return path
    return path[: min(i for i in (path.find(c) for c in "*?[\\") if i >= 0)]


def _after_prefix(prefix: str) -> str | None:
    """The least string above every string starting with ``prefix`` (not empty); ``None``
    when there is none (``prefix`` is only the highest character)."""
    stripped = prefix.rstrip(chr(0x10FFFF))
    return stripped[:-1] + chr(ord(stripped[-1]) + 1) if stripped else None


def month_of(ts: datetime) -> str:
    """The ``videos`` partition of a sort key (a token's key may carry a zone: its UTC month)."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return f"{ts.year:04d}-{ts.month:02d}"


def video_months(s: Session, f: VideoFilters) -> list[tuple[str, list[str]]]:
    """The ``videos`` partitions (months, in order) that can hold videos starting in ``f``'s
    range, with their files."""
    out = []
    for part in sorted(s.manifest.parts.get("videos", {})):
        if f.after is not None and part != EMPTY_PART and part < month_part(f.after):
            continue
        if f.before is not None and part != EMPTY_PART and part > month_part(f.before):
            continue
        out.append((part, s.part_files("videos", part)))
    return out
