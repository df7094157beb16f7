"""JSON Schema export of every on-disk format (``spoold schema all``).

Public API: :func:`all_schemas`.
"""

from __future__ import annotations

from typing import Any

from schemas.metadata import DetectionsFile, GpsTrackFile, PlatesFile, VideoMeta
from schemas.task import Task, WorkResult


def all_schemas() -> dict[str, dict[str, Any]]:
    """Name -> JSON Schema, for task files, worker results and metadata files."""
    return {
        "task": Task.model_json_schema(),
        "work-result": WorkResult.model_json_schema(),
        "detections": DetectionsFile.model_json_schema(),
        "gps": GpsTrackFile.model_json_schema(),
        "plates": PlatesFile.model_json_schema(),
        "video": VideoMeta.model_json_schema(),
    }
