"""Reading one task file: bounded in size, never through a symlink, errors that name the file.

Public API: :data:`MAX_TASK_BYTES`, :func:`parse_task_bytes`, :func:`read_task`.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from schemas.task import Task, describe_error
from spoold.errors import InvalidTaskFile
from spoold.spool import fsops
from spoold.spool.layout import Layout

#: Task files larger than this are refused unread (a task is a few hundred bytes).
MAX_TASK_BYTES = 1 << 20


def parse_task_bytes(data: bytes, display: str) -> Task:
    """Parse a task file's bytes; :class:`InvalidTaskFile` names the file, line and reason."""
    try:
        # Fast path (every claim reads its task): pydantic parses the bytes itself.  Any
        # failure takes the slow path, which says where and why.
        return Task.model_validate_json(data)
    except (ValidationError, ValueError, RecursionError):
        pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidTaskFile(display, f"not UTF-8 text (byte {exc.start})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidTaskFile(display, exc.msg.lower(), line=exc.lineno) from None
    except RecursionError:
        raise InvalidTaskFile(display, "JSON nested too deeply") from None
    if not isinstance(obj, dict):
        raise InvalidTaskFile(display, f"expected a JSON object, found {type(obj).__name__}")
    try:
        return Task.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "task"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InvalidTaskFile(display, f"{where}: {describe_error(err)}{more}") from None
    except RecursionError:
        raise InvalidTaskFile(display, "JSON nested too deeply") from None


def read_task(layout: Layout, path: str | Path) -> Task:
    """Read and validate one task file (:class:`InvalidTaskFile` if it is not one, naming it
    relative to the spool root)."""
    try:
        data = fsops.read_bytes(path, MAX_TASK_BYTES)
    except fsops.TooLarge as exc:
        raise InvalidTaskFile(
            layout.rel(Path(path)),
            f"{exc.size} bytes; a task file is at most {MAX_TASK_BYTES} bytes",
        ) from None
    except fsops.NotRegular as exc:
        raise InvalidTaskFile(layout.rel(Path(path)), f"is {exc.what}") from None
    try:
        return parse_task_bytes(data, "")
    except InvalidTaskFile as exc:  # name the file only when there is something to say
        raise InvalidTaskFile(layout.rel(Path(path)), exc.reason, exc.line) from None
