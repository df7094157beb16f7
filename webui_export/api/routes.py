"""The read API blueprint: ``/api/...`` endpoints, all GET, all JSON.

Public API: ``bp`` (the blueprint).  The endpoints and their parameters are documented in
:mod:`webui_export.api.openapi`, which the tests check every response against.

Lists are ``{"ok", "generation", "rows", "next", "next_url"}`` with keyset pagination: pass
``next`` (opaque) to get the following page; ``next`` is null on the last page.  Responses about
the index carry a weak ETag derived from the snapshot generation and the URL, so a client's
``If-None-Match`` gets a 304 without touching the data.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, request

from webui_export.api import queries
from webui_export.api.db import Session, get_db
from webui_export.api.geo import track_feature
from webui_export.api.http import ApiError, etag_for, etag_of_body, not_modified, set_etag
from webui_export.api.openapi import openapi_document
from webui_export.api.params import (
    CHANNELS,
    ID_RE,
    NAME_RE,
    Params,
    encode_token,
    parse_token_time,
    plate,
    token_time,
)
from webui_export.api.pipeline_status import queue_stats
from webui_export.index.platetext import canonical_plate, prefix_bounds
from webui_export.index.shapes import STATUSES

bp = Blueprint("api", __name__, url_prefix="/api")


def _respond(
    body: dict[str, Any], etag: str | None, mimetype: str = "application/json"
) -> Response:
    response = jsonify(body)
    response.mimetype = mimetype
    return set_etag(response, etag or etag_of_body(response.get_data()))


def _session_or_304() -> tuple[Session, str, Response | None]:
    session = get_db()
    etag = etag_for(session.generation)
    return session, etag, not_modified(etag)


def _limit(p: Params) -> int:
    cfg = current_app.config
    return p.integer("limit", cfg["DEFAULT_PAGE_SIZE"], 1, cfg["MAX_PAGE_SIZE"])


def _page(session: Session, rows: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    next_url = None
    if token is not None:
        args = [(k, v) for k, vs in request.args.lists() if k != "next" for v in vs]
        next_url = f"{request.path}?{urlencode([*args, ('next', token)])}"
    return {
        "ok": True,
        "generation": session.generation,
        "rows": rows,
        "next": token,
        "next_url": next_url,
    }


def _with_link(response: Response, body: dict[str, Any]) -> Response:
    if body.get("next_url"):
        response.headers["Link"] = f'<{body["next_url"]}>; rel="next"'
    return response


def _video_id(video_id: str) -> str:
    if not ID_RE.match(video_id):
        raise ApiError(
            404, f"no video {video_id!r}: video ids are letters, digits and _ . - (max 151)"
        )
    return video_id


def _plate(text: str, name: str) -> str:
    return plate(text, name)


def _not_found(what: str) -> ApiError:
    return ApiError(404, what)


@bp.get("/videos")
def videos() -> Response:
    p = Params(
        request.args,
        (
            "after",
            "before",
            "channel",
            "brand",
            "status",
            "vehicle",
            "has_plate",
            "bbox",
            "path",
            "order",
            "limit",
            "next",
        ),
    )
    order = p.choice("order", ("desc", "asc"), "desc")
    filters = queries.VideoFilters(
        path=p.text("path"),
        after=p.time("after"),
        before=p.time("before"),
        channels=p.choices("channel", CHANNELS),
        brands=p.names("brand"),
        statuses=p.choices("status", STATUSES),
        vehicles=p.names("vehicle"),
        has_plate=p.boolean("has_plate"),
        bbox=p.bbox("bbox"),
    )
    limit = _limit(p)
    token = p.token("next", f"videos:{order}", (str, str))
    after = (parse_token_time(token[0]), token[1]) if token else None
    session, etag, cached = _session_or_304()
    if cached:
        return cached
    rows, next_key = queries.list_videos(session, filters, limit, after, order == "desc")
    body = _page(
        session,
        rows,
        encode_token(f"videos:{order}", token_time(next_key[0]), next_key[1]) if next_key else None,
    )
    return _with_link(_respond(body, etag), body)


@bp.get("/videos/<video_id>")
def video(video_id: str) -> Response:
    Params(request.args, ())
    _video_id(video_id)
    session, etag, cached = _session_or_304()
    if cached:
        return cached
    found = queries.get_video(session, video_id)
    if found is None:
        raise _not_found(f"no video {video_id!r} in the index (generation {session.generation})")
    # the detail document is stored as JSON text: splice it in rather than re-encode it
    body = f'{{"ok":true,"generation":{session.generation},"video":{found}}}'
    return set_etag(Response(body, mimetype="application/json"), etag)


@bp.get("/videos/<video_id>/track")
def track(video_id: str) -> Response:
    Params(request.args, ())
    _video_id(video_id)
    session, etag, cached = _session_or_304()
    if cached:
        return cached
    found = queries.track_points(session, video_id)
    if found is None:
        raise _not_found(f"no video {video_id!r} in the index (generation {session.generation})")
    video_json, points = found
    return _respond(track_feature(video_json, points), etag, "application/geo+json")


@bp.get("/videos/<video_id>/detections")
def detections(video_id: str) -> Response:
    p = Params(request.args, ("label", "min_confidence", "start_s", "end_s", "limit", "next"))
    _video_id(video_id)
    labels = p.names("label")
    min_confidence = p.number("min_confidence", 0.0, 1.0)
    t_from = p.number("start_s", 0.0, 1e7)
    t_to = p.number("end_s", 0.0, 1e7)
    if t_from is not None and t_to is not None and t_from > t_to:
        raise ApiError(400, f"start_s ({t_from:g}) is after end_s ({t_to:g})")
    limit = _limit(p)
    token = p.token("next", "detections", (int,))
    session, etag, cached = _session_or_304()
    if cached:
        return cached
    key = queries.video_key(session, video_id)
    if key is None:
        raise _not_found(f"no video {video_id!r} in the index (generation {session.generation})")
    rows, next_seq = queries.list_detections(
        session,
        key,
        labels=labels,
        min_confidence=min_confidence,
        t_from=t_from,
        t_to=t_to,
        limit=limit,
        after_seq=token[0] if token else None,
    )
    body = _page(
        session, rows, encode_token("detections", next_seq) if next_seq is not None else None
    )
    return _with_link(_respond(body, etag), body)


@bp.get("/plates")
def plates() -> Response:
    p = Params(request.args, ("q", "limit", "next"))
    q = p.text("q")
    prefix = prefix_bounds(canonical_plate(_plate(q, "q"))) if q is not None else None
    limit = _limit(p)
    token = p.token("next", "plates", (str,))
    if token and not NAME_RE.match(token[0]):
        raise ApiError(400, "next: not a valid page token; use the next_url of the previous page")
    session, etag, cached = _session_or_304()
    if cached:
        return cached
    rows, next_canon = queries.search_plates(session, prefix, limit, token[0] if token else None)
    body = _page(session, rows, encode_token("plates", next_canon) if next_canon else None)
    return _with_link(_respond(body, etag), body)


@bp.get("/plates/<plate>/timeline")
def plate_timeline(plate: str) -> Response:
    p = Params(request.args, ("limit", "next"))
    canon = canonical_plate(_plate(plate, "plate"))
    limit = _limit(p)
    token = p.token("next", "timeline", (str, int))
    after = (parse_token_time(token[0]), token[1]) if token else None
    session, etag, cached = _session_or_304()
    if cached:
        return cached
    rows, next_key = queries.plate_timeline(session, canon, limit, after)
    body = _page(
        session,
        rows,
        encode_token("timeline", token_time(next_key[0]), next_key[1]) if next_key else None,
    )
    body["plate"] = {"query": plate, "canonical": canon}
    return _with_link(_respond(body, etag), body)


@bp.get("/stats")
def stats() -> Response:
    p = Params(request.args, ("from_day", "to_day"))
    today = datetime.now(timezone.utc).date()
    last_day = p.day("to_day", today)
    first_day = p.day("from_day", last_day - timedelta(days=29))
    if first_day > last_day:
        raise ApiError(400, f"from_day ({first_day}) is after to_day ({last_day})")
    if (last_day - first_day).days > 3660:
        raise ApiError(400, "from_day..to_day spans more than 3660 days; ask for less")
    session = get_db()
    body = {
        "ok": True,
        "generation": session.generation,
        "published_at": session.manifest.published_at,
        "index": queries.index_stats(session, first_day, last_day),
        "queues": queue_stats(current_app.config["SPOOL_ROOT"]),
    }
    return _respond_by_body(body)


def _respond_by_body(body: dict[str, Any]) -> Response:
    response = _respond(body, None)
    etag, _weak = response.get_etag()
    return not_modified(etag or "") or response


@bp.get("/openapi.json")
def openapi() -> Response:
    Params(request.args, ())
    return _respond_by_body(openapi_document())
