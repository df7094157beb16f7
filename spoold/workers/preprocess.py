"""Reference ``preprocess`` worker (Jetson class): GPS track + keyframes of one dashcam clip.

Run by ``spoold work --class jetson --device jetson-01 -- python -m spoold.workers.preprocess``.

Public API: :func:`main(argv) <main>` (the command line below) and :func:`run(env, opts)
<run>` (the same on an already loaded :class:`~spoold.workers._contract.WorkerEnv`).

Input (task ``inputs``): one video (``type`` ``"video"``, or the only untyped input); optional
sidecars with ``type`` ``"gps"``/``"nmea"`` and a Tesla ``event.json`` with ``type``
``"event"``.  Sidecars and ``event.json`` lying beside the video are found on their own, and
so are GPS logs matched by time (per-day ``gps/YYYYMMDD.dat``, ``.gpx``, ``.nmea``/``.log``
in the clip's folder and up to two folders above it, inside the video's storage root).

Outputs, on storage root ``--output-root`` (default ``server``), under
``meta/<video_id>/<task_type>/``:

- ``gps.json`` — :class:`schemas.metadata.GpsTrackFile` (FileRef type ``gps``); ``source``
  ``"none"`` and ``points`` ``[]`` when the clip carries no GPS;
- ``keyframes/`` — ``kf_NNNNNN.jpg`` at ``--rate`` frames/s + ``index.json``
  (:class:`~spoold.workers.keyframes.KeyframeIndex`; FileRef type ``keyframes``).

With ``--detect-class CLASS`` it also publishes a ``detect`` child task for that device class
with the keyframes as input, and sets ``result["chain"] = false`` so the daemon does not chain
its own; without it the daemon's pipeline (``[pipeline.stages.detect]``) does the chaining.
The task ``result`` summarizes: GPS source, point count, notes (what was looked for, outliers
dropped), keyframe count, brand/channel from the file name, and the clip start: ``start_utc``
with its ``start_basis`` — ``"gps"`` (the receiver's clock: first fix minus its offset),
``"name"`` (the file-name time, or ``start_local`` from the task, in ``camera_tz``; a
``start_note`` says when the zone was unknown and UTC assumed) or ``"unknown"``.

Options (task ``params`` of the same name, with ``-`` → ``_``, override them):
``--rate`` keyframes per second (1.0), ``--max-width`` scale keyframes down to this width,
``--jpeg-quality`` ffmpeg ``-q:v`` (3), ``--camera-tz`` the cameras' time zone for file-name
times (UTC if unknown; the daemon passes each inbox's ``tz``), ``--start-local`` the clip
start on the camera clock when the daemon knows it better than the built-in name families
(ISO, no zone), ``--no-scan`` skip the content scan for embedded NMEA/freeGPS, ``--no-logs``
skip the search for GPS logs, ``--max-speed-kmh`` outlier limit (300), ``--no-keyframes``,
``--ffmpeg-timeout`` seconds, ``--output-root``, ``--detect-class``.

Runs on Python 3.10.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from schemas.metadata import Channel, GpsTrackFile
from schemas.task import ChildSpec, FileRef, WorkResult
from spoold.dashcam import NameInfo, parse_name
from spoold.workers._command import apply_params, parse_bool, worker_main
from spoold.workers._contract import (
    WorkerEnv,
    WorkerError,
    meta_dir,
    publish_dir,
    video_id_of,
)
from spoold.workers.gps import (
    LogSearch,
    clip_days,
    container_duration,
    extract_gps,
    find_event_json,
    find_logs,
    find_sidecars,
    parse_tz,
)
from spoold.workers.gps_track import MAX_SPEED_KMH, GpsExtraction, local_to_utc
from spoold.workers.keyframes import extract_keyframes

__all__ = ["Options", "main", "run"]

PROG = "spoold.workers.preprocess"
VIDEO_TYPES = ("video",)
SIDECAR_TYPES = ("gps", "nmea", "sidecar")


@dataclass
class Options:
    rate: float = 1.0
    max_width: int | None = None
    jpeg_quality: int = 3
    camera_tz: str | None = None
    start_local: str | None = None
    scan: bool = True
    logs: bool = True
    max_speed_kmh: float = MAX_SPEED_KMH
    keyframes: bool = True
    ffmpeg_timeout: float | None = 600.0
    output_root: str = "server"
    detect_class: str | None = None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m {PROG}",
        description="spoold reference worker: GPS track + keyframes of one dashcam clip "
        "(task from $SPOOLD_TASK_FILE or stdin, result to $SPOOLD_RESULT_FILE).",
    )
    p.add_argument("--rate", type=float, default=1.0, help="keyframes per second (1.0)")
    p.add_argument("--max-width", type=int, default=None, help="scale keyframes to this width")
    p.add_argument("--jpeg-quality", type=int, default=3, help="ffmpeg -q:v, 2 best..31 (3)")
    p.add_argument("--camera-tz", default=None, help="camera time zone: UTC, +05:30, Asia/Kolkata")
    p.add_argument("--start-local", default=None, help="clip start on the camera clock (ISO)")
    p.add_argument("--no-scan", dest="scan", action="store_false", help="skip the content scan")
    p.add_argument("--no-logs", dest="logs", action="store_false", help="skip GPS log search")
    p.add_argument("--max-speed-kmh", type=float, default=MAX_SPEED_KMH, help="outliers (300)")
    p.add_argument("--no-keyframes", dest="keyframes", action="store_false")
    p.add_argument("--ffmpeg-timeout", type=float, default=600.0, help="seconds (600)")
    p.add_argument("--output-root", default="server", help="storage root for outputs (server)")
    p.add_argument("--detect-class", default=None, help="publish a detect child for this class")
    return p


_CASTS: dict[str, Any] = {
    "rate": float,
    "max_width": int,
    "jpeg_quality": int,
    "camera_tz": str,
    "start_local": str,
    "scan": parse_bool,
    "logs": parse_bool,
    "max_speed_kmh": float,
    "keyframes": parse_bool,
    "ffmpeg_timeout": float,
    "output_root": str,
    "detect_class": str,
}
_ALIASES = {"keyframe_rate": "rate", "tz": "camera_tz"}


def _options(ns: argparse.Namespace, params: dict[str, Any]) -> Options:
    opts = Options(
        rate=ns.rate,
        max_width=ns.max_width,
        jpeg_quality=ns.jpeg_quality,
        camera_tz=ns.camera_tz,
        start_local=ns.start_local,
        scan=ns.scan,
        logs=ns.logs,
        max_speed_kmh=ns.max_speed_kmh,
        keyframes=ns.keyframes,
        ffmpeg_timeout=ns.ffmpeg_timeout,
        output_root=ns.output_root,
        detect_class=ns.detect_class,
    )
    apply_params(opts, params, _CASTS, _ALIASES)
    return opts


def _video_ref(env: WorkerEnv) -> FileRef:
    videos = env.inputs_of_type(*VIDEO_TYPES)
    if not videos:
        untyped = env.inputs_of_type(None)
        videos = untyped if len(untyped) == 1 else []
    if len(videos) != 1:
        raise WorkerError(
            f"task {env.task.task_id}: want exactly one input of type 'video', "
            f"got: {env.describe_inputs()}"
        )
    return videos[0]


@dataclass(frozen=True)
class _Clip:
    """The task's video, resolved, with what its file name says and where outputs go."""

    vid: str
    ref: FileRef
    video: Path
    info: NameInfo | None
    out_rel: str
    root: str

    @property
    def source(self) -> str:
        return f"{self.ref.device}:{self.ref.path}"

    @property
    def channel(self) -> Channel:
        return self.info.channel if self.info else "unknown"


