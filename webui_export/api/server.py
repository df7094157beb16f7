"""Run the read API on gunicorn: the production server (Flask's own is for development only).

Public API: :func:`serve`, :func:`main` (``python -m webui_export.api.server --help``).

Each gunicorn worker builds its own app (no preloading), so every worker process opens its own
in-memory DuckDB after the fork.  Workers only read the published snapshot, so any number can
run next to the daemon's writer.

Request limits: the API's documented ones (:mod:`webui_export.api.http`: request target, header
count and size) are enforced by the app with JSON 414/431 answers.  gunicorn is set to let every
request within them through: its request-line limit cannot be set between 8190 bytes (too
short for the longest query the OpenAPI document allows) and "0" (its own 1 MiB cap), so it is
0; its header limits are twice the API's.  What gunicorn itself still refuses (beyond those
caps, malformed requests) is answered in the same JSON error shape by :class:`JsonErrorWorker`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from webui_export.api.app import create_app
from webui_export.api.http import MAX_HEADER_FIELD_SIZE, MAX_HEADER_FIELDS, error_body

#: gunicorn's request-line setting: 0 = its own 1 MiB cap (any value from 1 to 8190 is the
#: limit itself, and 8190 is below the API's MAX_REQUEST_TARGET).
GUNICORN_LIMIT_REQUEST_LINE = 0
GUNICORN_LIMIT_REQUEST_FIELDS = 2 * MAX_HEADER_FIELDS
GUNICORN_LIMIT_REQUEST_FIELD_SIZE = 2 * MAX_HEADER_FIELD_SIZE


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's error-page writer, answering in the API's JSON error shape instead of HTML."""
    body = json.dumps(error_body(f"{reason}: {mesg}" if mesg else reason, status_int)).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    gunicorn_util.write_nonblock(sock, head + body)


class JsonErrorWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker whose own error answers (414, 431, 400 ...) are JSON.

    gunicorn writes those through ``gunicorn.util.write_error``; this worker process serves
    only the API, so it installs :func:`write_json_error` there after the fork.
    """

    def init_process(self) -> None:
        gunicorn_util.write_error = write_json_error
        super().init_process()


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, app_config: dict[str, Any], options: dict[str, Any]) -> None:
        self.app_config = app_config
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return create_app(self.app_config)


def serve(
    index_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 4,
    *,
    spool_root: Path | None = None,
    cors_origins: Sequence[str] = (),
    api_token: str | None = None,
    threads: int = 1,
    timeout: int = 30,
    access_log: bool = False,
) -> None:
    """Serve the read API until interrupted (SIGINT/SIGTERM); blocks.

    Binds ``host:port`` (loopback by default: put a reverse proxy with TLS in front to expose
    it).  ``workers`` processes of ``threads`` threads each; keep-alive is supported.
    """
    app_config: dict[str, Any] = {
        "INDEX_DIR": str(index_dir),
        "SPOOL_ROOT": str(spool_root) if spool_root else None,
        "CORS_ORIGINS": list(cors_origins),
        "API_TOKEN": api_token,
    }
    create_app(app_config)  # fail here, in the master, on a bad configuration
    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "worker_class": JsonErrorWorker,
        "limit_request_line": GUNICORN_LIMIT_REQUEST_LINE,
        "limit_request_fields": GUNICORN_LIMIT_REQUEST_FIELDS,
        "limit_request_field_size": GUNICORN_LIMIT_REQUEST_FIELD_SIZE,
        "threads": threads,
        "timeout": timeout,
        "graceful_timeout": 10,
        "keepalive": 5,
        "preload_app": False,
        "accesslog": "-" if access_log else None,
        "proc_name": "spoold-serve",
    }
    _Gunicorn(app_config, options).run()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the spoold read API on gunicorn.")
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--spool-root", type=Path)
    parser.add_argument("--cors-origin", action="append", default=[])
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args(argv)
    serve(
        args.index_dir,
        args.host,
        args.port,
        args.workers,
        spool_root=args.spool_root,
        cors_origins=args.cors_origin,
        api_token=os.environ.get("SPOOLD_API_TOKEN"),
        threads=args.threads,
        access_log=args.access_log,
    )


if __name__ == "__main__":
    main()
