"""Turning one video's validated outputs into the rows of the index's tables.

Public API: :func:`video_row`, :func:`start_basis`, ``LEGACY_BASIS``, :func:`video_tables`,
:func:`stage_rows`, :func:`stages_table`, :func:`video_doc`, :func:`video_status`,
:func:`rebuild_video_docs`, :func:`ingest_verdict`, :func:`rejected_row`, ``EPOCH``.

A video's ``status`` is :func:`video_status` of its stages: ``failed`` when a stage's last
attempt failed, ``complete`` once every configured stage is complete (or skipped),
``processing`` otherwise.  A file that ingestion refused is a video of status ``rejected``
(:func:`rejected_row`: its path, vehicle, size and the reason; no time of its own, so it sorts
by when it was rejected), as long as that rejection is its file's latest ingest record.

Pure except :func:`rebuild_video_docs` (which reads and writes the live database).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

import duckdb

from schemas.metadata import GpsPoint, PlateRead, StageStatus, VideoMeta
from schemas.task import Task
from spoold.dashcam import GENERIC_RULE
from webui_export.index.arrow import pa
from webui_export.index.platetext import canonical_plate
from webui_export.index.shapes import iso_utc, pipeline_json, utc_naive, video_json
from webui_export.index.validate import Outputs

EPOCH = datetime(1970, 1, 1)


def video_tables(
    key: int,
    row: Mapping[str, Any],
    outputs: Outputs,
    pipeline: Sequence[StageStatus],
    video: VideoMeta,
) -> list[tuple[str, pa.Table]]:
    """``(table, Arrow rows)`` for every table but ``videos`` that gets rows for this video
    (the ``videos`` row is ``{"video_key": key, **row}``: a batch's rows make one table at
    once, cheaper than one small table each)."""
    out: list[tuple[str, pa.Table]] = []
    k = pa.scalar(key, pa.int32())
    if outputs.detections is not None and outputs.detections.num_rows:
        tbl = outputs.detections
        out.append(("detections", tbl.add_column(0, "video_key", pa.repeat(k, tbl.num_rows))))
    if outputs.gps:
        out.append(("gps_points", _gps_table(k, outputs.gps)))
    if outputs.plates:
        out.append(("plate_reads", _plates_table(k, outputs.plates, row["sort_ts"], video)))
    out.append(("video_docs", video_doc(key, {**row, "video_key": key}, pipeline)))
    if pipeline:
        out.append(("stages", stages_table(k, pipeline)))
    return out


def _gps_table(k: pa.Scalar, fixes: Sequence[GpsPoint]) -> pa.Table:
    return pa.table(
        {
            "video_key": pa.repeat(k, len(fixes)),
            "seq": pa.array(range(len(fixes)), pa.int32()),
            "time": pa.array([utc_naive(p.time) for p in fixes], pa.timestamp("us")),
            "t": pa.array([p.t for p in fixes], pa.float64()),
            "lat": pa.array([p.lat for p in fixes], pa.float64()),
            "lon": pa.array([p.lon for p in fixes], pa.float64()),
            "speed_kmh": pa.array([p.speed_kmh for p in fixes], pa.float32()),
            "heading": pa.array([p.heading for p in fixes], pa.float32()),
            "altitude_m": pa.array([p.altitude_m for p in fixes], pa.float32()),
            "fix": pa.array([p.fix for p in fixes], pa.int16()),
        }
    )


def _plates_table(
    k: pa.Scalar, reads: Sequence[PlateRead], base: datetime, video: VideoMeta
) -> pa.Table:
    """Plate reads, timed from the video's start ``base``; a read of channel ``unknown``
    takes the video's."""
    return pa.table(
        {
            "video_key": pa.repeat(k, len(reads)),
            "seq": pa.array(range(len(reads)), pa.int32()),
            "t": pa.array([r.t for r in reads], pa.float64()),
            "ts": pa.array([base + timedelta(seconds=r.t) for r in reads], pa.timestamp("us")),
            "text_raw": pa.array([r.text_raw for r in reads], pa.string()),
            "text": pa.array([r.text for r in reads], pa.string()),
            "canon": pa.array([canonical_plate(r.text) for r in reads], pa.string()),
            "confidence": pa.array([r.confidence for r in reads], pa.float32()),
            "x": pa.array([r.bbox.x for r in reads], pa.float32()),
            "y": pa.array([r.bbox.y for r in reads], pa.float32()),
            "w": pa.array([r.bbox.w for r in reads], pa.float32()),
            "h": pa.array([r.bbox.h for r in reads], pa.float32()),
            "channel": pa.array(
                [video.channel if r.channel == "unknown" else r.channel for r in reads],
                pa.string(),
            ),
            "region": pa.array([r.region for r in reads], pa.string()),
        }
    )


def stage_rows(pipeline: Sequence[StageStatus]) -> list[tuple[Any, ...]]:
    """``(stage, state, task_id, device, updated_at, error)`` per stage, as stored."""
    return [
        (
            s.stage,
            s.state,
            s.task_id,
            s.device,
            utc_naive(s.updated_at) if s.updated_at else None,
            s.error,
        )
        for s in pipeline
    ]


