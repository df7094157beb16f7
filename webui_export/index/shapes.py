"""The JSON shapes of the API, shared by the writer (which precomputes some) and the readers.

Public API: :func:`utc_naive`, :func:`iso_utc`, :func:`iso_local`, :func:`timeline_time`, :func:`video_json`,
:func:`pipeline_json`, :func:`sighting_json`, ``STATES`` (of a stage), ``STATUSES`` (of a
video).

A video's detail document and each sighting's timeline entry are built once, when the writer
indexes them, and stored as JSON in the snapshot: the API's hottest endpoints then read one
column instead of forty.  Everything here is pure (no I/O, no Flask, no DuckDB).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

STATES = ("complete", "pending", "running", "failed", "skipped")
#: A video's overall status (see :func:`webui_export.index.rows.video_status`).
STATUSES = ("processing", "complete", "failed", "rejected")


def utc_naive(when: datetime) -> datetime:
    """A datetime as naive UTC (DuckDB TIMESTAMP); naive input is taken to be UTC already."""
    if when.tzinfo is None:
        return when
    return when.astimezone(timezone.utc).replace(tzinfo=None)


def iso_utc(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat(timespec="milliseconds") + "Z"


def iso_local(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat(timespec="milliseconds")


def timeline_time(ts: datetime | None, basis: str) -> str | None:
    """A time on a timeline: UTC with ``Z``, camera clock without zone, or none at all."""
    if basis == "utc":
        return iso_utc(ts)
    if basis == "local":
        return iso_local(ts)
    return None


def video_json(v: Mapping[str, Any], detail: bool = False) -> dict[str, Any]:
    """A ``videos`` row as the API shows it (``detail``: everything but the pipeline).

    ``rejection`` is ``{reason, detail, inbox, task_id, at}`` for a video of status
    ``rejected`` (a file ingest refused), ``None`` for every other."""
    bbox = None
    if v["min_lat"] is not None:
        bbox = [v["min_lon"], v["min_lat"], v["max_lon"], v["max_lat"]]
    out: dict[str, Any] = {
        "video_id": v["video_id"],
        "vehicle": v["vehicle"],
        "device": v["device"],
        "path": v["path"],
        "brand": v["brand"],
        "channel": v["channel"],
        "mode": v["mode"],
        "time_basis": v["time_basis"],
        "start": timeline_time(v["start_ts"], v["time_basis"]),
        "start_utc": iso_utc(v["start_utc"]),
        "start_local": iso_local(v["start_local"]),
        "day": v["day"].isoformat() if v["day"] else None,
        "duration_s": v["duration_s"],
        "status": v["status"],
        "counts": {
            "detections": v["n_detections"],
            "gps_points": v["n_gps_points"],
            "plate_reads": v["n_plate_reads"],
        },
        "bbox": bbox,
        "rejection": json.loads(v["rejection"]) if v.get("rejection") else None,
    }
    if detail:
        out.update(
            {
                "end": timeline_time(v["end_ts"] if v["start_ts"] else None, v["time_basis"]),
                "start_source": v["start_source"],
                "start_basis": v["start_basis"],
                "start_rule": v["start_rule"],
                "start_note": v["start_note"],
                "size": v["size"],
                "sequence": v["sequence"],
                "codec": v["codec"],
                "width": v["width"],
                "height": v["height"],
                "fps": v["fps"],
                "bitrate": v["bitrate"],
                "finalized_at": iso_utc(v["finalized_at"]),
                "labels": json.loads(v["labels"]),
                "sources": {
                    "detector": v["detector"],
                    "gps": v["gps_source"],
                    "plates": v["plate_reader"],
                },
            }
        )
    return out


def pipeline_json(stages: Iterable[Sequence[Any]]) -> dict[str, Any]:
    """``{"pipeline": [...], "stages": {state: [stage, ...]}}`` from
    ``(stage, state, task_id, device, updated_at, error)`` rows in pipeline order."""
    pipeline = [
        {
            "stage": stage,
            "state": state,
            "task_id": task_id,
            "device": device,
            "updated_at": iso_utc(updated_at),
            "error": error,
        }
        for stage, state, task_id, device, updated_at, error in stages
    ]
    summary: dict[str, list[str]] = {state: [] for state in STATES}
    for item in pipeline:
        summary[item["state"]].append(item["stage"])
    return {"pipeline": pipeline, "stages": summary}


def sighting_json(s: Mapping[str, Any]) -> dict[str, Any]:
    """A sighting as ``/api/plates/<plate>/timeline`` lists it (without its id)."""
    basis = s["time_basis"]
    location = None
    if s["lat"] is not None:
        location = {"lat": s["lat"], "lon": s["lon"], "gps_time": iso_utc(s["gps_time"])}
    return {
        "plate": s["plate"],
        "text_raw": s["best_text_raw"],
        "confidence": round(float(s["best_confidence"]), 4),
        "reads": s["reads"],
        "vehicle": s["vehicle"],
        "time_basis": basis,
        "first_seen": timeline_time(s["first_seen"], basis),
        "last_seen": timeline_time(s["last_seen"], basis),
        "video_id": s["best_video_id"],
        "offset_s": s["best_t"],
        "channel": s["best_channel"],
        "video_ids": s["video_ids"],
        "channels": s["channels"],
        "texts": s["texts"],
        "location": location,
        "region": s["region"],
    }
