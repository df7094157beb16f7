"""GPS extraction from what dashcams write: NMEA, BlackVue, 70mai, Novatek freeGPS, GoPro, Tesla."""

from __future__ import annotations

import json
import shutil
import struct
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

pytest.importorskip("cv2", reason="the workers extra (opencv-python-headless) is not installed")

from schemas.metadata import GpsTrackFile
from spoold.dashcam import parse_name
from spoold.demo.gps_payloads import blackvue_nmea_lines, mai_gps_box, novatek_freegps_block
from spoold.demo.route import TrackPoint, route_position
from spoold.demo.samples import make_clip
from spoold.workers.gps import (
    GpsExtraction,
    extract_gps,
    find_event_json,
    find_sidecars,
    parse_freegps_block,
    parse_tz,
    read_70mai_box,
)
from spoold.workers.mp4box import make_box
from spoold.workers.nmea import checksum_ok, nmea_sentence, parse_nmea, to_nmea_coord

FIX = Path(__file__).parent / "workers_fixtures"
# /work/shared/samples beside the checkout (main or a worktree one level deeper)
SHARED_SAMPLES = next(
    (p / "shared" / "samples" for p in Path(__file__).resolve().parents if (p / "shared").is_dir()),
    Path("/nonexistent"),
)
WARSAW = parse_tz("Europe/Warsaw")
UTC = timezone.utc


def _validates(points: list) -> None:  # type: ignore[type-arg]
    GpsTrackFile(video_id="v", source="x", points=points)


def _track(n: int, start: datetime, offset: float = 0.0) -> list[TrackPoint]:
    out = []
    for i in range(n):
        lat, lon, hdg = route_position(offset + i)
        out.append(
            TrackPoint(
                t=float(i),
                time_utc=(start + timedelta(seconds=i)).isoformat(),
                lat=lat,
                lon=lon,
                speed_kmh=36.0,
                heading=hdg,
            )
        )
    return out


