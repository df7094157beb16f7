"""GPS beside the clip, matched by time (per-day .dat, GPX, NMEA logs), outliers, GoPro GPMF
decoding of any bytes, and the clip start's basis in the preprocess result."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("cv2", reason="the workers extra (opencv-python-headless) is not installed")

from schemas.metadata import GpsPoint, GpsTrackFile
from spoold.dashcam import parse_name
from spoold.demo.route import route_position
from spoold.demo.samples import make_clip
from spoold.workers._contract import WorkerEnv
from spoold.workers.gps import (
    clip_days,
    drop_outliers,
    extract_gps,
    find_logs,
    parse_daylog,
    parse_gpx,
    parse_tz,
)
from spoold.workers.gps_gpmf import GpmfError, gpmf_payloads, parse_klv, payload_points
from spoold.workers.gps_logs import GpsLogError, LogSearch, read_logs
from spoold.workers.gps_track import ClipClock, GpsExtraction, distance_m
from spoold.workers.nmea import nmea_sentence, to_nmea_coord
from spoold.workers.preprocess import Options, run

FIX = Path(__file__).parent / "workers_fixtures"
UTC = timezone.utc
MELBOURNE = "Australia/Melbourne"  # +11:00 in January (daylight saving)
ROUTE_START = datetime(2024, 1, 12, 18, 10, 0)  # camera clock: the log starts here
CLIP = "DCIM/100video/20240112181119_30.MP4"  # HiSilicon: starts 18:11:19, 30 s long


def _ddmm(value: float, is_lat: bool) -> str:
    """Decimal degrees → the .dat form: ``ddmm.mmmmm,H`` (5 decimals of minutes)."""
    hemi = ("N" if value >= 0 else "S") if is_lat else ("E" if value >= 0 else "W")
    deg = int(abs(value))
    minutes = (abs(value) - deg) * 60
    return f"{deg:0{2 if is_lat else 3}d}{minutes:08.5f},{hemi}"


def _dat_line(when: datetime, lat: float, lon: float, knots: float, course: float) -> str:
    return f"{when:%Y%m%d%H%M%S},{_ddmm(lat, True)},{_ddmm(lon, False)},{knots:.3f},{course:.1f}"


def _route_dat(seconds: int, *, jump_at: int | None = None) -> str:
    """A per-day log of :data:`ROUTE` from :data:`ROUTE_START`, 1 Hz, in the real layout: a
    ``#`` line at the camera start, then one fix a line (speed in knots); ``jump_at`` puts
    one fix 50 km away, as a glitching receiver does."""
    lines = ["#"]
    for i in range(seconds):
        lat, lon, hdg = route_position(float(i))
        if i == jump_at:
            lat += 0.45
        lines.append(_dat_line(ROUTE_START + timedelta(seconds=i), lat, lon, 19.438, hdg))
    return "\r\n".join(lines) + "\r\n"


def _hisilicon_card(tmp_path: Path, dat: str) -> Path:
    """An SD card copied to the NAS: DCIM/100video/<clip>, thumbnails, gps/20240112.dat."""
    card = tmp_path / "nas" / "kaiser"
    video = make_clip(card / CLIP, seconds=30)
    (card / "DCIM" / "103thumb").mkdir(parents=True)
    (card / "DCIM" / "103thumb" / "20240112181119.JPG").write_bytes(b"\xff\xd8\xff")
    (card / "gps").mkdir()
    (card / "gps" / "20240112.dat").write_text(dat)
    return video


def _preprocess(nas: Path, server: Path, path: str, **opts: object) -> dict[str, object]:
    task = {
        "task_id": "20240112T071119Z-preprocess-v1",
        "task_type": "preprocess",
        "video_id": "v1",
        "device_class": "jetson",
        "inputs": [{"device": "nas", "path": path, "type": "video"}],
        "params": {},
        "created_at": "2024-01-12T07:20:00Z",
    }
    env = WorkerEnv.load(
        environ={"SPOOLD_ROOTS": json.dumps({"nas": str(nas), "server": str(server)})},
        stdin_text=json.dumps(task),
    )
    res = run(env, Options(keyframes=False, **opts))  # type: ignore[arg-type]
    assert res.result is not None
    return res.result


def _near_route(p: GpsPoint, tz: str) -> float:
    """Metres between ``p`` and where the route was at ``p``'s time (camera clock)."""
    zone = parse_tz(tz)
    local = p.time.astimezone(zone).replace(tzinfo=None)
    lat, lon, _ = route_position((local - ROUTE_START).total_seconds())
    return distance_m(p, GpsPoint(time=p.time, lat=lat, lon=lon))


