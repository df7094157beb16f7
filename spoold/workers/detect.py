"""Reference ``detect`` worker (GPU class; runs on CPU too): licence plates + objects.

Run by ``spoold work --class gpu --device rtx-01 -- python -m spoold.workers.detect``.

Public API: :func:`main(argv) <main>` (the command line below) and :func:`run(env, opts)
<run>`.

Input (task ``inputs``): a keyframes directory written by the preprocess worker (``type``
``"keyframes"``, with its ``index.json``), or a video (``type`` ``"video"``), whose keyframes
are then extracted into ``$SPOOLD_WORKDIR`` at ``--rate``.

Outputs, on storage root ``--output-root`` (default ``server``), under
``meta/<video_id>/<task_type>/``:

- ``plates.json`` — :class:`schemas.metadata.PlatesFile` (FileRef type ``plates``): one
  :class:`~schemas.metadata.PlateRead` per plate per keyframe, ``t`` = the keyframe's time,
  ``text`` normalized to ``A-Z0-9``, ``channel`` from the keyframes index / task params;
- ``detections.json`` — :class:`schemas.metadata.DetectionsFile` (FileRef type
  ``detections``) from ``--detector`` (see :mod:`spoold.workers.detectors`).

Options (task ``params`` of the same name, ``-`` → ``_``, override them):
``--detector SPEC`` (``plates``: built-in fallback, plate boxes only; ``none``;
``module:factory``; or an installed ``spoold.detectors`` entry point),
``--detector-option KEY=VALUE`` (repeatable; also ``params["detector_options"]``),
``--min-plate-confidence`` (0.6), ``--plate-regex`` (on the normalized text, replaces the
default filter), ``--rate`` (keyframes/s when the input is a video), ``--cuda`` (onnxruntime
CUDA provider; needs ``onnxruntime-gpu``), ``--threads`` (onnxruntime intra-op threads),
``--ocr-max-side`` (1280: larger frames are scaled down for text detection),
``--ignore-top`` / ``--ignore-bottom`` (0.06 / 0.08: frame bands holding the dashcam's
burnt-in overlay, where no plate is looked for), ``--plate-regions`` (``all`` or a comma list
of :data:`spoold.workers.plate_formats.REGIONS`: the plate formats a read must fit),
``--no-plate-consensus`` (keep each keyframe's own text), ``--channel``, ``--output-root``.

One physical plate gives one text: the reads of one plate across keyframes (a track: nearby
boxes in successive keyframes, similar texts) all get the text voted per character, weighted
by confidence (:mod:`spoold.workers.plate_consensus`); ``text_raw`` keeps each frame's read.
``region`` is the region of the format the text fits (on a shared layout, the region listed
first in ``--plate-regions``), null with ``--plate-regex``.

Runs on Python 3.10.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast, get_args

import cv2
import numpy as np
from numpy.typing import NDArray

from schemas.metadata import BBox, Channel, Detection, DetectionsFile, PlateRead, PlatesFile
from schemas.task import WorkResult
from spoold.dashcam import parse_name
from spoold.workers._command import apply_params, parse_bool, worker_main
from spoold.workers._contract import WorkerEnv, WorkerError, meta_dir, video_id_of
from spoold.workers.detectors import (
    BUILTIN_PLATES,
    DetectorError,
    ObjectBox,
    ObjectDetector,
    load_detector,
)
from spoold.workers.keyframes import KeyframeIndex, extract_keyframes, load_index
from spoold.workers.plate_consensus import Read, consensus
from spoold.workers.plate_formats import UnknownRegionError, parse_regions, plate_region
from spoold.workers.plates import PlateReader

__all__ = ["Options", "main", "run"]

PROG = "spoold.workers.detect"
PLATE_LABEL = "license_plate"


@dataclass
class Options:
    detector: str = BUILTIN_PLATES
    detector_options: dict[str, str] = field(default_factory=dict)
    min_plate_confidence: float = 0.6
    plate_regex: str | None = None
    rate: float = 1.0
    cuda: bool = False
    threads: int = 0
    channel: str | None = None
    output_root: str = "server"
    ocr_max_side: int = 1280
    ignore_top: float = 0.06
    ignore_bottom: float = 0.08
    plate_regions: str = "all"
    plate_consensus: bool = True


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m {PROG}",
        description="spoold reference worker: licence plates and objects on keyframes "
        "(task from $SPOOLD_TASK_FILE or stdin, result to $SPOOLD_RESULT_FILE).",
    )
    p.add_argument("--detector", default=BUILTIN_PLATES, help="plates | none | module:factory")
    p.add_argument(
        "--detector-option", action="append", default=[], metavar="KEY=VALUE", help="repeatable"
    )
    p.add_argument("--min-plate-confidence", type=float, default=0.6)
    p.add_argument("--plate-regex", default=None, help="regex on the normalized plate text")
    p.add_argument("--rate", type=float, default=1.0, help="keyframes/s when given a video")
    p.add_argument("--cuda", action="store_true", help="onnxruntime CUDA (onnxruntime-gpu)")
    p.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0 = default)")
    p.add_argument("--channel", default=None, choices=list(get_args(Channel)))
    p.add_argument("--output-root", default="server")
    p.add_argument("--ocr-max-side", type=int, default=1280, help="scale larger frames down")
    p.add_argument("--ignore-top", type=float, default=0.06, help="overlay band, fraction")
    p.add_argument("--ignore-bottom", type=float, default=0.08, help="overlay band, fraction")
    p.add_argument(
        "--plate-regions", default="all", help="all | comma list of plate regions (UK,DE,IN,...)"
    )
    p.add_argument(
        "--no-plate-consensus",
        dest="plate_consensus",
        action="store_false",
        help="keep each keyframe's own plate text (no voting across a track)",
    )
    return p


def _kv(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise WorkerError(f"--detector-option {item!r}: want KEY=VALUE")
        out[key] = value
    return out


_CASTS: dict[str, Any] = {
    "detector": str,
    "min_plate_confidence": float,
    "plate_regex": str,
    "rate": float,
    "cuda": parse_bool,
    "threads": int,
    "channel": str,
    "output_root": str,
    "ocr_max_side": int,
    "ignore_top": float,
    "ignore_bottom": float,
    "plate_regions": str,
    "plate_consensus": parse_bool,
}


def _options(ns: argparse.Namespace, params: dict[str, Any]) -> Options:
    opts = Options(
        detector=ns.detector,
        detector_options=_kv(ns.detector_option),
        min_plate_confidence=ns.min_plate_confidence,
        plate_regex=ns.plate_regex,
        rate=ns.rate,
        cuda=ns.cuda,
        threads=ns.threads,
        channel=ns.channel,
        output_root=ns.output_root,
        ocr_max_side=ns.ocr_max_side,
        ignore_top=ns.ignore_top,
        ignore_bottom=ns.ignore_bottom,
        plate_regions=ns.plate_regions,
        plate_consensus=ns.plate_consensus,
    )
    if "detector_options" in params:
        value = params["detector_options"]
        if not isinstance(value, dict):
            raise WorkerError(f"task params['detector_options'] must be an object: {value!r}")
        opts.detector_options.update({str(k): str(v) for k, v in value.items()})
    apply_params(opts, params, _CASTS)
    if opts.channel is not None and opts.channel not in get_args(Channel):
        raise WorkerError(f"channel {opts.channel!r} is not one of {', '.join(get_args(Channel))}")
    return opts


def _keyframes(env: WorkerEnv, opts: Options, vid: str) -> tuple[Path, KeyframeIndex]:
    kf = env.inputs_of_type("keyframes")
    if kf:
        directory = env.roots.resolve(kf[0])
        if not directory.is_dir():
            raise WorkerError(f"{kf[0].device}:{kf[0].path}: not a keyframes directory")
        return directory, load_index(directory)
    videos = env.inputs_of_type("video") or (
        env.inputs_of_type(None) if len(env.task.inputs) == 1 else []
    )
    if not videos:
        raise WorkerError(
            f"task {env.task.task_id}: want an input of type 'keyframes' or 'video', "
            f"got: {env.describe_inputs()}"
        )
    ref = videos[0]
    video = env.roots.resolve(ref)
    directory = env.workdir / "keyframes"
    info = parse_name(ref.path)
    index = extract_keyframes(
        video,
        directory,
        video_id=vid,
        video_ref=f"{ref.device}:{ref.path}",
        channel=info.channel if info else "unknown",
        rate=opts.rate,
    )
    return directory, index


@dataclass
class _Found:
    """What the keyframes gave so far, and the time spent on them."""

    reads: list[PlateRead] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)
    plate_seconds: float = 0.0
    detect_seconds: float = 0.0
    bad_boxes: int = 0


def _regions(opts: Options) -> tuple[str, ...]:
    try:
        return parse_regions(opts.plate_regions)
    except UnknownRegionError as exc:
        raise WorkerError(f"--plate-regions {opts.plate_regions!r}: {exc}") from None


def _plate_reader(opts: Options) -> PlateReader:
    return PlateReader(
        regions=_regions(opts),
        min_confidence=opts.min_plate_confidence,
        plate_regex=opts.plate_regex,
        use_cuda=opts.cuda,
        threads=opts.threads,
        max_side=opts.ocr_max_side,
        ignore_top=opts.ignore_top,
        ignore_bottom=opts.ignore_bottom,
    )


def _image(path: Path) -> NDArray[np.uint8]:
    loaded = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if loaded is None or loaded.dtype != np.uint8:
        raise WorkerError(f"{path}: not a readable JPEG")
    return cast("NDArray[np.uint8]", loaded)


def _read_plates(
    reader: PlateReader,
    image: NDArray[np.uint8],
    t: float,
    channel: Channel,
    as_detections: bool,
    found: _Found,
) -> None:
    """The plates in one keyframe (also as ``license_plate`` detections when asked)."""
    for cand in reader.read(image):
        box = BBox(x=cand.bbox[0], y=cand.bbox[1], w=cand.bbox[2], h=cand.bbox[3])
        found.reads.append(
            PlateRead(
                t=t,
                text_raw=cand.text_raw,
                text=cand.text,
                confidence=cand.confidence,
                bbox=box,
                channel=channel,
                region=cand.region or None,
            )
        )
        if as_detections:
            found.detections.append(
                Detection(t=t, label=PLATE_LABEL, confidence=cand.confidence, bbox=box)
            )


def _merge_tracks(reads: list[PlateRead], regions: tuple[str, ...]) -> list[PlateRead]:
    """Every read of one plate track gets the track's voted text and its region (see the
    module docstring)."""
    texts = consensus(
        [Read(r.t, r.text, r.confidence, (r.bbox.x, r.bbox.y, r.bbox.w, r.bbox.h)) for r in reads],
        regions,
    )
    return [
        r
        if text == r.text
        else r.model_copy(update={"text": text, "region": plate_region(text, regions)})
        for r, text in zip(reads, texts, strict=True)
    ]


def _detect_objects(
    detector: ObjectDetector,
    spec: str,
    image: NDArray[np.uint8],
    path: Path,
    t: float,
    found: _Found,
) -> None:
    """The plug-in's boxes in one keyframe, clipped; what it got wrong is a DetectorError."""
    try:
        objects = list(detector.detect(image))
    except WorkerError:
        raise
    except Exception as exc:
        raise DetectorError(
            f"--detector {spec}: detect() raised {type(exc).__name__}: {exc} on {path}"
        ) from None
    for obj in objects:
        if not isinstance(obj, ObjectBox):
            raise DetectorError(
                f"--detector {spec}: detect() returned a "
                f"{type(obj).__name__}, want spoold.workers.detectors.ObjectBox"
            )
        ok = obj.clipped()
        if ok is None:
            found.bad_boxes += 1
            continue
        found.detections.append(
            Detection(
                t=t,
                label=ok.label,
                confidence=ok.confidence,
                bbox=BBox(x=ok.x, y=ok.y, w=ok.w, h=ok.h),
                track_id=ok.track_id,
            )
        )


