"""Licence-plate reading on rendered plates, the plate filter and the detector plug-in hook."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rapidocr")
pytest.importorskip("cv2")

from spoold.demo.render import plate_frame
from spoold.workers.detectors import (
    DetectorError,
    ObjectBox,
    load_detector,
)
from spoold.workers.plates import (
    PlateReader,
    looks_like_plate,
    normalize_plate,
    rapidocr_model_paths,
)

FIX = Path(__file__).parent / "workers_fixtures"

# Plate texts from several countries' formats; no O/0 or I/1 look-alikes in the letters.
PLATES = ["KA01AB1234", "MH12DE1433", "B123XYZ", "WX70ABC", "DL8CAF5031", "7ABC123", "HR26DK8337"]


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader()


def test_models_ship_inside_the_package() -> None:
    paths = rapidocr_model_paths()
    assert {"det", "rec"} <= set(paths)
    for p in paths.values():
        assert p.is_file() and p.suffix == ".onnx" and "site-packages" in str(p)


def test_normalize_and_filter() -> None:
    assert normalize_plate("ka-01 ab·1234") == "KA01AB1234"
    assert looks_like_plate("KA 01 AB 1234")
    assert looks_like_plate("WX70 ABC")
    assert not looks_like_plate("36 KM/H")  # dashcam speed overlay
    assert not looks_like_plate("22MPH")
    assert not looks_like_plate("BLACKVUE")  # no digit
    assert not looks_like_plate("2026/11/25")  # no letter
    assert not looks_like_plate("AB1")  # too short
    assert not looks_like_plate("N12.97560 E77.60500")  # GPS overlay, too long
    assert looks_like_plate("12345", regex=re.compile(r"\d{5}"))


def test_reads_rendered_plates(reader: PlateReader) -> None:
    read = 0
    timings = []
    for i, text in enumerate(PLATES):
        image, (x, y, w, h) = plate_frame(text, x_frac=0.3 + 0.07 * i, noise=3.0, seed=i)
        t0 = time.perf_counter()
        cands = reader.read(image)
        timings.append(time.perf_counter() - t0)
        hit = next((c for c in cands if c.text == text), None)
        if hit is None:
            continue
        read += 1
        bx, by, bw, bh = hit.bbox
        height, width = image.shape[:2]
        # the reported box lies on the plate
        assert abs((bx + bw / 2) * width - (x + w / 2)) < w / 2
        assert abs((by + bh / 2) * height - (y + h / 2)) < h
        assert 0.5 < hit.confidence <= 1.0
    print(f"plates read: {read}/{len(PLATES)}, {np.mean(timings):.3f} s per 640x360 frame")
    assert read >= len(PLATES) - 1


def test_small_frame_rear_camera(reader: PlateReader) -> None:
    image, _ = plate_frame("KA03HB7788", width=480, height=272)
    assert [c.text for c in reader.read(image)] == ["KA03HB7788"]


def test_no_plate_no_read(reader: PlateReader) -> None:
    blank = np.full((360, 640, 3), 90, np.uint8)
    assert reader.read(blank) == []
    assert reader.read(np.zeros((4, 4, 3), np.uint8)) == []


def test_overlay_band_is_ignored(reader: PlateReader) -> None:
    image, _ = plate_frame("KA01AB1234")
    import cv2

    # a plate-like overlay string burnt into the bottom band, as dashcams do
    cv2.putText(image, "CAM2 A139", (8, 352), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
    assert [c.text for c in reader.read(image)] == ["KA01AB1234"]
    # read where the band is not ignored (as a US vanity plate: the other formats repair it)
    no_band = PlateReader(ignore_bottom=0.0, regions=("US",))
    assert "CAM2A139" in {c.text for c in no_band.read(image)}


# ---------------------------------------------------------------------------------- plug-ins


@pytest.fixture
def fixtures_on_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(FIX))
    yield
    sys.modules.pop("plugin_red_car", None)


def test_builtin_detectors() -> None:
    assert load_detector("none") is None
    assert load_detector("plates") is None


@pytest.mark.usefixtures("fixtures_on_path")
def test_plugin_by_module_path() -> None:
    det = load_detector("plugin_red_car:factory", {"min_area": "0.02"})
    assert det is not None
    assert det.name.startswith("example:red-car")
    image, (x, _y, w, _h) = plate_frame("KA01AB1234", colour=(40, 40, 200))
    boxes = list(det.detect(image))
    assert len(boxes) == 1 and boxes[0].label == "car"
    b = boxes[0]
    _height, width = image.shape[:2]
    assert b.x * width < x and (b.x + b.w) * width > x + w  # the car surrounds its plate


@pytest.mark.usefixtures("fixtures_on_path")
def test_plugin_errors_name_the_spec() -> None:
    with pytest.raises(DetectorError, match="cannot import 'no_such_module'"):
        load_detector("no_such_module:factory")
    with pytest.raises(DetectorError, match="has no 'nope'"):
        load_detector("plugin_red_car:nope")
    with pytest.raises(DetectorError, match="is not callable"):
        load_detector("plugin_red_car:RedCarDetector.name")
    with pytest.raises(DetectorError, match="lacks a str 'name'"):
        load_detector("builtins:dict")
    with pytest.raises(DetectorError, match=r"entry-point group 'spoold\.detectors'"):
        load_detector("yolo-nonexistent")


def test_object_box_clipping() -> None:
    b = ObjectBox.from_pixels("car", 1.5, -10, 10, 100, 50, 200, 100).clipped()
    assert b is not None
    assert (b.x, b.y, b.w, b.h, b.confidence) == (0.0, 0.1, 0.5, 0.4, 1.0)
    assert ObjectBox("car", 0.5, 0.5, 0.5, 0.0, 0.2).clipped() is None
    assert ObjectBox("car", float("nan"), 0.1, 0.1, 0.2, 0.2).clipped() is None
    assert ObjectBox("", 0.5, 0.1, 0.1, 0.2, 0.2).clipped() is None


# ---------------------------------------------------------------------------------- plate tracks


def test_one_plate_track_gets_one_text_in_plates_json() -> None:
    from schemas.metadata import BBox, PlateRead
    from spoold.workers.detect import _merge_tracks

    def read(t: float, text: str, conf: float, x: float) -> PlateRead:
        return PlateRead(
            t=t, text_raw=text, text=text, confidence=conf, bbox=BBox(x=x, y=0.6, w=0.12, h=0.04)
        )

    reads = [
        read(0, "RN24NZP", 0.9, 0.40),
        read(1, "RN24N2P", 0.7, 0.41),
        read(1, "KA01AB1234", 0.9, 0.05),
        read(2, "RN24NZP", 0.8, 0.42),
    ]
    merged = _merge_tracks(reads, ("UK", "IN"))
    assert [r.text for r in merged] == ["RN24NZP", "RN24NZP", "KA01AB1234", "RN24NZP"]
    assert [r.text_raw for r in merged] == [r.text_raw for r in reads]  # as read, per frame


def test_plate_regions_option_is_checked() -> None:
    import argparse

    from spoold.workers._contract import WorkerError
    from spoold.workers.detect import _options, _parser, _regions

    ns: argparse.Namespace = _parser().parse_args(["--plate-regions", "uk,in"])
    assert _regions(_options(ns, {})) == ("UK", "IN")
    assert _regions(_options(ns, {"plate_regions": "all"}))[0] == "UK"
    assert _options(ns, {"plate_consensus": "false"}).plate_consensus is False
    with pytest.raises(WorkerError, match=r"--plate-regions 'UK,XX': unknown plate region\(s\) XX"):
        _regions(_options(ns, {"plate_regions": "UK,XX"}))
