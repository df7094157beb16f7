"""Crash storm over the whole pipeline: the daemon and the workers SIGKILLed at random, again
and again, while videos keep arriving -- and still every video is ingested, processed and
indexed exactly once.

Real processes, local disk:

* the daemon is ``spoold run`` (ingest, chaining, finalize into the DuckDB index of
  ``[index] dir``, archive), restarted after every kill;
* the device stages run under real ``spoold work`` processes: two of class ``jetson``
  (``preprocess``) and two of class ``gpu`` (``detect``).  ``jetson-01`` and ``gpu-01`` keep
  their device name across restarts (a restarted device re-takes its own dead claims at
  once); the other two get a new name each time (their dead claims come back only when the
  lease, 5 s, runs out and someone breaks them);
* the COMMAND those workers run is a stand-in, ``procs/storm_stage.py``: it keeps the
  reference workers' contract (checks its input video, writes the ``gps`` /
  ``detections`` / ``plates`` files of ``schemas/metadata.py`` atomically under
  ``meta/<video_id>/<stage>/``, names them in its result) but not their cost (ffmpeg, OCR at
  ~0.3 s per keyframe), and its output is a pure function of the video id, so the test knows
  what the index must hold for each video;
* the videos are real MP4s (``samples.make_clip``, made distinct), so ingest really runs
  pymediainfo; a few are not videos at all and must be rejected, and two are byte-identical
  copies of others (same video, one ingest).  They arrive throughout the storm the way a
  NAS sync delivers them: written under a dotfile name in the inbox, then renamed; the
  NAS's replication has put the archival copy on ``shed-nas`` first.

The killer (:class:`Killer`) sends SIGKILL to the processes at random moments: the daemon
(a quarter of its lives while it is still starting, the others within 1.2 s of having
started), each ``spoold work`` runtime (a random lifetime from its spawn), and most worker
COMMAND runs while they run (a killed command is a failed attempt; a killed runtime leaves a
dead claim).  Every killed process is restarted at once.  The storm stops when there were at
least ``KILLS`` kills, of which ``DAEMON_KILLS`` of the daemon and ``RUNTIME_KILLS`` of
``spoold work``, and every video has been delivered; it ends with one last SIGKILL of every
process.  Then everything is started clean and left to drain, and stopped with SIGTERM.

Asserted afterwards:

* no process ever exited on its own (no crash, no crash loop): every incarnation but the last
  died of our SIGKILL, and the last ones stop cleanly (exit 0);
* every video was ingested exactly once and each of its five stages' task exists exactly once,
  in ``complete/``; a rejected file has its ingest task only; no other task exists (except the
  daemon's periodic ``cleanup``/``index`` tasks, each once);
* every video is in the index exactly once -- in ``live.duckdb`` and in the published
  snapshot -- with exactly the detections, GPS fixes and plate reads the stand-in wrote (a
  doubled or half-indexed video shows);
* every file under ``pending/`` and ``complete/`` parses and validates; nothing is left
  pending; the only leftovers are the ones ``test_crash_kill.py`` lists (stale claims of
  completed tasks; temp files, spares and clock probes of killed processes);
  ``check --repair`` removes exactly those, and ``spoold check`` then exits 0.

The figures (kills of each kind, videos, tasks, runs and re-runs, duration, load) are printed
and written to ``test-output/crash_storm_pipeline.json`` (and appended to
``crash_storm_pipeline-runs.jsonl``); docs/reliability.md quotes them.  Longer runs:
``SPOOLD_STORM_KILLS``, ``SPOOLD_STORM_DAEMON_KILLS``, ``SPOOLD_STORM_RUNTIME_KILLS``,
``SPOOLD_STORM_VIDEOS``, ``SPOOLD_STORM_DELIVERY_S``; ``SPOOLD_STORM_SEED`` repeats the test's
own random choices (printed with a failure).
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from daemon_support import MAIN, Env, cli_cmd, distinct_copies, wait_until
from spoolkit import age_tmp_files, spoold, temp_file_pid

from schemas.task import parse_task_id
from spoold.demo import samples
from spoold.server import media
from spoold.spool import Spool
from spoold.spool import inspect as spool_inspect
from spoold.spool.layout import TASK_FILE_RE, ClaimName

duckdb = pytest.importorskip("duckdb")
layout = pytest.importorskip("webui_export.index.files")

sys.path.insert(0, str(Path(__file__).parent / "procs"))
import storm_stage  # noqa: E402

KILLS = int(os.environ.get("SPOOLD_STORM_KILLS", "1000"))
DAEMON_KILLS = int(os.environ.get("SPOOLD_STORM_DAEMON_KILLS", "100"))
RUNTIME_KILLS = int(os.environ.get("SPOOLD_STORM_RUNTIME_KILLS", "200"))
VIDEOS = int(os.environ.get("SPOOLD_STORM_VIDEOS", "120"))
DUPLICATES = 2  # byte-identical copies of delivered videos under other names
BAD = 3  # files named .mp4 that are not videos: rejected at ingest

STAGES = ("ingest", "preprocess", "detect", "finalize", "archive")
UTILITIES = ("cleanup", "index")
#: Seconds over which the videos arrive (a fifth of them before the storm starts).
DELIVERY_S = float(os.environ.get("SPOOLD_STORM_DELIVERY_S", "150"))
#: The daemon: killed while starting with this probability (at this share of its measured
#: start-up time: late in its imports, or in ``Daemon.start``, or just after it), else this
#: long after it started.  Its kills set the storm's length (:class:`Killer`).
DAEMON_EARLY = 0.25
DAEMON_EARLY_SHARE = (0.3, 1.2)
DAEMON_UP_S = (0.0, 1.2)
DAEMON_START_PRIOR_S = 1.5  # until measured (~1 s on an idle machine, several under load)
DAEMON_CYCLE_PRIOR_S = 2.5  # spawn to kill, until measured
#: Each run of a worker COMMAND is killed with this probability, this long after it is seen.
COMMAND_KILL_P = 0.8
COMMAND_KILL_AFTER_S = (0.0, 0.3)
#: Shortest mean lifetime of a ``spoold work`` runtime (it takes ~0.5 s to start).
RUNTIME_MIN_MEAN_S = 1.0
#: How long a stand-in COMMAND works (x 0.5-1.5): its window to be killed in.
WORK_S = 0.25
#: Bounds, never expectations: the storm ends by its kill counts long before these.
STORM_DEADLINE_S = float(os.environ.get("SPOOLD_STORM_DEADLINE_S", 600 + 12 * DAEMON_KILLS))
DRAIN_TIMEOUT_S = 600.0
DRAIN_STALL_S = 90.0  # nothing in the spool changed for this long: something is lost
HOUR = 3600.0

STORM_TOML = """
[index]
dir = "index"
publish_interval_s = 0.5
"""


# ---------------------------------------------------------------------- processes
@dataclass
class Incarnation:
    proc: subprocess.Popen[bytes]
    spawned: float
    log_offset: int
    dies_at: float | None = None
    started_at: float | None = None  # the daemon's "daemon.started" was seen
    killed: bool = False


@dataclass
class Slot:
    """One long-lived role (the daemon, a worker device) and its successive processes."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str]
    cwd: Path
    fresh_names: bool = False  # a new device name for each incarnation
    gen: int = 0
    live: Incarnation | None = None
    dead: list[Incarnation] = field(default_factory=list)

    @property
    def is_daemon(self) -> bool:
        return self.name == "daemon"

    def spawn(self) -> Incarnation:
        self.gen += 1
        argv = list(self.argv)
        if self.fresh_names:
            argv[argv.index("--device") + 1] = f"{self.name}-g{self.gen}"
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as fh:
            proc = subprocess.Popen(
                argv, stdout=fh, stderr=subprocess.STDOUT, cwd=self.cwd, env=self.env
            )
        self.live = Incarnation(proc, time.monotonic(), offset)
        return self.live

    def log_since(self, offset: int) -> str:
        with open(self.log, "rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace")

    def check_alive(self) -> None:
        """Fail if the live process exited by itself (a crash, or a crash loop)."""
        inc = self.live
        if inc is not None and inc.proc.poll() is not None:
            raise AssertionError(
                f"{self.name} (pid {inc.proc.pid}) exited by itself with "
                f"{inc.proc.returncode}:\n{self.log_since(inc.log_offset)[-4000:]}"
            )

    def kill(self) -> None:
        """SIGKILL the live process and reap it (fails if it had exited by itself)."""
        inc = self.live
        assert inc is not None
        self.check_alive()
        inc.proc.send_signal(signal.SIGKILL)
        inc.proc.wait(30)
        inc.killed = True
        self.dead.append(inc)
        self.live = None

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM; the exit status (fails if it does not stop in time)."""
        inc = self.live
        assert inc is not None
        self.check_alive()
        inc.proc.send_signal(signal.SIGTERM)
        try:
            return inc.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            inc.proc.kill()
            inc.proc.wait(30)
            raise AssertionError(
                f"{self.name} did not stop within {timeout} s of SIGTERM:\n"
                f"{self.log_since(inc.log_offset)[-4000:]}"
            ) from None
        finally:
            self.dead.append(inc)
            self.live = None

    def ready(self, spool_root: Path) -> bool:
        """Past its start-up: signal handlers installed and the spool opened (a SIGTERM
        before that kills a Python process outright, which says nothing about spoold)."""
        inc = self.live
        assert inc is not None
        if self.is_daemon:
            return "daemon.started" in self.log_since(inc.log_offset)
        return any(spool_root.glob(f"tmp/clock.*.{inc.proc.pid}"))

    def killed_pids(self) -> set[int]:
        return {i.proc.pid for i in self.dead if i.killed}


def running_commands(slot: Slot) -> list[int]:
    """Pids of the stand-in COMMANDs a live ``spoold work`` process is running now."""
    if slot.live is None:
        return []
    pid = slot.live.proc.pid
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(k) for k in kids if is_stand_in(int(k))]


def is_stand_in(pid: int) -> bool:
    try:
        return b"storm_stage.py" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def make_slots(env: Env, logs: Path, run_log: Path) -> list[Slot]:
    proc_env = dict(os.environ)
    scratch = env.base / "worker-tmp"  # scratch folders of killed `spoold work`s land here
    scratch.mkdir()
    proc_env.update(TMPDIR=str(scratch), STORM_RUN_LOG=str(run_log), STORM_WORK_S=str(WORK_S))
    stand_in = Path(__file__).parent / "procs" / "storm_stage.py"
    daemon = Slot(
        "daemon",
        cli_cmd("run", "--config", str(env.config), "--log-format", "json"),
        logs / "daemon.log",
        proc_env,
        env.base,
    )
    slots = [daemon]
    for name, cls, fresh in (
        ("jetson-01", "jetson", False),
        ("jetson-x", "jetson", True),
        ("gpu-01", "gpu", False),
        ("gpu-x", "gpu", True),
    ):
        argv = [
            sys.executable,
            "-m",
            "spoold",
            "work",
            "--config",
            str(env.config),
            "--class",
            cls,
            "--device",
            name,
            "--poll",
            "0.1",
            "--max-poll",
            "0.5",
            "--",
            sys.executable,
            str(stand_in),
        ]
        slots.append(Slot(name, argv, logs / f"{name}.log", proc_env, env.base, fresh))
    return slots


# ---------------------------------------------------------------------- the inbox
@dataclass
class Delivery:
    """Files to drop into the inbox, each at its time: (due, staged file, inbox path)."""

    items: list[tuple[float, Path, Path]]
    delivered: int = 0

    def due(self, elapsed: float, env: Env) -> None:
        while self.delivered < len(self.items) and self.items[self.delivered][0] <= elapsed:
            _, src, rel = self.items[self.delivered]
            deliver(env, src, rel)
            self.delivered += 1

    @property
    def done(self) -> bool:
        return self.delivered == len(self.items)


def deliver(env: Env, src: Path, rel: Path) -> None:
    """As a NAS sync would: the archival copy on shed-nas first, then the inbox file written
    under a dotfile name and renamed into place."""
    data = src.read_bytes()
    shed = env.root("shed-nas") / "cams" / rel
    shed.parent.mkdir(parents=True, exist_ok=True)
    shed.write_bytes(data)
    dst = env.inbox / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    part = dst.with_name(f".{dst.name}.Xq3z9a")
    part.write_bytes(data)
    os.rename(part, dst)


def plan_deliveries(env: Env, rng: random.Random) -> tuple[Delivery, set[str], set[str]]:
    """The files to deliver and when; the video ids of the good ones and of the bad ones."""
    staging = env.base / "staging"
    src = samples.make_clip(env.base / "src.mp4", seed=2026)
    good = distinct_copies(src, staging, VIDEOS, prefix="storm")
    bad = []
    for i in range(BAD - 1):
        fake = staging / f"notes{i}.mp4"
        fake.write_text(f"not a video, note {i}\n" * 20)
        bad.append(fake)
    bad.append(samples.make_empty(staging / "empty.mp4"))
    files = [(p, Path(f"day{i % 4}") / p.name) for i, p in enumerate(good + bad)]
    files += [(p, Path("copies") / f"copy-of-{p.name}") for p in rng.sample(good, DUPLICATES)]
    rng.shuffle(files)
    first = len(files) // 5
    items = [(0.0, p, rel) for p, rel in files[:first]]
    rest = files[first:]
    items += [(DELIVERY_S * (i + 1) / len(rest), p, rel) for i, (p, rel) in enumerate(rest)]
    good_ids = {media.fingerprint(p) for p in good}
    bad_ids = {media.fingerprint(p) for p in bad}
    assert len(good_ids) == VIDEOS and len(bad_ids) == BAD
    return Delivery(items), good_ids, bad_ids


# ---------------------------------------------------------------------- the spool
def task_copies(root: Path) -> dict[str, list[str]]:
    """task id -> every place a copy of it is (claims included)."""
    out: dict[str, list[str]] = {}
    for path in root.glob("pending/*/*.json"):
        if m := TASK_FILE_RE.match(path.name):
            out.setdefault(m["id"], []).append(str(path.relative_to(root)))
    for path in root.glob("pending/*/deferred/*.json"):
        if m := TASK_FILE_RE.match(path.name):
            out.setdefault(m["id"], []).append(str(path.relative_to(root)))
    for path in root.glob("pending/*/claimed/*.json"):
        if cn := ClaimName.parse(path.name):
            out.setdefault(cn.task_id, []).append(str(path.relative_to(root)))
    for path in root.glob("complete/*/*.json"):
        if m := TASK_FILE_RE.match(path.name):
            out.setdefault(m["id"], []).append(str(path.relative_to(root)))
    return out


def completed(root: Path) -> dict[str, Path]:
    return {m["id"]: p for p in root.glob("complete/*/*.json") if (m := TASK_FILE_RE.match(p.name))}


def drained(root: Path, index_dir: Path, good: set[str], bad: set[str]) -> bool:
    """Every video archived (or rejected), nothing waiting, every claim a leftover of a
    completed task, and the published snapshot holds every video."""
    if list(root.glob("pending/*/*.json")) or list(root.glob("pending/*/deferred/*.json")):
        return False
    done = completed(root)
    archived = {parse_task_id(t)[2] for t in done if parse_task_id(t)[1] == "archive"}
    if archived != good:
        return False
    ingested = {parse_task_id(t)[2] for t in done if parse_task_id(t)[1] == "ingest"}
    if not bad <= ingested:
        return False
    for path in root.glob("pending/*/claimed/*.json"):
        cn = ClaimName.parse(path.name)
        if cn is None or cn.task_id not in done:
            return False
    manifest = layout.read_manifest(index_dir)  # a rejected file is a video (rejected) too
    return manifest is not None and manifest.counts.get("videos") == len(good) + len(bad)


def missing(root: Path, index_dir: Path, good: set[str], bad: set[str]) -> str:
    """What keeps the pipeline from being drained, for a failure message."""
    done = {parse_task_id(t)[1:] for t in completed(root)}
    lacking = {
        vid: [s for s in STAGES if (s, vid) not in done]
        for vid in sorted(good)
        if any((s, vid) not in done for s in STAGES)
    }
    lacking.update({vid: ["ingest"] for vid in sorted(bad) if ("ingest", vid) not in done})
    waiting = sorted(str(p.relative_to(root)) for p in root.glob("pending/**/*.json"))
    manifest = layout.read_manifest(index_dir)
    return (
        f"{len(lacking)} videos lack stages: {dict(list(lacking.items())[:10])}; "
        f"{len(waiting)} pending files: {waiting[:10]}; "
        f"videos in the snapshot: {manifest.counts.get('videos') if manifest else None}"
    )


def drain(slots: list[Slot], root: Path, index_dir: Path, good: set[str], bad: set[str]) -> None:
    """Wait (bounded) until :func:`drained` and every process is up; fail early if nothing
    in the spool moves any more (a lost task stalls its video for good) or a process dies."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    last: set[str] = set()
    last_change = time.monotonic()
    while not (drained(root, index_dir, good, bad) and all(s.ready(root) for s in slots)):
        for slot in slots:
            slot.check_alive()
        now = time.monotonic()
        state = {str(p.relative_to(root)) for p in root.glob("*/**/*.json")}
        if state != last:
            last, last_change = state, now
        assert now - last_change < DRAIN_STALL_S, (
            f"nothing moved for {DRAIN_STALL_S:.0f} s: {missing(root, index_dir, good, bad)}"
        )
        assert now < deadline, f"not drained in {DRAIN_TIMEOUT_S:.0f} s: " + missing(
            root, index_dir, good, bad
        )
        time.sleep(0.5)


