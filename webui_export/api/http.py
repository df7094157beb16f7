"""HTTP plumbing of the read API: the error body, errors, request limits, auth, CORS, ETags.

Public API: :func:`error_body`, :class:`ApiError`, :func:`install` (hooks and handlers on an
app), :func:`etag_for`, :func:`not_modified`, the request limits ``MAX_REQUEST_TARGET``,
``MAX_HEADER_FIELDS``, ``MAX_HEADER_FIELD_SIZE``.

The limits are the API's own (the OpenAPI document states them, with the 414 and 431 answers):
the app enforces them and answers in the JSON error shape, and the server in front is
configured to let every request within them through (see :mod:`webui_export.api.server`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

logger = logging.getLogger(__name__)

#: The longest request target (path and query string, as sent) the API reads: room for every
#: request the OpenAPI document allows (e.g. 50 repeated 64-character filters, percent-encoded).
MAX_REQUEST_TARGET = 32768
#: The most header fields a request may carry, and the longest one ("Name: value").
MAX_HEADER_FIELDS = 100
MAX_HEADER_FIELD_SIZE = 8190
#: Paths anyone may read even when an API token is configured.
PUBLIC_PATHS = frozenset({"/api/openapi.json"})
ALLOWED_METHODS = "GET, HEAD"


def error_body(message: str, status: int, **extra: Any) -> dict[str, Any]:
    """The JSON body of every error response of the API.

    ``{"ok": false, "error": message, "errors": [message], "status": status}`` (Datasette's
    shape).  Callers may add context keys but must not remove these four.
    """
    return {"ok": False, "error": message, "errors": [message], "status": status, **extra}


class ApiError(Exception):
    """A request the API refuses, with the status and a message saying how to fix it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _json_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(error_body(message, status))
    response.status_code = status
    response.headers.update(headers or {})
    return response


def etag_for(generation: int) -> str:
    """The (weak) ETag value for a GET of the current URL against snapshot ``generation``."""
    digest = hashlib.sha1(request.full_path.encode(), usedforsecurity=False).hexdigest()[:16]
    return f"g{generation}-{digest}"


def etag_of_body(body: bytes) -> str:
    """The (weak) ETag value of a response body."""
    return f"b-{hashlib.sha1(body, usedforsecurity=False).hexdigest()[:20]}"


def set_etag(response: Response, etag: str) -> Response:
    response.set_etag(etag, weak=True)
    response.headers["Cache-Control"] = "no-cache"
    return response


def not_modified(etag: str) -> Response | None:
    """A 304 if the client already has ``etag`` (If-None-Match, weak comparison), else ``None``."""
    if request.if_none_match.contains_weak(etag):
        return set_etag(Response(status=304), etag)
    return None


def _request_target() -> str:
    env = request.environ
    raw = env.get("RAW_URI") or env.get("REQUEST_URI")
    if isinstance(raw, str):
        return raw
    query = env.get("QUERY_STRING") or ""
    return str(env.get("PATH_INFO") or "") + ("?" + query if query else "")


def _over_limits() -> Response | None:
    """A 414 or 431 JSON answer for a request beyond the documented limits, else None."""
    target = len(_request_target())
    if target > MAX_REQUEST_TARGET:
        return _json_error(
            414,
            f"request target of {target} bytes: the API reads at most {MAX_REQUEST_TARGET} "
            "(path and query string); ask with fewer or shorter filters",
        )
    if len(request.headers) > MAX_HEADER_FIELDS:
        return _json_error(
            431,
            f"{len(request.headers)} header fields: the API reads at most {MAX_HEADER_FIELDS}",
        )
    for name, value in request.headers.items():
        if len(name) + 2 + len(value) > MAX_HEADER_FIELD_SIZE:
            return _json_error(
                431,
                f"header field {name!r} is longer than {MAX_HEADER_FIELD_SIZE} bytes "
                "(name, ': ' and value)",
            )
    return None


def _cors_origin() -> str | None:
    origins: list[str] = current_app.config["CORS_ORIGINS"]
    origin = request.headers.get("Origin")
    if not origin or not origins:
        return None
    if "*" in origins:
        return "*"
    return origin if origin in origins else None


def _authorized() -> bool:
    token: str | None = current_app.config["API_TOKEN"]
    if not token or request.path in PUBLIC_PATHS:
        return True
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def install(app: Flask) -> None:
    """Register the auth/CORS/preflight hooks and the JSON error handlers on ``app``."""

    @app.before_request
    def _gate() -> Response | None:
        too_large = _over_limits()
        if too_large is not None:
            return too_large
        if request.method == "OPTIONS":
            origin = _cors_origin()
            if origin and request.headers.get("Access-Control-Request-Method") in ("GET", "HEAD"):
                response = Response(status=204)
                response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
                response.headers["Access-Control-Allow-Headers"] = "Authorization, If-None-Match"
                response.headers["Access-Control-Max-Age"] = "600"
                return response
            return _json_error(
                405,
                "method OPTIONS not allowed: this API is read-only (GET, HEAD); CORS preflight "
                "is answered only for origins listed in CORS_ORIGINS",
                {"Allow": ALLOWED_METHODS},
            )
        if not _authorized():
            return _json_error(
                401,
                "missing or wrong bearer token: send 'Authorization: Bearer <token>'",
                {"WWW-Authenticate": 'Bearer realm="spoold"'},
            )
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        origin = _cors_origin()
        if origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = "ETag, Link"
            response.vary.add("Origin")
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return _json_error(exc.status, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        if status == 405:
            return _json_error(
                405,
                f"method {request.method} not allowed: this API is read-only (GET, HEAD)",
                {"Allow": ALLOWED_METHODS},
            )
        if status == 404:
            return _json_error(404, f"no such endpoint: {request.path} (see /api/openapi.json)")
        return _json_error(status, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:  # pragma: no cover - a bug if it runs
        logger.exception("unhandled error on %s %s", request.method, request.full_path)
        return _json_error(500, "internal error; the server log has the details")
