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
from webui_export.api.openapi_schemas import (
    MAYBE_TIME,
    SCHEMAS,
    STR,
    nullable,
    obj,
    page,
    ref,
)
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
from webui_export.api.thumbnails import DEFAULT_WIDTH, WIDTHS
from webui_export.index.shapes import STATUSES

Schema = dict[str, Any]


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
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


def _ok(schema: str, media: str = "application/json", description: str = "OK") -> Schema:
    return {
        "description": description,
        "headers": {"ETag": {"schema": STR, "description": "weak; send as If-None-Match"}},
        "content": {media: {"schema": ref(schema)}},
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
        "paths": _paths(),
    }


def _video_paths() -> Schema:
    """The videos list, a video and its track and detections."""
    return {
        "/api/videos": _get(
            "Videos, newest first",
            [
                _q("after", _TIME_PARAM, "start at or after (ISO 8601, date or Unix s)"),
                _q("before", _TIME_PARAM, "start before"),
                _list("channel", {"type": "string", "enum": list(CHANNELS)}, "camera channel"),
                _list("brand", _NAME, "dashcam brand"),
                _list(
                    "status",
                    {"type": "string", "enum": list(STATUSES)},
                    "pipeline status; rejected: the files ingestion refused, with the reason"
                    " in each row's rejection",
                ),
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
    }


def _paths() -> Schema:
    """The read API's paths; the WebUI's are in :func:`webui_paths`."""
    return {
        **_video_paths(),
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
    }


def openapi_document() -> Schema:
    """The document (a fresh copy: callers may modify it)."""
    return copy.deepcopy(_document())


# -- the WebUI's routes (webui_export.api.media, video_plates, thumbnails) ---------------------

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

_SIGNATURE = _q(
    "s",
    _text(r"^[0-9]+\.[0-9a-f]{32}$", 64),
    "media signature from /api/media-signature, instead of the bearer token (for <video> and "
    "<img> elements)",
)

SCHEMAS["SightingList"] = page("Sighting")
SCHEMAS["MediaSignature"] = obj(
    {
        "ok": {"const": True},
        "param": {"const": "s", "description": "the query parameter to add to a media URL"},
        "value": nullable(
            {"type": "string", "description": "the signature; null: no API token, none needed"}
        ),
        "expires_at": MAYBE_TIME,
    }
)


def _media_path() -> Schema:
    """GET /api/media/{root}/{path}: a file of a storage root, with ranges."""
    return {
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
                _SIGNATURE,
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
                    "headers": {"Content-Range": {"schema": STR, "description": "bytes */size"}},
                },
            },
        }
    }


def _thumbnail_path() -> Schema:
    """GET /api/sightings/{sighting_id}/thumbnail.jpg (webui_export.api.thumbnails)."""
    return {
        "get": {
            "summary": (
                "The frame of a sighting's best read as a JPEG, with the plate's box outlined: "
                "rendered from the clip on its storage root on first request, then cached. "
                "Sighting ids come from /api/plates/{plate}/timeline (they change when "
                "sightings are re-derived; the ETag follows the picture, not the id)"
            ),
            "parameters": [
                _param(
                    "sighting_id",
                    "path",
                    _text(r"^[0-9]{1,18}$", 18),
                    "sighting id (`sighting_id` of a timeline row)",
                    required=True,
                ),
                _q(
                    "width",
                    {"type": "integer", "enum": list(WIDTHS)},
                    f"thumbnail width in pixels (default {DEFAULT_WIDTH}; a smaller frame is "
                    "not enlarged; the height keeps the frame's aspect)",
                ),
                _SIGNATURE,
            ],
            "responses": {
                "200": {
                    "description": "The thumbnail",
                    "headers": {
                        "ETag": {
                            "schema": STR,
                            "description": "strong; a digest of the clip, offset, box and width",
                        }
                    },
                    "content": {
                        "image/jpeg": {
                            "schema": {"type": "string", "contentMediaType": "image/jpeg"}
                        }
                    },
                },
                "304": _COMMON["304"],
                "400": _error("A bad width (or another query parameter)"),
                "401": _COMMON["401"],
                "404": _error(
                    "No such sighting, its video is not in the index, or the clip is not on "
                    "its storage root (archived or removed) and was never rendered"
                ),
                "414": _COMMON["414"],
                "422": _error("No frame of the clip decodes at the sighting's offset"),
                "431": _COMMON["431"],
                "503": {
                    **_error("Busy rendering other thumbnails, or the clip read too slowly; retry"),
                    "headers": {"Retry-After": {"schema": STR, "description": "seconds"}},
                },
            },
        }
    }


def webui_paths() -> dict[str, Schema]:
    """The paths of the media route, the media signature, a video's sightings and a
    sighting's thumbnail."""
    return {
        "/api/sightings/{sighting_id}/thumbnail.jpg": _thumbnail_path(),
        "/api/media/{root}/{path}": _media_path(),
        "/api/media-signature": {
            "get": {
                "summary": "A short-lived signature for media URLs (?s=), when a token is set",
                "parameters": [],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": ref("MediaSignature")}},
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
