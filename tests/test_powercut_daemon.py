"""The daemon on a filesystem that loses power (tests/powercut): what it logged as done survives.

The spool, the daemon's local state (``[daemon] state_dir``), its inbox and the index folder
(``live.duckdb`` and the published snapshot) all live on one power-cut mount.  The daemon
(``Daemon.run``, what ``spoold run`` runs) is forked from this process (imported once) with a
pipeline that goes from ingest to finalize; videos keep arriving in the inbox; the power is
cut at a random instant, the daemon SIGKILLed with it, and everything is checked on the disk
while the power is off, then the daemon starts again.  After every cut:

- every ingest task the daemon logged as published (``ingest.published``) is in the spool,
  and every task it logged as complete (``task.complete``) is in complete/;
- no spool file is torn or names another task's record; ``check --repair`` leaves it clean;
- the index's ``CURRENT.json`` parses, every file it names is there and reads as Parquet (no
  torn file), and its generation is at least the last one the daemon published before the cut
  (a publish returned: it is durable) and never goes back;
- every video whose finalize task is complete is in ``live.duckdb``.

The checker is shown to catch a snapshot publish that does not fsync its folders (the
deliberately broken variant: the manifest's rename and new folders may not survive).
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from daemon_support import Env, distinct_copies
from powercut import PowerCutMount, fuse_missing, write_figures
from test_powercut_spool import repair_clean, spoold_check, survey

from spoold.demo import samples
from spoold.server.daemon import Daemon
from spoold.server.settings import load_settings
from webui_export.index import files as index_files

pytestmark = pytest.mark.skipif(fuse_missing() is not None, reason=fuse_missing() or "")

CONFIG = """
[index]
dir = "index"
publish_interval_s = 0.2

[pipeline.stages.ingest]
next = ["finalize"]

[pipeline.stages.finalize]
next = []

[maintenance]
index_interval_s = 1e9
cleanup_interval_s = 1e9
"""
#: What the daemon logs that the checker holds it to (the handler below forwards these).
LOGGED = ("ingest.published", "task.complete")


@pytest.fixture(params=["strict", "ext4"])
def mount(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[PowerCutMount]:
    with PowerCutMount(tmp_path / "pc", request.param) as m:
        yield m


class _Forward(logging.Handler):
    """Forwards the daemon's log events the checker needs, one JSON line per event."""

    def __init__(self, out: int) -> None:
        super().__init__(logging.INFO)
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "event", None)
        if event in LOGGED:
            line = {"event": event, "task_id": getattr(record, "task_id", None)}
            line["type"] = getattr(record, "type", None)
            os.write(self.out, (json.dumps(line) + "\n").encode())


def _daemon_child(config: Path, out: int, broken: bool) -> None:
    """The forked daemon: ``Daemon.run`` with its events and every manifest it published
    (``write_manifest`` returned: durable, says its contract) written to ``out``."""
    root = logging.getLogger()
    root.handlers = [_Forward(out)]
    root.setLevel(logging.INFO)
    real_write = index_files.write_manifest

    def write_manifest(index_dir: Path, manifest: index_files.Manifest) -> None:
        real_write(index_dir, manifest)
        line = {"event": "index.manifest", "generation": manifest.generation}
        os.write(out, (json.dumps(line) + "\n").encode())

    index_files.write_manifest = write_manifest
    if broken:  # the deliberately broken variant: the index never syncs a folder
        index_files.fsync_dir = lambda path: None
    daemon = Daemon(load_settings(config))
    daemon.install_signal_handlers()
    daemon.run()


