"""Plate sightings: consecutive reads merged per vehicle timeline, located by GPS."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spoold.demo.synth import PlateSpec, video_files
from webui_export.index.platetext import canonical_plate, normalize_plate, prefix_bounds
from webui_export.index.sightings import rederive_all
from webui_export.index.writer import Indexer

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
SEC = timedelta(seconds=1)


def sightings(ix: Indexer) -> list[tuple]:
    return ix._con.execute(
        "SELECT plate, vehicle, first_seen, last_seen, reads, best_text_raw, best_video_id,"
        " best_t, video_ids, channels, lat, lon, gps_time FROM sightings"
        " ORDER BY timeline, canon, first_seen"
    ).fetchall()


@pytest.fixture
def ix(tmp_path: Path) -> Indexer:
    with Indexer(tmp_path / "index") as indexer:
        yield indexer


def add(ix: Indexer, tmp: Path, video_id: str, **kw: object) -> None:
    video, files = video_files(tmp / "w", video_id, **kw)  # type: ignore[arg-type]
    ix.finalize(video, files)


def test_ocr_canonical_form_maps_confusable_letters_to_digits() -> None:
    assert canonical_plate("B0S1Z") == canonical_plate("8OSI2") == "80512"
    assert normalize_plate(" ab-12.c_d ") == "AB12CD"
    assert normalize_plate("ÄB12") is None and normalize_plate("---") is None
    lo, hi = prefix_bounds("AB")
    assert lo <= "AB" < hi and lo <= "AB99ZZ" < hi and hi <= "AC"


def test_consecutive_reads_merge_into_one_sighting(ix: Indexer, tmp_path: Path) -> None:
    add(ix, tmp_path, "v1", start=T0, plates=[PlateSpec("AB123", 5.0, reads=4, every=2.0)])
    [s] = sightings(ix)
    assert s[0] == "AB123" and s[4] == 4
    assert (s[2], s[3]) == (T0.replace(tzinfo=None) + 5 * SEC, T0.replace(tzinfo=None) + 11 * SEC)
    assert s[7] == 5.0  # the best read is the first (confidence falls 0.05 per read)


def test_a_gap_longer_than_the_threshold_starts_a_new_sighting(ix: Indexer, tmp_path: Path) -> None:
    add(ix, tmp_path, "v1", start=T0, plates=[PlateSpec("AB123", 5.0), PlateSpec("AB123", 30.0)])
    assert [s[4] for s in sightings(ix)] == [3, 3]


def test_front_and_rear_clips_of_one_vehicle_share_a_sighting(ix: Indexer, tmp_path: Path) -> None:
    add(ix, tmp_path, "front", start=T0, plates=[PlateSpec("AB123", 5.0)])
    add(ix, tmp_path, "rear", channel="rear", start=T0 + SEC, gps_hz=None,
        plates=[PlateSpec("A8123", 6.0, raw="A8 123", confidence=0.99)])  # fmt: skip
    [s] = sightings(ix)
    assert s[4] == 6 and s[8] == ["front", "rear"] and s[9] == ["front", "rear"]
    assert (s[5], s[6]) == ("A8 123", "rear")  # the best read wins, across clips
    assert s[10] is not None  # located by the front clip's GPS


def test_other_vehicles_do_not_merge(ix: Indexer, tmp_path: Path) -> None:
    add(ix, tmp_path, "a", start=T0, plates=[PlateSpec("AB123", 5.0)])
    add(ix, tmp_path, "b", vehicle="car2", start=T0, plates=[PlateSpec("AB123", 5.0)])
    assert sorted(s[1] for s in sightings(ix)) == ["car1", "car2"]


def test_location_is_the_nearest_fix_within_the_window(ix: Indexer, tmp_path: Path) -> None:
    add(ix, tmp_path, "v1", start=T0, duration_s=60, gps_hz=0.1,  # a fix every 10 s
        plates=[PlateSpec("AB123", 24.0, reads=1)])  # fmt: skip
    [s] = sightings(ix)
    assert s[12] == T0.replace(tzinfo=None) + 20 * SEC
    gps = ix._con.execute("SELECT lat, lon FROM gps_points WHERE seq = 2").fetchone()
    assert (s[10], s[11]) == gps


def test_no_location_when_no_fix_is_close_enough(ix: Indexer, tmp_path: Path) -> None:
    add(ix, tmp_path, "gps", start=T0, duration_s=10)
    add(ix, tmp_path, "far", channel="rear", start=T0 + 120 * SEC, gps_hz=None,
        plates=[PlateSpec("AB123", 5.0)])  # fmt: skip
    [s] = sightings(ix)
    assert s[10:] == (None, None, None)


def test_a_later_gps_clip_locates_an_earlier_sighting(ix: Indexer, tmp_path: Path) -> None:
    add(ix, tmp_path, "rear", channel="rear", start=T0, gps_hz=None,
        plates=[PlateSpec("AB123", 5.0)])  # fmt: skip
    assert sightings(ix)[0][10] is None
    add(ix, tmp_path, "front", start=T0)  # no plates, but GPS for the same minute
    assert sightings(ix)[0][10] is not None


def test_gps_finalized_later_locates_sightings_up_to_the_window_away(
    ix: Indexer, tmp_path: Path
) -> None:
    """The clip with the fix starts 30 s after the read: beyond the merge gap, within the window."""
    add(ix, tmp_path, "rear", channel="rear", start=T0, gps_hz=None, duration_s=90,
        plates=[PlateSpec("AB123", 90.0, reads=1)])  # fmt: skip
    add(ix, tmp_path, "front", start=T0 + 120 * SEC, duration_s=60)
    [s] = sightings(ix)
    assert s[12] == T0.replace(tzinfo=None) + 120 * SEC


# One finalize step: (video index, start minute, plate reads as (plate, t) pairs, channel)
_step = st.tuples(
    st.integers(0, 5),
    st.integers(0, 3),
    st.lists(
        st.tuples(st.sampled_from(["AB123", "A8I23", "XY9", "XYG"]), st.integers(0, 110)),
        max_size=4,
    ),
    st.sampled_from(["front", "rear"]),
    st.booleans(),
)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(_step, min_size=1, max_size=8))
def test_incremental_sightings_equal_a_full_rederivation(
    tmp_path_factory: pytest.TempPathFactory, steps: list
) -> None:
    """Whatever order videos are finalized and re-finalized in, the sightings kept up to date
    one video at a time are exactly those derived from scratch."""
    tmp = tmp_path_factory.mktemp("inc")
    with Indexer(tmp / "index") as ix:
        for n, (video, minute, reads, channel, gps) in enumerate(steps):
            plates = [PlateSpec(text, float(t), reads=1) for text, t in reads]
            add(ix, tmp / str(n), f"v{video}", start=T0 + 60 * minute * SEC, duration_s=120,
                channel=channel, gps_hz=0.2 if gps else None, detections=0, plates=plates)  # fmt: skip
        incremental = sightings(ix)
        rederive_all(ix._con)
        assert sightings(ix) == incremental
