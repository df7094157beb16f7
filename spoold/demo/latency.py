"""Where a clip's time goes between landing in the inbox and being searchable: per stage.

Public API: :data:`STAGES`, :func:`breakdown`, :func:`format_breakdown`, :func:`summary`.

Read after a pipeline run (the demo's, or ``bench/e2e_latency.py``'s) from what the run leaves:

- the clip's landing: the inbox file's ctime (a sync tool's rename sets it);
- the spool's completed records: each task's ``created_at`` and ``completed_at``;
- the device workers' logs: when each task was taken (``... TASK_ID: taken by ...``), which
  splits a device stage into its queue wait and its run;
- the daemon's log: when each index generation was published (``published generation N``).

Stages of one video: ``stability`` (landed to ingest task published: the inbox's stable_s and
scan interval), ``ingest``, ``chain`` (a stage's completion to its child's publication, three
times), ``queue`` (a child published to a device taking it, twice), ``preprocess`` and ``detect`` (taken to completed on the device), ``finalize``
(published to completed, run by the daemon) and ``publish`` (finalized to the next index
generation).  ``total`` is landed to published.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from spoold.spool import Spool

STAGES = ("stability", "ingest", "chain", "queue", "preprocess", "detect", "finalize", "publish")
#: The stages the 3-second target leaves out: the devices' own compute.
DEVICE_STAGES = ("preprocess", "detect")

_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) ")
_TAKEN = re.compile(r" (\S+): taken by ")
_GENERATION = re.compile(r"published generation \d+")


@dataclass
class ClipLatency:
    """One video's seconds per stage (``STAGES``), and in all."""

    video_id: str
    path: str
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    @property
    def outside_devices(self) -> float:
        return sum(v for k, v in self.seconds.items() if k not in DEVICE_STAGES)


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _log_times(path: Path, pattern: re.Pattern[str]) -> list[tuple[float, re.Match[str]]]:
    out: list[tuple[float, re.Match[str]]] = []
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        t, m = _LOG_TIME.match(line), pattern.search(line)
        if t and m:
            out.append((_epoch(t[1]), m))
    return out


def breakdown(
    spool: Spool, roots: dict[str, Path], worker_logs: list[Path], daemon_log: Path
) -> list[ClipLatency]:
    """Every video that went all the way to a published index generation, oldest first.

    ``roots``: storage root name -> folder (to find the inbox files); ``worker_logs``: the
    device workers' text logs; ``daemon_log``: ``spoold run``'s text log.
    """
    by_video: dict[str, dict[str, Any]] = {}
    for day in spool.complete_days():
        for task_id in spool.completed_ids(day):
            _, task = spool.get(task_id)
            if task.video_id and task.completed_at is not None:
                by_video.setdefault(task.video_id, {})[task.task_type] = task
    taken = {m[1]: t for log in worker_logs for t, m in _log_times(log, _TAKEN)}
    generations = sorted(t for t, _ in _log_times(daemon_log, _GENERATION))
    out = []
    for video_id, tasks in by_video.items():
        if not all(k in tasks for k in ("ingest", "preprocess", "detect", "finalize")):
            continue
        ing, pre, det, fin = (tasks[k] for k in ("ingest", "preprocess", "detect", "finalize"))
        ref = ing.inputs[0]
        try:
            landed = (roots[ref.device] / ref.path).stat().st_ctime
        except (KeyError, OSError):
            continue
        done = fin.completed_at.timestamp()
        published = next((g for g in generations if g >= done), None)
        if published is None:
            continue
        ts = {k: (t.created_at.timestamp(), t.completed_at.timestamp()) for k, t in tasks.items()}
        pre_taken = taken.get(pre.task_id, ts["preprocess"][0])
        det_taken = taken.get(det.task_id, ts["detect"][0])
        seconds = {
            "stability": ts["ingest"][0] - landed,
            "ingest": ts["ingest"][1] - ts["ingest"][0],
            "chain": (ts["preprocess"][0] - ts["ingest"][1])
            + (ts["detect"][0] - ts["preprocess"][1])
            + (ts["finalize"][0] - ts["detect"][1]),
            "queue": (pre_taken - ts["preprocess"][0]) + (det_taken - ts["detect"][0]),
            "preprocess": ts["preprocess"][1] - pre_taken,
            "detect": ts["detect"][1] - det_taken,
            "finalize": ts["finalize"][1] - ts["finalize"][0],
            "publish": published - done,
        }
        out.append(ClipLatency(video_id, f"{ref.device}:{ref.path}", seconds))
    out.sort(key=lambda c: c.path)
    return out


def summary(clips: list[ClipLatency]) -> dict[str, float]:
    """Median seconds per stage over ``clips``, plus ``total`` and ``outside_devices``."""
    if not clips:
        return {}

    def median(values: list[float]) -> float:
        v = sorted(values)
        return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2

    out = {s: median([c.seconds[s] for c in clips]) for s in STAGES}
    out["total"] = median([c.total for c in clips])
    out["outside_devices"] = median([c.outside_devices for c in clips])
    return out


def format_breakdown(clips: list[ClipLatency]) -> list[str]:
    """A table: one line per clip, seconds per stage, then the medians."""
    head = f"{'clip':40}" + "".join(f"{s:>11}" for s in STAGES) + f"{'total':>9}"
    lines = [head]
    for c in clips:
        name = Path(c.path.split(":", 1)[-1]).name
        lines.append(
            f"{name:40}" + "".join(f"{c.seconds[s]:11.2f}" for s in STAGES) + f"{c.total:9.2f}"
        )
    med = summary(clips)
    if med:
        lines.append(
            f"{'median':40}" + "".join(f"{med[s]:11.2f}" for s in STAGES) + f"{med['total']:9.2f}"
        )
        lines.append(
            f"median outside the devices' own compute: {med['outside_devices']:.2f} s "
            "(target < 3 s on an idle system)"
        )
    return lines
