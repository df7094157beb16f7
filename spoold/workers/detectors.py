"""The object-detection plug-in interface of the detect worker.

Public API:

- :class:`ObjectBox` — one detection in one image: ``label``, ``confidence`` (0..1) and a box
  in normalized coordinates (``x, y, w, h``, 0..1, origin top-left);
  :meth:`ObjectBox.from_pixels` builds one from pixel corners.
- :class:`ObjectDetector` — the protocol a plug-in implements: a ``name`` (model name and
  version, written to ``DetectionsFile.model``) and ``detect(image) -> Iterable[ObjectBox]``
  where ``image`` is a BGR ``uint8`` numpy array (as ``cv2.imread`` returns).
- :func:`load_detector(spec, options) <load_detector>` — resolve ``--detector SPEC``:

  * ``module.path:factory`` — import the module and call ``factory(options)``; it must return
    an :class:`ObjectDetector`.
  * ``NAME`` — an installed plug-in registered under the entry-point group
    ``spoold.detectors`` (``[project.entry-points."spoold.detectors"] NAME =
    "pkg.mod:factory"``), called the same way.
  * ``none`` — no object detection (an empty ``detections`` list, ``model`` ``"none"``).
  * ``plates`` — the built-in fallback: reports each licence plate the plate reader found as
    a ``license_plate`` detection. It is *not* a general object detector; plug one in for
    cars, people and the rest.

  ``options`` is a ``dict[str, str]`` from ``--detector-option KEY=VALUE`` and the task's
  ``params["detector_options"]``.
- :class:`DetectorError` — a plug-in that cannot be loaded or returns something else; the
  message names the spec.

Runs on Python 3.10.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from spoold.workers._contract import WorkerError

__all__ = [
    "BUILTIN_NONE",
    "BUILTIN_PLATES",
    "ENTRY_POINT_GROUP",
    "DetectorError",
    "ObjectBox",
    "ObjectDetector",
    "load_detector",
]

ENTRY_POINT_GROUP = "spoold.detectors"
BUILTIN_NONE = "none"
BUILTIN_PLATES = "plates"


class DetectorError(WorkerError):
    """A detector plug-in could not be loaded or misbehaved."""


@dataclass(frozen=True)
class ObjectBox:
    """One detection; box in normalized image coordinates (0..1, origin top-left)."""

    label: str
    confidence: float
    x: float
    y: float
    w: float
    h: float
    track_id: int | None = None

    @classmethod
    def from_pixels(
        cls,
        label: str,
        confidence: float,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        width: int,
        height: int,
        track_id: int | None = None,
    ) -> ObjectBox:
        """From pixel corners (x0, y0)-(x1, y1) in an image of ``width`` x ``height``."""
        return cls(
            label,
            confidence,
            x0 / width,
            y0 / height,
            (x1 - x0) / width,
            (y1 - y0) / height,
            track_id,
        )

    def clipped(self) -> ObjectBox | None:
        """The box clipped to the image, or None when empty, NaN or badly labelled."""
        vals = (self.confidence, self.x, self.y, self.w, self.h)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals):
            return None
        if not isinstance(self.label, str) or not 1 <= len(self.label) <= 64:
            return None
        x0, y0 = max(0.0, self.x), max(0.0, self.y)
        x1, y1 = min(1.0, self.x + self.w), min(1.0, self.y + self.h)
        if x1 - x0 <= 0 or y1 - y0 <= 0:
            return None
        return ObjectBox(
            self.label,
            min(1.0, max(0.0, float(self.confidence))),
            x0,
            y0,
            x1 - x0,
            y1 - y0,
            self.track_id,
        )


@runtime_checkable
class ObjectDetector(Protocol):
    """What a detector plug-in's factory returns."""

    name: str

    def detect(self, image: NDArray[np.uint8]) -> Iterable[ObjectBox]: ...


def _call_factory(spec: str, factory: Any, options: Mapping[str, str]) -> ObjectDetector:
    if not callable(factory):
        raise DetectorError(f"--detector {spec}: {factory!r} is not callable")
    try:
        det = factory(dict(options))
    except WorkerError:
        raise
    except Exception as exc:
        raise DetectorError(
            f"--detector {spec}: factory raised {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(det, ObjectDetector) or not isinstance(getattr(det, "name", None), str):
        raise DetectorError(
            f"--detector {spec}: factory returned {type(det).__name__}, which lacks a str "
            "'name' and a detect(image) method"
        )
    return det


def load_detector(spec: str, options: Mapping[str, str] | None = None) -> ObjectDetector | None:
    """The detector for ``spec`` (see the module docstring); None for ``none``/``plates``."""
    opts = dict(options or {})
    if spec in (BUILTIN_NONE, BUILTIN_PLATES):
        return None
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise DetectorError(
                f"--detector {spec}: cannot import {module_name!r}: {exc}"
            ) from None
        target: Any = module
        for part in attr.split("."):
            if not part or not hasattr(target, part):
                raise DetectorError(f"--detector {spec}: {module_name!r} has no {attr!r}")
            target = getattr(target, part)
        return _call_factory(spec, target, opts)
    eps = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == spec]
    if not eps:
        installed = sorted(ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))
        raise DetectorError(
            f"--detector {spec}: not 'module:factory', not built-in (none, plates) and no "
            f"installed plug-in of that name in entry-point group {ENTRY_POINT_GROUP!r} "
            f"(installed: {', '.join(installed) or 'none'})"
        )
    try:
        factory = eps[0].load()
    except Exception as exc:
        raise DetectorError(f"--detector {spec}: cannot load {eps[0].value}: {exc}") from None
    return _call_factory(spec, factory, opts)
