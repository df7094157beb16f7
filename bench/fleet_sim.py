"""Fleet simulation: N devices polling one spool on a NAS, idle and busy.

    python bench/fleet_sim.py                       # costs measured earlier (table below)
    python bench/fleet_sim.py --measure /mnt/nfs    # measure per-operation costs on a share first
    python bench/fleet_sim.py --devices 10 100 1000 --minutes 20

A discrete-event simulation of the protocol in spool_layout.md: each device runs the real
``spoold work`` loop's schedule (idle polls with backoff and jitter, the folder-mtime doorbell,
reaping only when idle and claims may exist, a backstop re-list every 10 minutes,
heartbeats every ``lease/3``), and every file-system call it makes is a request to the NAS, modelled as a queue
with ``C`` parallel servers whose service times are per-operation costs measured on a real
share.  It prints NAS operations/s, NAS utilisation, and claim latency (time from a task being
published to a device holding it) for each fleet size, and the idle settings that keep an idle
fleet under 1 % of the NAS's capacity.
"""

from __future__ import annotations

import argparse
import functools
import heapq
import json
import os
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Per-operation service times in ms and the NAS's parallelism.  Defaults derived from the
# netshare NFSv3 rig's probe rates on an unloaded 2-core machine (../shared/netshare/README.md:
# create+rename 214-412/s, claim = list+rename+read+unlink 230-544/s, i.e. ~1-3 ms per
# metadata operation); a real NAS is faster.  Measure yours with --measure MOUNTED_DIR.
DEFAULT_COSTS = {
    "stat": 1.2,
    "readdir": 2.0,
    "readdir_per_entry": 0.02,
    "rename": 2.6,
    "read": 2.2,
    "write_fsync": 5.5,
    "utime": 1.6,
    "unlink": 2.0,
    "parallel": 4.0,
}


@dataclass
class Settings:
    poll: float = 2.0
    max_poll: float = 30.0
    lease: float = 60.0
    idle_relist: float = 600.0
    queues_per_device: int = 2  # CLASS and CLASS@DEVICE


@dataclass
class Nas:
    costs: dict[str, float]
    servers: int
    free_at: list[float] = field(default_factory=list)
    busy_ms: float = 0.0
    ops: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.free_at = [0.0] * self.servers

    def call(self, now: float, op: str, entries: int = 0) -> float:
        """Serve one request arriving at ``now`` (s); returns when it completes (s)."""
        cost = self.costs[op] + (
            self.costs["readdir_per_entry"] * entries if op == "readdir" else 0
        )
        i = min(range(self.servers), key=self.free_at.__getitem__)
        start = max(now, self.free_at[i])
        done = start + cost / 1000
        self.free_at[i] = done
        self.busy_ms += cost
        self.ops[op] += 1
        return done


@dataclass(order=True)
class Event:
    at: float
    seq: int
    fn: Callable[[float], None] = field(compare=False)


