"""HTTP plumbing of the read API: the error body, errors, auth, CORS, ETags.

Public API: :func:`error_body`, :class:`ApiError`, :func:`install` (hooks and handlers on an
app), :func:`etag_for`, :func:`not_modified`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

logger = logging.getLogger(__name__)

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
