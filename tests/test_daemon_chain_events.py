"""A device's completion is chained at once when the daemon watches ``complete/`` (a spool on
a local disk), not at the next ``chain_interval_s`` pass."""

from __future__ import annotations

from pathlib import Path

from daemon_support import BASE_TOML, Env, drive

from spoold.demo import samples

# A chain timer no test waits out: a follow-up published within a test came from an event.
SLOW_CHAIN = BASE_TOML.replace("chain_interval_s = 0.2", "chain_interval_s = 60.0").replace(
    "chain_full_interval_s = 1.0", "chain_full_interval_s = 120.0"
)


def test_a_device_completion_gets_its_follow_up_without_waiting_for_the_chain_timer(
    tmp_path: Path,
) -> None:
    env = Env(tmp_path)
    env.write_config(base=SLOW_CHAIN)
    daemon = env.daemon()
    daemon.start()
    try:
        drive(daemon, lambda: daemon.completions.hints is not None, 15, "the watch of complete/")
        samples.make_clip(env.inbox / "Record" / "20190101_120000_NF.mp4", seed=31)
        # The ingest task is the daemon's own: it publishes its follow-up as it completes.
        drive(daemon, lambda: env.tasks("preprocess"), 30, "the preprocess task")
        spool = env.spool()
        claim = spool.claim("jetson", "jetson-01")
        assert claim is not None and claim.task.task_type == "preprocess"
        claim.complete(result={"frames": 0})
        drive(daemon, lambda: env.tasks("detect"), 20, "the detect follow-up")
    finally:
        daemon.shutdown()
    assert daemon.completions.observer is None
