"""Synthetic metadata: worker output files for tests, and a whole year for benchmarks.

Public API: :func:`video_files` (one video's VideoMeta plus detections/gps/plates JSON files,
as a worker would write them), :func:`generate_year` (bulk-load N videos straight into an
index, generated inside DuckDB, then publish).

``python -m spoold.demo.synth INDEX_DIR --videos 100000`` builds the benchmark index.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from schemas.metadata import StageStatus, VideoMeta
from spoold.logsetup import setup_logging
from webui_export.index import files as layout
from webui_export.index.livedb import mark_all_dirty
from webui_export.index.rows import rebuild_video_docs
from webui_export.index.sightings import rederive_all
from webui_export.index.writer import Indexer

logger = logging.getLogger(__name__)

LABELS = ("car", "person", "truck", "bicycle", "motorcycle", "bus", "traffic_light", "dog")
HOME = (48.137, 11.575)  # where the synthetic vehicles drive around


@dataclass(frozen=True)
class PlateSpec:
    """``reads`` reads of ``text`` starting ``t`` seconds in, ``every`` seconds apart."""

    text: str
    t: float
    reads: int = 3
    every: float = 0.5
    raw: str | None = None
    confidence: float = 0.9


def video_files(
    out_dir: Path,
    video_id: str,
    *,
    vehicle: str = "car1",
    channel: str = "front",
    start: datetime | None = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc),
    duration_s: float = 60.0,
    detections: int = 100,
    gps_hz: float | None = 1.0,
    plates: Sequence[PlateSpec] = (),
    seed: int = 0,
    brand: str = "viofo",
    origin: tuple[float, float] = HOME,
    camera_clock_only: bool = False,
) -> tuple[VideoMeta, dict[str, Path]]:
    """Write one video's worker outputs under ``out_dir``; return its VideoMeta and files.

    ``gps_hz=None`` writes no GPS file, ``0`` an empty track.  GPS fixes carry ``t`` offsets.
    ``start=None``: a video with no time at all; ``camera_clock_only``: only ``start_local``
    (one hour ahead of ``start``) is known.
    """
    rng = random.Random(f"{seed}:{video_id}")
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    files["detections"] = _write(
        out_dir / f"{video_id}.detections.json",
        {
            "kind": "detections",
            "video_id": video_id,
            "model": "yolo-synth-1",
            "detections": _detections(rng, detections, duration_s),
        },
    )
    if gps_hz is not None and start is not None and not camera_clock_only:
        points = _gps_points(rng, start, duration_s, gps_hz, origin)
        files["gps"] = _write(
            out_dir / f"{video_id}.gps.json",
            {"kind": "gps", "video_id": video_id, "source": "synth", "points": points},
        )
    files["plates"] = _write(
        out_dir / f"{video_id}.plates.json",
        {
            "kind": "plates",
            "video_id": video_id,
            "reader": "ocr-synth-1",
            "reads": _plate_reads(plates, channel),
        },
    )
    video = VideoMeta(
        video_id=video_id,
        device="server",
        path=f"videos/{vehicle}/{video_id}.MP4",
        size=50_000_000,
        brand=brand,
        channel=channel,  # type: ignore[arg-type]
        mode="normal",
        vehicle=vehicle,
        start_utc=None if camera_clock_only else start,
        start_local=start.replace(tzinfo=None) + timedelta(hours=1) if start else None,
        start_source="filename" if start else "unknown",
        duration_s=duration_s,
        codec="hevc",
        width=2560,
        height=1440,
        fps=30.0,
        bitrate=20_000_000,
    )
    return video, files


def _detections(rng: random.Random, n: int, duration_s: float) -> list[dict[str, Any]]:
    """``n`` random boxes of :data:`LABELS` over the video."""
    dets = []
    for _ in range(n):
        w, h = rng.uniform(0.02, 0.4), rng.uniform(0.02, 0.4)
        dets.append(
            {
                "t": round(rng.uniform(0, duration_s), 3),
                "label": rng.choice(LABELS),
                "confidence": round(rng.uniform(0.3, 1.0), 3),
                "bbox": {
                    "x": round(rng.uniform(0, 1 - w), 4),
                    "y": round(rng.uniform(0, 1 - h), 4),
                    "w": round(w, 4),
                    "h": round(h, 4),
                },
                "track_id": rng.randrange(50),
            }
        )
    return dets


def _gps_points(
    rng: random.Random,
    start: datetime,
    duration_s: float,
    gps_hz: float,
    origin: tuple[float, float],
) -> list[dict[str, Any]]:
    """A wandering drive from ``origin`` at ``gps_hz`` fixes per second."""
    points = []
    lat, lon = origin
    heading = rng.uniform(0, 360)
    for i in range(int(duration_s * gps_hz)):
        t = i / gps_hz
        heading = (heading + rng.uniform(-10, 10)) % 360
        speed = rng.uniform(20, 60)
        step = speed / 3.6 / gps_hz / 111_000
        lat += step * math.cos(math.radians(heading))
        lon += step * math.sin(math.radians(heading)) / math.cos(math.radians(lat))
        points.append(
            {
                "time": (start + timedelta(seconds=t)).isoformat().replace("+00:00", "Z"),
                "lat": round(lat, 6),
                "lon": round(lon, 6),
                "speed_kmh": round(speed, 1),
                "heading": round(heading, 1) % 360,
                "altitude_m": round(520 + rng.uniform(-5, 5), 1),
                "fix": 1,
                "t": t,
            }
        )
    return points


def _plate_reads(plates: Sequence[PlateSpec], channel: str) -> list[dict[str, Any]]:
    """Each plate's reads, confidence falling a little with each read."""
    reads = []
    for spec in plates:
        for k in range(spec.reads):
            reads.append(
                {
                    "t": round(spec.t + k * spec.every, 3),
                    "text_raw": spec.raw or spec.text,
                    "text": spec.text,
                    "confidence": round(max(0.0, min(1.0, spec.confidence - 0.05 * k)), 3),
                    "bbox": {"x": 0.4, "y": 0.6, "w": 0.1, "h": 0.05},
                    "channel": channel,
                }
            )
    return reads


