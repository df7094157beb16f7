"""Operators' fixes are never undone, and the fleet tries one bad content once.

Real ``spoold work`` processes claim from one queue while this process plays the operator:
it saves broken task files and then their fixes the way editors save (a temp file renamed
over the name).  A worker that claims a broken file moves it to ``invalid/``
(spool_layout.md §4.8); it never renames it back over the name, where the fix may have
landed meanwhile.  So every fix is run with its fixed content, and every broken copy that was
claimed is in ``invalid/``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from spoolkit import new_spool

from spoold.spool import Spool

DAY = "2026-01-01"
BROKEN = b'{"task_id": "broken",\n  "oops"\n'


def start_workers(root: Path, n: int, tmp_path: Path) -> list[tuple[subprocess.Popen[bytes], Path]]:
    """``n`` workers of class cpu, polling every 10-50 ms; each one's stderr goes to a file."""
    procs = []
    for i in range(n):
        err = tmp_path / f"w{i}.err"
        cmd = [sys.executable, "-m", "spoold", "work", "--spool", str(root), "--class", "cpu"]
        cmd += ["--device", f"w{i}", "--poll", "0.01", "--max-poll", "0.05", "--", "true"]
        with open(err, "wb") as fh:
            procs.append((subprocess.Popen(cmd, stderr=fh, stdout=subprocess.DEVNULL), err))
    return procs


def stop_workers(procs: list[tuple[subprocess.Popen[bytes], Path]]) -> str:
    """SIGTERM each worker (it releases what it holds), wait, and return their stderr."""
    for p, _ in procs:
        p.send_signal(signal.SIGTERM)
    for p, _ in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:  # report the test's own failure, not this one
            p.kill()
            p.wait()
    return "".join(err.read_text() for _, err in procs)


def save_like_an_editor(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.swp")
    tmp.write_bytes(data)
    os.rename(tmp, path)


def complete_ids(root: Path) -> list[str]:
    try:
        return sorted(n for n in os.listdir(root / "complete" / DAY) if n.endswith(".json"))
    except FileNotFoundError:
        return []


def wait_for(cond, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow
def test_no_fix_is_reverted_while_three_workers_claim_the_broken_copies(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    root = spool.root
    queue = root / "pending/cpu"
    queue.mkdir()
    (queue / "claimed").mkdir()
    (queue / "deferred").mkdir()
    n_fixes = 200
    fixed: dict[str, bytes] = {}
    for i in range(n_fixes):
        t = spool.new_task("work", "cpu", f"t{i:04d}", stamp="20260101T000000Z")
        fixed[t.task_id] = t.model_copy(update={"params": {"fixed": i}}).to_json()
    procs = start_workers(root, 3, tmp_path)
    rng = random.Random(12)
    try:
        for i in range(3):  # one each, so that all three are polling before the race starts
            spool.publish(spool.new_task("work", "cpu", f"warm{i}", stamp="20260101T000000Z"))
        wait_for(lambda: len(complete_ids(root)) == 3, 120, "the workers to start")
        ids = list(fixed)
        for first in range(0, n_fixes, 10):  # ten broken files, then their ten fixes
            batch = ids[first : first + 10]
            for task_id in batch:
                save_like_an_editor(queue / f"{task_id}.json", BROKEN)
            time.sleep(rng.uniform(0.0, 0.08))  # long enough for some to be claimed first
            for task_id in batch:
                save_like_an_editor(queue / f"{task_id}.json", fixed[task_id])
        wait_for(lambda: len(complete_ids(root)) >= n_fixes + 3, 180, "every fix to complete")
    finally:
        log = stop_workers(procs)
    done = {}
    for name in complete_ids(root):
        record = json.loads((root / "complete" / DAY / name).read_bytes())
        if "-warm" not in name:
            done[record["task_id"]] = record["params"]
    assert done == {tid: json.loads(good)["params"] for tid, good in fixed.items()}
    invalid = sorted((queue / "invalid").iterdir()) if (queue / "invalid").exists() else []
    assert invalid, "no broken copy was claimed: the race did not happen"
    assert all(p.read_bytes() == BROKEN for p in invalid)
    assert log.count("moved to pending/cpu/invalid/") == len(invalid)
    leftovers = [n for n in os.listdir(queue) if n.endswith(".json")]
    assert leftovers == [] and os.listdir(queue / "claimed") == []
    print(f"{len(invalid)} broken copies claimed and quarantined, {n_fixes} fixes run")


@pytest.mark.slow
def test_four_workers_claim_one_bad_file_once_per_content_change(tmp_path: Path) -> None:
    """Over a minute, an operator saves five different broken contents under one task name
    (each once the fleet has dealt with the last): four workers polling every 10-50 ms claim
    each content exactly once between them, so there are as many claims and reports as
    contents, never one per worker or per poll."""
    spool = new_spool(tmp_path)
    root = spool.root
    queue = root / "pending/cpu"
    queue.mkdir()
    bad = queue / "20260101T000000Z-work-bad.json"
    invalid = queue / "invalid"
    contents = [BROKEN[:-2] + f'{i}"\n'.encode() for i in range(5)]
    procs = start_workers(root, 4, tmp_path)
    started = time.monotonic()
    try:
        for i, content in enumerate(contents):
            save_like_an_editor(bad, content)
            wait_for(
                lambda n=i + 1: invalid.exists() and len(os.listdir(invalid)) == n,
                60,
                "the quarantine",
            )
            # 10 s a content: some 200+ polls per worker in which a re-claim would show
            time.sleep(max(0.0, started + 12.0 * (i + 1) - time.monotonic()))
        assert Spool(root).task_ids("cpu") == set()
    finally:
        log = stop_workers(procs)
    assert time.monotonic() - started >= 60.0
    held = sorted(invalid.iterdir(), key=lambda p: (len(p.name), p.name))
    assert [p.read_bytes() for p in held] == contents  # each content once, in order, kept
    claims = log.count(bad.name + ":")
    assert claims == len(contents), log  # one claim and one report per content, fleet-wide
