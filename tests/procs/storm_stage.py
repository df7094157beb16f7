"""Stand-in worker COMMAND for the whole-pipeline crash storm (``spoold work -- python THIS``).

It keeps the reference workers' contract (``spoold/workers/_contract.py``, docs/workers.md)
without their cost: the real ``preprocess`` runs ffmpeg and the real ``detect`` runs OCR on
every keyframe (~0.3 s each), far too slow for a storm of a thousand kills.  Per task it

* checks that its input video exists on its storage root and is not empty (a wrongly chained
  task fails here instead of passing silently);
* waits a moment (``STORM_WORK_S``: the window in which a kill finds it running);
* writes, atomically (temp file beside the target, then ``rename``), the metadata files the
  real worker would write, under ``meta/<video_id>/<task_type>/`` on root ``server``:
  ``preprocess`` -> ``gps.json``; ``detect`` -> ``detections.json`` and ``plates.json``,
  valid per ``schemas/metadata.py``;
* writes the result file naming them as outputs, and exits 0.

The content is a pure function of the video id (:func:`expected`), so the test knows how many
detections, GPS fixes and plate reads each video must have in the index: a video indexed twice,
or half of it, shows.  Only the standard library is imported, so a run costs ~30 ms of CPU.

Each run appends ``start TASK DEVICE PID`` and ``done TASK DEVICE PID`` to ``$STORM_RUN_LOG``
(one ``write(2)`` on an ``O_APPEND`` descriptor per line: whole or absent after a SIGKILL).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

LABELS = ("car", "truck", "person", "bicycle", "bus")


def expected(video_id: str) -> dict[str, int]:
    """How many detections, GPS fixes and plate reads this stand-in writes for a video."""
    h = int.from_bytes(hashlib.sha256(video_id.encode()).digest()[:8], "big")
    return {"detections": 1 + h % 23, "gps": 2 + (h >> 8) % 17, "plates": 1 + (h >> 16) % 4}


def _box(rng: random.Random) -> dict[str, float]:
    w, h = round(rng.uniform(0.05, 0.3), 4), round(rng.uniform(0.05, 0.3), 4)
    return {
        "x": round(rng.uniform(0, 1 - w), 4),
        "y": round(rng.uniform(0, 1 - h), 4),
        "w": w,
        "h": h,
    }


def documents(video_id: str, task_type: str) -> dict[str, dict[str, Any]]:
    """The metadata files of one task, by output type (deterministic from the video id)."""
    n = expected(video_id)
    rng = random.Random(hashlib.sha256(f"{video_id}/{task_type}".encode()).digest())
    if task_type == "preprocess":
        start = datetime(2026, 5, 13, 6, 0, tzinfo=timezone.utc) + timedelta(
            seconds=rng.randrange(8 * 3600)
        )
        lat, lon = 52.0 + rng.random(), 4.0 + rng.random()
        points = [
            {
                "time": (start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
                "lat": round(lat + i * 1e-4, 6),
                "lon": round(lon + i * 1e-4, 6),
                "speed_kmh": round(rng.uniform(0, 90), 1),
                "t": float(i),
            }
            for i in range(n["gps"])
        ]
        return {"gps": {"kind": "gps", "video_id": video_id, "source": "storm", "points": points}}
    if task_type == "detect":
        dets = [
            {
                "t": round(i * 0.1, 2),
                "label": rng.choice(LABELS),
                "confidence": round(rng.uniform(0.3, 1.0), 3),
                "bbox": _box(rng),
            }
            for i in range(n["detections"])
        ]
        plate = f"KA{rng.randrange(100):02d}AB{rng.randrange(10000):04d}"
        reads = [
            {
                "t": round(0.2 + i * 0.3, 2),
                "text_raw": plate,
                "text": plate,
                "confidence": round(rng.uniform(0.5, 1.0), 3),
                "bbox": _box(rng),
                "channel": "front",
            }
            for i in range(n["plates"])
        ]
        return {
            "detections": {
                "kind": "detections",
                "video_id": video_id,
                "model": "storm",
                "detections": dets,
            },
            "plates": {"kind": "plates", "video_id": video_id, "reader": "storm", "reads": reads},
        }
    raise SystemExit(f"storm_stage: no stand-in for task type {task_type!r}")


FILE_NAMES = {"gps": "gps.json", "detections": "detections.json", "plates": "plates.json"}


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _log(line: str) -> None:
    where = os.environ.get("STORM_RUN_LOG")
    if where:
        fd = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


def main() -> int:
    task = json.loads(Path(os.environ["SPOOLD_TASK_FILE"]).read_text())
    roots = {k: Path(v) for k, v in json.loads(os.environ["SPOOLD_ROOTS"]).items()}
    device = os.environ.get("SPOOLD_DEVICE", "?")
    task_id, task_type, video_id = task["task_id"], task["task_type"], task["video_id"]
    _log(f"start {task_id} {device} {os.getpid()}")
    videos = [r for r in task["inputs"] if r.get("type") == "video"]
    if len(videos) != 1:
        print(f"storm_stage: {task_id}: want one input video, got {videos}", file=sys.stderr)
        return 2
    video = roots[videos[0]["device"]] / videos[0]["path"]
    if not video.is_file() or video.stat().st_size == 0:
        print(f"storm_stage: {task_id}: input video {video} missing or empty", file=sys.stderr)
        return 2
    time.sleep(random.uniform(0.5, 1.5) * float(os.environ.get("STORM_WORK_S", "0.2")))
    outputs = []
    for kind, doc in documents(video_id, task_type).items():
        rel = f"meta/{video_id}/{task_type}/{FILE_NAMES[kind]}"
        _write_atomic(roots["server"] / rel, json.dumps(doc).encode())
        outputs.append({"device": "server", "path": rel, "type": kind})
    _write_atomic(
        Path(os.environ["SPOOLD_RESULT_FILE"]),
        json.dumps({"outputs": outputs, "result": {"stand_in": True}}).encode(),
    )
    _log(f"done {task_id} {device} {os.getpid()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
