"""The OpenAPI 3.1 document of the read API, served at ``/api/openapi.json``.

Public API: :func:`openapi_document`.

The tests validate every response the real app gives against these schemas, and fuzz the app
from this document (Schemathesis), so it cannot drift from the code unnoticed.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from webui_export.api.http import MAX_HEADER_FIELD_SIZE, MAX_HEADER_FIELDS, MAX_REQUEST_TARGET
from webui_export.api.params import (
    BBOX_PATTERN,
    CHANNELS,
    DAY_PATTERN,
    ID_RE,
    MAX_ITEMS,
    MAX_VALUE,
    NAME_RE,
    PLATE_PATTERN,
    TIME_PATTERN,
)
from webui_export.index.shapes import STATUSES

Schema = dict[str, Any]


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _obj(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


STR = {"type": "string"}
INT = {"type": "integer"}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
TIME = {"type": "string", "description": "ISO 8601 UTC, e.g. 2026-11-25T10:15:30.000Z"}
MAYBE_STR = _nullable(STR)
MAYBE_INT = _nullable(INT)
MAYBE_NUM = _nullable(NUM)
MAYBE_TIME = _nullable(TIME)
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
    "start": _nullable({"type": "string", "description": "per time_basis"}),
    "start_utc": MAYBE_TIME,
    "start_local": MAYBE_STR,
    "day": MAYBE_STR,
    "duration_s": MAYBE_NUM,
    "status": {
        "type": "string",
        "enum": list(STATUSES),
        "description": "processing until every configured stage (archive included) is "
        "complete; failed while a stage's last attempt failed",
    },
    "counts": _obj({"detections": INT, "gps_points": INT, "plate_reads": INT}),
    "bbox": _nullable(
        {
            "type": "array",
            "items": NUM,
            "minItems": 4,
            "maxItems": 4,
            "description": "min_lon, min_lat, max_lon, max_lat of the GPS track",
        }
    ),
}
_VIDEO_DETAIL: dict[str, Schema] = {
    **_VIDEO,
    "end": MAYBE_STR,
    "start_source": STR,
    "size": INT,
    "sequence": MAYBE_INT,
    "codec": MAYBE_STR,
    "width": MAYBE_INT,
    "height": MAYBE_INT,
    "fps": MAYBE_NUM,
    "bitrate": MAYBE_INT,
    "finalized_at": TIME,
    "labels": {"type": "object", "additionalProperties": INT, "description": "label -> count"},
    "sources": _obj({"detector": MAYBE_STR, "gps": MAYBE_STR, "plates": MAYBE_STR}),
    "pipeline": {
        "type": "array",
        "items": _obj(
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
    "stages": _obj({k: {"type": "array", "items": STR} for k in STATE["enum"]}),
}


def _page(row: str, extra: dict[str, Schema] | None = None) -> Schema:
    return _obj(
        {
            "ok": {"const": True},
            "generation": INT,
            "rows": {"type": "array", "items": _ref(row)},
            "next": _nullable({"type": "string", "description": "opaque; pass as ?next="}),
            "next_url": MAYBE_STR,
            **(extra or {}),
        }
    )


SCHEMAS: dict[str, Schema] = {
    "Error": _obj(
        {
            "ok": {"const": False},
            "error": STR,
            "errors": {"type": "array", "items": STR},
            "status": INT,
        }
    ),
    "Video": _obj(_VIDEO),
    "VideoDetail": _obj(_VIDEO_DETAIL),
    "VideoResponse": _obj({"ok": {"const": True}, "generation": INT, "video": _ref("VideoDetail")}),
    "VideoPage": _page("Video"),
    "Detection": _obj(
        {
            "seq": INT,
            "t": {"type": "number", "description": "seconds from the start of the video"},
            "label": STR,
            "confidence": NUM,
            "bbox": _obj({"x": NUM, "y": NUM, "w": NUM, "h": NUM}),
            "track_id": MAYBE_INT,
        }
    ),
    "DetectionPage": _page("Detection"),
    "TrackFeature": _obj(
        {
            "type": {"const": "Feature"},
            "id": STR,
            "geometry": {
                "anyOf": [
                    _obj(
                        {
                            "type": {"const": "LineString"},
                            "coordinates": {
                                "type": "array",
                                "minItems": 2,
                                "items": {"type": "array", "items": NUM, "minItems": 2},
                            },
                        }
                    ),
                    _obj(
                        {
                            "type": {"const": "Point"},
                            "coordinates": {"type": "array", "items": NUM, "minItems": 2},
                        }
                    ),
                    {"type": "null"},
                ]
            },
            "properties": _obj(
                {
                    "video_id": STR,
                    "vehicle": STR,
                    "channel": STR,
                    "start": MAYBE_TIME,
                    "end": MAYBE_TIME,
                    "point_count": INT,
                    "coordinateProperties": _obj(
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
    "PlateSummary": _obj(
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
        }
    ),
    "PlatePage": _page("PlateSummary"),
    "Sighting": _obj(
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
            "location": _nullable(_obj({"lat": NUM, "lon": NUM, "gps_time": MAYBE_TIME})),
        }
    ),
    "TimelinePage": _page("Sighting", {"plate": _obj({"query": STR, "canonical": STR})}),
    "QueueStats": _obj(
        {
            "available": BOOL,
            "reason": MAYBE_STR,
            "queues": {
                "type": "array",
                "items": _obj(
                    {
                        "device_class": STR,
                        "stage": STR,
                        "pending": INT,
                        "running": INT,
                        "failed": INT,
                    }
                ),
            },
            "oldest_pending": _nullable(
                _obj({"task_id": STR, "stage": STR, "device_class": STR, "created_at": TIME})
            ),
            "failing": {
                "type": "array",
                "items": _obj(
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
    "Stats": _obj(
        {
            "ok": {"const": True},
            "generation": INT,
            "published_at": STR,
            "index": _obj(
                {
                    "counts": {"type": "object", "additionalProperties": INT},
                    "videos_by_status": {"type": "object", "additionalProperties": INT},
                    "failed_videos": {
                        "type": "array",
                        "items": _obj({"video_id": STR, "finalized_at": TIME}),
                    },
                    "videos_per_day": {
                        "type": "array",
                        "items": _obj({"day": STR, "videos": INT}),
                    },
                }
            ),
            "queues": _ref("QueueStats"),
        }
    ),
}


def _param(name: str, where: str, schema: Schema, description: str, **extra: Any) -> Schema:
    return {"name": name, "in": where, "schema": schema, "description": description, **extra}


def _q(name: str, schema: Schema, description: str) -> Schema:
    return _param(name, "query", schema, description, required=False)


def _list(name: str, items: Schema, description: str) -> Schema:
    return _param(
        name,
        "query",
        {"type": "array", "items": items, "maxItems": MAX_ITEMS},
        description + " (repeat the parameter for several)",
        required=False,
        style="form",
        explode=True,
    )


def _text(pattern: str | None, max_length: int = MAX_VALUE) -> Schema:
    """A string parameter: its pattern (applied whole, ASCII: params.Rule) and longest length."""
    schema: Schema = {"type": "string", "maxLength": max_length}
    if pattern is not None:
        schema["pattern"] = pattern
    return schema


_NAME = _text(NAME_RE.pattern, 64)
_TIME_PARAM = _text(TIME_PATTERN, 35)
_DAY_PARAM = _text(DAY_PATTERN, 10)
_PLATE_PARAM = _text(PLATE_PATTERN)
LIMIT = _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size (max 1000)")
NEXT = _q("next", _text(r"^[A-Za-z0-9_-]{1,512}$"), "page token from the previous page's `next`")
VIDEO_ID = _param("video_id", "path", _text(ID_RE.pattern, 151), "video id", required=True)
PLATE = _param(
    "plate",
    "path",
    _PLATE_PARAM,
    "plate text; spaces, dots, dashes and underscores are ignored, O/0 I/1 B/8 S/5 Z/2 match",
    required=True,
)


def _error(description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _ok(schema: str, media: str = "application/json", description: str = "OK") -> Schema:
    return {
        "description": description,
        "headers": {"ETag": {"schema": STR, "description": "weak; send as If-None-Match"}},
        "content": {media: {"schema": _ref(schema)}},
    }


_COMMON = {
    "304": {"description": "Not modified (If-None-Match matched the ETag)"},
    "400": _error("A bad parameter; the message says which and what is allowed"),
    "401": _error("An API token is configured and the request lacks it"),
    "414": _error(f"The request target (path and query) is longer than {MAX_REQUEST_TARGET} bytes"),
    "431": _error(
        f"More than {MAX_HEADER_FIELDS} header fields, or one longer than "
        f"{MAX_HEADER_FIELD_SIZE} bytes"
    ),
    "503": _error("No snapshot published yet, or it changed mid-request; retry"),
}


def _get(summary: str, params: list[Schema], ok: Schema, *, found: bool = False) -> Schema:
    responses = {"200": ok, **_COMMON}
    if found:
        responses["404"] = _error("Not in the index")
    return {"get": {"summary": summary, "parameters": params, "responses": responses}}


@cache
def _document() -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "spoold read API",
            "version": "1",
            "description": (
                "Read-only access to the finalized dashcam metadata index. Lists use keyset "
                "pagination (`next`); errors are JSON `{ok, error, errors, status}`. "
                "Patterns apply to the whole value with ASCII classes (no trailing newline). "
                f"Request limits: a request target (path and query string) of at most "
                f"{MAX_REQUEST_TARGET} bytes (414 beyond), at most {MAX_HEADER_FIELDS} header "
                f"fields of at most {MAX_HEADER_FIELD_SIZE} bytes each (431 beyond); query "
                f"values of at most {MAX_VALUE} characters, repeated filters at most "
                f"{MAX_ITEMS} times."
            ),
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
        "paths": {
            "/api/videos": _get(
                "Videos, newest first",
                [
                    _q("after", _TIME_PARAM, "start at or after (ISO 8601, date or Unix s)"),
                    _q("before", _TIME_PARAM, "start before"),
                    _list("channel", {"type": "string", "enum": list(CHANNELS)}, "camera channel"),
                    _list("brand", _NAME, "dashcam brand"),
                    _list("status", {"type": "string", "enum": list(STATUSES)}, "pipeline status"),
                    _list("vehicle", _NAME, "vehicle"),
                    _q("has_plate", {"type": "boolean"}, "has plate reads (true) or none (false)"),
                    _q(
                        "bbox",
                        _text(BBOX_PATTERN),
                        "min_lon,min_lat,max_lon,max_lat: a GPS fix inside this box",
                    ),
                    _q(
                        "path",
                        _text(None),
                        "the file's path on its storage root: a prefix (cams/2024/), or a "
                        "glob when it has * ? or [...] (cams/*/REC_*.MP4; * crosses folders)",
                    ),
                    _q("order", {"type": "string", "enum": ["desc", "asc"]}, "by start time"),
                    LIMIT,
                    NEXT,
                ],
                _ok("VideoPage"),
            ),
            "/api/videos/{video_id}": _get(
                "A video: metadata and per-stage pipeline status",
                [VIDEO_ID],
                _ok("VideoResponse"),
                found=True,
            ),
            "/api/videos/{video_id}/track": _get(
                "The video's GPS track as a GeoJSON Feature",
                [VIDEO_ID],
                _ok("TrackFeature", "application/geo+json"),
                found=True,
            ),
            "/api/videos/{video_id}/detections": _get(
                "The video's detections in time order",
                [
                    VIDEO_ID,
                    _list("label", _NAME, "label"),
                    _q("min_confidence", {"type": "number", "minimum": 0, "maximum": 1}, ""),
                    _q("start_s", {"type": "number", "minimum": 0, "maximum": 1e7}, "from offset"),
                    _q("end_s", {"type": "number", "minimum": 0, "maximum": 1e7}, "to offset"),
                    LIMIT,
                    NEXT,
                ],
                _ok("DetectionPage"),
                found=True,
            ),
            "/api/plates": _get(
                "Plates by prefix, tolerant of OCR confusions (O/0 I/1 B/8 S/5 Z/2)",
                [
                    _q("q", _PLATE_PARAM, "plate prefix"),
                    LIMIT,
                    NEXT,
                ],
                _ok("PlatePage"),
            ),
            "/api/plates/{plate}/timeline": _get(
                "Every sighting of a plate: when, where, which video and offset",
                [PLATE, LIMIT, NEXT],
                _ok("TimelinePage"),
            ),
            "/api/stats": _get(
                "Index contents, videos per day and pipeline queues",
                [
                    _q("from_day", _DAY_PARAM, "first day (UTC; default 29 days before to_day)"),
                    _q("to_day", _DAY_PARAM, "last day (UTC; default today)"),
                ],
                _ok("Stats"),
            ),
            **webui_paths(),  # the WebUI's routes: the section at the end of this module
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [{}],
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **{k: _COMMON[k] for k in ("304", "400", "414", "431")},
                    },
                }
            },
        },
    }


def openapi_document() -> Schema:
    """The document (a fresh copy: callers may modify it)."""
    return copy.deepcopy(_document())


# -- the WebUI's routes (webui_export.api.media, webui_export.api.video_plates) ----------------

_MEDIA_BINARY = {
    media: {"schema": {"type": "string", "contentMediaType": media}}
    for media in sorted(
        {
            "video/mp4",
            "video/quicktime",
            "video/mp2t",
            "video/x-msvideo",
            "video/x-matroska",
            "video/webm",
            "image/jpeg",
            "image/png",
            "image/webp",
        }
    )
}
_MEDIA_HEADERS = {
    "ETag": {"schema": STR, "description": "strong; send as If-None-Match or If-Range"},
    "Accept-Ranges": {"schema": {"const": "bytes"}},
    "Last-Modified": {"schema": STR},
}

SCHEMAS["SightingList"] = _page("Sighting")
SCHEMAS["MediaSignature"] = _obj(
    {
        "ok": {"const": True},
        "param": {"const": "s", "description": "the query parameter to add to a media URL"},
        "value": _nullable(
            {"type": "string", "description": "the signature; null: no API token, none needed"}
        ),
        "expires_at": MAYBE_TIME,
    }
)


def webui_paths() -> dict[str, Schema]:
    """The paths of the media route, the media signature and a video's sightings."""
    return {
        "/api/media/{root}/{path}": {
            "get": {
                "summary": (
                    "A video or image file from a storage root, read-only, with HTTP ranges. "
                    "Only files inside the configured root are served (no '..', no absolute "
                    "path, no encoded slash, no symlink leading out of the root); suffixes: "
                    ".mp4 .m4v .mov .ts .avi .mkv .webm .jpg .jpeg .png .webp"
                ),
                "parameters": [
                    _param(
                        "root",
                        "path",
                        _NAME,
                        "storage root name (a video's `device`)",
                        required=True,
                    ),
                    _param(
                        "path",
                        "path",
                        _text(None, 1024),
                        "the file's path under the root (a video's `path`; slashes unencoded)",
                        required=True,
                    ),
                    _q(
                        "s",
                        _text(r"^[0-9]+\.[0-9a-f]{32}$", 64),
                        "media signature from /api/media-signature, instead of the bearer "
                        "token (for <video> and <img> elements)",
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "The whole file",
                        "headers": _MEDIA_HEADERS,
                        "content": _MEDIA_BINARY,
                    },
                    "206": {
                        "description": "The requested byte range (Range: bytes=a-b)",
                        "headers": {
                            **_MEDIA_HEADERS,
                            "Content-Range": {"schema": STR, "description": "bytes a-b/size"},
                        },
                        "content": _MEDIA_BINARY,
                    },
                    "304": _COMMON["304"],
                    "400": _error("A malformed path (., .., empty segment, encoded slash)"),
                    "401": _COMMON["401"],
                    "404": _error("No such storage root, no such media file under it"),
                    "414": _COMMON["414"],
                    "431": _COMMON["431"],
                    "416": {
                        **_error("Range not satisfiable"),
                        "headers": {
                            "Content-Range": {"schema": STR, "description": "bytes */size"}
                        },
                    },
                },
            }
        },
        "/api/media-signature": {
            "get": {
                "summary": "A short-lived signature for media URLs (?s=), when a token is set",
                "parameters": [],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": _ref("MediaSignature")}},
                    },
                    "400": _COMMON["400"],
                    "401": _COMMON["401"],
                    "414": _COMMON["414"],
                    "431": _COMMON["431"],
                },
            }
        },
        "/api/videos/{video_id}/sightings": _get(
            "The plate sightings that include a video, in time order (one page)",
            [VIDEO_ID],
            _ok("SightingList"),
            found=True,
        ),
    }
