"""``GET /api/videos/<id>/sightings``: the plate sightings that involve one video.

Public API: :data:`bp` (the blueprint), :func:`video_sightings`.

A sighting groups the reads of one plate across the clips of one drive (a front and a rear
clip may share one); this lists every sighting whose ``video_ids`` holds the video, in time
order, in the ``Sighting`` shape of the plate timeline.  A clip holds few sightings, so the
list is one page (``next`` is always null); it is capped at :data:`MAX_ROWS`.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request

from webui_export.api import queries
from webui_export.api.db import Session, get_db
from webui_export.api.http import ApiError, etag_for, not_modified, set_etag
from webui_export.api.params import ID_RE, Params

bp = Blueprint("video_plates", __name__, url_prefix="/api")

MAX_ROWS = 1000


def video_sightings(s: Session, video_id: str) -> list[dict[str, Any]]:
    """Every sighting that includes ``video_id``, by first_seen (at most :data:`MAX_ROWS`)."""
    files = s.global_file("sightings")
    if not files:
        return []
    rows = s.rows(
        "SELECT sighting_id, doc FROM read_parquet($s) WHERE list_contains(video_ids, $id)"
        " ORDER BY first_seen NULLS LAST, sighting_id LIMIT $limit",
        {"s": files, "id": video_id, "limit": MAX_ROWS},
    )
    # region: None in the documents of sightings derived before plate regions (as the timeline)
    return [{"sighting_id": sid, "region": None, **json.loads(doc)} for sid, doc in rows]


@bp.get("/videos/<video_id>/sightings")
def sightings(video_id: str) -> Response:
    Params(request.args, ())
    if not ID_RE.match(video_id):
        raise ApiError(404, f"no video {video_id!r}: video ids are letters, digits and _ . -")
    session = get_db()
    etag = etag_for(session.generation)
    cached = not_modified(etag)
    if cached:
        return cached
    if queries.video_key(session, video_id) is None:
        raise ApiError(404, f"no video {video_id!r} in the index (generation {session.generation})")
    body = {
        "ok": True,
        "generation": session.generation,
        "rows": video_sightings(session, video_id),
        "next": None,
        "next_url": None,
    }
    return set_etag(Response(json.dumps(body), mimetype="application/json"), etag)
