"""PlateRead.region: older records without it still load, the detect worker sets it from the
matched format, and the index carries it into plate reads and sightings (and the API)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.metadata import BBox, PlateRead, PlatesFile
from spoold.demo.synth import PlateSpec, video_files
from spoold.workers.detect import _merge_tracks
from spoold.workers.plate_formats import REGIONS
from webui_export.index.writer import Indexer

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)

_read = st.fixed_dictionaries(
    {
        "t": st.floats(0, 3600),
        "text_raw": st.text(min_size=1, max_size=32),
        "text": st.from_regex(r"[A-Z0-9]{1,32}", fullmatch=True),
        "confidence": st.floats(0, 1),
        "bbox": st.just({"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.1}),
    }
)


@settings(max_examples=200, deadline=None)
@given(read=_read, region=st.none() | st.sampled_from(REGIONS) | st.just("US-CA"))
def test_reads_with_and_without_a_region_round_trip(
    read: dict[str, object], region: str | None
) -> None:
    old = PlateRead.model_validate(read)  # written before the field existed
    assert old.region is None
    new = PlateRead.model_validate({**read, "region": region})
    assert new.region == region
    back = PlateRead.model_validate_json(new.model_dump_json())
    assert back == new
    older = PlatesFile.model_validate({"video_id": "v", "reads": [read]})
    assert older.reads[0].region is None


@pytest.mark.parametrize("bad", ["de", "", "GERMANY", "D", "US_CA", "US-CALI"])
def test_a_region_is_a_region_code(bad: str) -> None:
    with pytest.raises(ValidationError):
        PlateRead(
            t=0, text_raw="x", text="X1", confidence=1, bbox=BBox(x=0, y=0, w=1, h=1), region=bad
        )


def _pr(t: float, text: str, conf: float, region: str | None) -> PlateRead:
    box = BBox(x=0.4 + 0.01 * t, y=0.6, w=0.12, h=0.04)
    return PlateRead(t=t, text_raw=text, text=text, confidence=conf, bbox=box, region=region)


def test_a_merged_track_takes_the_region_of_its_voted_text() -> None:
    # one German plate: a frame read it with a band letter that made it a UK plate
    reads = [
        _pr(0, "JFL7406", 0.95, "DE"),
        _pr(1, "JFL7406", 0.9, "DE"),
        _pr(2, "BJFL7406", 0.5, "UK"),
    ]
    merged = _merge_tracks(reads, ("DE", "UK"))
    assert [(r.text, r.region) for r in merged] == [("JFL7406", "DE")] * 3
    assert merged[2].text_raw == "BJFL7406"
    # the operator's order decides a shared layout
    assert {r.region for r in _merge_tracks(reads, ("UK", "DE"))[2:]} == {"UK"}


def _add(ix: Indexer, tmp: Path, video_id: str, region: str | None) -> None:
    video, files = video_files(
        tmp / "w", video_id, vehicle=f"car-{video_id}", start=T0, plates=[PlateSpec("JFL7406", 5.0)]
    )
    doc = json.loads(files["plates"].read_text())
    for read in doc["reads"]:
        if region is not None:
            read["region"] = region
    files["plates"].write_text(json.dumps(doc))
    ix.finalize(video, files)


def test_the_index_keeps_the_region_of_reads_and_sightings(tmp_path: Path) -> None:
    with Indexer(tmp_path / "index") as ix:
        _add(ix, tmp_path, "v1", "DE")
        _add(ix, tmp_path, "v2", None)  # a worker of before regions
        reads = ix._con.execute(
            "SELECT DISTINCT v.video_id, r.region FROM plate_reads r JOIN videos v USING (video_key)"
            " ORDER BY 1"
        ).fetchall()
        assert reads == [("v1", "DE"), ("v2", None)]
        rows = ix._con.execute(
            "SELECT best_video_id, region, doc FROM sightings ORDER BY 1"
        ).fetchall()
        assert [(v, r, json.loads(d)["region"]) for v, r, d in rows] == [
            ("v1", "DE", "DE"),
            ("v2", None, None),
        ]


def test_an_index_written_before_regions_gains_the_column(tmp_path: Path) -> None:
    with Indexer(tmp_path / "index") as ix:
        _add(ix, tmp_path, "v1", None)
        ix._con.execute("ALTER TABLE plate_reads DROP COLUMN region")
        ix._con.execute("ALTER TABLE sightings DROP COLUMN region")
    with Indexer(tmp_path / "index") as ix:
        _add(ix, tmp_path, "v2", "UK")
        got = ix._con.execute("SELECT count(*), count(region) FROM plate_reads").fetchone()
        assert got == (6, 3)  # three reads each; only the new video's carry a region


def test_the_detect_worker_writes_the_readers_region() -> None:
    import numpy as np

    from spoold.workers.detect import _Found, _read_plates
    from spoold.workers.plates import PlateCandidate

    class Reader:
        def read(self, image: object) -> list[PlateCandidate]:
            box = (0.1, 0.6, 0.2, 0.05)
            return [
                PlateCandidate("J FL 7406", "JFL7406", 0.9, box, "DE"),
                PlateCandidate("AB 123", "AB123", 0.8, box, ""),  # --plate-regex: no format
            ]

    found = _Found()
    image = np.zeros((8, 8, 3), np.uint8)
    _read_plates(Reader(), image, 1.0, "front", False, found)  # type: ignore[arg-type]
    assert [(r.text, r.region) for r in found.reads] == [("JFL7406", "DE"), ("AB123", None)]
