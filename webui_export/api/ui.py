"""The WebUI: server-rendered page shells whose ES modules read the public API.

Public API: :func:`install` (call once from the app factory), :func:`render_page`, :data:`bp`,
:data:`UI_DEFAULTS`, :data:`OSM_TILE_URL`, :data:`OSM_ATTRIBUTION`, :func:`load_ui_settings`.

Pages (each has the plate search box; data comes from ``/api/...`` via ``static/ui/*.js``)::

    /                      the operator's console (webui_export.api.pages)
    /plates/<plate>        a plate's sightings: list, map, clip at the moment
    /browse                days with their video counts
    /browse/<day>          the day's videos (filter by vehicle), keyset pages
    /videos/<id>           a video: player, track with speed on a map, detections, plates, stages

Configuration keys (app config, ``SPOOLD_<KEY>`` environment variables, or the config file)::

    CONFIG_FILE       spoold.toml to read [storage] roots and [webui] tile_url/tile_attribution
                      from, for the keys below left unset (``spoold serve`` sets it)
    STORAGE_ROOTS     storage root name -> folder, for the media route (default: none)
    TILE_URL          map tile URL template ({z}/{x}/{y}; {s} allowed); "" = no tiles, the plain
                      map view (an offline site).  Default: OpenStreetMap's standard tiles
    TILE_ATTRIBUTION  HTML attribution shown on the map (default: OpenStreetMap's)

Bearer token: page shells and ``/static/`` hold no data, so they load without a token; the ES
modules send ``Authorization: Bearer`` from ``sessionStorage`` (asked for once per tab on the
first 401), and media URLs carry a short-lived signature (:mod:`webui_export.api.media`).
:func:`install` lets those two kinds of request through the API's token gate by adding the
configured token to the request before the gate runs; every other request meets the gate
unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from flask import Blueprint, Flask, abort, current_app, render_template

from spoold.configfile import read_toml
from spoold.errors import ConfigError
from webui_export.api import media, thumbnails, video_plates

bp = Blueprint("ui", __name__)

OSM_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)
UI_DEFAULTS: dict[str, Any] = {
    "CONFIG_FILE": None,
    "STORAGE_ROOTS": None,
    "TILE_URL": None,
    "TILE_ATTRIBUTION": None,
}
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_VIDEO_ID = re.compile(r"^[A-Za-z0-9_.-]{1,151}$")
_PLATE = re.compile(r"^[A-Za-z0-9 ._-]{1,64}$")
#: Paths that hold no data: served without a token even when one is configured.
_SHELLS = (re.compile(r"^/(browse(/[0-9-]{10})?|plates/[^/]+|videos/[^/]+)?$"),)
_STATIC_PREFIX = "/static/"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def load_ui_settings(path: Path) -> dict[str, Any]:
    """``STORAGE_ROOTS``, ``TILE_URL``, ``TILE_ATTRIBUTION`` from a spoold.toml (those it sets).

    Storage paths are relative to the file's folder, as for every command.
    """
    data = read_toml(path)
    out: dict[str, Any] = {}
    storage = data.get("storage")
    if isinstance(storage, dict):
        out["STORAGE_ROOTS"] = {
            str(k): (path.parent / str(v)).resolve() for k, v in storage.items()
        }
    webui = data.get("webui", {})
    if not isinstance(webui, dict):
        raise ConfigError(f"{path}: [webui] must be a table")
    unknown = set(webui) - {"tile_url", "tile_attribution"}
    if unknown:
        raise ConfigError(
            f"{path}: webui.{sorted(unknown)[0]}: unknown setting (known: tile_url, "
            "tile_attribution)"
        )
    if "tile_url" in webui:
        out["TILE_URL"] = webui["tile_url"]
    if "tile_attribution" in webui:
        out["TILE_ATTRIBUTION"] = webui["tile_attribution"]
    return out


def _configure(app: Flask) -> None:
    cfg = app.config
    for key, value in UI_DEFAULTS.items():
        cfg.setdefault(key, value)
    if cfg["CONFIG_FILE"]:
        for key, value in load_ui_settings(Path(cfg["CONFIG_FILE"])).items():
            if cfg[key] is None:
                cfg[key] = value
    roots = cfg["STORAGE_ROOTS"] or {}
    if not isinstance(roots, Mapping):
        raise ConfigError("STORAGE_ROOTS must map storage root names to folders")
    cfg["STORAGE_ROOTS"] = {str(k): Path(v) for k, v in roots.items()}
    url = OSM_TILE_URL if cfg["TILE_URL"] is None else cfg["TILE_URL"]
    if not isinstance(url, str) or (
        url and not (re.match(r"^https?://", url) and all(p in url for p in ("{z}", "{x}", "{y}")))
    ):
        raise ConfigError(
            f"TILE_URL {url!r}: want an http(s) URL template with {{z}}, {{x}} and {{y}}, "
            "or '' for no tiles"
        )
    cfg["TILE_URL"] = url
    attribution = cfg["TILE_ATTRIBUTION"]
    if attribution is None:
        attribution = OSM_ATTRIBUTION if url == OSM_TILE_URL else ""
    cfg["TILE_ATTRIBUTION"] = str(attribution)


def _passes_gate(environ: dict[str, Any], token: str) -> bool:
    """Whether a request may skip the token gate: a data-free page or asset, or signed media."""
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        return False
    path = str(environ.get("PATH_INFO", ""))
    if path.startswith(_STATIC_PREFIX) or any(p.match(path) for p in _SHELLS):
        return True
    if path.startswith("/api/media/") or thumbnails.SIGNED_PATH.match(path):
        given = parse_qs(str(environ.get("QUERY_STRING", ""))).get(media.SIGNATURE_PARAM, [""])
        return media.signature_ok(token, given[-1])
    return False


def _token_middleware(app: Flask, inner: WsgiApp) -> WsgiApp:
    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        token: str | None = app.config["API_TOKEN"]
        if token and _passes_gate(environ, token):
            environ = {**environ, "HTTP_AUTHORIZATION": f"Bearer {token}"}
        return inner(environ, start_response)

    return wrapped


def install(app: Flask) -> None:
    """Configure and register the WebUI: pages, the media route, the token handling."""
    _configure(app)
    app.register_blueprint(bp)
    app.register_blueprint(media.bp)
    app.register_blueprint(video_plates.bp)
    app.register_blueprint(thumbnails.bp)
    app.wsgi_app = _token_middleware(app, app.wsgi_app)  # type: ignore[method-assign,assignment]


def render_page(template: str, title: str, **ctx: Any) -> str:
    """A page of the WebUI: ``template`` (extending ui/base.html) with the map settings."""
    cfg = current_app.config
    return render_template(
        template,
        title=title,
        tile_url=cfg["TILE_URL"],
        tile_attribution=cfg["TILE_ATTRIBUTION"],
        **ctx,
    )


def _checked(value: str, pattern: re.Pattern[str]) -> str:
    if not pattern.match(value):
        abort(404)
    return value


@bp.get("/plates/<plate>")
def plate_page(plate: str) -> str:
    return render_page("ui/plate.html", f"plate {plate}", plate=_checked(plate, _PLATE))


@bp.get("/browse")
def browse_page() -> str:
    return render_page("ui/browse.html", "browse")


@bp.get("/browse/<day>")
def day_page(day: str) -> str:
    return render_page("ui/day.html", f"videos of {day}", day=_checked(day, _DAY))


@bp.get("/videos/<video_id>")
def video_page(video_id: str) -> str:
    return render_page("ui/video.html", f"video {video_id}", video_id=_checked(video_id, _VIDEO_ID))
