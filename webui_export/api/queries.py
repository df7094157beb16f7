"""The read queries of the API and the exports, over one :class:`~webui_export.api.db.Session`.

Public API: :class:`VideoFilters` (from :mod:`webui_export.api.months`, with the month
pruning of a list), :func:`list_videos`, :func:`get_video`, :func:`video_key`,
:func:`track_points`, :func:`list_detections`, :func:`search_plates`, :func:`plate_timeline`,
:func:`index_stats`.

Every value comes in as a bound parameter, file lists included; the only text composed into
SQL is fixed condition strings chosen by code.  Results are plain dicts shaped for JSON.
Pagination is keyset: each list function takes the sort key of the last row already seen and
returns rows plus the key to continue from (``None`` on the last page).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from webui_export.api.db import Session
from webui_export.api.months import VideoFilters, month_of, months_for, rows_of, video_months
from webui_export.index.files import EMPTY_PART, block_of, canon_part, video_id_part
from webui_export.index.shapes import iso_utc, video_json

__all__ = [
    "VideoFilters",
    "get_video",
    "index_stats",
    "list_detections",
    "list_videos",
    "plate_timeline",
    "search_plates",
    "track_points",
    "video_key",
]

#: The ``videos`` columns a list row is made of (what ``video_json`` reads, and the sort key):
#: the page's rows are read with these only.
VIDEO_COLUMNS = (
    "video_key",
    "video_id",
    "vehicle",
    "device",
    "path",
    "brand",
    "channel",
    "mode",
    "time_basis",
    "start_ts",
    "start_utc",
    "start_local",
    "day",
    "duration_s",
    "status",
    "n_detections",
    "n_gps_points",
    "n_plate_reads",
    "min_lat",
    "min_lon",
    "max_lat",
    "max_lon",
    "rejection",
    "sort_ts",
)
_VIDEO_SELECT = ", ".join(VIDEO_COLUMNS)


# -- videos ----------------------------------------------------------------------------------


def _video_json(row: tuple[Any, ...]) -> dict[str, Any]:
    return video_json(dict(zip(VIDEO_COLUMNS, row, strict=True)))


def _video_conditions(s: Session, f: VideoFilters, params: dict[str, Any]) -> list[str]:
    where: list[str] = []
    if f.after is not None:
        where.append("start_ts >= $after")
        params["after"] = f.after
    if f.before is not None:
        where.append("start_ts < $before")
        params["before"] = f.before
    for name, column, values in (
        ("channels", "channel", f.channels),
        ("brands", "brand", f.brands),
        ("statuses", "status", f.statuses),
        ("vehicles", "vehicle", f.vehicles),
    ):
        if values:
            where.append(f"list_contains(${name}, {column})")
            params[name] = values
    if f.has_plate is not None:
        where.append("n_plate_reads > 0" if f.has_plate else "n_plate_reads = 0")
    if f.path:
        glob = any(c in f.path for c in "*?[")
        where.append("path GLOB $path" if glob else "starts_with(path, $path)")
        params["path"] = f.path
    return where


def _bbox_keys(
    s: Session,
    f: VideoFilters,
    where: list[str],
    params: dict[str, Any],
    files: list[str],
    order: str,
    wanted: int,
) -> list[tuple[Any, ...]]:
    """The first ``wanted`` keys ``(sort_ts, video_id)`` of the videos matching ``where`` with
    a GPS fix inside ``f.bbox``: inside by their track's bbox, or checked fix by fix.  Only the
    candidates in page order are checked (a batch at a time), not every video whose track
    crosses the box's edge.  Adds to ``where`` the condition selecting exactly those videos
    among the candidates checked."""
    assert f.bbox is not None
    w, south, e, n = f.bbox
    params.update({"w": w, "s": south, "e": e, "n": n})
    overlap = "max_lat >= $s AND min_lat <= $n AND max_lon >= $w AND min_lon <= $e"
    inside = "min_lat >= $s AND max_lat <= $n AND min_lon >= $w AND max_lon <= $e"
    op = "<" if order == "DESC" else ">"
    keys: list[tuple[Any, ...]] = []
    confirmed: list[int] = []
    last: tuple[Any, ...] | None = None
    batch = 2 * wanted
    while len(keys) < wanted:
        cond = [*where, overlap]
        if last is not None:
            cond.append(f"(sort_ts {op} $c_ts OR (sort_ts = $c_ts AND video_id {op} $c_id))")
        found = s.rows(
            f"SELECT sort_ts, video_id, video_key, {inside} FROM read_parquet($files)"
            f" WHERE {' AND '.join(cond)} ORDER BY sort_ts {order}, video_id {order}"
            " LIMIT $batch",
            {**params, "files": files, "batch": batch, "c_ts": last and last[0],
             "c_id": last and last[1]},
        )  # fmt: skip
        ok = _fixes_inside(s, [int(r[2]) for r in found if not r[3]], f.bbox)
        confirmed += ok
        keys += [(r[0], r[1]) for r in found if r[3] or int(r[2]) in ok]
        if len(found) < batch:
            break
        last, batch = found[-1], 2 * batch
    where.append(f"(({inside}) OR list_contains($confirmed, video_key))")
    params["confirmed"] = confirmed
    return keys[:wanted]


def _fixes_inside(s: Session, keys: list[int], bbox: tuple[float, float, float, float]) -> set[int]:
    """Which of the videos ``keys`` have a GPS fix inside ``bbox``."""
    w, south, e, n = bbox
    blocks = sorted({block_of(k, s.manifest.block_size) for k in keys})
    files = [str(s.index_dir / p) for b in blocks for p in s.manifest.block_paths("gps_points", b)]
    if not files:
        return set()
    return {
        int(r[0])
        for r in s.rows(
            "SELECT DISTINCT video_key FROM read_parquet($files)"
            " WHERE video_key IN (SELECT unnest($keys))"
            " AND lat BETWEEN $s AND $n AND lon BETWEEN $w AND $e",
            {"files": files, "keys": keys, "s": south, "n": n, "w": w, "e": e},
        )
    }


def list_videos(
    s: Session,
    f: VideoFilters,
    limit: int,
    after: tuple[datetime, str] | None,
    descending: bool = True,
) -> tuple[list[dict[str, Any]], tuple[datetime, str] | None]:
    """Videos matching ``f``, newest first (or oldest first), after the key ``after``.

    A ``videos`` partition is one month of ``sort_ts``, so pages come from the months in
    order: the newest (oldest) ones first, one month, then two, four, ... at a time, until the
    page is full.  A page of recent videos reads one month's file, not the whole year's.
    """
    months = video_months(s, f)
    params: dict[str, Any] = {"videos": [p for _, files in months for p in files]}
    if not params["videos"]:
        return [], None
    where = _video_conditions(s, f, params)
    order = "DESC" if descending else "ASC"
    if after is not None:
        months = _continue_after(after, descending, months, where, params)
    months = [(m, files) for m, files in months if rows_of(s, [(m, files)], f)]
    if not months:  # no month holds a row that can match (DuckDB reads no empty file list)
        return [], None
    # two steps: find the page's keys reading only the sort and filter columns, then fetch
    # the page's rows; the files are sorted by time, so that span is one or two row groups
    keys = _page_keys(s, f, months[::-1] if descending else months, where, params, order, limit)
    if not keys:
        return [], None
    rows = _page_rows(s, keys, months, " AND ".join(where) or "TRUE", params, order, limit)
    page = rows[:limit]
    last = page[-1] if page else None
    next_key = (last[-1], last[1]) if last is not None and len(rows) > limit else None
    return [_video_json(r) for r in page], next_key


def _continue_after(
    after: tuple[datetime, str],
    descending: bool,
    months: list[tuple[str, list[str]]],
    where: list[str],
    params: dict[str, Any],
) -> list[tuple[str, list[str]]]:
    """Add to ``where`` the condition for the rows after the key ``after``; returns the
    ``months`` that can hold them."""
    op = "<" if descending else ">"
    where.append(f"(sort_ts {op} $k_ts OR (sort_ts = $k_ts AND video_id {op} $k_id))")
    params["k_ts"], params["k_id"] = after
    start = month_of(after[0])
    return [
        (m, files)
        for m, files in months
        if m == EMPTY_PART or (m <= start if descending else m >= start)
    ]


def _page_keys(
    s: Session,
    f: VideoFilters,
    todo: list[tuple[str, list[str]]],
    where: list[str],
    params: dict[str, Any],
    order: str,
    limit: int,
) -> list[tuple[Any, ...]]:
    """The keys ``(sort_ts, video_id)`` of the page's rows and the next one (``limit + 1`` at
    most), from the months ``todo`` in page order.  With a bbox, adds to ``where`` the
    condition selecting the videos found (:func:`_bbox_keys`)."""
    wanted = limit + 1
    if f.bbox is not None:
        every = [p for _, files in todo for p in files]
        return _bbox_keys(s, f, where, params, every, order, wanted)
    cond = " AND ".join(where) or "TRUE"
    keys: list[tuple[Any, ...]] = []
    # the first group holds at least a page of rows (a month just begun holds few), so an
    # unfiltered page takes one query; each next group holds the rows the share of matching
    # rows seen so far says the rest of the page needs (eight times as many rows when none
    # matched yet): a sparse filter takes two or three queries, not one per doubling
    take = months_for(s, todo, wanted, f)
    scanned = 0
    while todo and len(keys) <= limit:
        group, todo = todo[:take], todo[take:]
        scanned += rows_of(s, group, f)
        keys += s.rows(
            f"SELECT sort_ts, video_id FROM read_parquet($files) WHERE {cond}"
            f" ORDER BY sort_ts {order}, video_id {order} LIMIT $limit",
            {
                **params,
                "files": [p for _, files in group for p in files],
                "limit": wanted - len(keys),
            },
        )
        need = (wanted - len(keys)) * 1.5 * scanned / len(keys) if keys else 8 * scanned
        take = months_for(s, todo, need, f)
    return keys


def _page_rows(
    s: Session,
    keys: list[tuple[Any, ...]],
    months: list[tuple[str, list[str]]],
    cond: str,
    params: dict[str, Any],
    order: str,
    limit: int,
) -> list[tuple[Any, ...]]:
    """The rows (``VIDEO_COLUMNS``) of the page whose keys are ``keys``, and of the next one
    when there is one (``limit + 1`` at most)."""
    lo, hi = min(k[0] for k in keys), max(k[0] for k in keys)
    held = {month_of(k[0]) for k in keys}
    # the same conditions over the keys' span: the same rows (videos of the span's far end
    # time that did not make the page sort after it, cut by the limit); a month of the span
    # holding none of the keys holds none of those rows
    return s.rows(
        f"SELECT {_VIDEO_SELECT} FROM read_parquet($files)"
        f" WHERE sort_ts BETWEEN $lo AND $hi AND {cond}"
        f" ORDER BY sort_ts {order}, video_id {order} LIMIT $limit",
        {
            **params,
            "files": [p for m, files in months if m in held for p in files],
            "lo": lo,
            "hi": hi,
            "limit": limit + 1,
        },
    )


def _id_row(s: Session, video_id: str) -> tuple[Any, ...] | None:
    """``(video_key, video_id, vehicle, channel)`` of an indexed video, else ``None``.

    One query on the video's ``video_ids`` partition.  (Keeping each partition as a dict per
    process saves that query but costs a read of the whole partition in every worker after
    each publish that rewrites it, which is every publish of a batch.)"""
    files = s.part_files("video_ids", video_id_part(video_id))
    if not files:
        return None
    return s.one(
        "SELECT video_key, video_id, vehicle, channel FROM read_parquet($ids) WHERE video_id = $id",
        {"ids": files, "id": video_id},
    )


def video_key(s: Session, video_id: str) -> int | None:
    row = _id_row(s, video_id)
    return None if row is None else int(row[0])


def get_video(s: Session, video_id: str) -> str | None:
    """A video's detail document (JSON text: metadata, counts, per-stage pipeline status).

    ``None`` if the video is not indexed.  The writer built the document at finalize time.
    """
    key = video_key(s, video_id)
    if key is None:
        return None
    files = s.block_files("video_docs", key)
    row = (
        s.one(
            "SELECT detail FROM read_parquet($files) WHERE video_key = $k",
            {"files": files, "k": key},
        )
        if files
        else None
    )
    return None if row is None else str(row[0])


# -- per-video facts -------------------------------------------------------------------------


def track_points(s: Session, video_id: str) -> tuple[dict[str, Any], list[tuple[Any, ...]]] | None:
    """``(video, fixes)``: fixes as ``(time, t, lat, lon, speed, heading, altitude, fix)``.

    ``video`` holds ``video_id``, ``vehicle`` and ``channel``.
    """
    row = _id_row(s, video_id)
    if row is None:
        return None
    key = int(row[0])
    files = s.block_files("gps_points", key)
    points = (
        s.rows(
            "SELECT time, t, lat, lon, speed_kmh, heading, altitude_m, fix"
            " FROM read_parquet($files) WHERE video_key = $k ORDER BY seq",
            {"files": files, "k": key},
        )
        if files
        else []
    )
    return {"video_id": row[1], "vehicle": row[2], "channel": row[3]}, points


def list_detections(
    s: Session,
    key: int,
    *,
    labels: list[str],
    min_confidence: float | None,
    t_from: float | None,
    t_to: float | None,
    limit: int,
    after_seq: int | None,
) -> tuple[list[dict[str, Any]], int | None]:
    files = s.block_files("detections", key)
    if not files:
        return [], None
    where = ["video_key = $k"]
    params: dict[str, Any] = {"files": files, "k": key, "limit": limit + 1}
    if labels:
        where.append("list_contains($labels, label)")
        params["labels"] = labels
    if min_confidence is not None:
        where.append("confidence >= $min_conf")
        params["min_conf"] = min_confidence
    if t_from is not None:
        where.append("t >= $t_from")
        params["t_from"] = t_from
    if t_to is not None:
        where.append("t <= $t_to")
        params["t_to"] = t_to
    if after_seq is not None:
        where.append("seq > $after")
        params["after"] = after_seq
    rows = s.rows(
        "SELECT seq, t, label, confidence, x, y, w, h, track_id FROM read_parquet($files)"
        f" WHERE {' AND '.join(where)} ORDER BY seq LIMIT $limit",
        params,
    )
    page = rows[:limit]
    out = [
        {
            "seq": seq,
            "t": t,
            "label": label,
            "confidence": round(conf, 4),
            "bbox": {"x": round(x, 5), "y": round(y, 5), "w": round(w, 5), "h": round(h, 5)},
            "track_id": track,
        }
        for seq, t, label, conf, x, y, w, h, track in page
    ]
    return out, (int(page[-1][0]) if page and len(rows) > limit else None)


# -- plates ----------------------------------------------------------------------------------


def search_plates(
    s: Session, prefix: tuple[str, str] | None, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Plates (grouped by canonical form) whose canonical form lies in ``prefix`` = [lo, hi)."""
    where = []
    files = (
        s.part_files("sightings", canon_part(prefix[0])) if prefix else s.part_files("sightings")
    )
    if not files:
        return [], None
    params: dict[str, Any] = {"sightings": files, "limit": limit + 1}
    if prefix is not None:
        where.append("canon >= $lo AND canon < $hi")
        params["lo"], params["hi"] = prefix
    if after is not None:
        where.append("canon > $after")
        params["after"] = after
    rows = s.rows(
        "SELECT canon,"
        " first(plate ORDER BY best_confidence DESC, first_seen, sighting_id),"
        " list_sort(list_distinct(flatten(list(texts)))), count(*), sum(reads),"
        " min(first_seen) FILTER (WHERE time_basis = 'utc'),"
        " max(last_seen) FILTER (WHERE time_basis = 'utc'),"
        " max(best_confidence), list_sort(list_distinct(list(vehicle))),"
        # from the document: parts written before the region column lack it; no NULLs kept
        " list_sort(list_distinct(list(doc->>'$.region')))"
        f" FROM read_parquet($sightings) WHERE {' AND '.join(where) or 'TRUE'}"
        " GROUP BY canon ORDER BY canon LIMIT $limit",
        params,
    )
    page = rows[:limit]
    out = [
        {
            "plate": plate,
            "canonical": canon,
            "variants": variants,
            "sightings": int(n),
            "reads": int(reads),
            "first_seen": iso_utc(first),
            "last_seen": iso_utc(last),
            "best_confidence": round(best, 4),
            "vehicles": vehicles,
            "regions": regions,
        }
        for canon, plate, variants, n, reads, first, last, best, vehicles, regions in page
    ]
    return out, (page[-1][0] if page and len(rows) > limit else None)


