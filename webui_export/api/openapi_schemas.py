"""The OpenAPI document's component schemas: what each response body of the read API holds.

Public API: :data:`SCHEMAS` and the small schema builders :mod:`webui_export.api.openapi` uses.
"""

from __future__ import annotations

from typing import Any

from webui_export.index.shapes import STATUSES

Schema = dict[str, Any]


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


STR = {"type": "string"}
INT = {"type": "integer"}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
TIME = {"type": "string", "description": "ISO 8601 UTC, e.g. 2026-11-25T10:15:30.000Z"}
MAYBE_STR = nullable(STR)
MAYBE_INT = nullable(INT)
MAYBE_NUM = nullable(NUM)
MAYBE_TIME = nullable(TIME)
STATE = {"type": "string", "enum": ["pending", "running", "complete", "failed", "skipped"]}

_VIDEO: dict[str, Schema] = {
    "video_id": STR,
    "vehicle": STR,
    "device": STR,
    "path": STR,
    "brand": STR,
    "channel": STR,
    "mode": STR,
    "time_basis": {
        "type": "string",
        "enum": ["utc", "local", "none"],
        "description": "utc: times are UTC; local: camera clock (no zone); none: no time known",
    },
    "start": nullable({"type": "string", "description": "per time_basis"}),
    "start_utc": MAYBE_TIME,
    "start_local": MAYBE_STR,
    "day": MAYBE_STR,
    "duration_s": MAYBE_NUM,
    "status": {
        "type": "string",
        "enum": list(STATUSES),
        "description": "processing until every configured stage (archive included) is "
        "complete; failed while a stage's last attempt failed; rejected: a file ingestion "
        "refused (see rejection), as long as no later ingest of the same file accepted it",
    },
    "counts": obj({"detections": INT, "gps_points": INT, "plate_reads": INT}),
    "bbox": nullable(
        {
            "type": "array",
            "items": NUM,
            "minItems": 4,
            "maxItems": 4,
            "description": "min_lon, min_lat, max_lon, max_lat of the GPS track",
        }
    ),
    "rejection": nullable(
        {
            **obj(
                {
                    "reason": {
                        "type": "string",
                        "description": "why ingestion refused the file (docs/daemon.md lists "
                        "every reason), e.g. 'not a media file'",
                    },
                    "detail": nullable(
                        {"type": "string", "description": "what the check found, if it says"}
                    ),
                    "inbox": nullable({"type": "string", "description": "the inbox it came in"}),
                    "task_id": {"type": "string", "description": "the ingest task that refused it"},
                    "at": TIME,
                }
            ),
            "description": "status rejected only: why and when (the video has no time of its "
            "own: start is null, and the list sorts it by this time)",
        }
    ),
}
_VIDEO_DETAIL: dict[str, Schema] = {
    **_VIDEO,
    "end": MAYBE_STR,
    "start_source": {
        "type": "string",
        "description": "filename, container, mtime, gps (older words)",
    },
    "start_basis": {
        "type": "string",
        "enum": ["name", "container", "gps", "file-time", "unknown"],
        "description": "what gave the start: the file name (camera clock), the container's "
        "creation date, the GPS track (UTC from its first fix), the file's modification time "
        "on the NAS (the copy time), or nothing",
    },
    "start_rule": nullable(
        {
            "type": "string",
            "description": "the naming family (e.g. hisilicon) or generic-datetime rule that "
            "read the camera-clock time from the file name; null when the name gave none",
        }
    ),
    "start_note": nullable(
        {"type": "string", "description": "why that basis: sources found implausible, ..."}
    ),
    "size": INT,
    "sequence": MAYBE_INT,
    "codec": MAYBE_STR,
    "width": MAYBE_INT,
    "height": MAYBE_INT,
    "fps": MAYBE_NUM,
    "bitrate": MAYBE_INT,
    "finalized_at": TIME,
    "labels": {"type": "object", "additionalProperties": INT, "description": "label -> count"},
    "sources": obj({"detector": MAYBE_STR, "gps": MAYBE_STR, "plates": MAYBE_STR}),
    "pipeline": {
        "type": "array",
        "items": obj(
            {
                "stage": STR,
                "state": STATE,
                "task_id": MAYBE_STR,
                "device": MAYBE_STR,
                "updated_at": MAYBE_TIME,
                "error": MAYBE_STR,
            }
        ),
    },
    "stages": obj({k: {"type": "array", "items": STR} for k in STATE["enum"]}),
}


def page(row: str, extra: dict[str, Schema] | None = None) -> Schema:
    return obj(
        {
            "ok": {"const": True},
            "generation": INT,
            "rows": {"type": "array", "items": ref(row)},
            "next": nullable({"type": "string", "description": "opaque; pass as ?next="}),
            "next_url": MAYBE_STR,
            **(extra or {}),
        }
    )


