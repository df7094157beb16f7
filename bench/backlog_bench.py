"""Benchmark a finalize backlog through the real daemon, next to the bulk-insert floor.

``--tasks`` finalize tasks of ``--detections`` detections each (worker outputs made with
:mod:`spoold.demo.synth`, each task with its completed ingest, as the pipeline leaves them) wait
in a new spool when ``spoold run`` starts as a subprocess on a new, empty index.  Timed from the
process's start until every task is complete in the spool, and until every video is in a
published snapshot (the manifest's video count, then checked through the API's db layer).  In the
same run, the floor: a bulk ``INSERT ... SELECT`` of the same detection rows, read from the same
files, into an empty DuckDB file.  Prints both side by side with the ratio, the target
(>= 100 videos/s into a published snapshot) and what the daemon's log says about its batches and
publishes.

    python bench/backlog_bench.py                      # the issue's size: 2,000 x 2,000
    python bench/backlog_bench.py --tasks 500          # smaller
    python bench/backlog_bench.py --quick              # tiny sizes: the smoke test
    python bench/backlog_bench.py --baseline ../main   # and another checkout's daemon, same backlog
    python bench/backlog_bench.py --breakdown          # and where each daemon's CPU goes

``--breakdown`` runs each daemon under ``bench/daemon_cpu.py``: the CPU seconds of its main
parts (per thread, until the daemon stops), per video.  The wrapping costs a little CPU of its
own, so the runs' other rows are not quite those of a run without it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api_bench import finalize_backlog, load_average  # noqa: E402

from webui_export.api.db import IndexReader  # noqa: E402
from webui_export.index import files as layout  # noqa: E402

TARGET = 100.0  # videos/s into a published snapshot (issue 16)


@dataclass
class DaemonRun:
    complete_s: float  # until every finalize task was complete in the spool
    searchable_s: float  # until every video was in a published snapshot
    done: int
    published: int
    log: str
    cpu_s: float  # the daemon's CPU seconds (all threads) until every video was searchable
    parts: dict[str, Any] | None = None  # with --breakdown: bench/daemon_cpu.py's counts


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (all its threads; Linux only)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def published_videos(index: Path) -> int:
    """Videos in the published snapshot, from its manifest (cheap enough to poll)."""
    try:
        manifest = layout.read_manifest(index)
    except (OSError, ValueError):  # replaced while read: the next poll sees it
        return 0
    return manifest.counts.get("videos", 0) if manifest else 0


def run_daemon(
    orig: Path, base: Path, count: int, max_seconds: float, batch: int,
    code: Path = REPO, breakdown: bool = False,
) -> DaemonRun:  # fmt: skip
    """``spoold run`` of the checkout ``code`` (``[index] finalize_batch = batch``) on a copy
    (``base``) of the backlog made under ``orig``, until every video is published (or
    ``max_seconds``); the daemon is stopped with SIGTERM either way.  ``breakdown``: run it
    under ``bench/daemon_cpu.py`` (this checkout's) and keep its counts."""
    shutil.copytree(orig, base, symlinks=True)
    config = base / "spoold.toml"
    text = config.read_text().replace(str(orig), str(base))
    config.write_text(re.sub(r"(?m)^finalize_batch = \d+$", f"finalize_batch = {batch}", text))
    index = base / "index"
    spool_root = base / "spool"
    log_path = base / "daemon.log"
    complete_s = searchable_s = cpu_s = float("nan")
    done = published = 0
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        cpu_file = base / "daemon_cpu.json"
        launch = [str(REPO / "bench" / "daemon_cpu.py"), str(cpu_file)] if breakdown else []
        proc = subprocess.Popen(
            [sys.executable, *(launch or ["-m", "spoold"]), "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=code,
            env=dict(os.environ, PYTHONPATH=str(code)),
        )
        try:
            while time.perf_counter() - started < max_seconds and proc.poll() is None:
                elapsed = time.perf_counter() - started
                if done < count:
                    done = count_complete(spool_root)
                    if done >= count:
                        complete_s = elapsed
                if published < count:
                    published = published_videos(index)
                    if published >= count:
                        searchable_s = elapsed
                        cpu_s = cpu_seconds(proc.pid)
                if done >= count and published >= count:
                    break
                time.sleep(0.05)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)
    if done < count:
        done = count_complete(spool_root)
    parts = json.loads(cpu_file.read_text()) if breakdown and cpu_file.exists() else None
    return DaemonRun(
        complete_s, searchable_s, done, published, log_path.read_text(errors="replace"), cpu_s,
        parts,
    )  # fmt: skip


def breakdown_table(runs: list[tuple[str, DaemonRun]], count: int) -> str:
    """Each daemon's CPU per video in each part ``bench/daemon_cpu.py`` counts."""
    counted = [(name, r.parts) for name, r in runs if r.parts]
    if not counted:
        return "breakdown: no daemon wrote its counts"
    names = sorted(
        {part for _, parts in counted for part in parts["parts"]},
        key=lambda part: -counted[0][1]["parts"].get(part, [0.0])[0],
    )
    head = f"{'thread CPU until the daemon stopped, ms a video:':56}"
    lines = [head + "".join(f" {name[:22]:>22}" for name, _ in counted) + " |"]
    rows = [("process (all threads)", [parts["process"] for _, parts in counted])]
    rows += [(n, [parts["parts"].get(n, [float("nan")])[0] for _, parts in counted]) for n in names]
    for label, values in rows:
        lines.append(f"{label:56}" + "".join(f" {1000 * v / count:22.2f}" for v in values))
    return "\n".join(lines)


def count_complete(spool_root: Path) -> int:
    """Finalize tasks complete in the spool (the spool's own read verbs)."""
    from spoold.spool import Spool

    spool = Spool(spool_root)
    try:
        return sum(
            len(spool.completed_ids(day, task_type="finalize")) for day in spool.complete_days()
        )
    finally:
        spool.close()


def searchable_through_api(index: Path, prefix: str) -> int:
    """The bench's videos the API's db layer finds in the published snapshot."""
    session = IndexReader(index).session()
    try:
        files = session.part_files("videos")
        row = session.one(
            "SELECT count(DISTINCT video_id) FROM read_parquet($files)"
            " WHERE starts_with(video_id, $prefix)",
            {"files": files, "prefix": prefix},
        )
        return int(row[0]) if row else 0
    finally:
        session.cursor.close()


def floor(base: Path) -> float:
    """Seconds for a bulk ``INSERT ... SELECT`` of every detection row of the backlog's files
    into an empty DuckDB file."""
    import duckdb

    files = sorted(str(p) for p in (base / "server" / "meta").glob("*.detections.json"))
    con = duckdb.connect(str(base / "floor.duckdb"), config={"threads": 2})
    try:
        started = time.perf_counter()
        con.execute(
            "CREATE TABLE detections AS SELECT video_id, unnest(detections, recursive := true)"
            " FROM read_json_auto(?) LIMIT 0",
            [files],
        )
        con.execute(
            "INSERT INTO detections SELECT video_id, unnest(detections, recursive := true)"
            " FROM read_json_auto(?)",
            [files],
        )
        con.execute("CHECKPOINT")
        return time.perf_counter() - started
    finally:
        con.close()


_PUBLISHED = re.compile(
    r"published generation \d+: (\d+) block\(s\), pruned \d+ file\(s\) in ([0-9.]+)s"
)
_BATCH = re.compile(r"finalize batch: (\d+) of (\d+) video\(s\) indexed in ([0-9.]+) s")


def log_summary(log: str) -> str:
    """What the daemon's log says about its finalize batches and snapshot publishes."""
    pubs = [float(m.group(2)) for m in _PUBLISHED.finditer(log)]
    batches = [(int(m.group(1)), float(m.group(3))) for m in _BATCH.finditer(log)]
    if not batches:
        return "daemon log: no finalize batch logged"
    videos = sum(n for n, _ in batches)
    return (
        f"daemon log: {len(batches)} finalize batches (largest {max(n for n, _ in batches)},"
        f" {videos / max(1e-9, sum(s for _, s in batches)):.1f} videos/s while batching),"
        f" {len(pubs)} publishes ({sum(pubs):.2f} s in all, longest {max(pubs, default=0):.2f} s)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=2000, help="finalize tasks waiting (2000)")
    ap.add_argument("--detections", type=int, default=2000, help="detections per video (2000)")
    ap.add_argument("--batch", type=int, default=200, help="[index] finalize_batch (200)")
    ap.add_argument("--max-seconds", type=float, default=900.0, help="give up after (900)")
    ap.add_argument("--quick", action="store_true", help="20 tasks of 200 detections")
    ap.add_argument("--dir", type=Path, help="work folder (default: a new temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (daemon.log)")
    ap.add_argument(
        "--baseline", type=Path, help="also run `spoold run` of this checkout (e.g. /work/main)"
    )
    ap.add_argument(
        "--baseline-batch", type=int, default=200, help="its finalize_batch (200: its default)"
    )
    ap.add_argument(
        "--breakdown", action="store_true", help="where each daemon's CPU goes (daemon_cpu.py)"
    )
    args = ap.parse_args()
    if args.quick:
        args.tasks, args.detections = 20, 200
    work = Path(tempfile.mkdtemp(prefix="backlog-", dir=args.dir))
    try:
        orig = work / "backlog"
        t0 = time.perf_counter()
        finalize_backlog(orig, orig / "index", args.tasks, args.detections, args.batch)
        setup_s = time.perf_counter() - t0
        n = args.tasks
        print(
            f"backlog: {n} finalize tasks of {args.detections} detections, empty index,"
            f" [index] finalize_batch = {args.batch}"
            f"{f' (baseline: {args.baseline_batch})' if args.baseline else ''}"
            f" (made in {setup_s:.1f} s);"
            f" {os.cpu_count()} cores, load average {load_average()}\n"
        )
        floor_s = floor(orig)
        floor_rate = n / floor_s
        this = run_daemon(
            orig, work / "run", n, args.max_seconds, args.batch, breakdown=args.breakdown
        )
        runs = [("this checkout", this)]
        if args.baseline:
            base_run = run_daemon(
                orig, work / "baseline", n, args.max_seconds, args.baseline_batch,
                args.baseline, args.breakdown,
            )  # fmt: skip
            runs.append((f"code at {args.baseline}", base_run))
        print(f"{'measure':66} {'seconds':>8} {'videos/s':>9} {'vs floor':>9}")
        rows = [("floor: INSERT ... SELECT into an empty DuckDB file", floor_s)]
        for name, run in runs:
            rows.append((f"spoold run ({name}): every finalize task complete", run.complete_s))
            rows.append((f"spoold run ({name}): every video searchable", run.searchable_s))
        for label, seconds in rows:
            rate = n / seconds if seconds == seconds else 0.0  # NaN: not reached
            print(f"{label:66} {seconds:8.2f} {rate:9.1f} {rate / floor_rate:8.2f}x")
        run = runs[0][1]
        found = searchable_through_api(work / "run" / "index", "bench_")
        rate = n / run.searchable_s if run.searchable_s == run.searchable_s else 0.0
        verdict = "met" if rate >= TARGET else "NOT met"
        print(
            f"\ntarget >= {TARGET:.0f} videos/s into a published snapshot: {verdict}"
            f" ({rate:.1f} videos/s, {rate / floor_rate:.2f}x the floor; {run.done}/{n} complete,"
            f" {found}/{n} found through the API's db layer)"
        )
        for name, r in runs:
            print(f"{name}: {log_summary(r.log)}")
        # CPU per video is what load from other processes changes least: with both cores
        # free and nothing waiting, the rate could not exceed cores / CPU per video.
        cores = os.cpu_count() or 1
        for name, r in runs:
            per = r.cpu_s / n
            print(
                f"{name}: daemon CPU {r.cpu_s:.1f} s until searchable, {per * 1000:.1f} ms a"
                f" video (at most {cores / per if per else 0:.0f} videos/s on {cores} free cores)"
            )
        if args.breakdown:
            print(breakdown_table(runs, n))
        print(f"load average after: {load_average()}")
        if args.keep:
            print(f"kept: {work}")
        if found < n or run.done < n:
            print(json.dumps({"daemon_log_tail": run.log[-4000:]}), file=sys.stderr)
            sys.exit(1)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