def pipeline_for(video_id: str, states: dict[str, str] | None = None) -> list[StageStatus]:
    """A plausible stage list: every stage complete unless ``states`` says otherwise."""
    stages = ("ingest", "preprocess", "detect", "plates", "finalize")
    states = states or {}
    return [
        StageStatus(
            stage=stage,
            state=states.get(stage, "complete"),  # type: ignore[arg-type]
            task_id=f"20261125T100000Z-{stage}-{video_id}",
            device="server",
        )
        for stage in stages
    ]


@dataclass(frozen=True)
class DemoIndex:
    """A small, fully known index for tests: what was put in, by video id."""

    index_dir: Path
    files_dir: Path
    videos: dict[str, VideoMeta]
    files: dict[str, dict[str, Path]]


DEMO_DAY = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)


def demo_videos(files_dir: Path) -> list[tuple[VideoMeta, dict[str, Path], list[StageStatus]]]:
    """Eight videos covering the cases the API must handle (see the comments)."""
    d = DEMO_DAY
    s = timedelta(seconds=1)
    made = [
        # car1 drives; its front camera reads AB123, the rear camera reads it as A8123 a second
        # later (OCR confusion): one sighting across both clips.  XY999 is seen once.
        video_files(files_dir, "car1_f_0001", start=d, detections=120,
                    plates=[PlateSpec("AB123", 5.0), PlateSpec("XY999", 40.0, reads=2)]),
        video_files(files_dir, "car1_r_0001", channel="rear", start=d + s, gps_hz=None,
                    detections=40, plates=[PlateSpec("A8123", 6.0, raw="A8 123")]),
        # the next front clip sees AB123 again, a minute later: a second sighting
        video_files(files_dir, "car1_f_0002", start=d + 60 * s, detections=80,
                    plates=[PlateSpec("AB123", 50.0, reads=2, confidence=0.95)]),
        # car2, another day and place: AB123 once more, and K0S77 read as KOS77
        video_files(files_dir, "car2_f_0001", vehicle="car2", start=d + timedelta(days=1, hours=4),
                    detections=60, origin=(52.52, 13.405), brand="blackvue",
                    plates=[PlateSpec("AB123", 10.0), PlateSpec("K0S77", 20.0, raw="KOS77")]),
        # car2's next clip: its plate stage failed
        video_files(files_dir, "car2_f_0002", vehicle="car2",
                    start=d + timedelta(days=1, hours=4, minutes=5), detections=30,
                    origin=(52.52, 13.405), brand="blackvue"),
        # no time at all (no start, no GPS)
        video_files(files_dir, "notime_0001", start=None, gps_hz=None, detections=10,
                    plates=[PlateSpec("QQ111", 3.0)], vehicle="car3"),
        # camera clock only, interior camera
        video_files(files_dir, "car3_i_0001", vehicle="car3", channel="interior",
                    start=d - timedelta(days=1), camera_clock_only=True, gps_hz=None,
                    detections=5, brand="nextbase"),
        # an empty clip: no detections, no plates, an empty GPS track
        video_files(files_dir, "car3_f_0001", vehicle="car3", start=d - timedelta(days=1),
                    detections=0, gps_hz=0, brand="nextbase"),
    ]  # fmt: skip
    out = []
    for video, files in made:
        states = {"plates": "failed"} if video.video_id == "car2_f_0002" else {}
        out.append((video, files, pipeline_for(video.video_id, states)))
    return out


