"""A task file's schema: deterministic ids, safe paths, and the directory as the only state."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from schemas.task import (
    FileRef,
    Task,
    child_task_id,
    describe_error,
    make_task_id,
    parse_task_id,
    task_json_schema,
)


def first_error(data: dict[str, object]) -> str:
    """``loc: message`` of the first error, as an operator reads it."""
    with pytest.raises(ValidationError) as exc:
        Task.model_validate_json(json.dumps(data))
    err = exc.value.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "task"
    return f"{where}: {describe_error(err)}"


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


@pytest.mark.parametrize(
    ("path", "normal"),
    [("cam/a.mp4", "cam/a.mp4"), ("a//b/", "a/b"), ("./a/./b", "a/b"), (".git/x", ".git/x")],
)
def test_paths_are_kept_normal(path: str, normal: str) -> None:
    assert FileRef(device="indoor-nas", path=path).path == normal


@pytest.mark.parametrize("state", ["complete", 3, None, ["x"], {"a": 1}])
def test_a_state_field_is_ignored_because_the_folder_is_the_state(state: object) -> None:
    for task in (
        Task.model_validate(record(state=state)),
        Task.model_validate_json(json.dumps(record(state=state))),
    ):
        assert task.state is None
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
    assert first_error(record(schema_version="2")) == (
        "schema_version: Value error, schema_version 2 is not supported (this spoold reads 1)"
    )
    assert Task.model_validate_json(json.dumps(record(schema_version=1.0))).schema_version == 1


@pytest.mark.parametrize(
    ("over", "message"),
    [
        (
            {"device_class": "GPU!"},
            "device_class: Value error, device_class 'GPU!' must match [a-z0-9][a-z0-9_-]* "
            "(max 63 chars)",
        ),
        (
            {"inputs": [{"device": "a" * 64, "path": "x"}]},
            f"inputs.0.device: Value error, device {'a' * 64!r} must match [a-z0-9][a-z0-9_-]* "
            "(max 63 chars)",
        ),
        (
            {"task_type": "Detect"},
            "task_type: Value error, task_type 'Detect' must match [a-z][a-z0-9_]* (max 32 chars)",
        ),
        ({"task_id": "x@y"}, "task_id: Value error, not a task id: 'x@y'"),
        (
            {"not_before": "2026-11-25T10:15:30"},
            "not_before: Value error, timestamps need a timezone, e.g. 2026-11-25T10:15:30Z",
        ),
        ({"device": 5}, "device: Input should be a valid string"),
        (
            {"task_type": "ingest"},
            "task: Value error, task_id '20261125T101530Z-detect-clip1' names type 'detect' "
            "but task_type is 'ingest'",
        ),
    ],
)
def test_errors_name_the_field_the_value_and_the_rule(
    over: dict[str, object], message: str
) -> None:
    assert first_error(record(**over)) == message


def test_a_name_with_a_trailing_newline_is_rejected() -> None:
    # A name ends up in a folder or file name: "gpu\n" would make a queue nobody polls.
    assert "device_class 'gpu\\n' must match" in first_error(record(device_class="gpu\n"))
    assert "not a task id" in first_error(record(task_id="20261125T101530Z-detect-clip1\n"))


def test_json_schema_export_describes_the_file() -> None:
    schema = task_json_schema()
    assert {"task_id", "task_type", "device_class", "created_at"} <= set(schema["required"])
    assert "inputs" in schema["properties"] and "attempts" in schema["properties"]
    assert schema["properties"]["device_class"]["pattern"].startswith("^[a-z0-9]")
    assert schema["properties"]["task_id"]["pattern"].startswith("^")
