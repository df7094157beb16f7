"""Pydantic models for everything spoold writes to disk, and their JSON Schema export.

Pure data, no I/O: ``spoold`` (the spool, daemon, workers) and ``webui_export`` import these.
"""

from schemas.task import (
    SCHEMA_VERSION,
    Attempt,
    ChildSpec,
    FileRef,
    Task,
    WorkResult,
    child_task_id,
    make_task_id,
    parse_task_id,
)

__all__ = [
    "SCHEMA_VERSION",
    "Attempt",
    "ChildSpec",
    "FileRef",
    "Task",
    "WorkResult",
    "child_task_id",
    "make_task_id",
    "parse_task_id",
]