def build_demo_index(index_dir: Path, files_dir: Path) -> DemoIndex:
    """Finalize :func:`demo_videos` into a fresh index and publish it."""
    videos: dict[str, VideoMeta] = {}
    files_by_video: dict[str, dict[str, Path]] = {}
    with Indexer(index_dir) as indexer:
        for video, files, pipeline in demo_videos(files_dir):
            indexer.finalize(video, files, pipeline)
            videos[video.video_id] = video
            files_by_video[video.video_id] = files
        indexer.publish()
    return DemoIndex(index_dir, files_dir, videos, files_by_video)


def finalize_stream(
    index_dir: Path,
    files_dir: Path,
    count: int,
    *,
    first: int = 0,
    detections: int = 100,
    publish: bool = True,
) -> list[float]:
    """Finalize ``count`` new synthetic videos one by one, publishing after each.

    Prints ``published <video_id> <generation>`` per video (a test reads it as progress).
    Returns the seconds each finalize took.
    """
    times = []
    with Indexer(index_dir, publish_interval=0.0 if publish else 1e9) as indexer:
        for n in range(first, first + count):
            video_id = f"stream_{n:06d}"
            video, files = video_files(
                files_dir, video_id, start=DEMO_DAY + timedelta(minutes=2 * n),
                detections=detections, plates=[PlateSpec(f"ST{n % 50:03d}", 5.0)],
            )  # fmt: skip
            report = indexer.finalize(video, files, pipeline_for(video_id))
            times.append(report.seconds)
            if publish:
                generation = report.published_generation or indexer.publish()
                print(f"published {video_id} {generation}", flush=True)
    return times


def _write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc, separators=(",", ":")))
    return path


# -- a synthetic year, generated in bulk inside DuckDB -----------------------------------------