# ---------------------------------------------------------------------- the index
INDEX_TABLES = {"detections": "detections", "gps": "gps_points", "plates": "plate_reads"}


def index_rows(con: Any) -> dict[str, dict[str, int]]:
    """video id -> rows per kind, from the tables (or views) ``videos``, ``detections``,
    ``gps_points`` and ``plate_reads`` of ``con``; fails on a video indexed twice and on
    rows of no video."""
    rows = con.execute("SELECT video_id, video_key FROM videos").fetchall()
    doubled = {k: n for k, n in Counter(r[0] for r in rows).items() if n > 1}
    assert not doubled, f"videos indexed more than once: {doubled}"
    key_of = {key: vid for vid, key in rows}
    out = {vid: dict.fromkeys(INDEX_TABLES, 0) for vid in key_of.values()}
    for kind, table in INDEX_TABLES.items():
        for key, n in con.execute(f"SELECT video_key, count(*) FROM {table} GROUP BY 1").fetchall():
            assert key in key_of, f"{table}: {n} rows of video_key {key}, which is no video"
            out[key_of[key]][kind] = n
    for vid, *ns in con.execute(
        "SELECT video_id, n_detections, n_gps_points, n_plate_reads FROM videos"
    ).fetchall():
        assert dict(zip(INDEX_TABLES, ns, strict=True)) == out[vid], (
            f"{vid}: counts disagree with rows"
        )
    return out