class Sim:
    def __init__(
        self,
        devices: int,
        settings: Settings,
        nas: Nas,
        *,
        arrivals_per_s: float,
        work_s: float,
        seed: int = 1,
    ) -> None:
        self.n = devices
        self.s = settings
        self.nas = nas
        self.rng = random.Random(seed)
        self.events: list[Event] = []
        self.seq = 0
        self.pending: list[float] = []  # publish times of ready tasks (FIFO)
        self.claimed = 0
        self.latencies: list[float] = []
        self.arrivals = arrivals_per_s
        self.work_s = work_s
        self.delay = [settings.poll] * devices
        self.last_reap = [-1e9] * devices
        self.last_list = [-1e9] * devices
        self.changes = 0  # how often the queue folder changed (its mtime: the doorbell)
        self.seen = [0] * devices

    def at(self, t: float, fn: Callable[[float], None]) -> None:
        self.seq += 1
        heapq.heappush(self.events, Event(t, self.seq, fn))

    def run(self, seconds: float, warmup: float = 0.0) -> None:
        """Simulate ``warmup + seconds``; the NAS counters cover only the last ``seconds``."""
        if warmup:
            self.at(warmup, self._reset)
        seconds += warmup
        for d in range(self.n):
            self.at(self.rng.uniform(0, self.s.poll), functools.partial(self.poll, d))
        if self.arrivals > 0:
            self.at(self.rng.expovariate(self.arrivals), self.arrive)
        while self.events and self.events[0].at < seconds:
            ev = heapq.heappop(self.events)
            ev.fn(ev.at)

    def _reset(self, t: float) -> None:
        self.nas.busy_ms = 0.0
        self.nas.ops.clear()
        self.latencies.clear()

    def arrive(self, t: float) -> None:
        # a publisher: 4 existence checks, write+fsync, rename, folder fsync (~write_fsync)
        for _ in range(4):
            t = self.nas.call(t, "stat")
        t = self.nas.call(t, "write_fsync")
        t = self.nas.call(t, "rename")
        self.pending.append(t)
        self.changes += 1
        self.at(t + self.rng.expovariate(self.arrivals), self.arrive)

    def poll(self, d: int, t: float) -> None:
        """One ``Spool.claim`` call: stat each queue folder (the doorbell); list it when it
        changed or the backstop re-list is due; when nothing is claimable, reap if claims
        may exist (the listing's attributes come with it: READDIRPLUS / SMB FIND)."""
        s = self.s
        for _ in range(s.queues_per_device):
            t = self.nas.call(t, "stat")
        changed = self.changes > self.seen[d]
        if changed or t - self.last_list[d] > s.idle_relist:
            self.seen[d] = self.changes
            self.last_list[d] = t
            t = self.nas.call(t, "readdir", entries=len(self.pending))
        if self.pending:
            published = self.pending.pop(0)
            self.changes += 1
            t = self.nas.call(t, "rename")
            t = self.nas.call(t, "utime")
            t = self.nas.call(t, "read")
            self.latencies.append(t - published)
            self.delay[d] = s.poll
            self.claimed += 1
            self.work(d, t, t + self.work_s)
            return
        t = self.nas.call(t, "stat")  # the spool marker: an unmounted share is not "no work"
        if (self.claimed or changed) and t - self.last_reap[d] > min(s.lease / 3, 10.0):
            self.last_reap[d] = t
            t = self.nas.call(t, "readdir", entries=self.claimed)
        wait = self.delay[d] * self.rng.uniform(0.8, 1.2)
        self.delay[d] = min(s.max_poll, self.delay[d] * 1.5)
        self.at(t + wait, functools.partial(self.poll, d))

    def _beat(self, d: int, end: float, t: float) -> None:
        self.work(d, self.nas.call(t, "utime"), end)

    def work(self, d: int, t: float, end: float) -> None:
        beat = self.s.lease / 3
        nxt = t + beat
        if nxt < end:
            self.at(nxt, functools.partial(self._beat, d, end))
            return

        def finish(tt: float, d: int = d) -> None:
            tt = self.nas.call(tt, "utime")  # the fence
            tt = self.nas.call(tt, "write_fsync")
            tt = self.nas.call(tt, "rename")
            tt = self.nas.call(tt, "unlink")
            self.claimed -= 1
            self.at(tt, functools.partial(self.poll, d))

        self.at(end, finish)


def measure(folder: Path, rounds: int = 200) -> dict[str, float]:
    """Mean latency (ms) of each operation the protocol uses, on ``folder`` (a share)."""
    base = Path(tempfile.mkdtemp(prefix="fleet-measure-", dir=folder))
    costs: dict[str, list[float]] = {
        k: [] for k in ("stat", "readdir", "rename", "read", "write_fsync", "utime", "unlink")
    }
    for i in range(10):
        (base / f"entry{i}").write_bytes(b"x" * 500)

    def timed(op: str, fn: Callable[[], object]) -> None:
        t0 = time.perf_counter()
        fn()
        costs[op].append((time.perf_counter() - t0) * 1000)

    for i in range(rounds):
        p, q = base / f"t{i}", base / f"u{i}"

        def write(p: Path = p) -> None:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, b"x" * 500)
            os.fsync(fd)
            os.close(fd)

        timed("write_fsync", write)
        timed("rename", functools.partial(os.rename, p, q))
        timed("stat", functools.partial(os.stat, q))
        timed("utime", functools.partial(os.utime, q, (time.time(), time.time())))
        timed("read", q.read_bytes)
        timed("readdir", functools.partial(os.listdir, base))
        timed("unlink", functools.partial(os.unlink, q))
    for f in base.iterdir():
        f.unlink()
    base.rmdir()
    out = {k: round(statistics.median(v), 3) for k, v in costs.items()}
    out["readdir_per_entry"] = round(max(0.0, (out["readdir"] - out["stat"]) / 10), 4)
    out["parallel"] = DEFAULT_COSTS["parallel"]
    return out