def plate_timeline(
    s: Session, canon: str, limit: int, after: tuple[datetime, int] | None
) -> tuple[list[dict[str, Any]], tuple[datetime, int] | None]:
    """Every sighting of the plate (canonical form ``canon``), in time order."""
    where = ["canon = $canon"]
    files = s.part_files("sightings", canon_part(canon))
    if not files:
        return [], None
    params: dict[str, Any] = {"sightings": files, "canon": canon, "limit": limit + 1}
    if after is not None:
        where.append("(first_seen > $k_ts OR (first_seen = $k_ts AND sighting_id > $k_id))")
        params["k_ts"], params["k_id"] = after
    rows = s.rows(
        "SELECT sighting_id, first_seen, doc FROM read_parquet($sightings)"
        f" WHERE {' AND '.join(where)} ORDER BY first_seen, sighting_id LIMIT $limit",
        params,
    )
    page = rows[:limit]
    # region: None in the documents of sightings derived before plate regions
    out = [{"sighting_id": sid, "region": None, **json.loads(doc)} for sid, _first, doc in page]
    next_key = (page[-1][1], int(page[-1][0])) if page and len(rows) > limit else None
    return out, next_key


# -- stats -----------------------------------------------------------------------------------


def index_stats(s: Session, first_day: date, last_day: date) -> dict[str, Any]:
    """What the index holds: counts, videos per status, failing videos, videos per day.

    Computed once per published generation (and day range) in a process: three scans of
    every ``videos`` file are the cost of a request otherwise.  Read-only: it is shared.
    """
    return s.cached(
        ("index_stats", first_day, last_day), lambda: _index_stats(s, first_day, last_day)
    )


def _index_stats(s: Session, first_day: date, last_day: date) -> dict[str, Any]:
    videos = s.part_files("videos")
    status = dict(
        s.rows("SELECT status, count(*) FROM read_parquet($v) GROUP BY status", {"v": videos})
    )
    per_day = dict(
        s.rows(
            "SELECT day, count(*) FROM read_parquet($v) WHERE day BETWEEN $a AND $b GROUP BY day",
            {"v": videos, "a": first_day, "b": last_day},
        )
    )
    failed = s.rows(
        "SELECT video_id, finalized_at FROM read_parquet($v) WHERE status = 'failed'"
        " ORDER BY finalized_at DESC, video_id LIMIT 20",
        {"v": videos},
    )
    days = []
    day = first_day
    while day <= last_day:
        days.append({"day": day.isoformat(), "videos": int(per_day.get(day, 0))})
        day += timedelta(days=1)
    return {
        "counts": dict(s.manifest.counts),
        "videos_by_status": {k: int(v) for k, v in sorted(status.items())},
        "failed_videos": [{"video_id": vid, "finalized_at": iso_utc(at)} for vid, at in failed],
        "videos_per_day": days,
    }
