"""A task file's schema: deterministic ids, safe paths, and the directory as the only state."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from schemas.task import FileRef, Task, child_task_id, make_task_id, parse_task_id, task_json_schema


def record(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "task_id": "20261125T101530Z-detect-clip1",
        "task_type": "detect",
        "device_class": "gpu",
        "created_at": "2026-11-25T10:15:30Z",
    }
    base.update(over)
    return base


def test_ids_are_stamp_type_key_and_children_derive_from_parents() -> None:
    tid = make_task_id(datetime(2026, 11, 25, 10, 15, 30, tzinfo=timezone.utc), "ingest", "v3fa9")
    assert tid == "20261125T101530Z-ingest-v3fa9"
    assert parse_task_id(tid) == ("20261125T101530Z", "ingest", "v3fa9")
    assert child_task_id(tid, "preprocess") == "20261125T101530Z-preprocess-v3fa9"
    assert child_task_id(tid, "detect", "rear") == "20261125T101530Z-detect-v3fa9.rear"


@pytest.mark.parametrize(
    "bad", ["20261125-ingest-x", "20261125T101530Z-Ingest-x", "20261125T101530Z-ingest-", "x@y"]
)
def test_malformed_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_task_id(bad)


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/etc/passwd", "absolute"), ("cam/../../etc", "'..'"), ("", "non-empty"), ("a\\b", "POSIX")],
)
def test_paths_must_stay_inside_their_storage_root(path: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        FileRef(device="indoor-nas", path=path)


def test_a_state_field_is_ignored_because_the_folder_is_the_state() -> None:
    task = Task.model_validate(record(state="complete"))
    assert "state" not in json.loads(task.to_json())


def test_task_type_must_match_the_id() -> None:
    with pytest.raises(ValidationError, match="names type 'detect' but task_type is 'ingest'"):
        Task.model_validate(record(task_type="ingest"))


def test_naive_timestamps_and_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Task.model_validate(record(created_at="2026-11-25T10:15:30"))
    with pytest.raises(ValidationError, match="Extra inputs"):
        Task.model_validate(record(priority=3))


def test_schema_version_is_checked() -> None:
    with pytest.raises(ValidationError, match="schema_version 2 is not supported"):
        Task.model_validate(record(schema_version=2))


def test_json_schema_export_describes_the_file() -> None:
    schema = task_json_schema()
    assert {"task_id", "task_type", "device_class", "created_at"} <= set(schema["required"])
    assert "inputs" in schema["properties"] and "attempts" in schema["properties"]