def _fake_mp4(path: Path, *extra: bytes, mdat: bytes = b"\0" * 64, moov: bytes = b"") -> Path:
    """A structurally plausible MP4 (ftyp, mdat, moov, extra boxes); no decodable video."""
    ftyp = make_box(b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41")
    moov_box = make_box(b"moov", make_box(b"mvhd", b"\0" * 100) + moov)
    path.write_bytes(ftyp + make_box(b"mdat", mdat) + moov_box + b"".join(extra))
    return path


# ---------------------------------------------------------------------------------- NMEA


def test_checksum_and_writer_roundtrip() -> None:
    s = nmea_sentence("GPRMC,120000.00,A,5230.8460,N,01321.0000,E,5.5,90.0,010119,,,A")
    assert checksum_ok(s)
    assert not checksum_ok(s[:-2] + "00")
    assert not checksum_ok("$GPRMC,120000.00,A")  # no checksum at all
    assert to_nmea_coord(-33.5, True) == "3330.0000,S"
    assert to_nmea_coord(151.25, False) == "15115.0000,E"


def test_nmea_bad_checksum_skipped_rmc_gga_merged() -> None:
    text = (FIX / "nmea" / "drive.nmea").read_text()
    res = parse_nmea(text)
    assert res.no_checksum == 1  # the last RMC has no *HH: skipped
    assert res.void == 2  # status V RMC and quality-0 GGA
    assert len(res.fixes) == 5
    first = res.fixes[0]
    assert first.time == datetime(2026, 11, 24, 23, 59, 58, tzinfo=UTC)
    assert first.altitude_m == pytest.approx(920.1)  # from GGA
    assert first.fix == 2
    assert first.speed_kmh == pytest.approx(20.0 * 1.852)  # from RMC
    assert first.lat == pytest.approx(12.9716, abs=1e-6)
    # crosses midnight: the date follows RMC's date field
    assert [f.time.day for f in res.fixes] == [24, 24, 25, 25, 25]


def test_nmea_gga_only_second_takes_neighbour_date() -> None:
    gga = nmea_sentence("GNGGA,101500.00,5230.0000,N,01320.0000,E,1,08,1.0,34.5,M,44.0,M,,")
    rmc = nmea_sentence("GNRMC,101501.00,A,5230.0010,N,01320.0000,E,1.0,0.0,251126,,,A")
    res = parse_nmea(f"{gga}\n{rmc}\n")
    assert [f.time for f in res.fixes] == [
        datetime(2026, 11, 25, 10, 15, 0, tzinfo=UTC),
        datetime(2026, 11, 25, 10, 15, 1, tzinfo=UTC),
    ]
    alone = parse_nmea(gga)
    assert alone.fixes == [] and alone.no_date == 1
    assert parse_nmea(gga, default_date=date(2026, 1, 2)).fixes[0].time.date() == date(2026, 1, 2)


def test_blackvue_sidecar_bad_lines_and_ms_timing() -> None:
    gps = FIX / "blackvue" / "20190101_120000_N.gps"
    r = extract_gps(None, sidecars=[gps])
    assert r.source == "nmea-sidecar" and r.file == gps.name
    assert r.stats["bad_checksum"] == 3  # corrupted RMC of second 3, both sentences of 6
    times = [p.time.second for p in r.points]
    assert times == [0, 1, 2, 3, 4, 5, 7, 8, 9]  # second 3 from GGA alone, 6 lost
    # t counts from the first [ms] line of the file (the recording start)
    assert [p.t for p in r.points][:2] == [1.0, 2.0]
    assert r.points[3].speed_kmh is None and r.points[3].altitude_m == pytest.approx(34.5)
    assert r.points[0].lat == pytest.approx(52.5141, abs=1e-6)
    _validates(r.points)


def test_find_sidecars_blackvue_and_plain(tmp_path: Path) -> None:
    video = tmp_path / "20190101_120000_NF.mp4"
    video.write_bytes(b"")
    shutil.copy(FIX / "blackvue" / "20190101_120000_N.gps", tmp_path)
    assert find_sidecars(video) == [tmp_path / "20190101_120000_N.gps"]
    plain = tmp_path / "clip.MP4"
    plain.write_bytes(b"")
    (tmp_path / "clip.nmea").write_text("x")
    assert find_sidecars(plain) == [tmp_path / "clip.nmea"]
    assert find_event_json(plain) is None


def test_blackvue_embedded_gps_box(tmp_path: Path) -> None:
    start = datetime(2026, 11, 25, 4, 46, tzinfo=UTC)
    text = blackvue_nmea_lines(_track(5, start))
    free = make_box(b"free", make_box(b"gps ", text.encode()) + make_box(b"3gf ", b"\0" * 20))
    video = _fake_mp4(tmp_path / "20261125_101600_NF.mp4", free)
    r = extract_gps(video)
    assert r.source == "blackvue-gps-box"
    assert [p.t for p in r.points] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert r.points[0].time == start
    lat, lon, _ = route_position(0)
    assert r.points[0].lat == pytest.approx(lat, abs=2e-6)
    assert r.points[0].lon == pytest.approx(lon, abs=2e-6)


def test_nmea_embedded_anywhere_found_by_scan(tmp_path: Path) -> None:
    rmc = nmea_sentence("GPRMC,081500.00,A,4807.0380,N,01131.0000,E,10.0,45.0,251126,,,A")
    video = _fake_mp4(tmp_path / "REC_20261125_091500_F.MP4", mdat=b"\x17junk" + rmc.encode())
    r = extract_gps(video)
    assert r.source == "nmea-embedded" and len(r.points) == 1
    assert r.points[0].lat == pytest.approx(48.1173, abs=1e-4)
    assert extract_gps(video, scan=False).source == "none"


# ---------------------------------------------------------------------------------- 70mai


def test_70mai_real_sample() -> None:
    video = FIX / "70mai" / "NO20191130-120156-000121.MP4"
    info = parse_name(video.name)
    assert info is not None
    r = extract_gps(video, start_local=info.start_local, tz=WARSAW)
    assert r.source == "70mai"
    assert len(r.points) == 61  # 120 record slots, 0..60 s used
    first, last = r.points[0], r.points[-1]
    # 12:01:56 Warsaw (CET, +01:00) = 11:01:56 UTC; record offsets add seconds
    assert first.time == datetime(2019, 11, 30, 11, 1, 56, tzinfo=UTC)
    assert last.time - first.time == timedelta(seconds=60) and last.t == 60.0
    assert first.lat == pytest.approx(52.19058, abs=1e-4)
    assert first.lon == pytest.approx(20.78948, abs=1e-4)
    assert first.speed_kmh == pytest.approx(105.33, abs=0.01)
    assert all(52.1 < p.lat < 52.3 and 20.7 < p.lon < 20.9 for p in r.points)
    _validates(r.points)


def test_70mai_without_tz_says_utc_assumed() -> None:
    video = FIX / "70mai" / "NO20191130-120156-000121.MP4"
    info = parse_name(video.name)
    assert info is not None
    r = extract_gps(video, start_local=info.start_local)
    assert r.points[0].time == datetime(2019, 11, 30, 12, 1, 56, tzinfo=UTC)
    assert any("taken as UTC" in n for n in r.notes)


@pytest.mark.parametrize(
    ("name", "at_least", "at_most", "truncated"),
    [
        ("NO20191130-120256-000122.MP4", 50, 61, True),
        ("EV20191130-121256-000132.MP4", 1, 10, True),
        ("PA20191130-121756-000137.MP4", 1, 61, False),
    ],
)
def test_70mai_cut_and_garbled_samples(
    name: str, at_least: int, at_most: int, truncated: bool
) -> None:
    video = FIX / "70mai" / name
    info = parse_name(name)
    assert info is not None
    r = extract_gps(video, start_local=info.start_local, tz=WARSAW)
    assert r.source == "70mai"
    assert at_least <= len(r.points) <= at_most
    assert all(52.1 < p.lat < 52.3 and 20.7 < p.lon < 20.9 for p in r.points)
    assert any("truncated" in n for n in r.notes) == truncated
    times = [p.time for p in r.points]
    assert times == sorted(times)
    _validates(r.points)


def test_70mai_synthetic_box_southern_western(tmp_path: Path) -> None:
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    pts = [
        TrackPoint(0, start.isoformat(), -33.8568, -70.6483, 50.0, 0.0),
        TrackPoint(1, (start + timedelta(seconds=1)).isoformat(), -33.8570, -70.6480, 51.0, 0.0),
    ]
    box = mai_gps_box(pts, slots=4)
    points, stats = read_70mai_box(box[8:], start_utc=start)
    assert stats == {"records": 2, "no_fix": 0, "invalid": 0}
    assert points[0].lat == pytest.approx(-33.8568, abs=2e-5)
    assert points[0].lon == pytest.approx(-70.6483, abs=2e-5)
    assert points[1].speed_kmh == pytest.approx(51.0)
    video = _fake_mp4(tmp_path / "NO20260301-170000-000007.MP4", box)
    r = extract_gps(video, start_local=datetime(2026, 3, 1, 17, 0), tz=parse_tz("+05:00"))
    assert r.source == "70mai" and r.points[0].time == start
    # a 70mai box in a file whose name carries no start time: explained, not guessed
    renamed = video.rename(tmp_path / "clip.MP4")
    r2 = extract_gps(renamed)
    assert r2.source == "none"
    assert any("clip start is unknown" in n for n in r2.notes)


# ---------------------------------------------------------------------------------- Novatek


def _novatek_file(path: Path, blocks: list[bytes], *, with_index: bool) -> Path:
    ftyp = make_box(b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41")
    mdat = make_box(b"mdat", b"\0" * 32)
    mvhd = make_box(b"mvhd", b"\0" * 100)
    n = len(blocks)
    gps_atom_len = 16 + 8 * n if with_index else 0
    moov_len = 8 + len(mvhd) + gps_atom_len
    pos = len(ftyp) + len(mdat) + moov_len
    index = b""
    for b in blocks:
        index += struct.pack(">II", pos, len(b))
        pos += len(b)
    gps_atom = make_box(b"gps ", struct.pack(">II", 0x101, n) + index) if with_index else b""
    moov = make_box(b"moov", mvhd + gps_atom)
    path.write_bytes(ftyp + mdat + moov + b"".join(blocks))
    return path


@pytest.mark.parametrize("with_index", [True, False])
def test_novatek_freegps(tmp_path: Path, with_index: bool) -> None:
    start = datetime(2026, 11, 25, 4, 45, tzinfo=UTC)
    track = _track(4, start)
    blocks = [
        novatek_freegps_block(start + timedelta(seconds=i), p.lat, p.lon, 36.0, p.heading)
        for i, p in enumerate(track)
    ]
    video = _novatek_file(tmp_path / "2026_1125_101500_000120F.MP4", blocks, with_index=with_index)
    r = extract_gps(video)
    assert r.source == "freegps"
    assert [p.t for p in r.points] == [0.0, 1.0, 2.0, 3.0]
    assert [p.time for p in r.points] == [start + timedelta(seconds=i) for i in range(4)]
    for p, exp in zip(r.points, track, strict=True):
        assert p.lat == pytest.approx(exp.lat, abs=2e-5)  # float32 ddmm.mmmm
        assert p.lon == pytest.approx(exp.lon, abs=2e-5)
        assert p.speed_kmh == pytest.approx(36.0, abs=0.01)
    assert any("scanning" in n for n in r.notes) == (not with_index)
    _validates(r.points)


def test_novatek_void_and_encrypted_blocks_give_no_gps(tmp_path: Path) -> None:
    start = datetime(2026, 11, 25, 4, 45, tzinfo=UTC)
    void = bytearray(novatek_freegps_block(start, 12.9, 77.6, 0.0, 0.0))
    void[72:73] = b"V"
    enc = bytearray(novatek_freegps_block(start, 12.9, 77.6, 0.0, 0.0))
    enc[12] = 0x05
    assert parse_freegps_block(bytes(void)) == ([], "binary-void")
    assert parse_freegps_block(bytes(enc)) == ([], "encrypted")
    video = _novatek_file(tmp_path / "a.MP4", [bytes(void), bytes(enc)], with_index=True)
    r = extract_gps(video)
    assert r.source == "none" and r.points == []
    assert any("encrypted" in n for n in r.notes)


# ---------------------------------------------------------------------------------- Tesla


def test_tesla_event_json_with_position(tmp_path: Path) -> None:
    folder = tmp_path / "SavedClips" / "2026-07-10_17-20-19"
    folder.mkdir(parents=True)
    shutil.copy(FIX / "tesla" / "event_ok" / "event.json", folder)
    video = _fake_mp4(folder / "2026-07-10_17-20-00-front.mp4")
    r = extract_gps(
        video,
        event_json=find_event_json(video),
        start_local=datetime(2026, 7, 10, 17, 20),
        tz=parse_tz("Europe/Berlin"),
    )
    assert r.source == "tesla-event-json" and len(r.points) == 1
    p = r.points[0]
    assert (p.lat, p.lon) == (51.3352, 6.35791)
    assert p.time == datetime(2026, 7, 10, 15, 20, 19, tzinfo=UTC)  # CEST = UTC+2
    assert p.t == 19.0


def test_tesla_event_json_empty_coordinates_is_no_gps(tmp_path: Path) -> None:
    event = FIX / "tesla" / "event_empty" / "event.json"
    assert json.loads(event.read_text())["est_lat"] == ""
    video = _fake_mp4(tmp_path / "2026-07-10_17-25-00-back.mp4")
    r = extract_gps(video, event_json=event)
    assert r.source == "none" and r.points == []
    assert any("est_lat/est_lon are empty" in n for n in r.notes)
    _validates(r.points)


# ---------------------------------------------------------------------------------- GoPro


def _gopro(name: str) -> Path:
    path = SHARED_SAMPLES / "gopro-gpmf" / name
    if not path.exists():
        pytest.skip(f"{path} not present (shared samples are not in this checkout)")
    return path


def test_gopro_gpmf_gps5() -> None:
    r = extract_gps(_gopro("max-heromode.mp4"))
    assert r.source == "gpmf"
    assert len(r.points) > 150  # ~18 Hz over 10.5 s
    assert all(33.12 < p.lat < 33.14 and -117.34 < p.lon < -117.32 for p in r.points)
    assert r.points[0].time.year == 2019 and r.points[0].fix == 3
    ts = [p.t for p in r.points]
    assert ts == sorted(ts) and ts[-1] is not None and 9 < ts[-1] < 11.5
    _validates(r.points)


def _check_karma(r: GpsExtraction) -> None:
    assert r.source == "gpmf"
    assert len(r.points) == 47  # what exiftool -ee decodes (GPRI, GPS RAW)
    first, last = r.points[0], r.points[-1]
    assert first.time == datetime(2017, 4, 17, 19, 27, 57, 366493, tzinfo=UTC)
    assert (first.lat, first.lon) == (33.125368, -117.3310641)
    assert first.altitude_m == 15.45 and first.fix == 3
    assert last.time - first.time == timedelta(microseconds=11_705_777)
    assert all(33.12 < p.lat < 33.13 and -117.34 < p.lon < -117.33 for p in r.points)
    assert [p.time for p in r.points] == sorted(p.time for p in r.points)
    _validates(r.points)


def test_gopro_karma_gpri_from_the_trimmed_sample() -> None:
    # karma.mp4 cut down to its gpmd track by workers_fixtures/gopro/trim_gpmf.py
    _check_karma(extract_gps(FIX / "gopro" / "karma_gpmd.mp4"))


def test_gopro_karma_gpri_from_the_original_file() -> None:
    _check_karma(extract_gps(_gopro("karma.mp4")))


# ---------------------------------------------------------------------------------- none


def test_plain_clip_has_no_gps(tmp_path: Path) -> None:
    video = make_clip(tmp_path / "GRMN0042.MP4", seconds=1)
    r = extract_gps(video, sidecars=find_sidecars(video), event_json=find_event_json(video))
    assert r.source == "none" and r.points == []
    assert r.notes[-2] == "GRMN0042.MP4: no GPS in the file"
    assert r.notes[-1].startswith(
        "no GPS found; looked for sidecars GRMN0042.gps, GRMN0042.GPS, GRMN0042.nmea"
    )
    assert "GPS boxes/tracks inside GRMN0042.MP4" in r.notes[-1]
    _validates(r.points)


def test_not_an_mp4_is_no_gps(tmp_path: Path) -> None:
    bogus = tmp_path / "x.mp4"
    bogus.write_text("hello, not a video")
    r = extract_gps(bogus)
    assert r.source == "none"
    assert any("not an MP4" in n for n in r.notes)


def test_parse_tz() -> None:
    assert parse_tz(None) is None
    assert parse_tz("UTC") == UTC
    assert parse_tz("+05:30") == timezone(timedelta(hours=5, minutes=30))
    assert parse_tz("-0800") == timezone(timedelta(hours=-8))
    assert parse_tz("Asia/Kolkata") is not None
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_tz("Mars/Olympus")
