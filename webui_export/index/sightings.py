"""Plate sightings: consecutive reads of one plate on one vehicle's timeline, merged.

Public API: :func:`rederive_around`, :func:`rederive_all`, :func:`group_reads`,
``DEFAULT_GAP_S``, ``DEFAULT_GPS_WINDOW_S``.

A *timeline* is what makes times comparable: a vehicle's clips whose start is known in UTC
share the timeline ``<vehicle>``; clips timed only by the camera clock share
``<vehicle>#local``; a clip with no time at all is its own timeline ``video:<id>``.  On one
timeline, reads of the same canonical plate (see :mod:`webui_export.index.platetext`) that follow each
other within ``gap_s`` seconds form one sighting, across the vehicle's front/rear/... clips.

A sighting keeps its first and last time, the read count, the best read (highest confidence;
ties: earliest), every video and channel involved, and *where*: the GPS fix of the timeline
nearest in time to the best read, if one lies within ``gps_window_s``.

Re-deriving after a video changes only touches sightings near that video (within the merge gap
or the GPS window of its span): the window is widened until no sighting crosses its edges, then
everything inside is recomputed from the reads.  The result equals a full re-derivation (the tests check this).  Both paths share one
grouping function and one locating statement.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb

from webui_export.index.arrow import pa
from webui_export.index.shapes import sighting_json

DEFAULT_GAP_S = 10.0
DEFAULT_GPS_WINDOW_S = 30.0

# The {scope} parts below are fixed strings chosen from _WINDOW / _ALL, never user input.
_READS_SQL = """
SELECT v.timeline, r.canon, r.ts, r.video_key, r.seq, r.text, r.text_raw, r.confidence, r.t,
       r.channel, v.video_id, v.vehicle, v.time_basis, r.region
FROM plate_reads r JOIN videos v USING (video_key)
WHERE {reads}
ORDER BY v.timeline, r.canon, r.ts, r.video_key, r.seq
"""

_FIXES_SQL = """
SELECT v.timeline,
       CASE WHEN v.time_basis = 'utc' THEN g.time
            ELSE v.sort_ts + to_microseconds((g.t * 1000000)::BIGINT) END AS tl_time,
       g.time, g.lat, g.lon