def check_index(index_dir: Path, good: set[str], bad: set[str]) -> None:
    """The writer's database and the published snapshot both hold each video exactly once,
    with exactly the rows the stand-in wrote for it: no video lost, doubled or half-indexed;
    and each rejected file once, as a video of status rejected with no rows."""
    want = {vid: storm_stage.expected(vid) for vid in good}
    want.update({vid: dict.fromkeys(INDEX_TABLES, 0) for vid in bad})
    con = duckdb.connect(str(index_dir / layout.LIVE_DB), read_only=True)
    try:
        assert index_rows(con) == want, "live.duckdb"
        rejected = con.execute("SELECT video_id FROM videos WHERE status = 'rejected'").fetchall()
        assert {r[0] for r in rejected} == bad, "rejected videos in live.duckdb"
    finally:
        con.close()
    manifest = layout.read_manifest(index_dir)
    assert manifest is not None
    snap = duckdb.connect()
    try:
        views = {"videos": manifest.all_part_paths("videos")}
        views.update({t: manifest.all_block_paths(t) for t in INDEX_TABLES.values()})
        for view, paths in views.items():
            assert paths, f"the snapshot has no {view} files"
            files = ", ".join(f"'{index_dir / p}'" for p in paths)
            snap.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet([{files}])")
        assert index_rows(snap) == want, f"published snapshot, generation {manifest.generation}"
    finally:
        snap.close()