class DaemonStorm:
    """One daemon setup on ``mount`` and what the checker remembers across cuts."""

    def __init__(self, mount: PowerCutMount, name: str, seed: int) -> None:
        self.mount = mount
        self.env = Env(mount.mnt / name, extra=CONFIG)
        self.name = name
        self.rng = random.Random(seed)
        self.src = samples.make_clip(mount.workdir / "src.mp4", seed=seed % 1000)
        self.arrived = 0
        self.arrive(4, self.env.inbox)
        mount.sync()
        self.published: set[str] = set()  # ingest tasks logged as published
        self.completed: set[str] = set()  # tasks logged complete
        self.generation = 0  # the highest generation published before a cut
        self.figures = {"cuts": 0, "events": 0, "finalized": 0}
        self.spent = {"daemon": 0.0, "cut": 0.0, "verify": 0.0}
        self.repaired: Counter[str] = Counter()

    def arrive(self, n: int, inbox: Path) -> None:
        """``n`` new, distinct videos in the inbox (a day folder per batch)."""
        distinct_copies(self.src, inbox / f"day{self.arrived}", n, prefix=f"v{self.arrived}-")
        self.arrived += n

    def fork_daemon(self, broken: bool = False) -> tuple[int, int]:
        """The daemon in a child process; its pid and the read end of its event pipe."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child process
            os.close(r)
            status = 0
            try:
                _daemon_child(self.env.config, w, broken)
            except BaseException:
                traceback.print_exc()
                status = 1
            finally:
                os._exit(status)
        os.close(w)
        return pid, r

    def run_until_cut(self, run_s: float, policy: str, *, broken: bool = False) -> None:
        pid, r = self.fork_daemon(broken)
        time.sleep(run_s)
        done, status = os.waitpid(pid, os.WNOHANG)
        assert not done, f"the daemon exited on its own (status {status}) before the cut"
        t0 = time.monotonic()
        self.mount.cut(policy, self.rng.randrange(1 << 30), victims=[pid], resume=False)
        self.spent["daemon"] += run_s
        self.spent["cut"] += time.monotonic() - t0
        self.figures["cuts"] += 1
        self.take_events(r)

    def take_events(self, r: int) -> None:
        """Read what the daemon logged (it is dead: the pipe is at its end)."""
        with os.fdopen(r, "rb") as stream:
            lines = stream.read().decode().splitlines()
        events = [json.loads(line) for line in lines if line.endswith("}")]
        self.figures["events"] += len(events)
        for ev in events:
            if ev["event"] == "ingest.published":
                self.published.add(ev["task_id"])
            elif ev["event"] == "task.complete":
                self.completed.add(ev["task_id"])
            elif ev["event"] == "index.manifest":
                self.generation = max(self.generation, ev["generation"])

    def verify(self, where: str) -> None:
        """The invariants, on the disk while the power is off (AssertionError names the
        first one broken); the spool is left repaired, a few new videos arrive."""
        disk = self.mount.backing / self.name
        spool_root = disk / "spool"
        found = survey(spool_root)
        torn = {p for ps in found.values() for p, inside in ps if inside is None}
        assert not torn, f"{where}: spool files that do not parse: {sorted(torn)}"
        wrong = {p: i for t, ps in found.items() for p, i in ps if i not in (t, None)}
        assert not wrong, f"{where}: files named for one task hold another's record: {wrong}"
        lost = sorted((self.published | self.completed) - found.keys())
        assert not lost, f"{where}: tasks the daemon logged as published or done are gone: {lost}"
        undone = sorted(
            t for t in self.completed if not any(p.startswith("complete/") for p, _ in found[t])
        )
        assert not undone, f"{where}: tasks the daemon logged complete are not: {undone}"

        index_dir = disk / "index"
        manifest = index_files.read_manifest(index_dir)  # raises on a torn manifest
        generation = manifest.generation if manifest else 0
        assert generation >= self.generation, (
            f"{where}: the index is back at generation {generation}; generation "
            f"{self.generation} was published before the cut"
        )
        self.generation = generation
        if manifest is not None:
            missing = [p for p in manifest.all_paths() if not (index_dir / p).is_file()]
            assert not missing, f"{where}: files the manifest names are gone: {missing}"
            con = duckdb.connect()
            try:
                for rel in manifest.all_paths():
                    con.execute(
                        "SELECT count(*) FROM read_parquet($p)", {"p": str(index_dir / rel)}
                    )
            finally:
                con.close()
        finalized = {
            json.loads(p.read_bytes())["video_id"]
            for p in spool_root.glob("complete/*/*-finalize-*.json")
        }
        self.figures["finalized"] = len(finalized)
        if finalized:
            con = duckdb.connect(str(index_dir / index_files.LIVE_DB), read_only=True)
            try:
                indexed = {row[0] for row in con.execute("SELECT video_id FROM videos").fetchall()}
            finally:
                con.close()
            unindexed = sorted(finalized - indexed)
            assert not unindexed, f"{where}: finalized videos missing from the index: {unindexed}"

        self.repaired += repair_clean(spool_root, where)
        if self.rng.random() < 0.5:
            self.arrive(self.rng.randint(1, 2), disk / "indoor-nas" / "cams")

    def running(self, pid: int) -> bool:
        """The daemon ``pid`` says it runs (its status file): started, signals handled."""
        try:
            status = json.loads((self.env.spool_root / "daemon" / "status.json").read_bytes())
        except (OSError, ValueError):
            return False
        return bool(status.get("pid") == pid and status.get("state") == "running")

    def drain(self, timeout: float) -> float:
        """After the storm: the daemon, left alone, ingests and finalizes every video that
        arrived (nothing a cut left behind is forgotten), and stops cleanly on SIGTERM.
        Returns how long that took (seconds, to the last finalize)."""
        started = time.monotonic()
        pid, r = self.fork_daemon()
        spool = self.env.spool_root
        deadline = time.monotonic() + timeout
        while True:
            finalized = list(spool.glob("complete/*/*-finalize-*.json"))
            if len(finalized) >= self.arrived and self.running(pid):
                break
            if time.monotonic() > deadline or os.waitpid(pid, os.WNOHANG)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError(
                    f"{len(finalized)} of {self.arrived} videos finalized {timeout} s after the storm"
                )
            time.sleep(0.2)
        took = time.monotonic() - started
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        assert status == 0, f"the daemon did not stop cleanly: status {status}"
        self.take_events(r)
        records = [json.loads(p.read_bytes()) for p in spool.glob("complete/*/*.json")]
        for task_type in ("ingest", "finalize"):
            videos = [r["video_id"] for r in records if r["task_type"] == task_type]
            assert len(videos) == len(set(videos)) == self.arrived, (
                f"{task_type}: {len(videos)} completed for {len(set(videos))} videos "
                f"of the {self.arrived} that arrived"
            )
        return took


def _storm(mount: PowerCutMount, cuts: int, seed: int, *, broken: bool = False) -> DaemonStorm:
    storm = DaemonStorm(mount, "daemon", seed)
    for n in range(cuts):
        policy = storm.rng.choice(("drop", "prefix", "subset"))
        storm.run_until_cut(storm.rng.uniform(0.2, 2.0), policy, broken=broken)
        t0 = time.monotonic()
        storm.verify(f"after cut {n + 1} ({mount.mode}, {policy})")
        mount.resume(rescan=True)
        storm.spent["verify"] += time.monotonic() - t0
    return storm


#: Cuts per mode (strict and ext4 each) in CI; ``SPOOLD_POWERCUT_DAEMON_CUTS`` for more.
DAEMON_CUTS = int(os.environ.get("SPOOLD_POWERCUT_DAEMON_CUTS", "25"))


@pytest.mark.parametrize("mount", ["strict"], indirect=True)
def test_the_storm_catches_an_index_that_does_not_sync_its_folders(mount: PowerCutMount) -> None:
    """The checker is not blind: a snapshot publish whose renames and new folders are never
    synced into their folders loses a published generation at a cut."""
    storm = DaemonStorm(mount, "daemon", 7)
    with pytest.raises(AssertionError, match="index is back at generation"):
        for n in range(12):
            storm.run_until_cut(2.0, "drop", broken=True)
            storm.verify(f"after cut {n + 1} (index folders never synced)")
            mount.resume(rescan=True)


@pytest.mark.slow
def test_power_cut_storm_daemon_and_index(mount: PowerCutMount) -> None:
    started = time.monotonic()
    storm = _storm(mount, DAEMON_CUTS, 2026)
    drain_s = storm.drain(120)
    mount.sync()
    storm.verify(f"after the drain ({mount.mode})")  # on the disk, as the cuts' checks
    mount.resume(rescan=True)  # the repair changed the disk under the layer
    after = spoold_check(storm.env.spool_root)
    assert after.returncode == 0, after.stdout + after.stderr
    figures: dict[str, Any] = {"test": "daemon", "mode": mount.mode, **storm.figures}
    figures["videos_arrived"] = storm.arrived
    figures["ingests_published"] = len(storm.published)
    figures["index_generation"] = storm.generation
    figures["repaired"] = dict(storm.repaired)
    figures["drain_s"] = round(drain_s, 1)
    figures["seconds"] = round(time.monotonic() - started, 1)
    figures["seconds_by_phase"] = {k: round(v, 1) for k, v in storm.spent.items()}
    figures["load"] = round(os.getloadavg()[0], 1)
    write_figures(f"daemon-{mount.mode}", figures)
    assert storm.published and storm.generation > 0, figures
