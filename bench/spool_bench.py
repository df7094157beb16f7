"""Spool throughput and claim latency against a raw-filesystem baseline and dirq, in one run.

Usage::

    .venv/bin/python bench/spool_bench.py                 # temp dir under /tmp
    .venv/bin/python bench/spool_bench.py --dir /mnt/nas  # e.g. a NAS mount
    .venv/bin/python bench/spool_bench.py --quick         # small sizes, a few seconds
    .venv/bin/python bench/spool_bench.py --baseline main~5  # this code against another commit

With ``--baseline REV`` it prints a second table instead: the rows that exercise our code
((b), (c), (e) at 1,000 pending), measured for REV's ``spoold`` (a temporary git worktree)
and for this checkout's, alternating in rounds in one run, with the ratio current/baseline.

Prints ONE table; every row is measured in this run, on the same filesystem:

(a)  baseline: a Python loop writing a 500-byte file in tmp/, fsync, rename into a folder,
     fsync the folder (what a durable publish must do at least)
(b)  ``Spool.publish`` with fsync on (target: >= 50 % of (a)); also with fsync off.  (a) and
     the fsync-on (b) run alternately in rounds (file creation costs drift a lot here).
(c)  claim + complete, drained by 1 and by 4 worker processes, fsync on and off
(d)  dirq's ``QueueSimple`` (add; lock + get + remove) drained by 1 and by 4 processes
     (printed beside our 4-worker drains; dirq never fsyncs, so the fair comparison is our
     fsync-off row)
(f)  the floor of our protocol: its file-system calls alone, in a bare Python loop with no
     validation, no bookkeeping and perfectly partitioned workers (never a lost rename):
     per task 3 renames (claim, land the record, claim -> spare), 2 utimes (lease, fence),
     one read and one rewrite.  Our drain cannot beat this row; compare it with (d).
     Target: our 4-worker fsync-off drain >= 0.6x the 4-process "+ schema" floor, judged
     on the (g) rows (the load of a shared machine drifts within seconds).
     The "+ schema" rows add what any Python worker of our schema pays per task on top:
     validating the task file (pydantic) and serializing the completed record.
(g)  the drain target's two rows again, measured alternately in rounds: (c) 4 workers
     fsync off and (f) + schema 4 processes; and in the same rounds, for comparison, that
     floor with one shared listing: each process walks every name, taking one of the
     ``WINDOW`` oldest at random (the order spool_layout.md §4.2 promises, without any
     coordination between workers) and skipping the ones others took with one lookup each.
     The target's floor is partitioned, which an oldest-first drain cannot be.
(e)  latency of ``Spool.claim`` with 1,000 and with 100,000 pending tasks: p50 / p99 / max
     (target: p99 < 20 ms at 100k).  The first claim of a worker lists the whole folder
     (the max); the cached sorted listing serves the rest.

Rates are operations per second of wall time; "vs (a)" is the rate divided by (a)'s.
Nothing here asserts a time: it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from dirq.QueueSimple import QueueSimple

from schemas.task import FileRef, Task
from spoold.spool import Spool
from spoold.spool.claiming import MAX_WINDOW as WINDOW  # the widest pick of racing workers

CTX = multiprocessing.get_context("fork")
PAYLOAD = b"x" * 499 + b"\n"  # 500 bytes
CLASS = "bench"
ROUNDS = 5  # (a) and (b) alternate in this many rounds
STAMP = "20260101T000000Z"


@dataclass
class Row:
    label: str
    n: int = 0
    secs: float = 0.0
    lat: list[float] | None = None  # seconds per call, for latency rows
    target: str = ""

    @property
    def rate(self) -> float:
        return self.n / self.secs if self.secs else 0.0


def task_bytes_template(spool: Spool) -> bytes:
    """A typical task (one input file), as published: about 400 bytes."""
    task = spool.new_task(
        "detect",
        CLASS,
        "KEYKEYKEYKEY",
        stamp=STAMP,
        video_id="v3fa9c2d81b4e06a1f2c3",
        inputs=[FileRef(device="indoor-nas", path="dashcam/2026_1125_101500_000120F.MP4")],
    )
    return task.to_json()


def new_tasks(spool: Spool, n: int, prefix: str) -> list[Any]:
    inputs = [FileRef(device="indoor-nas", path="dashcam/2026_1125_101500_000120F.MP4")]
    return [
        spool.new_task(
            "detect", CLASS, f"{prefix}{i:07d}", stamp=STAMP, video_id="v3fa9c2", inputs=inputs
        )
        for i in range(n)
    ]


def fast_fill(spool: Spool, n: int, prefix: str) -> None:
    """Put ``n`` ready tasks in the queue by writing their files directly (set-up only)."""
    template = task_bytes_template(spool)
    qdir = spool.layout.queue(CLASS)
    for d in (qdir, qdir / "claimed", qdir / "deferred"):
        d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        key = f"{prefix}{i:07d}"
        data = template.replace(b"KEYKEYKEYKEY", key.encode())
        fd = os.open(qdir / f"{STAMP}-detect-{key}.json", os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, data)
        os.close(fd)


# ---------------------------------------------------------------------- (a) baseline
def raw_loop(base: Path, n: int, *, fsync: bool) -> Row:
    tmp, dest = base / "tmp", base / "dest"
    tmp.mkdir(parents=True)
    dest.mkdir()
    t0 = time.perf_counter()
    for i in range(n):
        src = tmp / f"f{i}.tmp"
        fd = os.open(src, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, PAYLOAD)
        if fsync:
            os.fsync(fd)
        os.close(fd)
        os.rename(src, dest / f"f{i}.json")
        if fsync:
            dfd = os.open(dest, os.O_RDONLY)
            os.fsync(dfd)
            os.close(dfd)
    secs = time.perf_counter() - t0
    shutil.rmtree(base)
    label = "write+fsync+rename+dir fsync" if fsync else "write+rename (no fsync)"
    return Row(f"(a) raw loop: {label}, 500 B", n, secs)


# ---------------------------------------------------------------------- (b) publish
def publish_rate(base: Path, n: int, *, fsync: bool) -> Row:
    spool = Spool.init(base / "spool", fsync=fsync)
    tasks = new_tasks(spool, n, "p")  # building the records is not publishing
    t0 = time.perf_counter()
    for task in tasks:
        spool.publish(task)
    secs = time.perf_counter() - t0
    shutil.rmtree(base)
    return Row(f"(b) Spool.publish, fsync {'on' if fsync else 'off'}", n, secs)


# ---------------------------------------------------------------------- drains
def timed_drain(n: int, workers: int, target: Callable[..., None], args: tuple[Any, ...]) -> float:
    """Start ``workers`` processes, release them together, return the seconds until the
    last one found nothing left."""
    ready = CTX.Semaphore(0)
    go = CTX.Event()
    procs = [CTX.Process(target=target, args=(*args, i, ready, go)) for i in range(workers)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    t0 = time.perf_counter()
    go.set()
    for p in procs:
        p.join()
    secs = time.perf_counter() - t0
    if any(p.exitcode for p in procs):
        sys.exit(f"a drain worker failed: {[p.exitcode for p in procs]}")
    return secs


def spool_drainer(root: str, fsync: bool, i: int, ready: Any, go: Event) -> None:
    spool = Spool(root, fsync=fsync)
    spool.server_now()  # learn the clock before the start
    ready.release()
    go.wait()
    device = f"w{i}"
    while (claim := spool.claim(CLASS, device)) is not None:
        claim.complete(result={"ok": True})


def spool_drain(base: Path, n: int, workers: int, *, fsync: bool) -> Row:
    spool = Spool.init(base / "spool", fsync=False)
    fast_fill(spool, n, "d")
    secs = timed_drain(n, workers, spool_drainer, (str(spool.root), fsync))
    done = sum(len(os.listdir(d)) for d in spool.layout.complete.iterdir())
    assert done == n, f"drained {done} of {n}"
    shutil.rmtree(base)
    label = f"{workers} worker{'s' if workers > 1 else ''}"
    return Row(f"(c) claim+complete, {label}, fsync {'on' if fsync else 'off'}", n, secs)


def dirq_take_all(q: QueueSimple) -> int:
    """One pass of dirq's drain: lock + get + remove what it can; how many it took."""
    got = 0
    for name in q:
        if q.lock(name):
            q.get(name)
            q.remove(name)
            got += 1
    return got


