"""Issue 13: rejections and file-to-task lookups are visible from the spool.

``spoold status`` (plain and --json) counts rejected files from the spool's complete ingest
records, ``spoold ls --rejected`` lists them with reasons, ``spoold ls --path`` and ``spoold
show PATH`` go from a file to its tasks.  The spool is filled by the real daemon ingesting
generated clips, a text file and a zero-tail copy; the counts are read with no daemon.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from daemon_support import Env, drive

from spoold.cli.main import cli
from spoold.demo import samples
from spoold.server import media


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
