"""The Flask app factory of the read API.

Public API: :func:`create_app`, ``DEFAULTS``.

Configuration keys (defaults below; ``SPOOLD_<KEY>`` environment variables override them, then
the ``config`` mapping given to the factory, whose ``None`` values mean "not given" and leave
the environment's value in force)::

    INDEX_DIR          the index directory the daemon's Indexer publishes into (required)
    SPOOL_ROOT         the spool, for live queue statistics in /api/stats (optional)
    CORS_ORIGINS       origins allowed to read cross-origin: list, or comma-separated string;
                       "*" for any; empty (default) sends no CORS headers
    API_TOKEN          if set, every endpoint but /api/openapi.json needs
                       "Authorization: Bearer <token>" (compared in constant time)
    DEFAULT_PAGE_SIZE  rows per page when ``limit`` is not given (50)
    MAX_PAGE_SIZE      the largest ``limit`` accepted (1000)

The WebUI's keys (``CONFIG_FILE``, ``STORAGE_ROOTS``, ``TILE_URL``, ``TILE_ATTRIBUTION``) are
documented in :mod:`webui_export.api.ui`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify

from spoold.errors import ConfigError
from webui_export.api import db, http, metrics, ui
from webui_export.api import pages as dashboard
from webui_export.api.routes import bp
from webui_export.errors import SnapshotUnavailable

DEFAULTS: dict[str, Any] = {
    "INDEX_DIR": None,
    "SPOOL_ROOT": None,
    "CORS_ORIGINS": [],
    "API_TOKEN": None,
    "DEFAULT_PAGE_SIZE": 50,
    "MAX_PAGE_SIZE": 1000,
}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create and configure the read-API application."""
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("SPOOLD")
    if config:
        # None = not given: a host passing API_TOKEN=None must not switch off a token that
        # SPOOLD_API_TOKEN set (it did: requests went through unauthenticated).
        app.config.update({k: v for k, v in config.items() if v is not None})
    _check(app)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    db.init_app(app)
    http.install(app)
    app.register_blueprint(bp)
    app.register_blueprint(dashboard.bp)  # the operator's console: / and /ops/panel
    app.register_blueprint(metrics.bp)  # /metrics for Prometheus
    ui.install(app)  # the WebUI's pages, /media and the token for pages (webui_export.api.ui)

    @app.errorhandler(SnapshotUnavailable)
    def _unavailable(exc: SnapshotUnavailable) -> Response:
        response = jsonify(http.error_body(str(exc), 503))
        response.status_code = 503
        response.headers["Retry-After"] = "1"
        return response

    return app


def _check(app: Flask) -> None:
    cfg = app.config
    if not cfg["INDEX_DIR"]:
        raise ConfigError("INDEX_DIR is not set: give the index directory the daemon publishes to")
    cfg["INDEX_DIR"] = Path(cfg["INDEX_DIR"])
    if cfg["SPOOL_ROOT"]:
        cfg["SPOOL_ROOT"] = Path(cfg["SPOOL_ROOT"])
    origins = cfg["CORS_ORIGINS"] or []
    if isinstance(origins, str):
        origins = [o.strip() for o in origins.split(",")]
    cfg["CORS_ORIGINS"] = [str(o).rstrip("/") for o in origins if str(o).strip()]
    token = cfg["API_TOKEN"]
    if token is not None and not isinstance(token, str):
        raise ConfigError("API_TOKEN must be a string")
    cfg["API_TOKEN"] = token or None
    for key in ("DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE"):
        if not isinstance(cfg[key], int) or cfg[key] < 1:
            raise ConfigError(f"{key} must be a positive integer, not {cfg[key]!r}")
    if cfg["DEFAULT_PAGE_SIZE"] > cfg["MAX_PAGE_SIZE"]:
        raise ConfigError("DEFAULT_PAGE_SIZE must not exceed MAX_PAGE_SIZE")