# ------------------------------------------------------------------------ per-day logs


def test_a_camera_with_gps_only_in_a_per_day_log_gets_its_track(tmp_path: Path) -> None:
    nas = tmp_path / "nas"
    _hisilicon_card(tmp_path, _route_dat(300, jump_at=95))  # 18:11:35 is in the clip
    server = tmp_path / "server"
    server.mkdir()
    res = _preprocess(nas, server, f"kaiser/{CLIP}", camera_tz=MELBOURNE)
    assert res["gps_source"] == "daylog" and res["gps_file"] == "20240112.dat"
    assert res["brand"] == "hisilicon"
    track = GpsTrackFile.model_validate_json((server / "meta/v1/preprocess/gps.json").read_text())
    # the clip's window only: 18:11:19 .. 18:11:49 on the camera clock, one fix dropped
    assert len(track.points) == 30
    assert track.points[0].time == datetime(2024, 1, 12, 7, 11, 19, tzinfo=UTC)
    assert track.points[-1].time == datetime(2024, 1, 12, 7, 11, 49, tzinfo=UTC)
    assert [p.t for p in track.points[:3]] == [0.0, 1.0, 2.0]
    assert max(_near_route(p, MELBOURNE) for p in track.points) < 30.0
    assert track.points[0].speed_kmh == pytest.approx(36.0, abs=0.01)  # 19.438 kn
    assert res["gps_stats"]["outliers"] == {"speed": 0, "jump": 1}  # type: ignore[index]
    assert any("dropped 1 outlier" in n for n in res["gps_notes"])  # type: ignore[union-attr]
    # the log writes the camera clock: the start is the name's, in the camera's zone
    assert res["start_basis"] == "name"
    assert res["start_utc"] == "2024-01-12T07:11:19+00:00"


def test_per_day_log_parser_reads_the_real_layout() -> None:
    text = (FIX / "hisilicon" / "gps" / "20240112.dat").read_text()
    log = parse_daylog(text)
    assert (log.starts, log.bad_lines, len(log.fixes)) == (2, 1, 8)
    first = log.fixes[0]
    assert first.time == datetime(2024, 1, 12, 18, 0, 0)  # naive: the camera's clock
    assert first.lat == pytest.approx(-(36 + 12.42986 / 60))
    assert first.lon == pytest.approx(144 + 52.10341 / 60)
    assert first.speed_kmh == pytest.approx(28.709 * 1.852)
    assert first.heading == pytest.approx(117.4)


def test_a_log_of_another_time_gives_no_gps_and_says_where_it_looked(tmp_path: Path) -> None:
    video = _hisilicon_card(tmp_path, _route_dat(60))  # 18:10:00-18:10:59: before the clip
    info = parse_name(CLIP)
    assert info is not None and info.start_local is not None
    logs = find_logs(video, days=clip_days(info.start_local, 30), root=tmp_path / "nas")
    r = extract_gps(video, start_local=info.start_local, tz=parse_tz(MELBOURNE), logs=logs)
    assert r.source == "none"
    assert any(
        n.startswith("20240112.dat: 60 fixes, none in the clip's 2024-01-12 18:11:19+")
        for n in r.notes
    )
    looked = r.notes[-1]
    assert looked.startswith("no GPS found; looked for sidecars 20240112181119_30.gps")
    assert "per-day logs 20240112.dat and *.gpx/*.nmea/*.log in " in looked
    assert looked.endswith(
        " in kaiser/DCIM/100video/, kaiser/DCIM/, kaiser/, kaiser/gps/"
    )  # the clip's folder and two above, with their gps/ folders, from the storage root


def test_logs_outside_the_storage_root_are_not_searched(tmp_path: Path) -> None:
    video = _hisilicon_card(tmp_path, _route_dat(300))
    logs = find_logs(
        video, days=clip_days(datetime(2024, 1, 12, 18, 11, 19), 30), root=video.parent
    )
    assert logs.files == []  # gps/ is two levels up, above the root
    assert logs.looked.endswith("*.gpx/*.nmea/*.log in ./ (the storage root)")  # not above it


def test_a_clip_crossing_midnight_reads_both_days() -> None:
    assert [d.isoformat() for d in clip_days(datetime(2024, 1, 12, 23, 59, 30), 60)] == [
        "2024-01-12",
        "2024-01-13",
    ]


