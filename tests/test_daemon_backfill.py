"""`spoold backfill` ingests an existing archive with a progress bar and a rate, and the
commands are added to the `spoold` group by `register`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import click
from click.testing import CliRunner
from daemon_support import Env, cli_cmd, distinct_copies

from spoold.cli.server import register
from spoold.demo import samples
from spoold.spool.lease import DaemonLease


def spoold_group() -> click.Group:
    @click.group()
    def cli() -> None:
        """spoold (test group)."""

    register(cli)
    return cli


def test_register_adds_run_and_backfill_with_help() -> None:
    cli = spoold_group()
    assert {"run", "backfill"} <= set(cli.commands)
    for name in ("run", "backfill"):
        res = CliRunner().invoke(cli, [name, "--help"])
        assert res.exit_code == 0 and "Example: spoold " + name in res.output


def test_backfill_ingests_an_archive_with_progress_and_rate(tmp_path: Path) -> None:
    env = Env(tmp_path)
    src = samples.make_clip(env.base / "src.mp4", seconds=1, seed=90)
    distinct_copies(src, env.inbox / "2024", 60)
    samples.make_fake_video(env.inbox / "2024" / "broken.mp4")
    (env.inbox / "2024" / "dup.mp4").write_bytes(
        (env.inbox / "2024" / "clip00000.mp4").read_bytes()
    )
    proc = subprocess.run(
        cli_cmd("backfill", "--config", str(env.config), "--stable-s", "0.2"),
        capture_output=True,
        text=True,
        timeout=300,  # a bound for a hung run, not a speed claim (~10 s; 120 s at load 10+)
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "62/62" in proc.stderr and "file/s" in proc.stderr  # tqdm's bar: count and rate
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith("backfill: 62 files in ")
    assert "files/s): 61 new videos, 1 duplicates, 61 ingested (1 rejected), 0 left" in summary
    assert len(env.complete("ingest")) == 61 and len(env.tasks("preprocess")) == 60
    assert (env.spool_root / "daemon" / "free.lease").exists()


def test_backfill_refuses_while_a_daemon_runs(tmp_path: Path) -> None:
    env = Env(tmp_path)
    lease = DaemonLease(env.spool(), lease_s=30)
    lease.acquire()
    res = CliRunner().invoke(spoold_group(), ["backfill", "--config", str(env.config)])
    assert res.exit_code == 1
    assert "a spoold daemon is already running for this spool" in res.output
    lease.release()