def simulate(
    devices: int, settings: Settings, costs: dict[str, float], *, busy: bool, minutes: float
) -> dict[str, float]:
    nas = Nas(costs, servers=max(1, round(costs["parallel"])))
    # busy: tasks arrive so that devices are ~50% occupied by 60-s tasks
    work_s = 60.0
    rate = 0.5 * devices / work_s if busy else 0.0
    sim = Sim(devices, settings, nas, arrivals_per_s=rate, work_s=work_s)
    seconds = minutes * 60
    # idle devices back off from --poll to --max-poll first: measure the steady state
    sim.run(seconds, warmup=max(600.0, 30 * settings.max_poll))
    capacity_ms = nas.servers * seconds * 1000
    lat = sorted(sim.latencies) or [float("nan")]
    return {
        "ops_s": sum(nas.ops.values()) / seconds,
        "util_pct": 100 * nas.busy_ms / capacity_ms,
        "capacity_ops_s": nas.servers
        * 1000
        / statistics.mean(costs[k] for k in ("stat", "readdir", "rename", "utime")),
        "claim_p50_s": lat[len(lat) // 2],
        "claim_p99_s": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "claims": len(sim.latencies),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--measure", type=Path, help="measure per-operation costs on this folder (a share) first"
    )
    ap.add_argument("--costs", type=Path, help="JSON file of per-operation costs (ms)")
    ap.add_argument("--devices", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--poll", type=float, default=2.0)
    ap.add_argument("--max-poll", type=float, default=30.0)
    ap.add_argument(
        "--quick", action="store_true", help="10 devices, 1 simulated minute (a smoke run)"
    )
    args = ap.parse_args()
    if args.quick:
        args.devices, args.minutes = [10], 1.0
    costs = dict(DEFAULT_COSTS)
    if args.costs:
        costs.update(json.loads(args.costs.read_text()))
    if args.measure:
        costs.update(measure(args.measure))
    print("per-operation costs (ms):", json.dumps(costs))
    settings = Settings(poll=args.poll, max_poll=args.max_poll)
    print(
        f"\nsettings: poll {settings.poll}s -> max {settings.max_poll}s (x1.5, ±20% jitter), lease {settings.lease}s, "
        f"re-list {settings.idle_relist}s; {args.minutes} simulated minutes\n"
    )
    print(
        f"{'devices':>8} {'spool':>5} {'NAS ops/s':>10} {'NAS util %':>10} {'claims':>7} {'claim p50 s':>11} {'claim p99 s':>11}"
    )
    for n in args.devices:
        for busy in (False, True):
            r = simulate(n, settings, costs, busy=busy, minutes=args.minutes)
            print(
                f"{n:>8} {'busy' if busy else 'idle':>5} {r['ops_s']:>10.1f} {r['util_pct']:>10.2f} {r['claims']:>7} "
                f"{r['claim_p50_s']:>11.2f} {r['claim_p99_s']:>11.2f}"
            )
    print("\nidle fleet of 1000 devices: NAS utilisation by --max-poll (target < 1%)")
    print(f"{'max poll s':>10} {'NAS ops/s':>10} {'NAS util %':>10}")
    for mp in (10, 300) if args.quick else (10, 30, 60, 120, 300):
        r = simulate(
            1000, Settings(poll=args.poll, max_poll=mp), costs, busy=False, minutes=args.minutes
        )
        print(f"{mp:>10} {r['ops_s']:>10.1f} {r['util_pct']:>10.2f}")


if __name__ == "__main__":
    main()