# ------------------------------------------------------------------------ GPX and NMEA logs


def _gpx(start_utc: datetime, seconds: int) -> str:
    pts = []
    for i in range(seconds):
        lat, lon, _ = route_position(float(i))
        when = (start_utc + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        pts.append(
            f'<trkpt lat="{lat:.7f}" lon="{lon:.7f}"><ele>920.5</ele><time>{when}</time></trkpt>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="phone" xmlns="http://www.topografix.com/GPX/1/1">'
        f"<trk><trkseg>{''.join(pts)}</trkseg></trk></gpx>"
    )


def test_a_gpx_log_beside_the_clip_is_matched_by_time(tmp_path: Path) -> None:
    video = make_clip(tmp_path / "cam" / "2024_0112_181119_0001F.MP4", seconds=2)
    # the phone's track started at 07:10:00 UTC = 18:10:00 in Melbourne
    (tmp_path / "cam" / "phone-track.gpx").write_text(
        _gpx(datetime(2024, 1, 12, 7, 10, tzinfo=UTC), 300)
    )
    start = datetime(2024, 1, 12, 18, 11, 19)
    logs = find_logs(video, days=clip_days(start, 20), root=tmp_path)
    r = extract_gps(video, start_local=start, tz=parse_tz(MELBOURNE), duration_s=20, logs=logs)
    assert r.source == "gpx" and r.file == "phone-track.gpx"
    assert len(r.points) == 21 and r.points[0].t == 0.0 and r.points[-1].t == 20.0
    assert r.points[0].altitude_m == 920.5
    assert max(_near_route(p, MELBOURNE) for p in r.points) < 30.0
    assert r.gps_start() == datetime(2024, 1, 12, 7, 11, 19, tzinfo=UTC)


def test_an_nmea_log_in_a_gps_folder_gives_only_the_clip_window(tmp_path: Path) -> None:
    video = make_clip(tmp_path / "cam" / "DCIM" / "MOVIE" / "20240112_181119_F.MP4", seconds=2)
    lines = []
    for i in range(0, 600, 2):
        lat, lon, hdg = route_position(float(i))
        when = datetime(2024, 1, 12, 7, 10, tzinfo=UTC) + timedelta(seconds=i)
        lines.append(
            nmea_sentence(
                f"GPRMC,{when:%H%M%S}.00,A,{to_nmea_coord(lat, True)},"
                f"{to_nmea_coord(lon, False)},19.4,{hdg:.1f},{when:%d%m%y},,,A"
            )
        )
    (tmp_path / "cam" / "GPS").mkdir()
    (tmp_path / "cam" / "GPS" / "trip.log").write_text("\n".join(lines))
    start = datetime(2024, 1, 12, 18, 11, 19)
    logs = find_logs(video, days=clip_days(start, 30), root=tmp_path)
    r = extract_gps(video, start_local=start, tz=parse_tz(MELBOURNE), duration_s=30, logs=logs)
    assert r.source == "nmea-log"
    assert len(r.points) == 15  # even seconds 07:11:20 .. 07:11:48
    assert r.points[0].t == 1.0 and r.points[-1].t == 29.0
    assert max(_near_route(p, MELBOURNE) for p in r.points) < 30.0


def test_gpx_times_with_fractions_and_offsets_and_bad_points() -> None:
    text = (
        '<gpx version="1.0"><wpt lat="-36.2" lon="144.8">'
        "<time>2024-01-12T18:11:19.5+11:00</time><speed>10</speed></wpt>"
        '<trkpt lat="north" lon="144.8"><time>2024-01-12T07:11:20Z</time></trkpt>'
        '<trkpt lat="-36.2" lon="144.8"><time>yesterday</time></trkpt></gpx>'
    )
    [fix] = parse_gpx(text)
    assert fix.time == datetime(2024, 1, 12, 7, 11, 19, 500000, tzinfo=UTC)
    assert fix.speed_kmh == 36.0
    with pytest.raises(GpsLogError, match="not <gpx>"):
        parse_gpx("<kml/>")
    with pytest.raises(GpsLogError, match="DTD"):
        parse_gpx('<!DOCTYPE gpx [<!ENTITY a "aaaa">]><gpx>&a;</gpx>')


# ------------------------------------------------------------------------ outliers


def test_the_70mai_record_at_33594_kmh_is_dropped_and_counted() -> None:
    name = "EV20191130-121256-000132.MP4"
    info = parse_name(name)
    assert info is not None
    r = extract_gps(
        FIX / "70mai" / name, start_local=info.start_local, tz=parse_tz("Europe/Warsaw")
    )
    assert r.source == "70mai"
    assert all(p.speed_kmh is None or p.speed_kmh < 300 for p in r.points)
    assert r.stats["outliers"] == {"speed": 1, "jump": 0}
    assert "dropped 1 outlier fix(es): 1 with a speed over 300 km/h" in r.notes[-1]


def _pt(sec: int, lat: float, lon: float = 13.4) -> GpsPoint:
    return GpsPoint(
        time=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=sec), lat=lat, lon=lon
    )


