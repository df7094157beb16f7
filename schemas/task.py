"""The task file: one JSON document per task, the unit of the spool.

Public API: :class:`Task`, :class:`FileRef`, :class:`Attempt`, :class:`ChildSpec`,
:class:`WorkResult`, :func:`make_task_id`, :func:`child_task_id`, :func:`parse_task_id`,
:func:`describe_error`, the name patterns ``TASK_ID_RE``, ``DEVICE_RE``, ``NAME_RE`` and
``SCHEMA_VERSION``.

Pure data: no I/O here.  The directory a task file lives in is its state (see
``spool_layout.md``); a ``state`` key, if someone writes one, is ignored.

Task ids are deterministic from identity::

    20261125T101530Z-preprocess-2026_1125_101500_000120F.3fa9c2d81b4e
    \\______________/ \\________/ \\_____________________________________/
     origin stamp      task type   key (usually the video id)

The stamp is the UTC time at which the task's *pipeline* started (children inherit it from
their parent), so ``ls`` sorts a class folder oldest video first and a child's id can be
derived again, byte for byte, by whoever re-runs its parent.

Validation is fast because it is mostly pydantic-core constraints (patterns, ``AwareDatetime``)
rather than Python validators: every claim parses its task file.  The price is pydantic's generic
wording for a pattern mismatch; :func:`describe_error` turns an error back into the specific
message (``device_class 'GPU!' must match [a-z0-9][a-z0-9_-]* (max 63 chars)``).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

SCHEMA_VERSION = 1

#: A simple name: device, device class, storage root, task type.
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
#: Device and class names must not contain ``@`` or ``.``: claim file names split on them.
DEVICE_RE = NAME_RE
TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
STAMP_RE = re.compile(r"^\d{8}T\d{6}Z$")
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,150}$")
TASK_ID_RE = re.compile(
    r"^(?P<stamp>\d{8}T\d{6}Z)-(?P<type>[a-z][a-z0-9_]{0,31})-(?P<key>[A-Za-z0-9][A-Za-z0-9_.-]{0,150})$"
)
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
#: Path segments that make a path absolute ("" first), not normal ("", ".") or escaping ("..").
_ODD_SEGMENTS = frozenset({"", ".", ".."})


def _core_pattern(regex: re.Pattern[str]) -> str:
    """``regex`` for pydantic-core's Rust engine and for JSON Schema, matching the same strings.

    Rust's (and ECMAScript's) ``$`` is the very end, unlike Python's, which also matches before
    a final newline: a name ending in a newline is rejected here (it would name a folder nobody
    polls).  Group names go: ECMAScript spells them ``(?<name>``, Python ``(?P<name>``.
    """
    assert regex.pattern.startswith("^") and regex.pattern.endswith("$")
    return re.sub(r"\(\?P<\w+>", "(", regex.pattern)


_NAME_PATTERN = _core_pattern(NAME_RE)
_TYPE_PATTERN = _core_pattern(TYPE_RE)
_TASK_ID_PATTERN = _core_pattern(TASK_ID_RE)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def format_stamp(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime(STAMP_FORMAT)


def sanitize_key(text: str) -> str:
    """Turn free text (a video name, an operator's label) into a valid id key."""
    key = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._-")
    return (key or "x")[:150]


def make_task_id(stamp: datetime | str, task_type: str, key: str) -> str:
    stamp_text = stamp if isinstance(stamp, str) else format_stamp(stamp)
    task_id = f"{stamp_text}-{task_type}-{key}"
    if not TASK_ID_RE.match(task_id):
        raise ValueError(
            f"invalid task id {task_id!r}: want STAMP-TYPE-KEY with STAMP like 20261125T101530Z, "
            "TYPE [a-z][a-z0-9_]*, KEY [A-Za-z0-9][A-Za-z0-9_.-]*"
        )
    return task_id


def parse_task_id(task_id: str) -> tuple[str, str, str]:
    """Split a task id into (stamp, type, key); ValueError if it is not one."""
    m = TASK_ID_RE.match(task_id)
    if not m:
        raise ValueError(f"not a task id: {task_id!r}")
    return m["stamp"], m["type"], m["key"]


def child_task_id(parent_id: str, child_type: str, suffix: str | None = None) -> str:
    """The id of a parent's child of type ``child_type``: same stamp, same key (+ suffix)."""
    stamp, _, key = parse_task_id(parent_id)
    if suffix:
        key = f"{key}.{sanitize_key(suffix)}"
    return make_task_id(stamp, child_type, key)


#: A device, device-class or storage-root name (:func:`describe_error` names the field).
Name = Annotated[str, StringConstraints(pattern=_NAME_PATTERN)]
TaskType = Annotated[str, StringConstraints(pattern=_TYPE_PATTERN)]
TaskId = Annotated[str, StringConstraints(pattern=_TASK_ID_PATTERN)]
#: ``SCHEMA_VERSION`` and nothing else (an int, so ``1.0`` and ``"1"`` pass as before).
SchemaVersion = Annotated[int, Field(ge=SCHEMA_VERSION, le=SCHEMA_VERSION)]
_INT: TypeAdapter[int] = TypeAdapter(int)


def _ignored(value: Any) -> None:
    return None


def describe_error(err: ErrorDetails) -> str:
    """The message for one error of a failed validation (an item of ``exc.errors()``).

    ``err["msg"]``, except where the schema's core constraints give pydantic's generic wording;
    there it is the specific message, naming the field and the value.
    """
    kind, value = err["type"], err.get("input")
    if kind == "string_pattern_mismatch":
        pattern = err.get("ctx", {}).get("pattern")
        field = next((p for p in reversed(err["loc"]) if isinstance(p, str)), "value")
        if pattern == _NAME_PATTERN:
            return f"Value error, {field} {value!r} must match [a-z0-9][a-z0-9_-]* (max 63 chars)"
        if pattern == _TYPE_PATTERN:
            return f"Value error, task_type {value!r} must match [a-z][a-z0-9_]* (max 32 chars)"
        if pattern == _TASK_ID_PATTERN:
            return f"Value error, not a task id: {value!r}"
    elif kind in ("greater_than_equal", "less_than_equal") and err["loc"][-1:] == (
        "schema_version",
    ):
        try:
            value = _INT.validate_python(value)
        except ValidationError:
            pass
        return (
            f"Value error, schema_version {value} is not supported "
            f"(this spoold reads {SCHEMA_VERSION})"
        )
    elif kind == "timezone_aware":
        return "Value error, timestamps need a timezone, e.g. 2026-11-25T10:15:30Z"
    return err["msg"]


class FileRef(BaseModel):
    """A file on some device's storage, by path relative to that device's storage root."""

    model_config = ConfigDict(extra="forbid")

    device: Name = Field(description="storage root name, e.g. indoor-nas, shed-nas, server")
    path: str = Field(description="POSIX path relative to the device's storage root")
    type: str | None = Field(
        default=None, description="what the file is: video, gps, keyframes, ..."
    )

    @field_validator("path")
    @classmethod
    def _relative(cls, v: str) -> str:
        if not v or "\x00" in v or "\\" in v:
            raise ValueError(f"path {v!r} must be a non-empty POSIX path")
        # Relative and already normal: no "" segment ("/" first or last, "//"), no "." or ".."
        # segment (a segment starting with "." is first or follows "/").  Checked with str
        # methods because every task read pays for it; PurePosixPath costs ~10 us.
        if v[0] not in "./" and v[-1] != "/" and "//" not in v and "/." not in v:
            return v
        if all(part not in _ODD_SEGMENTS for part in v.split("/")):
            return v  # e.g. ".hidden/a"
        p = PurePosixPath(v)
        if p.is_absolute():
            raise ValueError(
                f"path {v!r} is absolute; give it relative to the device's storage root"
            )
        if ".." in p.parts:
            raise ValueError(f"path {v!r} contains '..'; paths may not leave the storage root")
        return str(p)


AttemptKind = Literal["error", "lease-expired", "worker-died", "interrupted"]


class Attempt(BaseModel):
    """One failed or interrupted run of a task."""

    model_config = ConfigDict(extra="forbid")

    device: str
    at: datetime
    error: str
    kind: AttemptKind = "error"


class ChildSpec(BaseModel):
    """A follow-up task a worker publishes before completing its own task."""

    model_config = ConfigDict(extra="forbid")

    task_type: TaskType
    device_class: Name
    device: Name | None = None
    suffix: str | None = Field(
        default=None, description="distinguishes several children of one type (e.g. per channel)"
    )
    inputs: list[FileRef] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)


class WorkResult(BaseModel):
    """What a worker command writes to ``$SPOOLD_RESULT_FILE`` (all keys optional)."""

    model_config = ConfigDict(extra="forbid")

    outputs: list[FileRef] = Field(default_factory=list)
    children: list[ChildSpec] = Field(default_factory=list)
    result: dict[str, Any] | None = None


class Task(BaseModel):
    """A task record, as stored in ``pending/`` and (with completion fields) in ``complete/``."""

    model_config = ConfigDict(extra="forbid", title="spoold task")

    schema_version: SchemaVersion = Field(
        default=SCHEMA_VERSION, description="layout version of this record"
    )
    task_id: TaskId = Field(description="STAMP-TYPE-KEY; equals the file name without .json")
    task_type: TaskType
    video_id: str | None = None
    device_class: Name = Field(description="which class of device may run the task")
    device: Name | None = Field(default=None, description="pinned to this device (data locality)")
    inputs: list[FileRef] = Field(default_factory=list)
    outputs: list[FileRef] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict, description="stage parameters")
    result: dict[str, Any] | None = Field(default=None, description="stage summary, on completion")
    created_at: AwareDatetime
    completed_at: AwareDatetime | None = None
    completed_by: str | None = None
    parent_task_id: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    not_before: AwareDatetime | None = Field(
        default=None, description="not to be claimed before this"
    )
    # A hand-written "state" (any JSON value) is tolerated and never trusted over the directory:
    # it always reads as None.  (A field validator runs only when the key is there; a "before"
    # model validator would cost every read.)
    state: Annotated[Any, AfterValidator(_ignored)] = Field(
        default=None, description="ignored: the directory a task file lives in is its state"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Task:
        # task_id matched TASK_ID_RE: STAMP and TYPE contain no "-".
        id_type = self.task_id.split("-", 2)[1]
        if id_type != self.task_type:
            raise ValueError(
                f"task_id {self.task_id!r} names type {id_type!r} but task_type is {self.task_type!r}"
            )
        return self

    @property
    def stamp(self) -> str:
        return parse_task_id(self.task_id)[0]

    @property
    def verdict(self) -> Literal["accepted", "rejected", "superseded"]:
        """What a complete record's result says of its input: ``superseded`` (the file's
        newer content is another video: no rejection of the file), ``rejected`` (the ingest
        stage turned the file down) or ``accepted``.  The one reading of these result keys,
        for the CLI, the daemon and the index alike."""
        res = self.result or {}
        if res.get("superseded"):
            return "superseded"
        return "rejected" if res.get("rejected") else "accepted"

    def to_json(self) -> bytes:
        return self.model_dump_json(indent=2, exclude_none=True, exclude={"state"}).encode() + b"\n"


def task_json_schema() -> dict[str, Any]:
    """JSON Schema of a task file, for editors validating hand edits."""
    return Task.model_json_schema()
