"""Example ``--detector`` plug-in for the detect worker: finds the demo clips' red cars.

Use: ``python -m spoold.workers.detect --detector plugin_red_car:factory
--detector-option min_area=0.01`` with this folder on ``PYTHONPATH``.  A real plug-in wraps a
model (ONNX, TensorRT, ultralytics...) the same way: ``factory(options)`` returns an object
with ``name`` and ``detect(image) -> list[ObjectBox]``.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from spoold.workers.detectors import ObjectBox


class RedCarDetector:
    name = "example:red-car-colour-threshold 1.0"

    def __init__(self, min_area: float) -> None:
        self.min_area = min_area

    def detect(self, image: NDArray[np.uint8]) -> list[ObjectBox]:
        h, w = image.shape[:2]
        b, g, r = (image[:, :, i].astype(np.int16) for i in range(3))
        mask = ((r > 120) & (r - g > 60) & (r - b > 60)).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        found = []
        for i in range(1, n):
            x, y, bw, bh, area = (int(v) for v in stats[i])
            if area / (w * h) >= self.min_area:
                found.append(ObjectBox.from_pixels("car", 0.9, x, y, x + bw, y + bh, w, h))
        return found


def factory(options: dict[str, str]) -> RedCarDetector:
    return RedCarDetector(min_area=float(options.get("min_area", "0.01")))
