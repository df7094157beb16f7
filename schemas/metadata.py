"""Finalized-metadata files: the contract between worker devices and the server's index.

Public API: :class:`Detection`, :class:`DetectionsFile`, :class:`GpsPoint`, :class:`GpsTrackFile`,
:class:`PlateRead`, :class:`PlatesFile`, :class:`VideoMeta`, :class:`StageStatus`, ``BBox``,
:func:`metadata_json_schemas`.

Workers write one small JSON file per kind and video to server storage (never video) and list
them as task outputs with ``type`` = ``detections`` / ``gps`` / ``plates``.  The finalize task
validates them with these models; an invalid or partial file fails finalization with the file
name and reason, and nothing of that video is indexed.  Numbers must be finite (no NaN or
Infinity: the files are JSON).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

METADATA_VERSION = 1

Channel = Literal["front", "rear", "interior", "left", "right", "telephoto", "other", "unknown"]


class BBox(BaseModel):
    """A box in normalized image coordinates: 0..1, origin top-left."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)
    w: float = Field(gt=0, le=1)
    h: float = Field(gt=0, le=1)


class Detection(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    t: float = Field(ge=0, description="seconds from the start of the video")
    label: str = Field(min_length=1, max_length=64)
    confidence: float = Field(ge=0, le=1)
    bbox: BBox
    track_id: int | None = None


class DetectionsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    kind: Literal["detections"] = "detections"
    version: int = METADATA_VERSION
    video_id: str
    model: str | None = Field(default=None, description="detector name and version")
    detections: list[Detection]


class GpsPoint(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    time: datetime = Field(description="UTC time of the fix")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    speed_kmh: float | None = Field(default=None, ge=0)
    heading: float | None = Field(default=None, ge=0, lt=360)
    altitude_m: float | None = None
    fix: int | None = Field(default=None, ge=0, description="fix quality (NMEA GGA), 0 = none")
    t: float | None = Field(default=None, ge=0, description="seconds from the start of the video")

    @field_validator("time")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("GPS time must carry a timezone (UTC)")
        return v


class GpsTrackFile(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    kind: Literal["gps"] = "gps"
    version: int = METADATA_VERSION
    video_id: str
    source: str = Field(description="where the fixes came from: nmea-sidecar, freegps, 70mai, ...")
    points: list[GpsPoint] = Field(description="empty when the video carries no GPS")


class PlateRead(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    t: float = Field(ge=0, description="seconds from the start of the video")
    text_raw: str = Field(min_length=1, max_length=32)
    text: str = Field(
        min_length=1, max_length=32, pattern=r"^[A-Z0-9]+$", description="normalized: A-Z0-9 only"
    )
    confidence: float = Field(ge=0, le=1)
    bbox: BBox
    channel: Channel = "unknown"
    region: str | None = Field(
        default=None,
        max_length=8,
        pattern=r"^[A-Z]{2,3}(-[A-Z0-9]{1,3})?$",
        description=(
            "region of the plate format the text matched (a --plate-regions code: UK, DE, US, "
            "IN, ...); null when no format was checked (--plate-regex) or for reads written "
            "before the field existed"
        ),
    )


class PlatesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    kind: Literal["plates"] = "plates"
    version: int = METADATA_VERSION
    video_id: str
    reader: str | None = Field(default=None, description="plate detector/OCR name and version")
    reads: list[PlateRead]


#: What a video's start time was decided from (best first: name, container, file time; GPS
#: replaces it when a worker finds GPS time).
StartBasis = Literal["name", "container", "gps", "file-time", "unknown"]


class VideoMeta(BaseModel):
    """What ingestion learns about a video (stored as the ingest task's ``result``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    video_id: str
    device: str
    path: str
    vehicle: str | None = Field(
        default=None,
        description="which car the dashcam is in (joins front/rear clips); default device",
    )
    size: int = Field(ge=0)
    brand: str = "generic"
    channel: Channel = "unknown"
    mode: Literal["normal", "event", "parking", "manual", "unknown"] = "unknown"
    sequence: int | None = None
    start_local: datetime | None = Field(
        default=None, description="camera wall clock, no timezone (as the dashcam wrote it)"
    )
    start_utc: datetime | None = Field(default=None, description="from GPS or container, if known")
    start_source: str = Field(default="unknown", description="filename, container, mtime")
    start_basis: StartBasis = Field(
        default="unknown",
        description="what start_utc/start_local were decided from: the file name, the "
        "container's creation date, GPS time, or the file's modification time on the NAS",
    )
    start_note: str | None = Field(
        default=None,
        max_length=500,
        description="why the basis was chosen (sources found implausible), and for "
        "file-time that it is the copy time, not the recording time",
    )
    duration_s: float | None = None
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    bitrate: int | None = None


StageState = Literal["pending", "running", "complete", "failed", "skipped"]


class StageStatus(BaseModel):
    """One pipeline stage of a video, as the daemon saw it when it ran the finalize task."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    stage: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="task type, e.g. detect")
    state: StageState
    task_id: str | None = None
    device: str | None = None
    updated_at: datetime | None = None
    error: str | None = Field(default=None, max_length=4000)


def metadata_json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of each worker output file, by ``FileRef.type`` (the documented contract)."""
    return {
        "detections": DetectionsFile.model_json_schema(),
        "gps": GpsTrackFile.model_json_schema(),
        "plates": PlatesFile.model_json_schema(),
    }
