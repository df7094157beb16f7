"""Frame thumbnails of plate sightings: ``GET /api/sightings/<id>/thumbnail.jpg``.

Public API: :data:`bp`, :data:`WIDTHS`, :data:`DEFAULT_WIDTH`, :data:`SIGNED_PATH`,
:data:`RENDER_VERSION`, :data:`DEFAULT_CACHE_MAX_MB`, :func:`cache_dir`, :func:`render`,
:func:`prune`.

The thumbnail is the frame of the sighting's best read (its video and offset), scaled to
``?width=`` (one of :data:`WIDTHS`, never enlarged) with the read's plate box drawn on it.  It is
rendered on first request from the clip on its storage root, with the ``ffmpeg`` of the
``imageio-ffmpeg`` package (a server dependency already), and kept in a disk cache; later
requests, from any gunicorn worker, are served from the cache without touching the clip.  The
clip is found through :func:`webui_export.api.media.resolve`: no path outside a configured
storage root is ever read.

The cache key (also the strong ``ETag``, ``If-None-Match`` -> 304) is a digest of what decides
the picture: the clip (storage root, path, size), the offset, the box, the width and
:data:`RENDER_VERSION`.  Sighting ids are renumbered when sightings are re-derived, so the key
never uses them: the same frame is rendered once however its sighting is numbered, and a URL
whose sighting changed gets a new ETag.  A thumbnail cached before its clip was archived off the
storage roots is still served.

Configuration (app config, or the environment as ``SPOOLD_<KEY>``): ``THUMBNAIL_CACHE``, the
cache folder.  Default: ``thumbnails`` under systemd's ``$CACHE_DIRECTORY``
(``CacheDirectory=spoold`` in ``spoold-api.service``), else ``spoold-thumbnails-<uid>`` in the
temporary folder.  ``THUMBNAIL_CACHE_MAX_MB`` (default :data:`DEFAULT_CACHE_MAX_MB`; ``0``: no
limit) bounds it: a thumbnail is about 10 KB and a fleet-year has hundreds of thousands of
sightings, so after every twentieth of the limit written, a background thread of the worker
removes the least recently served thumbnails (a cache hit refreshes the file's mtime) until the
cache is at 90 % of the limit.  Deleting the cache at any time is safe.  When it cannot be
written, thumbnails are rendered on every request and the failure is logged.

Errors are JSON: 400 for a bad ``width``, 404 for no such sighting, video or clip file, 422 when
the clip has no decodable frame at the offset, 503 (``Retry-After``) when this process is
already rendering :data:`MAX_RENDERS` thumbnails for :data:`QUEUE_WAIT_S` or ffmpeg overran.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from webui_export.api import media, queries
from webui_export.api.db import Session, get_db
from webui_export.api.http import ApiError, error_body
from webui_export.api.params import Params

logger = logging.getLogger(__name__)

bp = Blueprint("thumbnails", __name__, url_prefix="/api")

#: The widths a thumbnail may be asked for (pixels); smaller frames are not enlarged.
WIDTHS = (160, 320, 640)
DEFAULT_WIDTH = 320
#: Changes whenever the picture for the same inputs changes (invalidates every cached one).
RENDER_VERSION = 1
#: Renders one process runs at once (each is an ffmpeg reading the clip, maybe from a NAS).
MAX_RENDERS = 2
#: How long a request waits for a render slot before it is answered 503.
QUEUE_WAIT_S = 20.0
#: The longest one ffmpeg run may take (a slow share): beyond it, 503.
RENDER_TIMEOUT_S = 30.0
#: The request paths this module serves: a media signature (``?s=``) admits them too, since an
#: ``<img>`` cannot send the bearer token.
SIGNED_PATH = re.compile(r"^/api/sightings/[0-9]{1,18}/thumbnail\.jpg$")
#: The box outline, as the player draws it: yellow, edged in black on both sides (visible on any
#: picture), just outside the box so that it never hides the plate.  Pixels of the thumbnail.
BOX_COLOR = "0xFFD60A"
BOX_THICKNESS = 3

#: The cache's default size limit, in MB (about 100,000 thumbnails).
DEFAULT_CACHE_MAX_MB = 1024
#: Pruning leaves the cache at this share of its limit, so that it does not run on every store.
PRUNE_TO = 0.9

_ID = re.compile(r"^[0-9]{1,18}$")
_renders = threading.BoundedSemaphore(MAX_RENDERS)
_prune_lock = threading.Lock()
#: Bytes this process stored since its last prune (None: no prune yet, so the first store checks
#: a cache a previous, larger limit may have left).
_written: int | None = None
_pruning = False


class _Busy(ApiError):
    """A 503: no render slot, or ffmpeg overran; answered with ``Retry-After``."""

    def __init__(self, message: str) -> None:
        super().__init__(503, message)


@bp.errorhandler(_Busy)
def _busy(exc: _Busy) -> Response:
    response = jsonify(error_body(exc.message, exc.status))
    response.status_code = exc.status
    response.headers["Retry-After"] = "2"
    return response


def cache_dir() -> Path:
    """The thumbnail cache folder of this app (see the module's configuration)."""
    configured = current_app.config.get("THUMBNAIL_CACHE")
    if configured:
        return Path(configured)
    systemd = os.environ.get("CACHE_DIRECTORY")
    if systemd:  # systemd may list several folders, ':'-separated: the first is ours
        return Path(systemd.split(":")[0]) / "thumbnails"
    return Path(tempfile.gettempdir()) / f"spoold-thumbnails-{os.getuid()}"


def _cache_limit() -> int:
    """The cache's size limit in bytes (0: none), from ``THUMBNAIL_CACHE_MAX_MB``."""
    value = current_app.config.get("THUMBNAIL_CACHE_MAX_MB", DEFAULT_CACHE_MAX_MB)
    if isinstance(value, str):
        value = value.strip()
    try:
        mb = float(value)
    except (TypeError, ValueError):
        mb = -1.0
    if mb < 0:
        raise ApiError(
            500,
            f"THUMBNAIL_CACHE_MAX_MB={value!r} is not a size in MB: set a number (0 = no limit)",
        )
    return int(mb * 1024 * 1024)


def prune(folder: Path, limit: int) -> tuple[int, int]:
    """Remove the least recently used thumbnails of ``folder`` until their total size is at
    most :data:`PRUNE_TO` of ``limit`` bytes, if it is over ``limit``.  Returns ``(removed,
    bytes left)``.  Safe beside other workers rendering and pruning the same folder: a file
    another worker removed first is skipped."""
    entries: list[tuple[float, int, str]] = []
    total = 0
    try:
        subdirs = list(os.scandir(folder))
    except OSError:
        return 0, 0
    for sub in subdirs:
        if not sub.is_dir(follow_symlinks=False):
            continue
        try:
            files = list(os.scandir(sub.path))
        except OSError:
            continue
        for f in files:
            if not f.name.endswith(".jpg") or f.name.startswith(".tmp-"):
                continue  # a render being stored: not ours to judge yet
            try:
                st = f.stat(follow_symlinks=False)
            except OSError:
                continue
            entries.append((st.st_mtime, st.st_size, f.path))
            total += st.st_size
    if total <= limit:
        return 0, total
    removed = 0
    target = int(limit * PRUNE_TO)
    for _, size, path in sorted(entries):
        if total <= target:
            break
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.warning("thumbnail cache: cannot remove %s (%s)", path, exc)
            continue
        total -= size
        removed += 1
    logger.info(
        "thumbnail cache %s: removed %d least recently used thumbnails, %.1f MB left",
        folder,
        removed,
        total / 1048576,
    )
    return removed, total


def _prune_in_background(folder: Path, limit: int) -> None:
    global _pruning
    try:
        prune(folder, limit)
    finally:
        with _prune_lock:
            _pruning = False


def _note_stored(folder: Path, size: int, limit: int) -> None:
    """Count a stored thumbnail; start a background prune after a twentieth of ``limit``."""
    global _written, _pruning
    if limit <= 0:
        return
    with _prune_lock:
        if _written is not None:
            _written += size
        if _pruning or (_written is not None and _written < limit / 20):
            return
        _written, _pruning = 0, True
    threading.Thread(
        target=_prune_in_background, args=(folder, limit), name="thumbnail-prune", daemon=True
    ).start()


def _ffmpeg() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise ApiError(
            503, "thumbnails need the imageio-ffmpeg package (pip install 'spoold[server]')"
        ) from None
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _filters(width: int, box: tuple[float, float, float, float] | None) -> str:
    chain = [f"scale='min(iw,{width})':-2"]
    if box is not None:
        x, y, w, h = box
        # (margin outside the box, thickness, colour): a black ring under the yellow one, one
        # pixel wider on each side
        for m, t, color in (
            (BOX_THICKNESS + 1, BOX_THICKNESS + 2, "black"),
            (BOX_THICKNESS, BOX_THICKNESS, BOX_COLOR),
        ):
            chain.append(
                f"drawbox=x=iw*{x:.5f}-{m}:y=ih*{y:.5f}-{m}:w=iw*{w:.5f}+{2 * m}"
                f":h=ih*{h:.5f}+{2 * m}:color={color}:t={t}"
            )
    return ",".join(chain)


def render(
    clip: Path, offset_s: float, width: int, box: tuple[float, float, float, float] | None
) -> bytes:
    """The JPEG of ``clip``'s frame at ``offset_s`` seconds, ``width`` wide at most, ``box``
    (normalized x, y, w, h) outlined.  :class:`ApiError` 422 when no frame decodes there."""
    cmd = [
        _ffmpeg(),
        *("-hide_banner", "-nostdin", "-loglevel", "error"),
        # -ss before -i: seek in the container (read only the GOP that holds the frame), then
        # decode up to the exact time
        *("-ss", f"{max(offset_s, 0.0):.3f}", "-i", str(clip)),
        *("-map", "0:v:0", "-frames:v", "1", "-an", "-sn", "-dn"),
        *("-vf", _filters(width, box), "-pix_fmt", "yuvj420p", "-q:v", "4"),
        *("-f", "image2pipe", "-c:v", "mjpeg", "pipe:1"),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=RENDER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise _Busy(
            f"rendering the frame of {clip.name} took over {RENDER_TIMEOUT_S:g} s; retry"
        ) from None
    if proc.returncode != 0 or not proc.stdout.startswith(b"\xff\xd8"):
        tail = " | ".join(proc.stderr.decode(errors="replace").strip().splitlines()[-2:])
        raise ApiError(
            422,
            f"no frame of {clip.name} decodes at {offset_s:.3f} s (beyond its end, or a damaged "
            f"clip){': ' + tail if tail else ''}",
        )
    return proc.stdout


def _sighting(s: Session, sighting_id: str) -> tuple[str, str, float]:
    """``(canon, video_id, offset_s)`` of the sighting's best read."""
    files = s.global_file("sightings")
    row = (
        s.one(
            "SELECT canon, best_video_id, best_t FROM read_parquet($s) WHERE sighting_id = $id",
            {"s": files, "id": int(sighting_id)},
        )
        if files and _ID.match(sighting_id)
        else None
    )
    if row is None:
        raise ApiError(
            404,
            f"no sighting {sighting_id!r} in the index (generation {s.generation}); sighting "
            "ids come from /api/plates/<plate>/timeline and change when sightings are re-derived",
        )
    return str(row[0]), str(row[1]), float(row[2])


def _box(
    s: Session, key: int, canon: str, offset_s: float
) -> tuple[float, float, float, float] | None:
    """The box of the best read of ``canon`` at ``offset_s`` in the video of key ``key``."""
    files = s.block_files("plate_reads", key)
    row = (
        s.one(
            "SELECT x, y, w, h FROM read_parquet($files)"
            " WHERE video_key = $k AND canon = $canon AND t = $t"
            " ORDER BY confidence DESC, seq LIMIT 1",
            {"files": files, "k": key, "canon": canon, "t": offset_s},
        )
        if files
        else None
    )
    return None if row is None else (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


def _cached(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:  # a hit is a use: pruning removes the least recently used first
        os.utime(path)
    except OSError:
        pass
    return data


def _store(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically (workers may render the same one at once)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".jpg", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return True
    except OSError as exc:
        logger.warning(
            "thumbnail cache %s is not writable (%s): thumbnails are rendered on every request; "
            "set THUMBNAIL_CACHE to a writable folder",
            path.parent.parent,
            exc,
        )
        return False


def _jpeg(data: bytes, etag: str) -> Response:
    response = Response(data, mimetype="image/jpeg")
    response.set_etag(etag)
    # the URL names a sighting, whose frame may change with the index: revalidate each time
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/sightings/<sighting_id>/thumbnail.jpg")
def thumbnail(sighting_id: str) -> Response:
    p = Params(request.args, ("width", media.SIGNATURE_PARAM))
    width = p.integer("width", DEFAULT_WIDTH, 1, max(WIDTHS))
    if width not in WIDTHS:
        raise ApiError(400, f"width={width}: choose one of {', '.join(map(str, WIDTHS))}")
    session = get_db()
    canon, video_id, offset_s = _sighting(session, sighting_id)
    key = queries.video_key(session, video_id)
    doc = queries.get_video(session, video_id)
    if key is None or doc is None:
        raise ApiError(404, f"sighting {sighting_id}: its video {video_id!r} is not in the index")
    video: dict[str, Any] = json.loads(doc)
    box = _box(session, key, canon, offset_s)
    inputs = [RENDER_VERSION, video["device"], video["path"], video["size"], offset_s, box, width]
    etag = hashlib.sha256(json.dumps(inputs).encode()).hexdigest()[:32]
    if request.if_none_match.contains_weak(etag):
        response = _jpeg(b"", etag)
        response.status_code = 304
        return response
    path = cache_dir() / etag[:2] / f"{etag}.jpg"
    data = _cached(path)
    if data is None:
        limit = _cache_limit()  # a bad setting is said before any work is done
        try:
            clip = media.resolve(video["device"], video["path"])
        except ApiError as exc:
            raise ApiError(
                exc.status,
                f"sighting {sighting_id}: no thumbnail cached and the clip cannot be read: "
                f"{exc.message} (archived or removed?)",
            ) from None
        if not _renders.acquire(timeout=QUEUE_WAIT_S):
            raise _Busy(f"{MAX_RENDERS} thumbnails are being rendered in this process; retry")
        try:
            data = render(clip, offset_s, width, box)
        finally:
            _renders.release()
        if _store(path, data):
            _note_stored(path.parent.parent, len(data), limit)
    return _jpeg(data, etag)