def dirq_drainer(path: str, i: int, ready: Any, go: Event) -> None:
    q = QueueSimple(path)
    ready.release()
    go.wait()
    while dirq_take_all(q) or q.count():
        pass


def dirq_rows(base: Path, n: int) -> list[Row]:
    rows = []
    path = base / "dirq"
    q = QueueSimple(str(path))
    t0 = time.perf_counter()
    for _ in range(n):
        q.add(PAYLOAD)
    rows.append(Row("(d) dirq QueueSimple.add (no fsync)", n, time.perf_counter() - t0))
    for workers in (1, 4):
        if workers > 1:
            for _ in range(n):
                q.add(PAYLOAD)
        secs = timed_drain(n, workers, dirq_drainer, (str(path),))
        assert q.count() == 0
        label = f"{workers} process{'es' if workers > 1 else ''}"
        rows.append(Row(f"(d) dirq lock+get+remove, {label}", n, secs))
    shutil.rmtree(base)
    return rows


# ---------------------------------------------------------------------- (f) floor
def shared_order(names: list[str], seed: int) -> list[str]:
    """The whole sorted listing, each run of ``WINDOW`` names shuffled: the order of a
    worker that takes one of the oldest few and knows nothing of the others."""
    rng = random.Random(seed)
    out: list[str] = []
    for k in range(0, len(names), WINDOW):
        block = names[k : k + WINDOW]
        rng.shuffle(block)
        out += block
    return out