_YEAR_SQL = [
    # streams: vehicle x channel; clips of 120 s; about 2.3 h of driving per day per stream
    """
    CREATE TEMP TABLE gen_videos AS
    WITH base AS (
        SELECT range AS n,
               range % 6 AS stream,
               (range // 6) AS k
        FROM range($videos)
    )
    SELECT n::INTEGER AS video_key,
        'car' || (stream // 2 + 1) AS vehicle,
        CASE WHEN stream % 2 = 0 THEN 'front' ELSE 'rear' END AS channel,
        k,
        TIMESTAMP '2026-01-01 06:00:00'
            + to_microseconds(((k * $day_us) // $per_stream)::BIGINT)
            AS start_ts
    FROM base
    """,
    """
    INSERT INTO videos SELECT
        video_key,
        printf('%s_%s_%06d', vehicle, channel, k) AS video_id,
        vehicle, vehicle AS timeline, 'server', printf('videos/%s/%06d.MP4', vehicle, k),
        50000000 + (hash(video_key) % 20000000)::BIGINT,
        CASE WHEN vehicle = 'car3' THEN 'blackvue' ELSE 'viofo' END, channel,
        CASE WHEN hash(video_key) % 50 = 0 THEN 'event' ELSE 'normal' END,
        k::INTEGER, start_ts + INTERVAL 1 HOUR, start_ts, 'filename', 'utc', start_ts,
        start_ts, start_ts + INTERVAL 120 SECOND, start_ts::DATE, 120.0, 'hevc', 2560, 1440,
        30.0, 20000000,
        CASE WHEN hash(video_key) % 500 = 0 THEN 'failed' ELSE 'complete' END,
        start_ts + INTERVAL 2 HOUR, 0, 0, 0, '{}', NULL, NULL, NULL, NULL,
        'yolo-synth-1', CASE WHEN channel = 'front' THEN 'synth' END, 'ocr-synth-1', NULL, NULL, NULL, NULL
    FROM gen_videos
    """,
    """
    INSERT INTO stages
    SELECT v.video_key, s.i::INTEGER,
        ['ingest', 'preprocess', 'detect', 'plates', 'finalize'][s.i + 1],
        CASE WHEN v.status = 'failed' AND s.i = 3 THEN 'failed' ELSE 'complete' END,
        strftime(v.start_ts, '%Y%m%dT%H%M%SZ') || '-' ||
            ['ingest', 'preprocess', 'detect', 'plates', 'finalize'][s.i + 1] || '-' || v.video_id,
        'server', v.finalized_at,
        CASE WHEN v.status = 'failed' AND s.i = 3 THEN 'ocr crashed (synthetic)' END
    FROM videos v, range(5) s(i)
    """,
    """
    INSERT INTO detections
    SELECT v.video_key, d.i::INTEGER,
        (d.i * 120.0 / $det_per_video)::DOUBLE,
        ['car', 'person', 'truck', 'bicycle', 'motorcycle', 'bus', 'traffic_light', 'dog'][
            1 + (hash(v.video_key, d.i) % 8)::INTEGER],
        (0.3 + random() * 0.7)::FLOAT,
        (random() * 0.6)::FLOAT, (random() * 0.6)::FLOAT,
        (0.02 + random() * 0.38)::FLOAT, (0.02 + random() * 0.38)::FLOAT,
        (d.i % 40)::INTEGER
    FROM videos v, range($det_per_video) d(i)
    """,
    # GPS: front clips only, 1 Hz; a wandering track per vehicle and day
    """
    INSERT INTO gps_points
    SELECT v.video_key, g.i::INTEGER,
        v.start_ts + to_microseconds(g.i * 1000000), g.i::DOUBLE,
        48.137 + 0.02 * sin(v.k / 7.0 + g.i / 300.0) + 0.1 * (hash(v.vehicle) % 5) / 5.0,
        11.575 + 0.03 * cos(v.k / 11.0 + g.i / 400.0),
        (30 + 20 * sin(g.i / 30.0))::FLOAT,
        ((v.k * 37 + g.i * 3) % 360)::FLOAT,
        (520 + 5 * sin(g.i / 50.0))::FLOAT,
        1::SMALLINT
    FROM gen_videos v, range($gps_per_video) g(i)
    WHERE v.channel = 'front'
    """,
    # plates: 3 sightings of 2 reads per clip; the rear clip sees the plate the front saw
    """
    INSERT INTO plate_reads
    WITH p AS (
        SELECT v.video_key, v.start_ts, v.channel, s.i AS sighting, r.j AS rd,
            (hash(v.vehicle, v.k, s.i) % $plates)::INTEGER AS plate_no,
            (10 + s.i * 35 + r.j * 0.5 + CASE WHEN v.channel = 'rear' THEN 3 ELSE 0 END)::DOUBLE AS t
        FROM gen_videos v, range(3) s(i), range(2) r(j)
    )
    SELECT video_key, (sighting * 2 + rd)::INTEGER, t,
        start_ts + to_microseconds((t * 1000000)::BIGINT),
        CASE WHEN rd = 1 AND plate_no % 7 = 0 THEN replace(plate, '0', 'O') ELSE plate END,
        plate, translate(plate, 'OIBSZ', '01852'),
        (0.6 + (hash(video_key, sighting, rd) % 400) / 1000.0)::FLOAT,
        0.4::FLOAT, 0.6::FLOAT, 0.1::FLOAT, 0.05::FLOAT, channel,
        NULL::VARCHAR  -- region: synthetic texts are no configured format
    FROM (SELECT *, printf('%s%s%03d%s',
            chr(65 + plate_no % 26), chr(65 + (plate_no // 26) % 26),
            (plate_no // 676) % 1000, chr(65 + (plate_no * 7) % 26)) AS plate FROM p)
    """,
    """
    UPDATE videos SET
        n_detections = $det_per_video,
        n_gps_points = CASE WHEN channel = 'front' THEN $gps_per_video ELSE 0 END,
        n_plate_reads = 6,
        labels = '{"car": ' || ($det_per_video // 3) || ', "person": ' || ($det_per_video // 4) || '}'
    """,
    """
    UPDATE videos SET min_lat = g.a, max_lat = g.b, min_lon = g.c, max_lon = g.d
    FROM (SELECT video_key, min(lat) a, max(lat) b, min(lon) c, max(lon) d
          FROM gps_points GROUP BY video_key) g
    WHERE videos.video_key = g.video_key
    """,
]