def stages_table(k: pa.Scalar, pipeline: Sequence[StageStatus]) -> pa.Table:
    """The ``stages`` rows of the video of key ``k``."""
    return pa.table(
        {
            "video_key": pa.repeat(k, len(pipeline)),
            "seq": pa.array(range(len(pipeline)), pa.int32()),
            "stage": pa.array([s.stage for s in pipeline], pa.string()),
            "state": pa.array([s.state for s in pipeline], pa.string()),
            "task_id": pa.array([s.task_id for s in pipeline], pa.string()),
            "device": pa.array([s.device for s in pipeline], pa.string()),
            "updated_at": pa.array(
                [utc_naive(s.updated_at) if s.updated_at else None for s in pipeline],
                pa.timestamp("us"),
            ),
            "error": pa.array([s.error for s in pipeline], pa.string()),
        }
    )


def video_doc(key: int, row: Mapping[str, Any], pipeline: Sequence[StageStatus]) -> pa.Table:
    """The ``video_docs`` row: the API's detail document for the video."""
    detail = video_json(row, detail=True)
    detail.update(pipeline_json(stage_rows(pipeline)))
    return pa.table(
        {
            "video_key": pa.array([key], pa.int32()),
            "seq": pa.array([0], pa.int32()),
            "detail": pa.array([json.dumps(detail, separators=(",", ":"))], pa.string()),
        }
    )


def rebuild_video_docs(con: duckdb.DuckDBPyConnection) -> int:
    """Recompute every video's detail document from its rows (bulk loads, format changes)."""
    con.execute("DELETE FROM video_docs")
    stages: dict[int, list[tuple[Any, ...]]] = {}
    result = con.execute(
        "SELECT video_key, stage, state, task_id, device, updated_at, error FROM stages"
        " ORDER BY video_key, seq"
    )
    while batch := result.fetchmany(50_000):
        for key, *rest in batch:
            stages.setdefault(key, []).append(tuple(rest))
    result = con.execute("SELECT * FROM videos")
    columns = [d[0] for d in result.description]
    docs: list[tuple[int, str]] = []
    while batch := result.fetchmany(10_000):
        for values in batch:
            v = dict(zip(columns, values, strict=True))
            detail = video_json(v, detail=True)
            detail.update(pipeline_json(stages.get(v["video_key"], [])))
            docs.append((v["video_key"], json.dumps(detail, separators=(",", ":"))))
    table = pa.table(
        {
            "video_key": pa.array([k for k, _ in docs], pa.int32()),
            "seq": pa.array([0] * len(docs), pa.int32()),
            "detail": pa.array([d for _, d in docs], pa.string()),
        }
    )
    con.register("_docs", table)
    try:
        con.execute("INSERT INTO video_docs BY NAME SELECT * FROM _docs")
    finally:
        con.unregister("_docs")
    return len(docs)


def video_status(pipeline: Sequence[StageStatus]) -> str:
    """The overall status of a video from its stages (see the module docstring)."""
    states = {s.state for s in pipeline}
    if "failed" in states:
        return "failed"
    if not states or states & {"pending", "running"}:
        return "processing"
    return "complete"


#: ``start_source`` of records written before ``start_basis`` existed -> the basis it meant.
LEGACY_BASIS = {"filename": "name", "container": "container", "mtime": "file-time", "gps": "gps"}


def start_basis(video: VideoMeta, gps_source: str | None = None) -> dict[str, str | None]:
    """Which rule gave the video's start: ``start_basis`` (``name``, ``container``, ``gps``,
    ``file-time``, ``unknown``), ``start_rule`` (the naming family, or the generic
    date-time rule, that read the camera-clock time from the name; ``None`` when the name
    gave none) and ``start_note`` (why; ingestion's note on ignored sources included).

    ``gps_source``: the UTC start was taken from that GPS track (its first fix minus the
    fix's offset into the clip) because ingestion found no UTC time."""
    basis: str = video.start_basis
    if basis == "unknown":
        basis = LEGACY_BASIS.get(video.start_source, "unknown")
    rule = None
    if video.start_local is not None:
        rule = video.brand if video.brand != "generic" else GENERIC_RULE
    notes = [video.start_note] if video.start_note else []
    if gps_source is not None:
        named = f"; the name ({rule}) gave the camera-clock start" if rule else ""
        notes.insert(0, f"UTC start from the GPS track ({gps_source}){named}")
        basis = "gps"
    return {"start_basis": basis, "start_rule": rule, "start_note": "; ".join(notes) or None}