FROM gps_points g JOIN videos v USING (video_key)
WHERE {gps} AND (v.time_basis = 'utc' OR g.t IS NOT NULL)
ORDER BY v.timeline, tl_time, g.video_key, g.seq
"""

_WINDOW = {
    "reads": "v.timeline = $tl AND v.end_ts >= $lo AND v.sort_ts <= $hi AND r.ts BETWEEN $lo AND $hi",
    "gps": "v.timeline = $tl AND v.end_ts >= $glo AND v.sort_ts <= $ghi",
}
_ALL = {"reads": "TRUE", "gps": "TRUE"}

_SIGHTING_SCHEMA = pa.schema(
    [
        ("timeline", pa.string()),
        ("vehicle", pa.string()),
        ("plate", pa.string()),
        ("canon", pa.string()),
        ("time_basis", pa.string()),
        ("first_seen", pa.timestamp("us")),
        ("last_seen", pa.timestamp("us")),
        ("reads", pa.int32()),
        ("best_text_raw", pa.string()),
        ("best_confidence", pa.float32()),
        ("best_video_id", pa.string()),
        ("best_t", pa.float64()),
        ("best_channel", pa.string()),
        ("video_ids", pa.list_(pa.string())),
        ("channels", pa.list_(pa.string())),
        ("texts", pa.list_(pa.string())),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("gps_time", pa.timestamp("us")),
        ("region", pa.string()),
        ("doc", pa.string()),
    ]
)


@dataclass
class _Sighting:
    timeline: str
    vehicle: str
    canon: str
    time_basis: str
    first_seen: datetime
    last_seen: datetime
    best: tuple[Any, ...]
    reads: int = 1
    video_ids: set[str] = field(default_factory=set)
    channels: set[str] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)
    where: tuple[float, float, datetime] | None = None  # lat, lon, GPS time


def group_reads(rows: Iterable[Sequence[Any]], gap_s: float) -> list[_Sighting]:
    """Merge reads into sightings.  ``rows`` come sorted as ``_READS_SQL`` returns them."""
    gap = timedelta(seconds=gap_s)
    out: list[_Sighting] = []
    cur: _Sighting | None = None
    for row in rows:
        (
            timeline,
            canon,
            ts,
            _key,
            _seq,
            text,
            _raw,
            conf,
            _t,
            channel,
            video_id,
            vehicle,
            basis,
            _region,
        ) = row
        if (
            cur is None
            or cur.timeline != timeline
            or cur.canon != canon
            or ts - cur.last_seen > gap
        ):
            cur = _Sighting(timeline, vehicle, canon, basis, ts, ts, tuple(row))
            out.append(cur)
        else:
            cur.reads += 1
            cur.last_seen = ts
            if conf > cur.best[7]:  # strictly better: ties keep the earliest read
                cur.best = tuple(row)
        cur.video_ids.add(video_id)
        cur.channels.add(channel)
        cur.texts.add(text)
    return out


def locate(sightings: list[_Sighting], fixes: Iterable[Sequence[Any]], window_s: float) -> None:
    """Set each sighting's ``where``: the fix nearest its best read within ``window_s``.

    ``fixes`` are ``(timeline, tl_time, time, lat, lon)`` sorted by timeline and time; ties in
    distance go to the earlier fix.
    """
    window = timedelta(seconds=window_s)
    by_timeline: dict[str, tuple[list[datetime], list[Sequence[Any]]]] = {}
    for fix in fixes:
        times, rows = by_timeline.setdefault(fix[0], ([], []))
        times.append(fix[1])
        rows.append(fix)
    for s in sightings:
        found = by_timeline.get(s.timeline)
        if not found:
            continue
        times, rows = found
        at = s.best[2]
        i = bisect_right(times, at) - 1  # last fix at or before
        j = bisect_left(times, at)  # first fix at or after
        before = at - times[i] if i >= 0 else None
        after = times[j] - at if j < len(times) else None
        if before is not None and before <= window and (after is None or before <= after):
            fix = rows[i]
        elif after is not None and after <= window:
            fix = rows[j]
        else:
            continue
        s.where = (fix[3], fix[4], fix[2])


def _table(sightings: list[_Sighting]) -> pa.Table:
    cols: dict[str, list[Any]] = {name: [] for name in _SIGHTING_SCHEMA.names}
    for s in sightings:
        best = s.best
        lat, lon, gps_time = s.where or (None, None, None)
        values = (
            s.timeline,
            s.vehicle,
            best[5],
            s.canon,
            s.time_basis,
            s.first_seen,
            s.last_seen,
            s.reads,
            best[6],
            best[7],
            best[10],
            best[8],
            best[9],
            sorted(s.video_ids),
            sorted(s.channels),
            sorted(s.texts),
            lat,
            lon,
            gps_time,
            best[13],
        )
        fields = dict(zip(_SIGHTING_SCHEMA.names[:-1], values, strict=True))
        fields["doc"] = json.dumps(sighting_json(fields), separators=(",", ":"))
        for name in _SIGHTING_SCHEMA.names:
            cols[name].append(fields[name])
    return pa.table(cols, schema=_SIGHTING_SCHEMA)


def _derive(
    con: duckdb.DuckDBPyConnection,
    scope: dict[str, str],
    params: dict[str, Any],
    gap_s: float,
    gps_window_s: float,
) -> int:
    read_params = {k: v for k, v in params.items() if f"${k}" in scope["reads"]}
    rows = con.execute(_READS_SQL.format(**scope), read_params).fetchall()
    sightings = group_reads(rows, gap_s)
    if not sightings:
        return 0
    gps_params = {k: v for k, v in params.items() if f"${k}" in scope["gps"]}
    locate(sightings, _fixes(con, _FIXES_SQL.format(**scope), gps_params), gps_window_s)
    con.register("_sightings", _table(sightings))
    try:
        con.execute(
            "INSERT INTO sightings BY NAME"
            " SELECT nextval('sighting_ids') AS sighting_id, * FROM _sightings"
        )
        con.execute(
            "INSERT INTO dirty_parts SELECT DISTINCT 'sightings', left(canon, 1) FROM _sightings"
        )
    finally:
        con.unregister("_sightings")
    return len(sightings)


def _fixes(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]
) -> Iterator[Sequence[Any]]:
    """Stream the fixes in batches (a bulk derivation reads millions)."""
    result = con.execute(sql, params)
    while batch := result.fetchmany(100_000):
        yield from batch


def rederive_around(
    con: duckdb.DuckDBPyConnection,
    timeline: str,
    lo: datetime,
    hi: datetime,
    *,
    gap_s: float = DEFAULT_GAP_S,
    gps_window_s: float = DEFAULT_GPS_WINDOW_S,
) -> int:
    """Recompute the sightings of ``timeline`` near ``[lo, hi]`` (a video's span); return count.

    Call inside the transaction that changed the reads or fixes of that span.
    """
    # the video's reads can join sightings up to gap_s away, and its fixes can locate
    # sightings up to gps_window_s away: both lie inside this margin
    margin = timedelta(seconds=max(gap_s, gps_window_s))
    lo, hi = lo - margin, hi + margin
    while True:  # widen until no sighting crosses the window's edges
        row = con.execute(
            "SELECT min(first_seen), max(last_seen) FROM sightings "
            "WHERE timeline = $tl AND last_seen >= $lo AND first_seen <= $hi",
            {"tl": timeline, "lo": lo, "hi": hi},
        ).fetchone()
        new_lo = min(lo, row[0]) if row and row[0] is not None else lo
        new_hi = max(hi, row[1]) if row and row[1] is not None else hi
        if (new_lo, new_hi) == (lo, hi):
            break
        lo, hi = new_lo, new_hi
    con.execute(
        "INSERT INTO dirty_parts SELECT DISTINCT 'sightings', left(canon, 1) FROM sightings"
        " WHERE timeline = $tl AND last_seen >= $lo AND first_seen <= $hi",
        {"tl": timeline, "lo": lo, "hi": hi},
    )
    con.execute(
        "DELETE FROM sightings WHERE timeline = $tl AND last_seen >= $lo AND first_seen <= $hi",
        {"tl": timeline, "lo": lo, "hi": hi},
    )
    window = timedelta(seconds=gps_window_s)
    params = {"tl": timeline, "lo": lo, "hi": hi, "glo": lo - window, "ghi": hi + window}
    return _derive(con, _WINDOW, params, gap_s, gps_window_s)


def rederive_all(
    con: duckdb.DuckDBPyConnection,
    *,
    gap_s: float = DEFAULT_GAP_S,
    gps_window_s: float = DEFAULT_GPS_WINDOW_S,
) -> int:
    """Recompute every sighting from all reads (bulk loads, checks); return the count."""
    con.execute(
        "INSERT INTO dirty_parts SELECT DISTINCT 'sightings', left(canon, 1) FROM sightings"
    )
    con.execute("DELETE FROM sightings")
    return _derive(con, _ALL, {}, gap_s, gps_window_s)
