"""The daemon SIGKILLed in the middle of ingesting, then restarted: every video ingested
exactly once, every follow-up published exactly once, nothing left claimed."""

from __future__ import annotations

from pathlib import Path

from daemon_support import DaemonProcess, Env, distinct_copies, wait_until

from spoold import samples

N = 40


def test_sigkill_mid_ingest_then_restart_loses_and_doubles_nothing(tmp_path: Path) -> None:
    env = Env(tmp_path)
    src = samples.make_clip(env.base / "src.mp4", seed=80)
    distinct_copies(src, env.inbox / "day1", N)
    samples.make_empty(env.inbox / "day1" / "empty.mp4")
    first = DaemonProcess(env).start()
    wait_until(lambda: env.complete("ingest"), 30, "a first completed ingest")
    first.kill()
    done_before = len(env.complete("ingest"))
    # More clips arrive while the daemon is down.
    distinct_copies(src, env.inbox / "day2", 5, prefix="late")
    second = DaemonProcess(env, "daemon2").start()
    try:
        wait_until(
            lambda: len(env.complete("ingest")) == N + 6 and len(env.tasks("preprocess")) == N + 5,
            60,
            "every ingest and follow-up",
        )
    finally:
        assert second.stop() == 0, second.output()
    assert done_before < N + 6, "the kill came too late to be mid-ingest"
    tasks = env.tasks()
    assert all(len(where) == 1 for where in tasks.values()), {
        k: v for k, v in tasks.items() if len(v) > 1
    }
    assert not list(env.spool_root.glob("pending/*/claimed/*"))
    ingests = env.complete("ingest")
    assert len({r["video_id"] for r in ingests.values()}) == N + 6
    assert sum("rejected" in r["result"] for r in ingests.values()) == 1