# ---------------------------------------------------------------------- the killer
class Killer:
    """Who dies when.  The daemon's kills set the storm's pace (it needs ~1 s to start);
    the ``spoold work`` runtimes' and the COMMANDs' kills are spread over the storm's
    expected remaining length so that every kind reaches its count at about the same time."""

    def __init__(
        self, rng: random.Random, daemon: Slot, workers: list[Slot], spool_root: Path
    ) -> None:
        self.rng, self.daemon, self.workers = rng, daemon, workers
        self.spool_root = spool_root
        self.daemon_claims_max = 0
        self.kills: Counter[str] = Counter()
        self.started = time.monotonic()
        self.fate: dict[int, float | None] = {}  # COMMAND pid -> when it dies (None: spared)

    @property
    def total(self) -> int:
        return self.kills["daemon"] + self.kills["runtime"] + self.kills["command"]

    def over(self, delivered: bool) -> bool:
        return (
            delivered
            and self.total >= KILLS
            and self.kills["daemon"] >= DAEMON_KILLS
            and self.kills["runtime"] >= RUNTIME_KILLS
        )

    def _waiting_for_total(self) -> bool:
        """The daemon's kills are done but not the total: kill workers as fast as sensible."""
        return self.kills["daemon"] >= DAEMON_KILLS and self.total < KILLS

    def remaining_s(self, now: float) -> float:
        n = self.kills["daemon"]
        cycle = (now - self.started) / n if n >= 5 else DAEMON_CYCLE_PRIOR_S
        left = max(0, DAEMON_KILLS - n) * cycle
        return max(left, DELIVERY_S - (now - self.started), 1.0)

    def spawn(self, slot: Slot, now: float) -> None:
        inc = slot.spawn()
        if slot.is_daemon and self.rng.random() < DAEMON_EARLY:
            inc.dies_at = inc.spawned + self.rng.uniform(*DAEMON_EARLY_SHARE) * self.start_s()
        self.schedule(slot, now)

    def start_s(self) -> float:
        """The daemon's median start-up time so far (spawn to ``daemon.started``)."""
        took = [i.started_at - i.spawned for i in self.daemon.dead if i.started_at is not None]
        return statistics.median(took) if took else DAEMON_START_PRIOR_S

    def schedule(self, slot: Slot, now: float) -> None:
        """Give the live process a time to die, if it has none and is due one."""
        inc = slot.live
        if inc is None:
            return
        if slot.is_daemon:
            if inc.started_at is None and "daemon.started" in slot.log_since(inc.log_offset):
                inc.started_at = now
                if inc.dies_at is None:
                    inc.dies_at = now + self.rng.uniform(*DAEMON_UP_S)
            return
        if inc.dies_at is not None:
            return
        left = RUNTIME_KILLS - self.kills["runtime"]
        if left > 0:
            mean = len(self.workers) * self.remaining_s(now) / left
        elif self._waiting_for_total():
            mean = RUNTIME_MIN_MEAN_S
        else:
            return  # it lives until the storm ends
        mean = min(max(mean, RUNTIME_MIN_MEAN_S), 60.0)
        inc.dies_at = inc.spawned + self.rng.uniform(0.3, 2 * mean - 0.3)

    def kill(self, slot: Slot) -> None:
        assert slot.live is not None
        if slot.is_daemon:
            self.kills["daemon"] += 1
            self.kills["daemon_while_starting"] += slot.live.started_at is None
            held = len(list(self.spool_root.glob(f"pending/*/claimed/*.{slot.live.proc.pid}-*")))
            self.kills["daemon_claims_abandoned"] += held
            self.daemon_claims_max = max(self.daemon_claims_max, held)
        else:
            self.kills["runtime"] += 1
            self.kills["runtime_while_running_a_task"] += bool(running_commands(slot))
        slot.kill()

    def tick(self, now: float) -> None:
        for slot in (self.daemon, *self.workers):
            slot.check_alive()
            self.schedule(slot, now)
            inc = slot.live
            if inc is not None and inc.dies_at is not None and now >= inc.dies_at:
                self.kill(slot)
                self.spawn(slot, now)
        self._commands(now)

    def _commands(self, now: float) -> None:
        """Each COMMAND run seen is doomed (at a random moment of its run) or spared, once."""
        left = KILLS - DAEMON_KILLS - RUNTIME_KILLS - self.kills["command"]
        p = 1.0 if self._waiting_for_total() else COMMAND_KILL_P if left > 0 else 0.0
        for w in self.workers:
            for pid in running_commands(w):
                if pid not in self.fate:
                    doomed = self.rng.random() < p
                    self.fate[pid] = (
                        now + self.rng.uniform(*COMMAND_KILL_AFTER_S) if doomed else None
                    )
        for pid, when in self.fate.items():
            if when is not None and now >= when:
                self.fate[pid] = None
                try:
                    if is_stand_in(pid):  # still that command (pids are reused)
                        os.kill(pid, signal.SIGKILL)
                        self.kills["command"] += 1
                except ProcessLookupError:
                    pass  # it had just finished