def _clip(env: WorkerEnv, opts: Options) -> _Clip:
    vid = video_id_of(env.task)
    ref = _video_ref(env)
    video = env.roots.resolve(ref)
    if not video.is_file():
        raise WorkerError(f"{ref.device}:{ref.path}: not a regular file")
    return _Clip(
        vid=vid,
        ref=ref,
        video=video,
        info=parse_name(ref.path),
        out_rel=meta_dir(env.task),
        root=opts.output_root,
    )


def _beside(env: WorkerEnv, clip: _Clip) -> tuple[list[Path], Path | None]:
    """Sidecars and Tesla ``event.json``: the task's own, then those lying beside the video."""
    sidecars = [env.roots.resolve(r) for r in env.inputs_of_type(*SIDECAR_TYPES)]
    for sc in find_sidecars(clip.video):
        inside = env.roots.sibling(clip.ref.device, sc)
        if inside is not None and inside not in sidecars:
            sidecars.append(inside)
    events = [env.roots.resolve(r) for r in env.inputs_of_type("event")]
    beside = find_event_json(clip.video)
    event = (
        events[0] if events else (env.roots.sibling(clip.ref.device, beside) if beside else None)
    )
    return sidecars, event


def _start_local(opts: Options, clip: _Clip) -> datetime | None:
    """The clip start on the camera clock: the task's ``start_local``, else the file name."""
    if opts.start_local:
        try:
            given = datetime.fromisoformat(opts.start_local)
        except ValueError:
            raise WorkerError(
                f"task params['start_local'] = {opts.start_local!r} is not an ISO date-time"
            ) from None
        return given.replace(tzinfo=None)
    return clip.info.start_local if clip.info else None


def _logs(
    env: WorkerEnv, opts: Options, clip: _Clip, start_local: datetime | None
) -> tuple[LogSearch | None, float | None]:
    """GPS logs near the clip (inside its storage root) and the clip's length: the
    container's, else what the name says (HiSilicon ``..._180.MP4``)."""
    duration = container_duration(clip.video) or (clip.info.duration_s if clip.info else None)
    if not opts.logs or start_local is None:
        return None, duration
    search = find_logs(
        clip.video, days=clip_days(start_local, duration), root=env.roots.root(clip.ref.device)
    )
    inside = [env.roots.sibling(clip.ref.device, p) for p in search.files]
    search.files = [p for p in inside if p is not None]
    return search, duration