def generate_year(
    index_dir: Path,
    *,
    videos: int = 100_000,
    detections_per_video: int = 100,
    gps_per_video: int = 120,
    plates: int = 20_000,
    seed: float = 0.42,
) -> dict[str, float]:
    """Fill an *empty* index with ``videos`` synthetic clips of 6 dashcam streams over a year.

    At the defaults: 100,000 videos, 10 M detections, 6 M GPS fixes, 600 k plate reads.
    Returns timings and row counts.
    """
    timings: dict[str, float] = {}
    with Indexer(index_dir) as indexer:
        con = indexer._con  # bulk load: the same tables, without per-video finalize
        row = con.execute("SELECT count(*) FROM videos").fetchone()
        if row and row[0]:
            raise ValueError(f"{index_dir}: index is not empty ({row[0]} videos)")
        per_stream = max(1, videos // 6)
        params = {
            "videos": videos,
            "per_stream": per_stream,
            "day_us": 365 * 86_400_000_000,
            "det_per_video": detections_per_video,
            "gps_per_video": gps_per_video,
            "plates": plates,
            "bs": layout.BLOCK_SIZE,
        }
        con.execute("SELECT setseed($s)", {"s": seed})
        started = time.perf_counter()
        for sql in _YEAR_SQL:
            used = {k: v for k, v in params.items() if f"${k}" in sql}
            con.execute(sql, used)
        timings["load_s"] = time.perf_counter() - started
        started = time.perf_counter()
        timings["sightings"] = rederive_all(con, gap_s=indexer.sighting_gap_s)
        timings["sightings_s"] = time.perf_counter() - started
        started = time.perf_counter()
        rebuild_video_docs(con)
        timings["docs_s"] = time.perf_counter() - started
        con.execute("DROP TABLE gen_videos")
        mark_all_dirty(con, layout.BLOCK_SIZE)
        con.execute("CHECKPOINT")
        started = time.perf_counter()
        indexer.publish()
        timings["publish_s"] = time.perf_counter() - started
        for table in ("videos", "detections", "gps_points", "plate_reads"):
            row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
            timings[table] = int(row[0]) if row else 0
        con.execute("CHECKPOINT")
    return timings


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build a synthetic index for benchmarks.")
    parser.add_argument("index_dir", type=Path)
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--detections-per-video", type=int, default=100)
    args = parser.parse_args(argv)
    setup_logging(logging.INFO)
    result = generate_year(
        args.index_dir, videos=args.videos, detections_per_video=args.detections_per_video
    )
    for key, value in result.items():
        print(f"{key:>14}: {value:,.2f}" if isinstance(value, float) else f"{key:>14}: {value:,}")


if __name__ == "__main__":
    main()