# ---------------------------------------------------------------------- the test


@pytest.mark.slow
@pytest.mark.timeout(STORM_DEADLINE_S + DRAIN_TIMEOUT_S + 600)
def test_kill_storm_over_the_whole_pipeline_loses_and_doubles_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = int(os.environ.get("SPOOLD_STORM_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"SPOOLD_STORM_SEED={seed}")  # shown with a failure: rerun with it
    env = Env(tmp_path, extra=STORM_TOML)
    root, index_dir = env.spool_root, env.base / "index"
    delivery, good, bad = plan_deliveries(env, rng)
    logs = tmp_path / "logs"
    logs.mkdir()
    run_log = tmp_path / "runs.log"
    slots = make_slots(env, logs, run_log)
    daemon, workers = slots[0], slots[1:]
    loads = [os.getloadavg()[0]]
    killer = Killer(rng, daemon, workers, root)
    started = killer.started
    try:
        # --- the storm
        delivery.due(0.0, env)
        for slot in slots:
            killer.spawn(slot, started)
        next_load = started + 5
        wal_max = 0
        while not killer.over(delivery.done):
            now = time.monotonic()
            assert now - started < STORM_DEADLINE_S, f"storm still going: {dict(killer.kills)}"
            delivery.due(now - started, env)
            killer.tick(now)
            if now >= next_load:
                loads.append(os.getloadavg()[0])
                wal = index_dir / f"{layout.LIVE_DB}.wal"
                wal_max = max(wal_max, wal.stat().st_size if wal.exists() else 0)
                next_load = now + 5
            time.sleep(0.02)
        # The storm ends with one last SIGKILL of every process, at whatever it was doing.
        for slot in slots:
            killer.schedule(slot, time.monotonic())  # (notes whether the daemon had started)
            killer.kill(slot)
        storm_s = time.monotonic() - started
        kills = killer.kills

        # --- everything restarted clean; the backlog drains
        drain_started = time.monotonic()
        for slot in slots:
            slot.spawn()

        drain(slots, root, index_dir, good, bad)
        drain_s = time.monotonic() - drain_started
        loads.append(os.getloadavg()[0])
        for slot in slots:
            assert slot.stop() == 0, f"{slot.name} did not stop cleanly"
    finally:
        for slot in slots:
            if slot.live is not None:
                slot.live.proc.kill()
                slot.live.proc.wait(30)
    killed_pids = {pid for slot in slots for pid in slot.killed_pids()}

    # --- every video ingested once; every stage's task exists once, complete
    copies = task_copies(root)
    done = completed(root)
    # (a claim next to the complete record is a crash leftover, checked below)
    not_once = {
        task_id: where
        for task_id, where in copies.items()
        if len(kept := [w for w in where if "/claimed/" not in w]) != 1
        or not kept[0].startswith("complete/")
    }
    assert not not_once, f"tasks not exactly once, in complete/: {not_once}"
    stages_of: dict[str, list[str]] = {}
    for task_id in done:
        _, task_type, key = parse_task_id(task_id)
        stages_of.setdefault(key, []).append(task_type)
    for vid in good:
        assert sorted(stages_of.get(vid, [])) == sorted(STAGES), (
            f"video {vid}: {stages_of.get(vid)}"
        )
    for vid in bad:
        assert stages_of.get(vid) == ["ingest"], f"rejected file {vid}: {stages_of.get(vid)}"
    others = {k: v for k, v in stages_of.items() if k not in good | bad}
    assert set(others) <= {"periodic"} and set(others.get("periodic", [])) <= set(UTILITIES), others
    reader = Spool(root)
    records = {t: reader.read(p) for t, p in done.items()}
    by_type = Counter(parse_task_id(t)[1] for t in done)
    for task_id, rec in records.items():
        stamp, task_type, key = parse_task_id(task_id)
        if task_type in STAGES[1:]:
            parent = f"{stamp}-{STAGES[STAGES.index(task_type) - 1]}-{key}"
            assert rec.parent_task_id == parent, task_id
        if task_type == "ingest":
            assert bool((rec.result or {}).get("rejected")) == (key in bad), task_id

    # --- every file under pending/ and complete/ parses and validates
    corrupt = [e.error for e in spool_inspect.iter_entries(reader) if e.error is not None]
    assert not corrupt, corrupt

    # --- the index: each video exactly once, exactly what the workers wrote
    check_index(index_dir, good, bad)

    # --- leftovers: only the expected ones (see test_crash_kill.py), removed by check --repair
    claims = sorted(root.glob("pending/*/claimed/*.json"))
    for path in claims:
        cn = ClaimName.parse(path.name)
        assert cn is not None and cn.task_id in done and cn.pid in killed_pids, path.name
    tmp_files = sorted((root / "tmp").iterdir())
    for path in tmp_files:
        pid = temp_file_pid(path.name)  # clock probe, staged copy or spare
        assert pid in killed_pids, f"tmp/{path.name} was not left by a killed process"
    lease_files = sorted(p.name for p in (root / "daemon").iterdir())
    assert "free.lease" in lease_files and not [n for n in lease_files if n.startswith("held.")]
    expected = {str(p.relative_to(root)) for p in claims + tmp_files}
    wait_until(
        lambda: sum(len(reader.stale_claims(q)) for q in reader.queues()) == len(claims),
        60,
        "the leftover claims to look stale",
    )
    reader.close()
    age_tmp_files(root, 2 * HOUR)
    repair = spoold("check", "--config", str(env.config), "--repair", "--json", timeout=300)
    problems = json.loads(repair.stdout)["problems"]
    assert {p["path"] for p in problems} == expected, problems
    assert all(p["repaired"] for p in problems), problems
    final = spoold("check", "--config", str(env.config), timeout=300)
    assert final.returncode == 0, final.stdout + final.stderr

    # --- the figures
    # A re-run is a run that did not complete its task: each left one attempt in the record.
    reruns: dict[str, Counter[str]] = {}
    most: Counter[str] = Counter()
    for rec in records.values():
        for a in rec.attempts:
            reruns.setdefault(rec.device_class, Counter())[a.kind] += 1
        most[rec.task_type] = max(most[rec.task_type], len(rec.attempts))
    command_runs = sum(ln.startswith("start ") for ln in run_log.read_text().splitlines())
    manifest = layout.read_manifest(index_dir)
    assert manifest is not None
    referenced = set(manifest.all_paths()) | {p for p, _ in manifest.retired}
    snapshot_files = {
        str(p.relative_to(index_dir)) for p in (index_dir / "snapshot").rglob("*") if p.is_file()
    }
    daemon_log = daemon.log.read_text(errors="replace")
    start_s = [i.started_at - i.spawned for i in daemon.dead if i.started_at is not None]
    figures = {
        "seed": seed,
        "kills": {
            "total": kills["daemon"] + kills["runtime"] + kills["command"],
            "daemon": kills["daemon"],
            "daemon_while_starting": kills["daemon_while_starting"],
            "worker_runtime": kills["runtime"],
            "worker_runtime_while_running_a_task": kills["runtime_while_running_a_task"],
            "worker_command": kills["command"],
            "server_claims_held_by_killed_daemons": kills["daemon_claims_abandoned"],
            "most_server_claims_held_at_a_daemon_kill": killer.daemon_claims_max,
        },
        "processes_started": {s.name: s.gen for s in slots},
        "daemon_start_s": {
            "median": round(statistics.median(start_s), 2) if start_s else None,
            "max": round(max(start_s), 2) if start_s else None,
        },
        "videos": {
            "delivered_files": len(delivery.items),
            "videos": len(good),
            "duplicate_copies": DUPLICATES,
            "rejected_files": len(bad),
        },
        "tasks": {"total": len(done), **dict(sorted(by_type.items()))},
        "reruns": {
            "total": sum(sum(c.values()) for c in reruns.values()),
            "by_class_and_kind": {k: dict(sorted(v.items())) for k, v in sorted(reruns.items())},
            "tasks_run_more_than_once": sum(bool(r.attempts) for r in records.values()),
            "most_on_one_task": dict(sorted(most.items())),
        },
        "stand_in_runs_that_started_work": command_runs,
        "finalize_reindexed_a_video": daemon_log.count("(replaced)"),
        # asserted above: the figures are written only when the test passes
        "lost": 0,
        "doubled_tasks": 0,
        "doubled_index_rows": 0,
        "corrupt_files": 0,
        "leftovers_repaired": {
            "stale_claims": len(claims),
            "temp_files": sum(p.name.endswith(".tmp") for p in tmp_files),
            "clock_probes": sum(p.name.startswith("clock.") for p in tmp_files),
            "spare_inodes": sum(p.name.endswith(".spare") for p in tmp_files),
        },
        "index_wal_bytes_max": wal_max,
        "index_snapshot_files_orphaned": len(snapshot_files - referenced),
        "worker_scratch_dirs_left": len(list((env.base / "worker-tmp").iterdir())),
        "seconds": {
            "storm": round(storm_s, 1),
            "drain": round(drain_s, 1),
            "total": round(time.monotonic() - started, 1),
        },
        "load_avg_1m": {"min": min(loads), "max": max(loads)},
        "cpus": os.cpu_count(),
    }
    out = MAIN / "test-output"
    out.mkdir(exist_ok=True)
    (out / "crash_storm_pipeline.json").write_text(json.dumps(figures, indent=2) + "\n")
    with open(out / "crash_storm_pipeline-runs.jsonl", "a") as fh:
        fh.write(json.dumps(figures) + "\n")
    with capsys.disabled():
        print("\nwhole-pipeline crash storm:", json.dumps(figures, indent=2))