def test_a_wrong_first_fix_does_not_condemn_the_track() -> None:
    pts = [_pt(0, 10.0)] + [_pt(i, 52.5 + i * 1e-4) for i in range(1, 6)]
    kept, counts = drop_outliers(pts)
    assert kept == pts[1:] and counts == {"speed": 0, "jump": 1}


def test_a_jump_and_back_drops_only_the_jump() -> None:
    pts = [_pt(i, 52.5 + i * 1e-4) for i in range(5)]
    pts[2] = _pt(2, 53.5)
    kept, counts = drop_outliers(pts)
    assert kept == [pts[0], pts[1], pts[3], pts[4]] and counts["jump"] == 1


# ------------------------------------------------------------------------ any input


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_daylog_parser_takes_any_text(text: str) -> None:
    log = parse_daylog(text)
    assert log.bad_lines >= 0 and all(-90 <= f.lat <= 90 for f in log.fixes)


_DAT_PIECES = st.lists(
    st.sampled_from(
        [
            "#",
            "20240112180000",
            ",",
            "3612.42986",
            "S",
            "14452.10341",
            "E",
            "28.7",
            "117.4",
            "9999.9",
            "-1",
            "\n",
            "99999999999999",
            "nan",
            "1e308",
        ]
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(_DAT_PIECES)
def test_daylog_parser_takes_any_near_miss(pieces: list[str]) -> None:
    for f in parse_daylog("".join(pieces)).fixes:
        assert -90 <= f.lat <= 90 and -180 <= f.lon <= 180


_GPX_PIECES = st.lists(
    st.sampled_from(
        [
            '<gpx xmlns="http://www.topografix.com/GPX/1/1">',
            "</gpx>",
            "<trkpt ",
            'lat="52.5" ',
            'lon="nan" ',
            'lon="13.4"',
            ">",
            "</trkpt>",
            "<time>",
            "2024-01-12T07:11:19Z",
            "9999-99-99",
            "</time>",
            "<ele>x</ele>",
            "<speed>1e999</speed>",
            "<!DOCTYPE x>",
            "&amp;",
        ]
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), _GPX_PIECES.map("".join)))
def test_gpx_parser_gives_fixes_or_a_clear_error(text: str) -> None:
    try:
        fixes = parse_gpx(text)
    except GpsLogError:
        return
    assert all(f.time.tzinfo is not None for f in fixes)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=2000), st.sampled_from(["20240112.dat", "trip.log", "t.nmea", "x.gpx"]))
def test_log_matching_takes_any_bytes(tmp_path: Path, data: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    out = GpsExtraction()
    clock = ClipClock(start_local=datetime(2024, 1, 12, 18, 11, 19), tz=parse_tz(MELBOURNE))
    found = read_logs(out, LogSearch([path], "here"), clock, 30.0)
    assert found == bool(out.points)
    GpsTrackFile(video_id="v", source=out.source, points=out.points)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_gpmf_payload_decoder_gives_fixes_or_a_clear_error(data: bytes) -> None:
    try:
        points = payload_points(data)
    except GpmfError:
        return
    GpsTrackFile(video_id="v", source="gpmf", points=points)


def test_gpmf_real_payload_klv_tree() -> None:
    data = (FIX / "gopro" / "karma_gpmd.mp4").read_bytes()
    moov = data.index(b"moov")
    samples = gpmf_payloads(data[moov + 4 :])
    assert len(samples) == 13 and samples[0][2:] == (0.0, 1.001)
    offset, size, _, _ = samples[0]
    items = parse_klv(data[offset : offset + size])
    assert [i.key for i in items] == ["DEVC", "DEVC"]  # the camera, then the Karma drone
    assert [c.key for c in items[1].children[:2]] == ["DVID", "DVNM"]
    assert len(payload_points(data[offset : offset + size])) == 4  # GPRI at 4 Hz
