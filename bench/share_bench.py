"""What spoold costs on a real share, against what the share itself can do.

Per share type (nfs, smb, sshfs from ``../shared/netshare``, or your own share through
``SPOOLD_SHARE_<TYPE>_MOUNT``, see ``tests/netshare.py``) and on local disk, through one
client mount, single-threaded:

- ``raw``: create + write 300 bytes + close + rename into another folder, per second (the
  share's own ceiling for a spool-like operation; no fsync);
- ``publish``: ``Spool.publish`` of new tasks per second, with fsync (the default: file and
  folder) and without;
- ``claim+complete``: ``Spool.claim`` + ``Claim.complete`` (no children, fsync on) per second;
- the latency of ``Spool.claim`` calls in that loop, p50 and p99;
- ``claim+complete`` with fsync off, next to ``dirq``'s QueueSimple (lock + get + remove, no
  fsync, no leases) on the same share: dirq locks with hard links, which SMB refuses.

Ratios are spoold's rate divided by the raw rate on the same share.  Numbers from a busy
2-core VM are orders of magnitude, not a specification.

Then, per rig share, the round trips of one claim+complete (fsync on, and off) over
``--count`` tasks after a warm-up task, next to the protocol's floor (:data:`share_trips.FLOOR`, derived
from spool_layout.md) and the ratio: the requests the kernel sent the rig's FUSE client, by
opcode (``strace`` on the client, ``netshare.count_client_ops``), and the requests its server
got: NFSv3 calls and SFTP packets as the FUSE client sent them, SMB2 commands as smbd counted
them (its profile counters: the rig's SMB client talks to smbd from a helper process); the
server's floor is the FUSE floor priced per protocol (:data:`share_trips.WIRE_COST`).  A share of your own
(``SPOOLD_SHARE_<TYPE>_MOUNT`` not mounted by the rig) has no rig client to trace: its counts
are left out.

    sudo .venv/bin/python bench/share_bench.py                 # all three + local disk
    sudo .venv/bin/python bench/share_bench.py --types nfs -n 100 --json out.json
    sudo .venv/bin/python bench/share_bench.py --repeat 3   # medians of 3 runs per cell
    sudo .venv/bin/python bench/share_bench.py --quick      # every row, few operations
    sudo .venv/bin/python bench/share_bench.py --day-records 3000  # a busy day's complete/DAY/
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import netshare  # noqa: E402
from share_trips import DAY, PAYLOAD, STAMP, fill_day, round_trips, trips_summary, trips_table  # noqa: E402

from spoold.spool import Spool  # noqa: E402

QUICK_N, QUICK_COUNT = 20, 5  # --quick: enough to print every row, not to rate anything


def raw_rate(root: Path, n: int) -> float:
    src, dst = root / "raw-tmp", root / "raw-dst"
    src.mkdir()
    dst.mkdir()
    t0 = time.perf_counter()
    for i in range(n):
        p = src / f"f{i}.tmp"
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, PAYLOAD)
        os.close(fd)
        os.rename(p, dst / f"f{i}.json")
    return n / (time.perf_counter() - t0)


def publish_rate(root: Path, n: int, fsync: bool) -> float:
    spool = Spool.init(root, fsync=fsync)
    tasks = [spool.new_task("bench", "cpu", f"k{i:05d}", stamp=STAMP) for i in range(n)]
    t0 = time.perf_counter()
    for t in tasks:
        spool.publish(t)
    rate = n / (time.perf_counter() - t0)
    spool.close()
    return rate


def claim_complete(root: Path, n: int, fsync: bool) -> tuple[float, list[float]]:
    """Rate of claim+complete over the ``n`` tasks already published in ``root``, and the
    latency of each claim call (seconds)."""
    spool = Spool(root, fsync=fsync)
    lat = []
    t0 = time.perf_counter()
    for _ in range(n):
        c0 = time.perf_counter()
        claim = spool.claim("cpu", "bench")
        lat.append(time.perf_counter() - c0)
        assert claim is not None, "ran out of tasks"
        claim.complete(result={"ok": True})
    rate = n / (time.perf_counter() - t0)
    spool.close()
    return rate, lat


def dirq_rate(root: Path, n: int) -> float | None:
    """dirq QueueSimple's lock + get + remove per second, or None where it cannot run."""
    from dirq.QueueSimple import QueueSimple
    from spool_bench import dirq_take_all  # the same drain loop as the local bench

    q = QueueSimple(str(root / "dirq"))
    try:
        for _ in range(n):
            q.add(PAYLOAD)
    except OSError as exc:  # EPERM from link(2) on SMB
        print(f"  dirq cannot run here: {exc.strerror}", file=sys.stderr)
        return None
    t0 = time.perf_counter()
    got = dirq_take_all(q)
    assert got == n, f"dirq drained {got} of {n}"
    return n / (time.perf_counter() - t0)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def measure(
    where: str, base: Path, n: int, server: Path | None = None, day_records: int = 0
) -> dict[str, Any]:
    """The rate cells of one row in ``base``; complete/DAY/ holds ``day_records`` other
    records before the claims (written through ``server``, the same folder on the file
    server, when there is one)."""
    raw = raw_rate(base, n)
    pub = publish_rate(base / "spool-fsync", n, fsync=True)
    pub_nofsync = publish_rate(base / "spool", n, fsync=False)
    for name in ("spool-fsync", "spool"):
        fill_day((server or base) / name, day_records)
    cc, lat = claim_complete(base / "spool-fsync", n, fsync=True)
    cc_nofsync, _ = claim_complete(base / "spool", n, fsync=False)
    return {
        "where": where,
        "n": n,
        "raw_per_s": raw,
        "publish_per_s": pub,
        "publish_nofsync_per_s": pub_nofsync,
        "claim_complete_per_s": cc,
        "claim_complete_nofsync_per_s": cc_nofsync,
        "dirq_per_s": dirq_rate(base, n),
        "claim_p50_ms": 1000 * statistics.median(lat),
        "claim_p99_ms": 1000 * pct(lat, 0.99),
    }


