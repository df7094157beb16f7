"""Reference ``preprocess`` worker (Jetson class): GPS track + keyframes of one dashcam clip.

Run by ``spoold work --class jetson --device jetson-01 -- python -m spoold.workers.preprocess``.

Public API: :func:`main(argv) <main>` (the command line below) and :func:`run(env, opts)
<run>` (the same on an already loaded :class:`~spoold.workers._contract.WorkerEnv`).

Input (task ``inputs``): one video (``type`` ``"video"``, or the only untyped input); optional
sidecars with ``type`` ``"gps"``/``"nmea"`` and a Tesla ``event.json`` with ``type``
``"event"``.  Sidecars and ``event.json`` lying beside the video are found on their own.

Outputs, on storage root ``--output-root`` (default ``server``), under
``meta/<video_id>/<task_type>/``:

- ``gps.json`` — :class:`schemas.metadata.GpsTrackFile` (FileRef type ``gps``); ``source``
  ``"none"`` and ``points`` ``[]`` when the clip carries no GPS;
- ``keyframes/`` — ``kf_NNNNNN.jpg`` at ``--rate`` frames/s + ``index.json``
  (:class:`~spoold.workers.keyframes.KeyframeIndex`; FileRef type ``keyframes``).

With ``--detect-class CLASS`` it also publishes a ``detect`` child task for that device class
with the keyframes as input, and sets ``result["chain"] = false`` so the daemon does not chain
its own; without it the daemon's pipeline (``[pipeline.stages.detect]``) does the chaining.  The task ``result`` summarizes: GPS source, point count, notes,
keyframe count, brand/channel from the file name, and ``start_utc`` derived from GPS.

Options (task ``params`` of the same name, with ``-`` → ``_``, override them):
``--rate`` keyframes per second (1.0), ``--max-width`` scale keyframes down to this width,
``--jpeg-quality`` ffmpeg ``-q:v`` (3), ``--camera-tz`` the cameras' time zone for file-name
times (UTC if unknown), ``--no-scan`` skip the content scan for embedded NMEA/freeGPS,
``--no-keyframes``, ``--ffmpeg-timeout`` seconds, ``--output-root``, ``--detect-class``.

Runs on Python 3.10.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from schemas.metadata import GpsTrackFile
from schemas.task import ChildSpec, FileRef, WorkResult
from spoold.dashcam import parse_name
from spoold.workers._contract import (
    WorkerEnv,
    WorkerError,
    atomic_write_json,
    meta_dir,
    publish_dir,
    run_main,
    video_id_of,
    write_result,
)
from spoold.workers.gps import extract_gps, find_event_json, find_sidecars, parse_tz
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
    scan: bool = True
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
    p.add_argument("--no-scan", dest="scan", action="store_false", help="skip the content scan")
    p.add_argument("--no-keyframes", dest="keyframes", action="store_false")
    p.add_argument("--ffmpeg-timeout", type=float, default=600.0, help="seconds (600)")
    p.add_argument("--output-root", default="server", help="storage root for outputs (server)")
    p.add_argument("--detect-class", default=None, help="publish a detect child for this class")
    return p


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        if value.strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if value.strip().lower() in {"0", "false", "no", "off", ""}:
            return False
        raise ValueError(value)
    return bool(value)


def _options(ns: argparse.Namespace, params: dict[str, Any]) -> Options:
    opts = Options(
        rate=ns.rate,
        max_width=ns.max_width,
        jpeg_quality=ns.jpeg_quality,
        camera_tz=ns.camera_tz,
        scan=ns.scan,
        keyframes=ns.keyframes,
        ffmpeg_timeout=ns.ffmpeg_timeout,
        output_root=ns.output_root,
        detect_class=ns.detect_class,
    )
    casts: dict[str, Any] = {
        "rate": float,
        "max_width": int,
        "jpeg_quality": int,
        "camera_tz": str,
        "scan": _bool,
        "keyframes": _bool,
        "ffmpeg_timeout": float,
        "output_root": str,
        "detect_class": str,
    }
    aliases = {"keyframe_rate": "rate", "tz": "camera_tz"}
    for key, value in params.items():
        name = aliases.get(key, key)
        if name in casts and value is not None:
            try:
                setattr(opts, name, casts[name](value))
            except (TypeError, ValueError):
                raise WorkerError(
                    f"task params[{key!r}] = {value!r} is not a valid {name}"
                ) from None
    return opts


def _video_ref(env: WorkerEnv) -> FileRef:
    videos = env.inputs_of_type(*VIDEO_TYPES)
    if not videos:
        untyped = env.inputs_of_type(None)
        videos = untyped if len(untyped) == 1 else []
    if len(videos) != 1:
        listed = ", ".join(f"{r.device}:{r.path} ({r.type})" for r in env.task.inputs) or "none"
        raise WorkerError(
            f"task {env.task.task_id}: want exactly one input of type 'video', got: {listed}"
        )
    return videos[0]


def run(env: WorkerEnv, opts: Options) -> WorkResult:
    task = env.task
    vid = video_id_of(task)
    ref = _video_ref(env)
    video = env.roots.resolve(ref)
    if not video.is_file():
        raise WorkerError(f"{ref.device}:{ref.path}: not a regular file")
    try:
        tz = parse_tz(opts.camera_tz)
    except ValueError as exc:
        raise WorkerError(str(exc)) from None
    info = parse_name(ref.path)
    start_local = info.start_local if info else None

    sidecars = [env.roots.resolve(r) for r in env.inputs_of_type(*SIDECAR_TYPES)]
    for sc in find_sidecars(video):
        inside = env.roots.sibling(ref.device, sc)
        if inside is not None and inside not in sidecars:
            sidecars.append(inside)
    events = [env.roots.resolve(r) for r in env.inputs_of_type("event")]
    beside = find_event_json(video)
    event = events[0] if events else (env.roots.sibling(ref.device, beside) if beside else None)

    t0 = time.monotonic()
    gps = extract_gps(
        video,
        sidecars=sidecars,
        event_json=event,
        start_local=start_local,
        tz=tz,
        scan=opts.scan,
    )
    gps_seconds = time.monotonic() - t0

    out_rel = meta_dir(task)
    root = opts.output_root
    gps_rel = f"{out_rel}/gps.json"
    atomic_write_json(
        env.roots.output_path(root, gps_rel),
        GpsTrackFile(video_id=vid, source=gps.source, points=gps.points),
    )
    outputs = [FileRef(device=root, path=gps_rel, type="gps")]

    result: dict[str, Any] = {
        "video_id": vid,
        "video": f"{ref.device}:{ref.path}",
        "brand": info.brand if info else "unknown",
        "channel": info.channel if info else "unknown",
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
    first = next((p for p in gps.points if p.t is not None), None)
    if first is not None and first.t is not None:
        result["start_utc"] = (first.time - timedelta(seconds=first.t)).isoformat()

    children: list[ChildSpec] = []
    if opts.keyframes:
        kf_rel = f"{out_rel}/keyframes"
        final = env.roots.output_path(root, kf_rel)
        staged = final.with_name(f".{final.name}.tmp-{secrets.token_hex(4)}")
        t1 = time.monotonic()
        try:
            index = extract_keyframes(
                video,
                staged,
                video_id=vid,
                video_ref=f"{ref.device}:{ref.path}",
                channel=info.channel if info else "unknown",
                rate=opts.rate,
                max_width=opts.max_width,
                quality=opts.jpeg_quality,
                timeout=opts.ffmpeg_timeout,
            )
            publish_dir(staged, final)
        finally:
            if staged.exists():
                shutil.rmtree(staged, ignore_errors=True)
        kf_ref = FileRef(device=root, path=kf_rel, type="keyframes")
        outputs.append(kf_ref)
        result.update(
            keyframes=len(index.frames),
            keyframe_rate=opts.rate,
            keyframe_size=[index.width, index.height],
            keyframe_seconds=round(time.monotonic() - t1, 3),
        )
        if opts.detect_class:
            children.append(
                ChildSpec(
                    task_type="detect",
                    device_class=opts.detect_class,
                    inputs=[kf_ref],
                    params={"channel": info.channel if info else "unknown"},
                )
            )
    elif opts.detect_class:
        raise WorkerError("--detect-class needs keyframes (drop --no-keyframes)")

    if children:
        result["chain"] = False  # the daemon must not add its own follow-up as well
    return WorkResult(outputs=outputs, children=children, result=result)


def main(argv: Sequence[str] | None = None) -> int:
    def _main(args: Sequence[str]) -> int:
        ns = _parser().parse_args(list(args))
        env = WorkerEnv.load()
        opts = _options(ns, env.task.params)
        result = run(env, opts)
        write_result(env, result)
        res = result.result or {}
        print(
            f"{PROG}: {res.get('video_id')}: gps {res.get('gps_source')} "
            f"({res.get('gps_points')} points), {res.get('keyframes', 0)} keyframes"
        )
        return 0

    return run_main(PROG, _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
