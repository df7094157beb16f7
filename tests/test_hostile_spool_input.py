"""Broken and hostile files in the spool: a specific error naming the file, nothing else touched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from spoolkit import files_under, new_spool, task

from spoold.errors import InvalidTaskFile
from spoold.spool import Spool
from spoold.spool import inspect as spool_inspect

GOOD = "20261125T101530Z-preprocess-clip1"


def bad_file(spool: Spool, name: str, content: bytes) -> Path:
    p = spool.root / "pending/jetson" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(content)
    return p


CASES = [
    ("malformed JSON", b'{"task_id": "x",\n\n "a" 1}', "line 3: expecting ':' delimiter"),
    ("not an object", b"[1, 2]", "expected a JSON object, found list"),
    (
        "validates badly",
        b'{"task_id": "20261125T000000Z-preprocess-v", "task_type": "preprocess", "device_class": "jetson"}',
        "created_at: Field required",
    ),
    (
        "bad path in inputs",
        b'{"task_id": "20261125T000000Z-preprocess-v", "task_type": "preprocess", "device_class": "jetson", "created_at": "2026-11-25T00:00:00Z", "inputs": [{"device": "nas", "path": "/etc/shadow"}]}',
        "inputs.0.path: Value error, path '/etc/shadow' is absolute",
    ),
    (
        "dotdot in inputs",
        b'{"task_id": "20261125T000000Z-preprocess-v", "task_type": "preprocess", "device_class": "jetson", "created_at": "2026-11-25T00:00:00Z", "inputs": [{"device": "nas", "path": "a/../../b"}]}',
        "contains '..'",
    ),
    ("deeply nested", b'{"params": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    ("not UTF-8", b'{"task_id": "\xff\xfe"}', "not UTF-8 text"),
    ("empty", b"", "expecting value"),
]


@pytest.mark.parametrize(("what", "content", "reason"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_task_file_is_reported_with_its_reason_and_quarantined(
    tmp_path: Path, what: str, content: bytes, reason: str
) -> None:
    spool = new_spool(tmp_path)
    p = bad_file(spool, "20261125T000000Z-preprocess-v.json", content)
    with pytest.raises(InvalidTaskFile) as err:
        spool.read(p)
    assert reason in str(err.value)
    assert str(err.value).startswith("pending/jetson/20261125T000000Z-preprocess-v.json")
    assert str(err.value).endswith("— file left in place")
    spool.publish(task(spool))
    rep = spool_inspect.check(spool)  # reported where it is, never moved by check
    assert [(x.kind, x.path) for x in rep.problems] == [
        ("invalid", "pending/jetson/20261125T000000Z-preprocess-v.json")
    ]
    claim = spool.claim("jetson", "j1")
    assert claim is not None and claim.task_id == GOOD  # the queue keeps moving
    moved = p.parent / "invalid" / p.name
    assert not p.exists() and moved.read_bytes() == content  # quarantined, bytes intact
    rep = spool_inspect.check(spool)
    assert [(x.kind, x.path) for x in rep.problems] == [
        ("invalid", "pending/jetson/invalid/20261125T000000Z-preprocess-v.json")
    ]
    assert rep.problems[0].message.startswith(err.value.reason)


def test_a_100_mb_task_file_is_refused_unread(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    p = spool.root / "pending/jetson/20261125T000000Z-preprocess-huge.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "wb") as fh:
        fh.truncate(100 * 1024 * 1024)
    with pytest.raises(
        InvalidTaskFile, match="104857600 bytes; a task file is at most 1048576 bytes"
    ):
        spool.read(p)
    assert spool.claim("jetson", "j1") is None
    assert (p.parent / "invalid" / p.name).stat().st_size == 100 * 1024 * 1024


def test_non_utf8_names_symlinks_and_folders_are_reported_not_followed(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    res = spool.publish(task(spool))
    q = spool.root / "pending/jetson"
    os.close(os.open(os.fsencode(str(q)) + b"/caf\xe9.json", os.O_CREAT | os.O_WRONLY, 0o644))
    secret = tmp_path / "outside.json"
    secret.write_bytes(res.location.path.read_bytes())
    os.symlink(secret, q / "20261125T000000Z-preprocess-link.json")
    (q / "20261125T000001Z-preprocess-dir.json").mkdir()
    (q / ".20261125T101530Z-preprocess-clip1.json.swp").write_text("vim")
    rep = spool_inspect.check(spool)
    kinds = sorted((p.kind, p.path) for p in rep.problems)
    assert kinds == [
        ("stray", "pending/jetson/20261125T000001Z-preprocess-dir.json"),
        ("stray", "pending/jetson/caf\udce9.json"),
        ("symlink", "pending/jetson/20261125T000000Z-preprocess-link.json"),
    ]
    assert rep.ignored == ["pending/jetson/.20261125T101530Z-preprocess-clip1.json.swp"]
    claim = spool.claim("jetson", "j1")
    assert claim is not None and claim.task_id == GOOD
    claim.complete()
    assert spool.claim("jetson", "j1") is None
    assert secret.exists() and (q / "20261125T000000Z-preprocess-link.json").is_symlink()


def test_a_missing_marker_means_not_mounted_not_empty(tmp_path: Path) -> None:
    from spoold.errors import NotASpool

    spool = new_spool(tmp_path)
    (spool.root / ".spoold-spool").unlink()
    with pytest.raises(NotASpool, match="mount the share"):
        Spool(spool.root)
    assert files_under(spool.root) == []  # nothing created in a bare mount point
