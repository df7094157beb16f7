"""Benchmark the read API under concurrent load on a real gunicorn, and the index writer.

Prints, per endpoint: p50 / p99 latency and requests/s with N concurrent keep-alive clients
against ``python -m webui_export.api.server`` on 127.0.0.1, next to two baselines: the same query
run in-process on DuckDB (no HTTP), and a 304 answer (HTTP + Flask, no query).  Then finalize
throughput (videos/s at ``--detections`` per video, publishing included): straight into the
``Indexer`` (one by one, and ``finalize_many`` batches), and through the daemon's path (finalize
tasks waiting in a spool, claimed and run by ``ServerRunner`` with ``IndexService`` batching,
completed in the spool), one at a time and ``--batch`` at a time.  Then a backlog through the
real daemon: ``--backlog`` finalize tasks waiting when ``spoold run`` starts, timed until every
one is complete and published, next to the floor (a bulk ``INSERT ... SELECT`` of the same
detection rows into an empty DuckDB file) and the ratio.  Last, the index size.

    python bench/api_bench.py --videos 2000                 # build a synthetic index first
    python bench/api_bench.py --index /path/to/index        # an existing index (e.g. the year)
    python -m spoold.demo.synth /tmp/year --videos 100000  # the full synthetic year
    python bench/api_bench.py --finalize-only --finalize 0 --backlog 2000  # the backlog alone
    python bench/api_bench.py --quick                       # tiny sizes: the smoke test

Loopback only; every load loop is bounded by ``--requests`` and ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from schemas.task import ChildSpec, FileRef  # noqa: E402
from spoold.demo.synth import PlateSpec, generate_year, pipeline_for, video_files  # noqa: E402
from spoold.server.executors.index import IndexService  # noqa: E402
from spoold.server.pipeline import Pipeline  # noqa: E402
from spoold.server.runner import ServerRunner  # noqa: E402
from spoold.server.settings import load_settings  # noqa: E402
from spoold.server.storage import Storage  # noqa: E402
from spoold.spool import Spool  # noqa: E402
from webui_export.api import queries  # noqa: E402
from webui_export.api.db import IndexReader, Session  # noqa: E402
from webui_export.index.platetext import canonical_plate, prefix_bounds  # noqa: E402
from webui_export.index.writer import Indexer  # noqa: E402

#: Finalized bench videos start after the synthetic year, so they add rather than replace.
LATER = datetime(2027, 6, 1, tzinfo=timezone.utc)


def after_the_index(index: Path) -> datetime:
    """Where new bench videos start: a day after the newest video in the index (at least
    ``LATER``), like a dashcam's next drive.  A fixed start would pile every run's videos on
    one vehicle's same hour, and each finalize re-derives the plate sightings of that hour."""
    with Indexer(index) as indexer:
        row = indexer._con.execute("SELECT max(end_ts) FROM videos").fetchone()
    newest = row[0] if row and row[0] is not None else None
    if newest is None:
        return LATER
    newest = newest.replace(tzinfo=timezone.utc) + timedelta(days=1)
    return max(LATER, newest)


class _Skip(Exception):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_server(index: Path, port: int, workers: int, threads: int = 1) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "webui_export.api.server", "--index-dir", str(index),
         "--port", str(port), "--workers", str(workers), "--threads", str(threads)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/openapi.json")
            if conn.getresponse().status == 200:
                conn.close()
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not come up")


