"""Issue 13: rejections and file-to-task lookups are visible from the spool.

``spoold status`` (plain and --json) counts rejected files from the spool's complete ingest
records, ``spoold ls --rejected`` lists them with reasons, ``spoold ls --path`` and ``spoold
show PATH`` go from a file to its tasks.  The spool is filled by the real daemon ingesting
generated clips, a text file and a zero-tail copy; the counts are read with no daemon.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from daemon_support import Env, drive

from spoold.cli import rejections
from spoold.cli.main import cli
from spoold.demo import samples
from spoold.server import media
from spoold.spool import Spool


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    env = Env(tmp_path_factory.mktemp("lookup"))
    samples.make_clip(env.inbox / "ok" / "20190101_120000_NF.mp4", seed=31)
    samples.make_fake_video(env.inbox / "bad" / "text.mp4")
    src = samples.make_clip(env.base / "src.mp4", seed=32)
    samples.make_zero_tail_copy(src, env.inbox / "bad" / "zero.mp4")
    fixed = samples.make_fake_video(env.inbox / "later" / "fixed.mp4")  # replaced below
    with open(fixed, "a") as fh:  # not the same bytes as text.mp4 (that would be one video)
        fh.write("another one\n")
    daemon = env.daemon()
    daemon.start()
    try:
        drive(daemon, lambda: len(env.complete("ingest")) == 4, 30, "4 ingest records")
        # The rejected file is replaced by a real clip: its new video is ingested, and the
        # file no longer counts as rejected.
        samples.make_clip(env.base / "fixed.mp4", seed=33).replace(
            env.inbox / "later" / "fixed.mp4"
        )
        drive(daemon, lambda: len(env.complete("ingest")) == 5, 30, "the replaced file")
    finally:
        daemon.shutdown()
    return env


def cli_out(env: Env, *args: str) -> str:
    res = CliRunner().invoke(cli, [*args, "--spool", str(env.spool_root)])
    assert res.exit_code == 0, res.output
    return res.output


def cli_json(env: Env, *args: str) -> Any:
    return json.loads(cli_out(env, *args, "--json"))


def test_status_counts_rejected_files_from_the_spool(env: Env) -> None:
    assert cli_json(env, "status")["rejected"] == 2
    assert "rejected: 2 file(s)" in cli_out(env, "status")


def test_ls_rejected_lists_each_rejected_file_with_its_reason(env: Env) -> None:
    rows = cli_json(env, "ls", "--rejected")
    by_path = {r["path"]: r for r in rows}
    assert set(by_path) == {"cams/bad/text.mp4", "cams/bad/zero.mp4"}
    assert by_path["cams/bad/text.mp4"]["reason"] == media.REASON_NOT_MEDIA
    assert by_path["cams/bad/zero.mp4"]["reason"] == media.REASON_ZERO_TAIL
    plain = cli_out(env, "ls", "--rejected")
    assert "indoor-nas:cams/bad/zero.mp4" in plain and media.REASON_ZERO_TAIL in plain


def test_ls_path_finds_a_files_tasks_with_video_id_inputs_and_outcome(env: Env) -> None:
    ok = env.inbox / "ok" / "20190101_120000_NF.mp4"
    rows = cli_json(env, "ls", "--path", "cams/ok/*.mp4")
    types = sorted(r["task_id"].split("-")[1] for r in rows)
    assert types == ["ingest", "preprocess"]
    for r in rows:
        assert r["video_id"] == media.fingerprint(ok)
        assert r["inputs"][0]["path"] == "cams/ok/20190101_120000_NF.mp4"
    [ing] = [r for r in rows if "-ingest-" in r["task_id"]]
    assert ing["outcome"] == "complete"
    folder = cli_json(env, "ls", "--path", "indoor-nas:cams/bad")
    assert sorted(r["outcome"] for r in folder) == [
        f"rejected: {media.REASON_NOT_MEDIA}",
        f"rejected: {media.REASON_ZERO_TAIL}",
    ]
    assert cli_json(env, "ls", "--path", "other-root:cams/bad") == []


def test_show_path_prints_every_task_of_the_file(env: Env) -> None:
    rows = cli_json(env, "show", "cams/later/fixed.mp4")
    outcomes = sorted(r["outcome"] for r in rows if "-ingest-" in r["task"]["task_id"])
    assert outcomes == ["complete", f"rejected: {media.REASON_NOT_MEDIA}"]
    assert all(r["video_id"] == r["task"]["video_id"] for r in rows)
    res = CliRunner().invoke(cli, ["show", "cams/nothing.mp4", "--spool", str(env.spool_root)])
    assert res.exit_code == 1 and "neither a task id nor the path" in res.output


# ---------------------------------------------------------------- the rejections cache


def _counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    real = Spool.read

    def read(self: Spool, path: str | Path) -> Any:
        reads.append(str(path))
        return real(self, path)

    monkeypatch.setattr(Spool, "read", read)
    return reads


def _age_day_folders(spool: Spool) -> None:
    """Day folders last changed a minute ago: outside the racy window of their mtime."""
    for day in spool.complete_days():
        folder = spool.layout.complete / day
        t = os.stat(folder).st_mtime - 60
        os.utime(folder, (t, t))


def test_rejections_read_each_record_once_then_only_what_changed(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(env.spool_root)
    _age_day_folders(spool)
    reads = _counting_reads(monkeypatch)
    first = rejections.rejections(spool, cache_dir=tmp_path)
    assert len(reads) == 5  # every ingest record, once
    assert {r["path"] for r in first} == {"cams/bad/text.mp4", "cams/bad/zero.mp4"}

    reads.clear()
    assert rejections.rejections(spool, cache_dir=tmp_path) == first
    assert reads == []  # nothing changed: not one record read (nor a day listed)

    # A new rejection lands (another day's folder): only it is read, and it counts.
    [text] = [r for r in first if r["path"] == "cams/bad/text.mp4"]
    _, task = spool.get(text["task_id"])
    later = task.model_copy(update={"task_id": "20301231T000000Z-ingest-again"})
    folder = spool.layout.complete / "2030-12-31"
    folder.mkdir()
    (folder / "20301231T000000Z-ingest-again.json").write_text(later.model_dump_json())
    reads.clear()
    again = rejections.rejections(spool, cache_dir=tmp_path)
    assert [Path(p).name for p in reads] == ["20301231T000000Z-ingest-again.json"]
    assert [r["task_id"] for r in again if r["path"] == "cams/bad/text.mp4"] == [later.task_id]
    (folder / "20301231T000000Z-ingest-again.json").unlink()
    folder.rmdir()


@pytest.mark.parametrize("damage", ["garbage", "wrong shapes", "unwritable"])
def test_a_damaged_or_unwritable_cache_changes_nothing(
    env: Env, tmp_path: Path, damage: str
) -> None:
    spool = Spool(env.spool_root)
    want = rejections.rejections(spool, cache_dir=tmp_path / "clean")
    cache = tmp_path / "damaged"
    rejections.rejections(spool, cache_dir=cache)
    [cache_file] = cache.iterdir()
    if damage == "garbage":
        cache_file.write_bytes(b"\x00{not json")
    elif damage == "wrong shapes":
        days = {d: {"v": "x", "t": []} for d in spool.complete_days()}
        cache_file.write_text(json.dumps({"format": 1, "days": days}))
    else:
        cache = tmp_path / "file-not-a-folder"
        cache.write_text("")
    assert rejections.rejections(spool, cache_dir=cache) == want
