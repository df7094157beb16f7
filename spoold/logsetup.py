"""Logging setup for every ``spoold`` process: the one place root log handlers are set.

Public API: :func:`setup_logging`, :class:`JsonFormatter`, :data:`LOG_FORMATS`.

Logs go to stderr, as text lines (``2026-12-06T10:15:00.123Z LEVEL logger: message``) or as
JSON lines (one object per record: ts, level, logger, msg and the record's ``extra`` fields,
such as ``event`` and ``task_id``).  Times are UTC in both, like every time in the spool.  Worker side: needs nothing beyond the standard library.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import datetime, timezone
from typing import Any

__all__ = ["LOG_FORMATS", "JsonFormatter", "setup_logging"]

#: The values of ``--log-format``.
LOG_FORMATS = ("text", "json")

_TEXT_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s"
_TEXT_DATEFMT = "%Y-%m-%dT%H:%M:%S"


def _text_formatter() -> logging.Formatter:
    formatter = logging.Formatter(_TEXT_FORMAT, _TEXT_DATEFMT)
    formatter.converter = time.gmtime  # UTC, whatever the host's time zone
    return formatter


# LogRecord attributes that are not "extra" fields.
_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and the record's ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in vars(record).items():
            if k not in _STANDARD and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(level: int = logging.INFO, fmt: str = "text", *, force: bool = True) -> None:
    """Log to stderr at ``level``, as ``fmt`` (``"text"`` or ``"json"``) lines.

    ``force=False`` leaves a root logger that already has handlers alone (a host program's
    or a test runner's logging stays as it is); ``force=True`` replaces them, which is how a
    command sets its own format after the ``spoold`` group set the default one.
    """
    root = logging.getLogger()
    if root.handlers and not force:
        return
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format {fmt!r}: want one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else _text_formatter())
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    # watchdog logs every file event at debug level: noise even in a debug log.
    logging.getLogger("watchdog").setLevel(logging.WARNING)