def load(
    port: int,
    urls: list[str],
    total: int,
    concurrency: int,
    max_seconds: float,
    headers: dict[str, str] | None = None,
) -> tuple[list[float], float, dict[int, int]]:
    """``total`` GETs over ``concurrency`` keep-alive connections; latencies (s), wall, codes."""
    latencies: list[float] = []
    codes: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + max_seconds
    per_thread = max(1, total // concurrency)

    def run(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        mine_codes: dict[int, int] = {}
        for _ in range(per_thread):
            if time.monotonic() > deadline:
                break
            url = urls[rng.randrange(len(urls))]
            started = time.perf_counter()
            conn.request("GET", url, headers=headers or {})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            mine_codes[response.status] = mine_codes.get(response.status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for code, n in mine_codes.items():
                codes[code] = codes.get(code, 0) + n

    threads = [threading.Thread(target=run, args=(i,)) for i in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started, codes


#: The read API's targets (issue 16): p99 latency, and p50 over the direct query's p50.
P99_TARGET = 0.050
RATIO_TARGET = 3.0

#: One request of an endpoint's mix: its URL and the same query run in-process (or None).
Case = tuple[str, Callable[[Session], object]]


def direct(
    calls: list[Callable[[Session], object]], n: int, index: Path, max_seconds: float
) -> list[float]:
    """The same queries in-process on DuckDB (no HTTP, no JSON), sequentially, each on a
    session of its own with an empty memo (what a file yields stays cached, as in a server
    worker): the query's own cost.  At most ``n`` calls and about ``max_seconds``."""
    reader = IndexReader(index)
    out: list[float] = []
    deadline = time.monotonic() + max_seconds
    for i in range(n):
        if out and time.monotonic() > deadline:
            break
        session = dataclasses.replace(reader.session(), memo={})
        started = time.perf_counter()
        calls[i % len(calls)](session)
        out.append(time.perf_counter() - started)
        session.cursor.close()
    return out


def _videos(f: queries.VideoFilters, descending: bool = True) -> Callable[[Session], object]:
    return lambda s: queries.list_videos(s, f, 50, None, descending)


def read_endpoints(
    videos: list[str], plates: list[str], vehicles: list[str], brands: list[str], paths: list[str]
) -> list[tuple[str, list[Case]]]:
    """Each endpoint's mix of requests (the videos list once per filter it supports), with the
    in-process call each request stands for."""
    VF = queries.VideoFilters
    months = [datetime(2026, m, 1) for m in range(1, 13)]
    last = datetime.now(timezone.utc).date()
    first = last - timedelta(days=29)

    def detections(v: str) -> Callable[[Session], object]:
        return lambda s: queries.list_detections(
            s, queries.video_key(s, v) or 0, labels=[], min_confidence=None, t_from=None,
            t_to=None, limit=50, after_seq=None,
        )  # fmt: skip

    def one(fn: Callable[[Session, str], object], v: str) -> Callable[[Session], object]:
        return lambda s: fn(s, v)

    return [
        ("video detail", [(f"/api/videos/{v}", one(queries.get_video, v)) for v in videos]),
        ("track (GeoJSON)", [(f"/api/videos/{v}/track", one(queries.track_points, v))
                             for v in videos]),
        ("detections (50)", [(f"/api/videos/{v}/detections", detections(v)) for v in videos]),
        ("plate timeline", [(f"/api/plates/{p}/timeline",
                             one(lambda s, c: queries.plate_timeline(s, c, 50, None),
                                 canonical_plate(p))) for p in plates]),
        ("plates?q= prefix", [(f"/api/plates?q={p[:2]}",
                               one(lambda s, c: queries.search_plates(s, prefix_bounds(c), 50,
                                                                      None),
                                   canonical_plate(p[:2]))) for p in plates]),
        ("videos (no filter)", [("/api/videos", _videos(VF()))]),
        ("videos order=asc", [("/api/videos?order=asc", _videos(VF(), descending=False))]),
        ("videos status", [(f"/api/videos?status={st}", _videos(VF(statuses=[st])))
                           for st in ("complete", "failed")]),
        ("videos channel", [(f"/api/videos?channel={c}", _videos(VF(channels=[c])))
                            for c in ("front", "rear")]),
        ("videos vehicle", [(f"/api/videos?vehicle={v}", _videos(VF(vehicles=[v])))
                            for v in vehicles]),
        ("videos brand", [(f"/api/videos?brand={b}", _videos(VF(brands=[b]))) for b in brands]),
        ("videos has_plate", [(f"/api/videos?has_plate={b}", _videos(VF(has_plate=b == "true")))
                              for b in ("true", "false")]),
        ("videos path", [(f"/api/videos?path={p}", _videos(VF(path=p))) for p in paths]),
        ("videos time range", [(f"/api/videos?after={m:%Y-%m-%d}&before="
                                f"{m + timedelta(days=7):%Y-%m-%d}",
                                _videos(VF(after=m, before=m + timedelta(days=7))))
                               for m in months]),
        ("videos bbox", [("/api/videos?bbox=11.5,48.1,11.6,48.2",
                          _videos(VF(bbox=(11.5, 48.1, 11.6, 48.2))))]),
        ("stats", [("/api/stats", lambda s: queries.index_stats(s, first, last))]),
    ]  # fmt: skip


def finalize_throughput(
    index: Path, count: int, detections: int, tmp: Path, batch: int
) -> tuple[float, float]:
    """Videos/s finalizing ``count`` new videos ``batch`` at a time (``finalize`` when 1,
    else ``finalize_many``), publishing as the daemon would; and the mean seconds per video."""
    files_dir = tmp / f"worker-files-{batch}"
    start = after_the_index(index)
    tag = f"{os.getpid()}_{batch}"
    made = [
        video_files(
            files_dir, f"bench_{tag}_{n:05d}", start=start + timedelta(minutes=2 * n),
            detections=detections, plates=[PlateSpec(f"BN{n % 97:03d}", 5.0)],
        )
        for n in range(count)
    ]  # fmt: skip
    items = [(v, f, pipeline_for(v.video_id)) for v, f in made]
    with Indexer(index) as indexer:
        started = time.perf_counter()
        if batch == 1:
            for video, files, stages in items:
                indexer.finalize(video, files, stages)
        else:
            for i in range(0, count, batch):
                results = indexer.finalize_many(items[i : i + batch])
                assert all(not isinstance(r, Exception) for r in results), results
        indexer.publish()
        wall = time.perf_counter() - started
    shutil.rmtree(files_dir, ignore_errors=True)
    return count / wall, wall / count


DAEMON_TOML = """
[spool]
root = "{base}/spool"

[storage]
server = "{base}/server"

[daemon]
state_dir = "{base}/state"

[index]
dir = "{index}"
finalize_batch = {batch}

# The bench's ingests completed with a finalize child (no devices here): the daemon must not
# chain their usual preprocess follow-ups.
[pipeline.stages.ingest]
next = []

[pipeline.stages.finalize]
next = []
"""


def finalize_backlog(base: Path, index: Path, count: int, detections: int, batch: int) -> Spool:
    """``count`` finalize tasks waiting in a new spool under ``base`` (each with its completed
    ingest, as the pipeline leaves them), their worker outputs under ``base/server/meta``, and
    ``base/spoold.toml`` for a daemon writing ``index``."""
    start = after_the_index(index)
    server = base / "server"
    (server / "meta").mkdir(parents=True)
    (server / ".spoold-storage").touch()
    Spool.init(base / "spool")
    (base / "spoold.toml").write_text(DAEMON_TOML.format(base=base, index=index, batch=batch))
    spool = Spool(base / "spool")
    tag = f"{os.getpid()}_d{batch}"
    for n in range(count):
        video, files = video_files(
            server / "meta", f"bench_{tag}_{n:05d}", start=start + timedelta(minutes=2 * n),
            detections=detections, plates=[PlateSpec(f"BD{n % 97:03d}", 5.0)],
        )  # fmt: skip
        refs = [
            FileRef(device="server", path=str(path.relative_to(server)), type=kind)
            for kind, path in files.items()
        ]
        ingest = spool.new_task("ingest", "setup", video.video_id, video_id=video.video_id)
        spool.publish(ingest)
        claim = spool.claim("setup", "bench")
        assert claim is not None
        finalize = ChildSpec(task_type="finalize", device_class="server", inputs=refs)
        claim.complete([], [finalize], video.model_dump(mode="json"))
    return spool


def real_daemon_backlog(
    index: Path, count: int, detections: int, tmp: Path, batch: int, max_seconds: float
) -> tuple[float, float, str]:
    """Videos/s through ``spoold run`` itself: ``count`` finalize tasks wait when it starts;
    timed from its start until every task is complete and an index generation was published
    after the last completion.  Then the floor: a bulk ``INSERT ... SELECT`` of the same
    detection rows (from the same files) into an empty DuckDB file, in videos/s."""
    import duckdb

    base = tmp / f"backlog-{batch}"
    spool = finalize_backlog(base, index, count, detections, batch)
    current = index / "CURRENT.json"
    before = current.stat().st_mtime if current.exists() else 0.0
    log = open(base / "daemon.log", "wb")  # noqa: SIM115 - closed below
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "spoold", "run", "--config", str(base / "spoold.toml")],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    done = 0
    try:
        while time.perf_counter() - started < max_seconds and proc.poll() is None:
            done = sum(
                len(spool.completed_ids(day, task_type="finalize")) for day in spool.complete_days()
            )
            if done >= count:
                last = time.time()
                while time.perf_counter() - started < max_seconds:
                    published = current.stat().st_mtime if current.exists() else 0.0
                    if published >= last and published > before:
                        break
                    time.sleep(0.05)
                break
            time.sleep(0.2)
        wall = time.perf_counter() - started
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
        log.close()
    files = sorted(str(p) for p in (base / "server" / "meta").glob("*.detections.json"))
    floor_db = base / "floor.duckdb"
    con = duckdb.connect(str(floor_db))
    t0 = time.perf_counter()
    con.execute(
        "CREATE TABLE detections AS SELECT video_id, unnest(detections, recursive := true) "
        "FROM read_json_auto(?) LIMIT 0",
        [files],
    )
    con.execute(
        "INSERT INTO detections SELECT video_id, unnest(detections, recursive := true) "
        "FROM read_json_auto(?)",
        [files],
    )
    con.close()
    floor_wall = time.perf_counter() - t0
    spool.close()
    shutil.rmtree(base, ignore_errors=True)
    floor_rate = count / floor_wall
    note = f"{done}/{count} done; floor INSERT ... SELECT {floor_rate:.1f} videos/s"
    return done / wall, floor_rate, note


def daemon_finalize_throughput(
    index: Path, count: int, detections: int, tmp: Path, batch: int, max_seconds: float
) -> tuple[float, float, str]:
    """Videos/s through the daemon's path: ``count`` finalize tasks wait in a spool (each with
    its completed ingest, as the pipeline leaves them); ``ServerRunner`` claims them and runs
    them with ``IndexService`` batching up to ``batch``, completions written to the spool,
    ticked like the daemon's loop, until every task is complete (publishing on the daemon's
    schedule: the last videos become visible within ``publish_interval``).  Also the mean
    seconds per video, and the batch counters."""
    base = tmp / f"daemon-{batch}"
    spool = finalize_backlog(base, index, count, detections, batch)
    cfg = load_settings(base / "spoold.toml")
    wake = threading.Event()
    storage = Storage(dict(cfg.storage), threads=cfg.daemon.io_threads, on_done=wake.set)
    storage.wait_checked(10)
    service = IndexService(cfg.index.dir, storage, timeout=cfg.daemon.probe_timeout_s, batch=batch)
    runner = ServerRunner(cfg, spool, storage, Pipeline(cfg.pipeline), index=service)
    started = time.perf_counter()
    while runner.stats.by_type.get("finalize", 0) + runner.stats.failed < count:
        if time.perf_counter() - started > max_seconds:
            break
        wake.clear()
        now = time.monotonic()
        storage.check(now)
        runner.tick(now)
        service.tick()
        wake.wait(0.05)
    wall = time.perf_counter() - started
    done = runner.stats.by_type.get("finalize", 0)
    runner.shutdown(5.0)
    service.close(60.0)
    spool.close()
    shutil.rmtree(base, ignore_errors=True)
    st = service.stats
    note = (
        f"{done}/{count} done, {runner.stats.failed} failed, {st.batches} transactions,"
        f" largest {st.largest}"
    )
    return done / wall, wall / max(1, done), note


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, help="an existing index directory")
    parser.add_argument("--videos", type=int, default=2000, help="synthetic videos if no --index")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="per gunicorn worker")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--requests", type=int, default=2000, help="per endpoint")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="per endpoint")
    parser.add_argument("--finalize", type=int, default=100, help="videos to finalize (0: skip)")
    parser.add_argument("--detections", type=int, default=2000, help="per finalized video")
    parser.add_argument("--batch", type=int, default=20, help="finalize_many batch size")
    parser.add_argument("--finalize-only", action="store_true", help="skip the API load")
    parser.add_argument(
        "--backlog", type=int, help="finalize tasks waiting for `spoold run` (default: --finalize)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: the smoke test")
    args = parser.parse_args()
    if args.quick:
        args.videos, args.finalize, args.detections = 200, 10, 200
        args.requests, args.max_seconds, args.batch = 50, 30.0, 5

    tmp = Path(tempfile.mkdtemp(prefix="spoold-bench-"))
    index = args.index
    if index is None:
        index = tmp / "index"
        print(f"generating {args.videos:,} synthetic videos ...", flush=True)
        generate_year(index, videos=args.videos)

    reader = IndexReader(index)
    session = reader.session()
    video_rows = session.rows(
        "SELECT video_id FROM read_parquet($v) WHERE n_gps_points > 0 USING SAMPLE 200 ROWS",
        {"v": session.global_file("videos")},
    )
    videos = [r[0] for r in video_rows]
    plates = [
        r[0]
        for r in session.rows(
            "SELECT plate FROM read_parquet($s) USING SAMPLE 200 ROWS",
            {"s": session.global_file("sightings")},
        )
    ]
    vehicles, brands, paths = ([
        str(r[0]) for r in session.rows(f"SELECT DISTINCT {column} FROM read_parquet($v)"
                                        f" WHERE {column} IS NOT NULL ORDER BY 1 LIMIT 12",
                                        {"v": session.global_file("videos")})
    ] for column in ("vehicle", "brand", "path[:16]"))  # fmt: skip
    counts = session.manifest.counts
    session.cursor.close()
    print(
        f"index: {counts.get('videos', 0):,} videos, {counts.get('detections', 0):,} detections, "
        f"{counts.get('gps_points', 0):,} GPS points, {counts.get('plate_reads', 0):,} plate reads, "
        f"{counts.get('sightings', 0):,} sightings"
    )

    endpoints = read_endpoints(videos, plates, vehicles, brands, paths)
    port = free_port()
    rows = []
    server = (
        start_server(index, port, args.workers, args.threads) if not args.finalize_only else None
    )
    try:
        if server is None:
            raise _Skip
        # the floor: HTTP + Flask + ETag check, no query
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.request("GET", f"/api/videos/{videos[0]}")
        response = conn.getresponse()
        response.read()
        etag = response.getheader("ETag") or ""
        conn.close()
        floor, wall, codes = load(
            port, [f"/api/videos/{videos[0]}"], args.requests, args.concurrency,
            args.max_seconds, {"If-None-Match": etag},
        )  # fmt: skip
        rows.append(("304 (no query)", floor, wall, codes, None))
        for name, cases in endpoints:
            urls = [url for url, _ in cases]
            load(port, urls, min(200, args.requests), args.concurrency, 10)  # warm-up
            lat, wall, codes = load(port, urls, args.requests, args.concurrency, args.max_seconds)
            base = direct([fn for _, fn in cases], 300, index, args.max_seconds)
            rows.append((name, lat, wall, codes, base))
    except _Skip:
        pass
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)

    print(f"load average: {load_average()}")
    print(
        f"\nread API: gunicorn {args.workers} workers x {args.threads} threads, {args.concurrency}"
        " concurrent keep-alive "
        f"clients, {args.requests} requests per endpoint (loopback)\n"
    )
    header = (
        f"{'endpoint':20} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'codes':>14}"
        f" {'direct p50':>11} {'direct p99':>11} {'p50 ratio':>10}  targets"
    )
    print(header)
    print("-" * len(header))
    for name, lat, wall, codes, base in rows:
        code_text = ",".join(f"{c}:{n}" for c, n in sorted(codes.items()))
        line = (
            f"{name:20} {pct(lat, 0.5) * 1e3:8.1f} {pct(lat, 0.99) * 1e3:8.1f}"
            f" {len(lat) / wall:8.0f} {code_text:>14}"
        )
        if base:
            ratio = pct(lat, 0.5) / pct(base, 0.5)
            line += f" {pct(base, 0.5) * 1e3:10.1f}  {pct(base, 0.99) * 1e3:10.1f}  {ratio:9.1f}x"
            line += "  p99 " + ("ok" if pct(lat, 0.99) < P99_TARGET else "OVER")
            line += ", ratio " + ("ok" if ratio <= RATIO_TARGET else "OVER")
        print(line)
    print(
        f"\ntargets (issue 16): p99 < {P99_TARGET * 1e3:.0f} ms, p50 <= {RATIO_TARGET:g}x direct"
        " DuckDB p50; each row's requests, e.g.:"
    )
    for name, cases in endpoints if server is not None else []:
        print(
            f"  {name:20} {cases[0][0]}" + (f"  (+{len(cases) - 1} like it)" if cases[1:] else "")
        )

    if args.finalize:
        print(
            f"\nfinalize: {args.finalize} videos of {args.detections} detections each, "
            f"publishing included\n"
        )
        for batch in (1, args.batch):
            rate, per = finalize_throughput(index, args.finalize, args.detections, tmp, batch)
            how = "finalize() one by one" if batch == 1 else f"finalize_many() x{batch}"
            print(f"{rate:6.1f} videos/s  ({per * 1e3:6.1f} ms/video)  Indexer {how}")
        for batch in (1, args.batch):
            rate, per, note = daemon_finalize_throughput(
                index, args.finalize, args.detections, tmp, batch, args.max_seconds
            )
            how = "one at a time" if batch == 1 else f"batches of up to {batch}"
            print(f"{rate:6.1f} videos/s  ({per * 1e3:6.1f} ms/video)  daemon path, {how} ({note})")
        print(f"load average: {load_average()}")
    backlog = args.finalize if args.backlog is None else args.backlog
    if backlog:
        rate, floor, note = real_daemon_backlog(
            index, backlog, args.detections, tmp, args.batch, args.max_seconds
        )
        print(
            f"\n{rate:6.1f} videos/s  backlog of {backlog} finalize tasks of {args.detections} "
            f"detections through `spoold run` into a published snapshot ({note}); "
            f"ratio to the floor {rate / floor:.2f}x"
        )
        print(f"load average: {load_average()}")
    live = (index / "live.duckdb").stat().st_size
    snap = du(index / "snapshot")
    print(
        f"index size: live.duckdb {live / 2**20:,.0f} MiB, published snapshot {snap / 2**20:,.0f} MiB"
    )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
