"""GPS tracks as GeoJSON (RFC 7946) and GPX 1.1.

Public API: :func:`track_feature`, :func:`track_gpx`.

``points`` are ``(time, t, lat, lon, speed_kmh, heading, altitude_m, fix)`` tuples in time
order, as :func:`webui_export.api.queries.track_points` returns them.  Coordinates are
``[lon, lat]`` rounded to 6 decimals (~0.1 m); per-point values go into
``properties.coordinateProperties`` (the convention togeojson and Mapbox use).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from webui_export.index.shapes import iso_utc

Point = Sequence[Any]


def track_feature(video: dict[str, Any], points: Sequence[Point]) -> dict[str, Any]:
    """A GeoJSON Feature: LineString (2+ fixes), Point (1 fix) or null geometry (none)."""
    # column by column (one pass each, no call per value): a track has thousands of fixes
    columns: list[Sequence[Any]] = list(zip(*points, strict=True)) if points else [()] * 8
    times, offsets, lats, lons, speeds, headings, altitudes = columns[:7]
    xs = [round(x, 6) for x in lons]
    ys = [round(y, 6) for y in lats]
    coords = [[x, y] for x, y in zip(xs, ys, strict=True)]
    stamps = [iso_utc(ts) for ts in times]
    geometry: dict[str, Any] | None
    if len(coords) >= 2:
        geometry = {"type": "LineString", "coordinates": coords}
    elif coords:
        geometry = {"type": "Point", "coordinates": coords[0]}
    else:
        geometry = None
    feature: dict[str, Any] = {
        "type": "Feature",
        "id": video["video_id"],
        "geometry": geometry,
        "properties": {
            "video_id": video["video_id"],
            "vehicle": video["vehicle"],
            "channel": video["channel"],
            "start": stamps[0] if stamps else None,
            "end": stamps[-1] if stamps else None,
            "point_count": len(points),
            "coordinateProperties": {
                "times": stamps,
                "offsets_s": list(offsets),
                "speed_kmh": [None if v is None else round(v, 2) for v in speeds],
                "heading": [None if v is None else round(v, 1) for v in headings],
                "altitude_m": [None if v is None else round(v, 1) for v in altitudes],
            },
        },
    }
    if coords:
        feature["bbox"] = [min(xs), min(ys), max(xs), max(ys)]
    return feature


def track_gpx(video: dict[str, Any], points: Sequence[Point]) -> str:
    """A GPX 1.1 document with one track of one segment (elevation and time per point)."""
    name = escape(str(video["video_id"]))
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<gpx version="1.1" creator="spoold" xmlns="http://www.topografix.com/GPX/1/1">',
        f"  <trk><name>{name}</name><trkseg>",
    ]
    for time, _t, lat, lon, _speed, _heading, altitude, _fix in points:
        inner = ""
        if altitude is not None:
            inner += f"<ele>{altitude:.1f}</ele>"
        inner += f"<time>{iso_utc(time)}</time>"
        lines.append(
            f"    <trkpt lat={quoteattr(f'{lat:.6f}')} lon={quoteattr(f'{lon:.6f}')}>{inner}</trkpt>"
        )
    lines += ["  </trkseg></trk>", "</gpx>", ""]
    return "\n".join(lines)