def floor_drainer(
    base: str, workers: int, schema: bool, shared: bool, i: int, ready: Any, go: Event
) -> None:
    q, claimed, tmp, done = (f"{base}/{d}" for d in ("q", "q/claimed", "tmp", "done"))
    names = sorted(n for n in os.listdir(q) if n.endswith(".json"))
    # Partitioned: no races.  Shared: every worker walks every name, oldest few first,
    # skipping the ones others took (one lookup each) and losing the odd rename race.
    names = shared_order(names, os.getpid()) if shared else names[i::workers]
    spare = f"{tmp}/spare.{i}"
    fd = os.open(spare, os.O_WRONLY | os.O_CREAT, 0o644)
    os.close(fd)
    ready.release()
    go.wait()
    done_at = datetime.now(timezone.utc)
    for name in names:
        claim, src = f"{claimed}/{name}@w{i}", f"{q}/{name}"
        if shared:
            if not os.access(src, os.F_OK, follow_symlinks=False):
                continue  # taken by another worker
            try:
                os.rename(src, claim)
            except FileNotFoundError:
                continue  # lost the race
        else:
            os.rename(src, claim)
        os.utime(claim)  # the lease, in (here: local) server time
        fd = os.open(claim, os.O_RDONLY)
        data = os.read(fd, 65536)
        os.close(fd)
        if schema:
            task = Task.model_validate_json(data)
        os.utime(claim)  # the fence before completing
        if schema:
            data = task.model_copy(
                update={"result": {"ok": True}, "completed_at": done_at, "completed_by": "w"}
            ).to_json()
        else:
            data += b"completed"
        fd = os.open(spare, os.O_WRONLY)
        os.pwrite(fd, data, 0)
        os.close(fd)
        os.rename(spare, f"{done}/{name}")
        os.rename(claim, spare)


def floor_row(
    base: Path, n: int, template: bytes, *, schema: bool, workers: int, shared: bool = False
) -> Row:
    for d in ("q/claimed", "tmp", "done"):
        (base / d).mkdir(parents=True, exist_ok=True)
    for k in range(n):
        key = f"f{k:07d}"
        data = template.replace(b"KEYKEYKEYKEY", key.encode()) if schema else PAYLOAD
        (base / "q" / f"{STAMP}-detect-{key}.json").write_bytes(data)
    secs = timed_drain(n, workers, floor_drainer, (str(base), workers, schema, shared))
    assert len(os.listdir(base / "done")) == n
    shutil.rmtree(base)
    label = f"{workers} process{'es' if workers > 1 else ''}"
    what = "+ schema" if schema else "syscalls only"
    if shared:
        label += ", one shared listing"
    return Row(f"(f) floor: the protocol's {what}, {label}", n, secs)


def floor_rows(base: Path, n: int, template: bytes) -> list[Row]:
    return [
        floor_row(base, n, template, schema=schema, workers=workers)
        for schema in (False, True)
        for workers in (1, 4)
    ]


def target_rows(sub: Callable[[], Path], n: int, template: bytes) -> tuple[Row, Row, Row]:
    """The drain target's two rows, measured alternately in rounds (like (a) and (b)): our
    4-worker fsync-off drain and the 4-process "+ schema" floor.  On a shared machine the
    load drifts within seconds, and the target is their ratio.  A third row, in the same
    rounds, is that floor with one shared listing (see the module docstring, (g))."""
    ours = Row("(g) target: (c) claim+complete, 4 workers, fsync off", 0)
    floor = Row("(g) target: (f) floor + schema, 4 processes", 0)
    shared = Row("(g) (f) floor + schema, 4 processes, one shared listing", 0)
    for _ in range(ROUNDS):
        k = n // ROUNDS
        for total, part in (
            (ours, spool_drain(sub(), k, 4, fsync=False)),
            (floor, floor_row(sub(), k, template, schema=True, workers=4)),
            (shared, floor_row(sub(), k, template, schema=True, workers=4, shared=True)),
        ):
            total.n += part.n
            total.secs += part.secs
    return ours, floor, shared


