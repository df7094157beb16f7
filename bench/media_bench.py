"""How fast can ingestion identify and validate clips?

Prints files/s for :func:`spoold.server.media.fingerprint` and :func:`spoold.server.media.probe` over N
generated clips (or the videos in ``--dir``, e.g. a NAS mount), against a baseline loop that
only opens each file and reads its first and last 64 KiB, plus ms per probe.

    .venv/bin/python bench/media_bench.py [--n 30] [--seconds 6] [--dir /mnt/nas/car1]

Each row is the best of ``--rounds`` passes after one warm-up pass, so local files are in the
page cache: the numbers are CPU + syscall cost, not disk or network latency.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pymediainfo import MediaInfo

from spoold.dashcam import is_video_name
from spoold.demo.samples import make_clip, video_encoder
from spoold.server.media import FINGERPRINT_CHUNK, PARSE_SPEED, fingerprint, probe


def raw_head_tail(path: Path) -> int:
    """Baseline: the I/O a fingerprint needs, and nothing else."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        n = len(f.read(FINGERPRINT_CHUNK))
        if size > FINGERPRINT_CHUNK:
            f.seek(max(FINGERPRINT_CHUNK, size - FINGERPRINT_CHUNK))
            n += len(f.read(FINGERPRINT_CHUNK))
    return n


def mediainfo_only(path: Path) -> object:
    return MediaInfo.parse(path, parse_speed=PARSE_SPEED)


def best_time(fn: Callable[[Path], object], files: list[Path], rounds: int) -> float:
    for f in files:  # warm-up: page cache, library load
        fn(f)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for f in files:
            fn(f)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30, help="clips to generate (default 30)")
    ap.add_argument("--seconds", type=float, default=6, help="clip length (default 6)")
    ap.add_argument("--size", default="640x360", help="clip size WxH (default 640x360)")
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", type=Path, help="benchmark the videos found here instead")
    ap.add_argument("--quick", action="store_true", help="3 clips of 2 s, 1 round (a smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.n, args.seconds, args.rounds = 3, 2.0, 1

    with tempfile.TemporaryDirectory(prefix="media-bench-") as tmp:
        if args.dir is not None:
            files = sorted(p for p in args.dir.rglob("*") if p.is_file() and is_video_name(p.name))
            origin = str(args.dir)
        else:
            w, h = (int(x) for x in args.size.split("x"))
            t0 = time.perf_counter()
            files = [
                make_clip(
                    Path(tmp) / f"2026_0513_17{i // 60:02d}{i % 60:02d}_{i:06d}F.MP4",
                    seconds=args.seconds,
                    size=(w, h),
                    fps=args.fps,
                    seed=i + 1,
                )
                for i in range(args.n)
            ]
            made = time.perf_counter() - t0
            origin = (
                f"{args.n} generated clips, {args.seconds:g} s {args.size} @ {args.fps} fps, "
                f"{video_encoder()} (made/copied in {made:.1f} s)"
            )
        if not files:
            sys.exit(f"no video files under {args.dir}")
        sizes = [f.stat().st_size for f in files]
        print(f"{origin}; mean size {sum(sizes) / len(sizes) / 1024:.0f} KiB")
        print(f"best of {args.rounds} rounds after a warm-up pass (page cache warm)\n")

        rows = [
            ("baseline: open + read 64 KiB head + tail", raw_head_tail),
            ("fingerprint()", fingerprint),
            ("mediainfo parse only (parse_speed=0)", mediainfo_only),
            ("probe() = mediainfo + MP4 box walk", probe),
        ]
        print(f"| {'operation':<42} | {'files':>5} | {'files/s':>9} | {'ms/file':>8} |")
        print(f"|{'-' * 44}|{'-' * 7}|{'-' * 11}|{'-' * 10}|")
        for label, fn in rows:
            secs = best_time(fn, files, args.rounds)
            rate = len(files) / secs
            print(f"| {label:<42} | {len(files):>5} | {rate:>9.0f} | {1000 / rate:>8.3f} |")


if __name__ == "__main__":
    main()