def _start(gps: GpsExtraction, start_local: datetime | None, tz: tzinfo | None) -> dict[str, Any]:
    """``start_utc`` and its basis: the GPS receiver's clock, else the name in the camera zone."""
    gps_start = gps.gps_start()
    if gps_start is not None:
        return {"start_utc": gps_start.isoformat(), "start_basis": "gps"}
    if start_local is not None:
        out: dict[str, Any] = {
            "start_utc": local_to_utc(start_local, tz).isoformat(),
            "start_basis": "name",
        }
        if tz is None:
            out["start_note"] = "camera time zone unknown (no camera_tz): name time taken as UTC"
        return out
    return {"start_basis": "unknown"}


def _gps(
    env: WorkerEnv, opts: Options, clip: _Clip, tz: tzinfo | None
) -> tuple[FileRef, dict[str, Any]]:
    """Extract the GPS track, write ``gps.json``; its FileRef and the task result so far."""
    start_local = _start_local(opts, clip)
    sidecars, event = _beside(env, clip)
    t0 = time.monotonic()
    logs, duration = _logs(env, opts, clip, start_local)
    gps = extract_gps(
        clip.video,
        sidecars=sidecars,
        event_json=event,
        start_local=start_local,
        tz=tz,
        scan=opts.scan,
        duration_s=duration,
        logs=logs,
        max_speed_kmh=opts.max_speed_kmh,
    )
    gps_seconds = time.monotonic() - t0
    gps_ref = env.write_output(
        clip.root,
        f"{clip.out_rel}/gps.json",
        GpsTrackFile(video_id=clip.vid, source=gps.source, points=gps.points),
        "gps",
    )
    result: dict[str, Any] = {
        "video_id": clip.vid,
        "video": clip.source,
        "brand": clip.info.brand if clip.info else "unknown",
        "channel": clip.channel,
        "start_local": start_local.isoformat() if start_local else None,
        "camera_tz": opts.camera_tz,
        "gps_source": gps.source,
        "gps_points": len(gps.points),
        "gps_file": gps.file,
        "gps_notes": gps.notes[-10:],
        "gps_seconds": round(gps_seconds, 3),
    }
    if gps.stats:
        result["gps_stats"] = gps.stats
    if gps.source == "none":
        result["gps"] = "no GPS"
    result.update(_start(gps, start_local, tz))
    return gps_ref, result


def _keyframes(env: WorkerEnv, opts: Options, clip: _Clip, result: dict[str, Any]) -> FileRef:
    """Extract keyframes into a staged directory, publish it; adds its figures to ``result``."""
    kf_rel = f"{clip.out_rel}/keyframes"
    final = env.roots.output_path(clip.root, kf_rel)
    staged = final.with_name(f".{final.name}.tmp-{secrets.token_hex(4)}")
    t1 = time.monotonic()
    try:
        index = extract_keyframes(
            clip.video,
            staged,
            video_id=clip.vid,
            video_ref=clip.source,
            channel=clip.channel,
            rate=opts.rate,
            max_width=opts.max_width,
            quality=opts.jpeg_quality,
            timeout=opts.ffmpeg_timeout,
        )
        publish_dir(staged, final)
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
    result.update(
        keyframes=len(index.frames),
        keyframe_rate=opts.rate,
        keyframe_size=[index.width, index.height],
        keyframe_seconds=round(time.monotonic() - t1, 3),
    )
    return FileRef(device=clip.root, path=kf_rel, type="keyframes")


def run(env: WorkerEnv, opts: Options) -> WorkResult:
    clip = _clip(env, opts)
    try:
        tz = parse_tz(opts.camera_tz)
    except ValueError as exc:
        raise WorkerError(str(exc)) from None
    gps_ref, result = _gps(env, opts, clip, tz)
    outputs = [gps_ref]
    children: list[ChildSpec] = []
    if opts.keyframes:
        kf_ref = _keyframes(env, opts, clip, result)
        outputs.append(kf_ref)
        if opts.detect_class:
            children.append(
                ChildSpec(
                    task_type="detect",
                    device_class=opts.detect_class,
                    inputs=[kf_ref],
                    params={"channel": clip.channel},
                )
            )
    elif opts.detect_class:
        raise WorkerError("--detect-class needs keyframes (drop --no-keyframes)")
    if children:
        result["chain"] = False  # the daemon must not add its own follow-up as well
    return WorkResult(outputs=outputs, children=children, result=result)


def _summary(res: dict[str, Any]) -> str:
    return (
        f"{res.get('video_id')}: gps {res.get('gps_source')} "
        f"({res.get('gps_points')} points), {res.get('keyframes', 0)} keyframes"
    )


def main(argv: Sequence[str] | None = None) -> int:
    return worker_main(PROG, _parser, _options, run, _summary, argv)


if __name__ == "__main__":
    raise SystemExit(main())