SCHEMAS: dict[str, Schema] = {
    "Error": obj(
        {
            "ok": {"const": False},
            "error": STR,
            "errors": {"type": "array", "items": STR},
            "status": INT,
        }
    ),
    "Video": obj(_VIDEO),
    "VideoDetail": obj(_VIDEO_DETAIL),
    "VideoResponse": obj({"ok": {"const": True}, "generation": INT, "video": ref("VideoDetail")}),
    "VideoPage": page("Video"),
    "Detection": obj(
        {
            "seq": INT,
            "t": {"type": "number", "description": "seconds from the start of the video"},
            "label": STR,
            "confidence": NUM,
            "bbox": obj({"x": NUM, "y": NUM, "w": NUM, "h": NUM}),
            "track_id": MAYBE_INT,
        }
    ),
    "DetectionPage": page("Detection"),
    "TrackFeature": obj(
        {
            "type": {"const": "Feature"},
            "id": STR,
            "geometry": {
                "anyOf": [
                    obj(
                        {
                            "type": {"const": "LineString"},
                            "coordinates": {
                                "type": "array",
                                "minItems": 2,
                                "items": {"type": "array", "items": NUM, "minItems": 2},
                            },
                        }
                    ),
                    obj(
                        {
                            "type": {"const": "Point"},
                            "coordinates": {"type": "array", "items": NUM, "minItems": 2},
                        }
                    ),
                    {"type": "null"},
                ]
            },
            "properties": obj(
                {
                    "video_id": STR,
                    "vehicle": STR,
                    "channel": STR,
                    "start": MAYBE_TIME,
                    "end": MAYBE_TIME,
                    "point_count": INT,
                    "coordinateProperties": obj(
                        {
                            "times": {"type": "array", "items": TIME},
                            "offsets_s": {"type": "array", "items": MAYBE_NUM},
                            "speed_kmh": {"type": "array", "items": MAYBE_NUM},
                            "heading": {"type": "array", "items": MAYBE_NUM},
                            "altitude_m": {"type": "array", "items": MAYBE_NUM},
                        }
                    ),
                }
            ),
            "bbox": {"type": "array", "items": NUM, "minItems": 4, "maxItems": 4},
        },
        required=["type", "id", "geometry", "properties"],
    ),
    "PlateSummary": obj(
        {
            "plate": {"type": "string", "description": "the best-read text"},
            "canonical": {"type": "string", "description": "OCR-confusion-free form"},
            "variants": {"type": "array", "items": STR, "description": "every text read"},
            "sightings": INT,
            "reads": INT,
            "first_seen": MAYBE_TIME,
            "last_seen": MAYBE_TIME,
            "best_confidence": NUM,
            "vehicles": {"type": "array", "items": STR},
            "regions": {
                "type": "array",
                "items": STR,
                "description": "plate-format regions of the sightings' best reads (UK, DE, ...)",
            },
        }
    ),
    "PlatePage": page("PlateSummary"),
    "Sighting": obj(
        {
            "sighting_id": INT,
            "plate": STR,
            "text_raw": STR,
            "confidence": NUM,
            "reads": INT,
            "vehicle": STR,
            "time_basis": {"type": "string", "enum": ["utc", "local", "none"]},
            "first_seen": MAYBE_STR,
            "last_seen": MAYBE_STR,
            "video_id": {"type": "string", "description": "video of the best read"},
            "offset_s": {"type": "number", "description": "offset of the best read"},
            "channel": STR,
            "video_ids": {"type": "array", "items": STR},
            "channels": {"type": "array", "items": STR},
            "texts": {"type": "array", "items": STR, "description": "every text read (OCR)"},
            "location": nullable(obj({"lat": NUM, "lon": NUM, "gps_time": MAYBE_TIME})),
            "region": {
                **MAYBE_STR,
                "description": "plate-format region of the best read (UK, DE, US, ...); "
                "null when none was matched or the read predates regions",
            },
        }
    ),
    "TimelinePage": page("Sighting", {"plate": obj({"query": STR, "canonical": STR})}),
    "QueueStats": obj(
        {
            "available": BOOL,
            "reason": MAYBE_STR,
            "queues": {
                "type": "array",
                "items": obj(
                    {
                        "device_class": STR,
                        "stage": STR,
                        "pending": INT,
                        "running": INT,
                        "failed": INT,
                    }
                ),
            },
            "oldest_pending": nullable(
                obj({"task_id": STR, "stage": STR, "device_class": STR, "created_at": TIME})
            ),
            "failing": {
                "type": "array",
                "items": obj(
                    {
                        "task_id": STR,
                        "stage": STR,
                        "device_class": STR,
                        "error": MAYBE_STR,
                        "attempts": INT,
                    }
                ),
            },
        }
    ),
    "Stats": obj(
        {
            "ok": {"const": True},
            "generation": INT,
            "published_at": STR,
            "index": obj(
                {
                    "counts": {
                        "type": "object",
                        "additionalProperties": INT,
                        "description": "rows per table (videos: rejected files included)",
                    },
                    "videos_by_status": {
                        "type": "object",
                        "additionalProperties": INT,
                        "description": "status -> videos (processing, complete, failed, "
                        "rejected: the files ingestion refused); a status no video has is absent",
                    },
                    "failed_videos": {
                        "type": "array",
                        "items": obj({"video_id": STR, "finalized_at": TIME}),
                    },
                    "videos_per_day": {
                        "type": "array",
                        "description": "videos by the UTC day they start (a rejected file "
                        "has no time: not in these)",
                        "items": obj({"day": STR, "videos": INT}),
                    },
                }
            ),
            "queues": ref("QueueStats"),
        }
    ),
}