# ---------------------------------------------------------------------- (e) latency
def claim_latency(base: Path, pending: int, claims: int) -> Row:
    spool = Spool.init(base / "spool", fsync=False)
    fast_fill(spool, pending, "l")
    worker = Spool(spool.root, fsync=False)
    worker.server_now()
    lat = []
    for _ in range(min(claims, pending)):
        t0 = time.perf_counter()
        claim = worker.claim(CLASS, "w0")
        lat.append(time.perf_counter() - t0)
        assert claim is not None
        claim.complete()
    shutil.rmtree(base)
    return Row(f"(e) claim latency, {pending:,} pending", len(lat), sum(lat), lat)


# ---------------------------------------------------------------------- report
def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def fs_type(path: Path) -> str:
    try:
        out = subprocess.run(
            ["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def spool_rows(base: Path, n: int, claims: int) -> list[Row]:
    """The rows whose cost is our code's: publish, drains, claim latency."""
    rows = [publish_rate(base / "p1", n, fsync=True), publish_rate(base / "p0", n, fsync=False)]
    for fsync in (True, False):
        for workers in (1, 4):
            rows.append(spool_drain(base / f"d{int(fsync)}{workers}", n, workers, fsync=fsync))
    rows.append(claim_latency(base / "lat", 1000, claims))
    return rows


def _row_json(r: Row) -> dict[str, Any]:
    return {"label": r.label, "n": r.n, "secs": r.secs, "lat": r.lat}


def compare_with(rev: str, parent: Path, n: int, claims: int, rounds: int = 2) -> None:
    """Run :func:`spool_rows` for ``rev`` and for this checkout, alternately, in subprocesses
    whose ``PYTHONPATH`` points at each tree; print both and their ratio."""
    repo = Path(__file__).resolve().parent.parent
    tree = Path(tempfile.mkdtemp(prefix="spool-bench-baseline-"))
    subprocess.run(
        ["git", "-C", str(repo), "worktree", "add", "-q", "--detach", str(tree), rev], check=True
    )
    totals: dict[str, dict[str, Row]] = {"baseline": {}, "current": {}}
    try:
        for _ in range(rounds):
            for side, src in (("baseline", tree), ("current", repo)):
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--rows-json",
                        "--dir",
                        str(parent),
                        "--tasks",
                        str(n),
                        "--claims",
                        str(claims),
                    ],
                    env={**os.environ, "PYTHONPATH": str(src)},
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                for d in json.loads(out):
                    tot = totals[side].setdefault(d["label"], Row(d["label"], lat=[]))
                    tot.n += d["n"]
                    tot.secs += d["secs"]
                    if d["lat"] and tot.lat is not None:
                        tot.lat.extend(d["lat"])
    finally:
        subprocess.run(
            ["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], check=False
        )
    print(
        f"spool bench, {rev} (baseline) vs this checkout: {parent} ({fs_type(parent)}), "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {rounds} alternating rounds "
        f"of {n} tasks per row"
    )
    head = f"{'measure':<46} {'baseline':>10} {'current':>10} {'ratio':>7}"
    print(head)
    print("-" * len(head))
    for label, b in totals["baseline"].items():
        c = totals["current"][label]
        if b.lat:
            bv, cv = pct(b.lat, 50) * 1e3, pct(c.lat or [0.0], 50) * 1e3
            print(f"{label + ' p50 ms':<46} {bv:10.3f} {cv:10.3f} {bv / cv:6.2f}x")
        else:
            print(f"{label + ' /s':<46} {b.rate:10.0f} {c.rate:10.0f} {c.rate / b.rate:6.2f}x")
    print("ratio > 1: the current code is faster (for latency: baseline p50 / current p50)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, help="where to run (default: a temp dir under /tmp)")
    ap.add_argument("--tasks", type=int, default=10_000, help="tasks per throughput row")
    ap.add_argument("--big", type=int, default=100_000, help="pending tasks, large latency row")
    ap.add_argument("--claims", type=int, default=3000, help="claims timed per latency row")
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--baseline", metavar="REV", help="compare our rows with this git commit's")
    ap.add_argument("--rows-json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.tasks, args.big, args.claims = 300, 10_000, 500
    parent = args.dir or Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    if args.baseline:
        compare_with(args.baseline, parent, args.tasks, args.claims)
        return
    if args.rows_json:
        root = Path(tempfile.mkdtemp(prefix="spool-bench-", dir=parent))
        try:
            print(json.dumps([_row_json(r) for r in spool_rows(root, args.tasks, args.claims)]))
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return
    root = Path(tempfile.mkdtemp(prefix="spool-bench-", dir=parent))
    n = args.tasks
    try:
        rows: list[Row] = []
        step = iter(range(1000))

        def sub() -> Path:
            return root / f"r{next(step)}"

        # (a) and (b) alternate in rounds and add up: the cost of creating a file drifts a
        # lot on a shared machine, and their ratio is the target.
        raw_f, raw_n, pub_f = Row("", 0), Row("", 0), Row("", 0)
        for _ in range(ROUNDS):
            for total, part in (
                (raw_f, raw_loop(sub(), n // ROUNDS, fsync=True)),
                (pub_f, publish_rate(sub(), n // ROUNDS, fsync=True)),
                (raw_n, raw_loop(sub(), n // ROUNDS, fsync=False)),
            ):
                total.label, total.n, total.secs = (
                    part.label,
                    total.n + part.n,
                    total.secs + part.secs,
                )
        rows.extend([raw_f, raw_n, pub_f])
        base = rows[0]
        pub_f.target = f">= 0.50x (a): {'ok' if pub_f.rate >= 0.5 * base.rate else 'MISSED'}"
        rows.append(publish_rate(sub(), n, fsync=False))
        drains = {}
        for fsync in (True, False):
            for workers in (1, 4):
                rows.append(spool_drain(sub(), n, workers, fsync=fsync))
                drains[fsync, workers] = rows[-1]
        rows.extend(dirq_rows(sub(), n))
        dirq4 = rows[-1]
        template = task_bytes_template(Spool.init(sub()))
        rows.extend(floor_rows(sub(), n, template))
        floor4, schema4 = rows[-3], rows[-1]
        drains[False, 4].target = f"dirq 4 procs {drains[False, 4].rate / dirq4.rate:.2f}x"
        # The drain target is relative to the protocol's own floor (f) + schema, which
        # never fsyncs: so our fsync-off drain, measured alternately with the floor.
        ours, floor, shared = target_rows(sub, n, template)
        rows.extend([ours, floor, shared])
        floor_ratio = ours.rate / floor.rate
        ours.target = (
            f">= 0.60x (f)+schema 4 procs ({floor_ratio:.2f}x, the next row): "
            + ("ok" if floor_ratio >= 0.6 else "MISSED")
            + f"; dirq 4 procs {ours.rate / dirq4.rate:.2f}x"
        )
        ours = drains[True, 4]
        ours.target = f"dirq 4 procs {ours.rate / dirq4.rate:.2f}x (dirq never fsyncs)"
        shared.target = f"{shared.rate / floor.rate:.2f}x the partitioned floor (the row above)"
        floor4.target = f"dirq 4 procs is {dirq4.rate / floor4.rate:.2f}x this floor"
        schema4.target = f"dirq 4 procs is {dirq4.rate / schema4.rate:.2f}x this floor"
        rows.append(claim_latency(sub(), 1000, args.claims))
        rows.append(claim_latency(sub(), args.big, args.claims))
        big = rows[-1]
        assert big.lat is not None
        big.target = f"p99 < 20 ms: {'ok' if pct(big.lat, 99) < 0.020 else 'MISSED'}"
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(
        f"spool bench: {parent} ({fs_type(parent)}), {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}; "
        f"{n} tasks per throughput row"
    )
    head = f"{'measure':<56} {'n':>7} {'secs':>7} {'rate/s':>8} {'vs (a)':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}  target"
    print(head)
    print("-" * len(head))
    for r in rows:
        lat = (
            f"{pct(r.lat, 50) * 1e3:7.2f} {pct(r.lat, 99) * 1e3:7.2f} {max(r.lat) * 1e3:7.1f}"
            if r.lat
            else f"{'':7} {'':7} {'':7}"
        )
        mean = f" (mean {statistics.fmean(r.lat) * 1e3:.2f} ms)" if r.lat else ""
        print(
            f"{r.label:<56} {r.n:>7} {r.secs:7.2f} {r.rate:8.0f} {r.rate / base.rate:6.2f}x "
            f"{lat}  {r.target}{mean if not r.target else ''}"
        )


if __name__ == "__main__":
    main()