def median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-cell medians of repeated measurements (ratios: the median of each run's ratio)."""
    out: dict[str, Any] = {"where": runs[0]["where"], "n": runs[0]["n"], "runs": len(runs)}
    for key in runs[0]:
        if key.endswith(("_per_s", "_ms")):
            values = [r[key] for r in runs if r[key] is not None]
            out[key] = statistics.median(values) if values else None
    for key in ("publish_per_s", "publish_nofsync_per_s", "claim_complete_per_s"):
        out[key + "_ratio"] = statistics.median(r[key] / r["raw_per_s"] for r in runs)
    return out


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| where | raw create+rename/s | publish/s (fsync) | ratio | publish/s (no fsync) "
        "| ratio | claim+complete/s | ratio | claim p50 ms | claim p99 ms "
        "| claim+complete/s (no fsync) | dirq lock+get+remove/s | vs dirq |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: |\n"
    )
    lines = []
    for r in rows:
        raw = r["raw_per_s"]

        def ratio(key: str, r: dict[str, Any] = r, raw: float = raw) -> float:
            return float(r.get(key + "_ratio", r[key] / raw))

        lines.append(
            f"| {r['where']} | {raw:.0f} | {r['publish_per_s']:.0f} | "
            f"{ratio('publish_per_s'):.2f} | {r['publish_nofsync_per_s']:.0f} | "
            f"{ratio('publish_nofsync_per_s'):.2f} | {r['claim_complete_per_s']:.0f} | "
            f"{ratio('claim_complete_per_s'):.2f} | {r['claim_p50_ms']:.1f} | "
            f"{r['claim_p99_ms']:.1f} | {r['claim_complete_nofsync_per_s']:.0f} | "
            + (
                f"{r['dirq_per_s']:.0f} | {r['claim_complete_nofsync_per_s'] / r['dirq_per_s']:.2f} |"
                if r.get("dirq_per_s")
                else "cannot run | - |"
            )
        )
    return head + "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--types", default=",".join(netshare.SHARE_TYPES), help="comma-separated")
    ap.add_argument("-n", type=int, default=200, help="operations per measurement")
    ap.add_argument("--no-local", action="store_true", help="skip the local-disk row")
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell; report medians")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    ap.add_argument("--count", type=int, default=20, help="tasks per round-trip count (0: none)")
    ap.add_argument(
        "--quick", action="store_true", help=f"-n {QUICK_N} --count {QUICK_COUNT}: a smoke run"
    )
    ap.add_argument(
        "--day-records",
        type=int,
        default=0,
        help=f"other records in complete/{DAY}/ before the claims (a day's completions so far)",
    )
    args = ap.parse_args()
    if args.quick:
        args.n, args.count, args.repeat = QUICK_N, QUICK_COUNT, 1
    if args.day_records:
        print(f"complete/{DAY}/ holds {args.day_records} other records before the claims")
    trips: list[str] = []
    summary: list[tuple[str, dict[str, Any]]] = []
    rows = []
    if not args.no_local:
        runs = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="spoold-bench-") as d:
                runs.append(measure("local disk", Path(d), args.n, None, args.day_records))
        rows.append(median_row(runs))
        print(table(rows[-1:]), end="", flush=True)
    for t in [t for t in args.types.split(",") if t]:
        try:
            with netshare.share_of(t) as share:
                where = f"{t} ({share.origin})"
                runs = []
                for _ in range(args.repeat):
                    with share.scratch("bench") as d:
                        runs.append(measure(where, d.a, args.n, d.server, args.day_records))
                rows.append(median_row(runs))
                if args.count:
                    with share.scratch("trips") as d:
                        try:
                            counted = [
                                round_trips(
                                    share,
                                    d.a / f"spool-{int(f)}",
                                    args.count,
                                    f,
                                    server_root=d.server / f"spool-{int(f)}" if d.server else None,
                                    day_records=args.day_records,
                                )
                                for f in (True, False)
                            ]
                        except netshare.ShareUnavailable as exc:
                            print(f"{t}: round trips not counted: {exc}", file=sys.stderr)
                        else:
                            rows[-1]["round_trips"] = counted
                            trips.append(trips_table(where, counted))
                            summary += [(where, r) for r in counted]
        except netshare.ShareUnavailable as exc:
            print(f"{t}: skipped: {exc}", file=sys.stderr)
            continue
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(table(rows), end="")
    if summary:
        print()
        print("round trips per claim+complete against the protocol's floor")
        print(trips_summary(summary), end="")
    for text in trips:
        print()
        print(text, end="")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