def video_row(
    video: VideoMeta, outputs: Outputs, pipeline: Sequence[StageStatus]
) -> dict[str, Any]:
    """The ``videos`` row (without ``video_key``): times, span, counts, GPS bounding box."""
    start_utc = utc_naive(video.start_utc) if video.start_utc else None
    start_local = video.start_local.replace(tzinfo=None) if video.start_local else None
    from_gps = False
    if start_utc is None:  # a fix with an offset pins the video to UTC
        for p in outputs.gps:
            if p.t is not None:
                start_utc = utc_naive(p.time) - timedelta(seconds=p.t)
                from_gps = True
                break
    if start_utc is not None:
        basis, start_ts = "utc", start_utc
    elif start_local is not None:
        basis, start_ts = "local", start_local
    else:
        basis, start_ts = "none", None
    vehicle = video.vehicle or video.device
    timeline = {"utc": vehicle, "local": f"{vehicle}#local", "none": f"video:{video.video_id}"}[
        basis
    ]
    span = max(video.duration_s or 0.0, outputs.max_offset)
    sort_ts = start_ts or EPOCH
    day: date | None = start_ts.date() if start_ts else None
    lats = [p.lat for p in outputs.gps]
    lons = [p.lon for p in outputs.gps]
    return {
        "video_id": video.video_id,
        "vehicle": vehicle,
        "timeline": timeline,
        "device": video.device,
        "path": video.path,
        "size": video.size,
        "brand": video.brand,
        "channel": video.channel,
        "mode": video.mode,
        "sequence": video.sequence,
        "start_local": start_local,
        "start_utc": start_utc,
        "start_source": video.start_source,
        **start_basis(video, outputs.gps_source if from_gps else None),
        "time_basis": basis,
        "start_ts": start_ts,
        "sort_ts": sort_ts,
        "end_ts": sort_ts + timedelta(seconds=span),
        "day": day,
        "duration_s": video.duration_s,
        "codec": video.codec,
        "width": video.width,
        "height": video.height,
        "fps": video.fps,
        "bitrate": video.bitrate,
        "status": video_status(pipeline),
        "finalized_at": datetime.now(timezone.utc).replace(tzinfo=None),
        "n_detections": outputs.n_detections,
        "n_gps_points": len(outputs.gps),
        "n_plate_reads": len(outputs.plates),
        "labels": json.dumps(outputs.labels),
        "min_lat": min(lats, default=None),
        "min_lon": min(lons, default=None),
        "max_lat": max(lats, default=None),
        "max_lon": max(lons, default=None),
        "detector": outputs.detector,
        "gps_source": outputs.gps_source,
        "plate_reader": outputs.plate_reader,
    }


def ingest_verdict(task: Task) -> tuple[str, str, str] | None:
    """``(device, path, verdict)`` of a complete ingest record: ``accepted``, ``rejected`` or
    ``superseded`` (the file's newer content is another video: no rejection of the file).
    ``None`` for a record with no input file (nothing to show it by)."""
    if not task.inputs:
        return None
    return task.inputs[0].device, task.inputs[0].path, task.verdict


def rejected_row(task: Task) -> dict[str, Any]:
    """The ``videos`` row (without ``video_key``) of a rejected ingest record: its file,
    vehicle (the inbox's, else the storage root) and size; no time of its own, so
    ``sort_ts`` is when it was rejected; ``rejection`` holds the reason (JSON)."""
    res = task.result or {}
    ref = task.inputs[0]
    at = utc_naive(task.completed_at) if task.completed_at else utc_naive(task.created_at)
    video_id = task.video_id or str(res.get("video_id") or task.task_id)
    vehicle = task.params.get("vehicle")
    size = res.get("size", task.params.get("size"))
    inbox = task.params.get("inbox")
    rejection = {
        "reason": str(res.get("reason") or "rejected"),
        "detail": str(res["detail"]) if res.get("detail") else None,
        "inbox": inbox if isinstance(inbox, str) else None,
        "task_id": task.task_id,
        "at": iso_utc(at),
    }
    return {
        "video_id": video_id,
        "vehicle": vehicle if isinstance(vehicle, str) and vehicle else ref.device,
        "timeline": f"video:{video_id}",
        "device": ref.device,
        "path": ref.path,
        "size": size if isinstance(size, int) and size >= 0 else 0,
        "brand": "unknown",
        "channel": "unknown",
        "mode": "unknown",
        "sequence": None,
        "start_local": None,
        "start_utc": None,
        "start_source": "unknown",
        "time_basis": "none",
        "start_ts": None,
        "sort_ts": at,
        "end_ts": at,
        "day": None,
        "duration_s": None,
        "codec": None,
        "width": None,
        "height": None,
        "fps": None,
        "bitrate": None,
        "status": "rejected",
        "finalized_at": at,
        "n_detections": 0,
        "n_gps_points": 0,
        "n_plate_reads": 0,
        "labels": "{}",
        "min_lat": None,
        "min_lon": None,
        "max_lat": None,
        "max_lon": None,
        "detector": None,
        "gps_source": None,
        "plate_reader": None,
        "start_basis": "unknown",
        "start_rule": None,
        "start_note": "not read: ingestion rejected the file",
        "rejection": json.dumps(rejection, separators=(",", ":")),
    }
