"""Read-only media: a video (or image) file from a configured storage root, with HTTP ranges.

Public API: :data:`bp` (``GET /api/media/<root>/<path>`` and ``GET /api/media-signature``),
:data:`MEDIA_TYPES`, :func:`resolve` (the containment check, also used by
:mod:`webui_export.api.thumbnails`), :func:`sign`, :func:`signature_ok`, :data:`SIGNATURE_PARAM`.

``<root>`` is a storage root name (``[storage]`` in ``spoold.toml``, the ``device`` of a video in
the API) and ``<path>`` the file's path relative to it (the video's ``path``).  The file is
served read-only with ``Range`` (206 + ``Content-Range``, 416 when unsatisfiable), a strong
``ETag`` (``If-None-Match`` -> 304, ``If-Range``) and ``Last-Modified``.

Containment, checked on every request: the raw request line may not carry an encoded slash or
backslash (``%2F``, ``%5C``); the decoded path may not be absolute nor hold an empty, ``.`` or
``..`` segment, a backslash or a NUL; only the suffixes in :data:`MEDIA_TYPES` are served; and the
root and the file are resolved (symlinks followed) and the file must lie inside the resolved
root.  Anything else is a JSON error (400 for a malformed path, 404 for no such root or file),
never a file outside a root.

A ``<video>`` element cannot send an ``Authorization`` header, so when an API token is
configured a media URL may carry ``?s=`` instead: a signature from ``/api/media-signature``
(itself behind the bearer token), valid for :data:`SIGNATURE_TTL_S` seconds for any media path.
:mod:`webui_export.api.ui` checks it before the token gate.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, send_file
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from webui_export.api.http import ApiError, error_body
from webui_export.api.params import Params

bp = Blueprint("media", __name__)

#: The suffixes served, lower case, and their media types.
MEDIA_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".ts": "video/mp2t",
    ".avi": "video/x-msvideo",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}
#: How long a media signature stays valid: long enough for a clip to be watched to its end.
SIGNATURE_TTL_S = 1800
#: The query parameter that carries a media signature.
SIGNATURE_PARAM = "s"
_ENCODED_SEPARATORS = ("%2f", "%5c")


def sign(token: str, expires: int) -> str:
    """The signature ``"<expires>.<mac>"``: an HMAC-SHA256 of the expiry under the API token."""
    mac = hmac.new(token.encode(), f"media:{expires}".encode(), hashlib.sha256).hexdigest()
    return f"{expires}.{mac[:32]}"


def signature_ok(token: str, signature: str, now: float | None = None) -> bool:
    """Whether ``signature`` was made by :func:`sign` with ``token`` and has not expired."""
    expires, _, _mac = signature.partition(".")
    if not expires.isdigit() or int(expires) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(sign(token, int(expires)).encode(), signature.encode())


def _raw_path() -> str:
    env = request.environ
    raw = env.get("RAW_URI") or env.get("REQUEST_URI") or request.path
    return str(raw).split("?", 1)[0]


def _safe_parts(relpath: str) -> list[str]:
    parts = relpath.split("/")
    if relpath.startswith("/") or any(
        p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts
    ):
        raise ApiError(
            400,
            f"media path {relpath!r}: give the path relative to the storage root, without "
            "empty, '.' or '..' segments",
        )
    return parts


def resolve(root_name: str, relpath: str) -> Path:
    """The real path of media file ``relpath`` of storage root ``root_name``, contained in it.

    :class:`ApiError` 400 for a malformed path, 404 for no such root, suffix or file (or one
    whose real location lies outside the root).
    """
    roots: dict[str, Path] = current_app.config["STORAGE_ROOTS"]
    parts = _safe_parts(relpath)
    base = roots.get(root_name)
    if base is None:
        known = ", ".join(sorted(roots)) or "none configured"
        raise ApiError(404, f"no storage root {root_name!r} (known: {known})")
    suffix = os.path.splitext(parts[-1])[1].lower()
    if suffix not in MEDIA_TYPES:
        raise ApiError(
            404, f"{relpath!r} is not a media file ({', '.join(sorted(MEDIA_TYPES))} only)"
        )
    real_base = os.path.realpath(base)
    target = os.path.realpath(os.path.join(real_base, *parts))
    # symlinks are followed above: what counts is where the file really is
    if os.path.commonpath([real_base, target]) != real_base or not os.path.isfile(target):
        raise ApiError(404, f"no file {relpath!r} under storage root {root_name!r}")
    return Path(target)


# merge_slashes off: "a//b" is refused below, not redirected to "a/b"
@bp.get("/api/media/<root>/<path:path>", merge_slashes=False)
def media(root: str, path: str) -> Response:
    Params(request.args, (SIGNATURE_PARAM,))
    if any(sep in _raw_path().lower() for sep in _ENCODED_SEPARATORS):
        raise ApiError(400, "media path: an encoded slash or backslash (%2F, %5C) is not allowed")
    target = resolve(root, path)
    mimetype = MEDIA_TYPES[target.suffix.lower()]
    try:
        response = send_file(target, mimetype=mimetype, conditional=True, etag=True, max_age=0)
    except RequestedRangeNotSatisfiable:
        response = jsonify(
            error_body(f"range not satisfiable: the file has {target.stat().st_size} bytes", 416)
        )
        response.status_code = 416
        response.headers["Content-Range"] = f"bytes */{target.stat().st_size}"
        return response
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/api/media-signature")
def signature() -> Response:
    """A media signature for ``?s=``, or none needed when no API token is configured."""
    Params(request.args, ())
    token: str | None = current_app.config["API_TOKEN"]
    body: dict[str, Any] = {"ok": True, "param": SIGNATURE_PARAM, "value": None, "expires_at": None}
    if token:
        expires = int(time.time()) + SIGNATURE_TTL_S
        body["value"] = sign(token, expires)
        body["expires_at"] = (
            datetime.fromtimestamp(expires, timezone.utc).isoformat().replace("+00:00", "Z")
        )
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response
