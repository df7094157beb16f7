"""End to end: rendered plates with country bands and stickers through the real reader.

The frames come from the bench's corpus generator (``bench/plate_corpus.py``), clear
conditions only, so a miss here is the reader's fault, not the weather's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rapidocr")
pytest.importorskip("cv2")
pytest.importorskip("PIL")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from plate_corpus import corpus, render_plate

from spoold.workers.plate_consensus import Read, consensus
from spoold.workers.plates import PlateReader, mask_country_bands


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader()


def test_the_blue_band_is_painted_over_and_lettering_is_not() -> None:
    rng = np.random.default_rng(1)
    for region in ("FR", "UK", "NL"):
        plate = render_plate("AB-123-CD", region, None, rng)
        frame = np.full((300, 800, 3), (60, 60, 60), np.uint8)
        frame[100 : 100 + plate.shape[0], 100 : 100 + plate.shape[1]] = plate
        masked, count = mask_country_bands(frame)
        band = masked[110:200, 104:150]
        blue = (band[:, :, 0] > 120) & (band[:, :, 2] < 80)
        if count:  # the UK's green band carries no letters and may stay
            assert blue.mean() < 0.05, region
    # dark-blue US lettering is not a band
    us = render_plate("7ABC123", "US", None, rng)
    frame = np.full((300, 800, 3), (60, 60, 60), np.uint8)
    frame[100 : 100 + us.shape[0], 100 : 100 + us.shape[1]] = us
    masked, _ = mask_country_bands(frame)
    text_area = (slice(140, 200), slice(200, 560))
    assert np.array_equal(masked[text_area], frame[text_area])


def test_banded_plates_read_as_one_plate_each(reader: PlateReader) -> None:
    missed = []
    for clip in corpus(("UK", "DE", "FR", "NL", "IN", "US"), clips_per_region=1, frames_per_clip=2):
        reads = [
            Read(frame.t, c.text, c.confidence, c.bbox)
            for frame in clip.frames
            for c in reader.read(frame.image)
        ]
        texts = set(consensus(reads, reader.regions))
        if texts != set(clip.plates):
            missed.append(f"{clip.name}: want {clip.plates}, got {sorted(texts)}")
    assert not missed