def _model_name(detector: ObjectDetector | None, opts: Options, reader: PlateReader) -> str:
    if detector is not None:
        return detector.name
    if opts.detector == BUILTIN_PLATES:
        return f"builtin:plates (licence-plate boxes only, not a general detector; {reader.name})"
    return "none"


def run(env: WorkerEnv, opts: Options) -> WorkResult:
    vid = video_id_of(env.task)
    detector = load_detector(opts.detector, opts.detector_options)  # fail fast on a bad spec
    reader = _plate_reader(opts)
    directory, index = _keyframes(env, opts, vid)
    channel = cast(Channel, opts.channel or index.channel)
    found = _Found()
    for frame in index.frames:
        path = directory / frame.file
        image = _image(path)
        t0 = time.monotonic()
        _read_plates(reader, image, frame.t, channel, opts.detector == BUILTIN_PLATES, found)
        t1 = time.monotonic()
        found.plate_seconds += t1 - t0
        if detector is not None:
            _detect_objects(detector, opts.detector, image, path, frame.t, found)
            found.detect_seconds += time.monotonic() - t1

    if opts.plate_consensus and opts.plate_regex is None:
        found.reads = _merge_tracks(found.reads, reader.regions)
    model = _model_name(detector, opts, reader)
    out_rel = meta_dir(env.task)
    root = opts.output_root
    plates_ref = env.write_output(
        root,
        f"{out_rel}/plates.json",
        PlatesFile(video_id=vid, reader=reader.name, reads=found.reads),
        "plates",
    )
    detections_ref = env.write_output(
        root,
        f"{out_rel}/detections.json",
        DetectionsFile(video_id=vid, model=model, detections=found.detections),
        "detections",
    )
    n = max(1, len(index.frames))
    result: dict[str, Any] = {
        "video_id": vid,
        "keyframes": len(index.frames),
        "plate_reads": len(found.reads),
        "plates": sorted({r.text for r in found.reads}),
        "detections": len(found.detections),
        "detector": opts.detector,
        "plate_reader": reader.name,
        "seconds_per_keyframe_plates": round(found.plate_seconds / n, 4),
        "seconds_per_keyframe_detector": round(found.detect_seconds / n, 4),
    }
    if found.bad_boxes:
        result["detector_boxes_dropped"] = found.bad_boxes
    return WorkResult(outputs=[plates_ref, detections_ref], result=result)


def _summary(res: dict[str, Any]) -> str:
    return (
        f"{res.get('video_id')}: {res.get('plate_reads')} plate reads "
        f"{res.get('plates')}, {res.get('detections')} detections on "
        f"{res.get('keyframes')} keyframes"
    )


def main(argv: Sequence[str] | None = None) -> int:
    return worker_main(PROG, _parser, _options, run, _summary, argv)


if __name__ == "__main__":
    raise SystemExit(main())
