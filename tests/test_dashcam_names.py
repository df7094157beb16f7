"""Dashcam file names: what each family's convention tells us, the generic time rule,
operator-defined families, and which names we never touch."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spoold.dashcam import (
    CONVENTIONS,
    DEFAULT_VIDEO_PATTERNS,
    FAMILIES,
    GENERIC_RULE,
    Channel,
    Family,
    FamilyError,
    Mode,
    NameInfo,
    families_from_data,
    is_ignored_name,
    is_video_name,
    parse_name,
    recognise,
    render_name,
    select_families,
)
from spoold.demo.samples import brand_names

FIXTURES = Path(__file__).parent / "fixtures" / "dashcam_names"
REAL_NAMES: list[dict[str, Any]] = json.loads((FIXTURES / "real_names.json").read_text())


def parsed(relpath: str) -> NameInfo:
    info = parse_name(relpath)
    assert info is not None, f"{relpath} should match a convention"
    return info


# ---------------------------------------------------------------- Viofo


class TestViofo:
    def test_multichannel_front_normal(self) -> None:
        info = parsed("DCIM/Movie/2026_0513_172152_000120F.MP4")
        assert info == NameInfo(
            brand="viofo",
            start_local=datetime(2026, 5, 13, 17, 21, 52),
            channel="front",
            mode="normal",
            sequence=120,
            locked=False,
            camera="F",
            rule="viofo",
        )

    @pytest.mark.parametrize(
        ("letter", "channel"),
        [("F", "front"), ("R", "rear"), ("T", "telephoto"), ("I", "interior")],
    )
    def test_channel_letters(self, letter: str, channel: str) -> None:
        assert parsed(f"2026_0513_172152_000120{letter}.MP4").channel == channel

    def test_parking_letter(self) -> None:
        info = parsed("DCIM/Movie/2026_0513_172152_000122PF.MP4")
        assert (info.mode, info.channel, info.sequence) == ("parking", "front", 122)

    def test_event_letter(self) -> None:
        info = parsed("DCIM/Movie/2026_0513_172152_000123ER.MP4")
        assert (info.mode, info.channel) == ("event", "rear")

    def test_ro_folder_means_event_and_locked(self) -> None:
        info = parsed("DCIM/Movie/RO/2026_0513_172152_000124F.MP4")
        assert (info.mode, info.locked) == ("event", True)

    def test_parking_in_path(self) -> None:
        info = parsed("DCIM/Movie/Parking/2026_0513_172152_000125R.MP4")
        assert (info.mode, info.channel, info.locked) == ("parking", "rear", False)

    def test_name_letter_wins_over_folder(self) -> None:
        info = parsed("DCIM/Movie/RO/2026_0513_172152_000126PF.MP4")
        assert (info.mode, info.locked) == ("parking", True)

    def test_older_three_digit_sequence_without_channel_is_plain_novatek(self) -> None:
        # Single-channel Novatek names do not say which brand wrote them (Viofo A119, Street
        # Guardian, Rove, Yi ... all write these).
        info = parsed("DCIM/MOVIE/2019_0101_120000_001.MOV")
        assert (info.brand, info.rule) == ("novatek", "novatek")
        assert info.start_local == datetime(2019, 1, 1, 12, 0, 0)
        assert (info.sequence, info.channel, info.mode) == (1, "unknown", "normal")

    def test_lowercase_copy_still_parses(self) -> None:
        assert parsed("2026_0513_172152_000120f.mp4").channel == "front"


# ---------------------------------------------------------------- BlackVue


class TestBlackVue:
    def test_normal_front(self) -> None:
        info = parsed("Record/20190101_120000_NF.mp4")
        assert info == NameInfo(
            brand="blackvue",
            start_local=datetime(2019, 1, 1, 12, 0, 0),
            channel="front",
            mode="normal",
            sequence=None,
            locked=False,
            camera="F",
            rule="blackvue",
        )

    @pytest.mark.parametrize(
        ("letter", "mode"),
        [
            ("N", "normal"),
            ("M", "manual"),
            ("P", "parking"),
            # every triggered recording is an event
            ("E", "event"),  # impact
            ("I", "event"),  # parking impact
            ("O", "event"),  # overspeed
            ("A", "event"),  # hard acceleration
            ("T", "event"),  # hard cornering
            ("B", "event"),  # hard braking
            ("R", "event"),  # geofence enter
            ("X", "event"),  # geofence exit
            ("G", "event"),  # geofence pass
            ("D", "event"),  # drowsiness
            ("L", "event"),  # distraction
            ("Y", "event"),  # no seatbelt
            ("F", "event"),  # driver undetected
        ],
    )
    def test_type_letters(self, letter: str, mode: str) -> None:
        assert parsed(f"20190101_120000_{letter}R.mp4").mode == mode

    @pytest.mark.parametrize(
        ("letter", "channel"),
        [("F", "front"), ("R", "rear"), ("I", "interior"), ("O", "other")],
    )
    def test_direction_letters(self, letter: str, channel: str) -> None:
        assert parsed(f"20190101_120000_N{letter}.mp4").channel == channel

    @pytest.mark.parametrize("flag", ["L", "S"])
    def test_live_and_substream_suffix(self, flag: str) -> None:
        info = parsed(f"20190101_120000_EF{flag}.mp4")
        assert (info.brand, info.mode, info.channel) == ("blackvue", "event", "front")

    @pytest.mark.parametrize(
        "sidecar", ["20190101_120000_NF.thm", "20190101_120000_N.gps", "20190101_120000_N.3gf"]
    )
    def test_sidecars_are_not_videos(self, sidecar: str) -> None:
        assert parse_name(sidecar) is None


# ---------------------------------------------------------------- Nextbase


class TestNextbase:
    def test_front_high_quality(self) -> None:
        info = parsed("DCIM/Video/240915_143027_001_FH.MP4")
        assert info == NameInfo(
            brand="nextbase",
            start_local=datetime(2024, 9, 15, 14, 30, 27),
            channel="front",
            mode="normal",
            sequence=1,
            locked=False,
            camera="F",
            rule="nextbase",
        )

    def test_rear_low_quality(self) -> None:
        info = parsed("240915_143027_002_RL.MP4")
        assert (info.channel, info.sequence) == ("rear", 2)

    def test_protected_folder(self) -> None:
        info = parsed("DCIM/Protected/240915_143027_003_FH.MP4")
        assert (info.mode, info.locked) == ("event", True)

    def test_parking_folder(self) -> None:
        assert parsed("DCIM/Parking/240915_143027_004_FH.MP4").mode == "parking"


# ---------------------------------------------------------------- 70mai


class Test70mai:
    def test_normal(self) -> None:
        info = parsed("Normal/Front/NO20191130-120156-000121.MP4")
        assert info == NameInfo(
            brand="70mai",
            start_local=datetime(2019, 11, 30, 12, 1, 56),
            channel="front",
            mode="normal",
            sequence=121,
            locked=False,
            camera="Front",
            rule="70mai",
        )

    @pytest.mark.parametrize(
        ("prefix", "mode"), [("NO", "normal"), ("EV", "event"), ("PA", "parking")]
    )
    def test_prefixes(self, prefix: str, mode: str) -> None:
        assert parsed(f"{prefix}20191130-121256-000132.MP4").mode == mode

    def test_back_folder_is_rear(self) -> None:
        info = parsed("Event/Back/EV20191130-121256-000132.MP4")
        assert (info.mode, info.channel) == ("event", "rear")

    def test_no_folder_no_channel(self) -> None:
        assert parsed("PA20191130-121756-000137.MP4").channel == "unknown"

    def test_s_variant(self) -> None:
        info = parsed("Normal/Front/NO20191130-120156-000121_s.MP4")
        assert (info.brand, info.sequence, info.channel) == ("70mai", 121, "front")

    def test_channel_letter_variant(self) -> None:
        assert parsed("NO20230512-142235-001234B.MP4").channel == "rear"


# ---------------------------------------------------------------- Thinkware


class TestThinkware:
    @pytest.mark.parametrize(
        ("folder", "mode"),
        [
            ("cont_rec", "normal"),
            ("evt_rec", "event"),
            ("manual_rec", "manual"),
            ("parking_rec", "parking"),
            ("motion_timelapse_rec", "parking"),
            ("sos_rec", "event"),
        ],
    )
    def test_mode_from_folder(self, folder: str, mode: str) -> None:
        info = parsed(f"{folder}/REC_20240915_143027_F.MP4")
        assert (info.brand, info.mode, info.channel) == ("thinkware", mode, "front")
        assert info.start_local == datetime(2024, 9, 15, 14, 30, 27)

    def test_rear(self) -> None:
        assert parsed("cont_rec/REC_20240915_143027_R.MP4").channel == "rear"

    def test_without_folder_mode_is_unknown(self) -> None:
        assert parsed("REC_20240915_143027_F.MP4").mode == "unknown"

    def test_underscored_date_variant(self) -> None:
        info = parsed("evt_rec/REC_2024_09_15_14_30_27_R.MP4")
        assert (info.start_local, info.mode) == (datetime(2024, 9, 15, 14, 30, 27), "event")

    def test_windows_separators(self) -> None:
        assert parsed("evt_rec\\REC_20240915_143027_F.MP4").mode == "event"


# ---------------------------------------------------------------- Tesla


class TestTesla:
    @pytest.mark.parametrize(
        ("camera", "channel"),
        [
            ("front", "front"),
            ("back", "rear"),
            ("left_repeater", "left"),
            ("right_repeater", "right"),
            ("left_pillar", "left"),
            ("right_pillar", "right"),
            ("roof", "other"),  # a camera a later firmware may add
        ],
    )
    def test_cameras(self, camera: str, channel: str) -> None:
        info = parsed(f"TeslaCam/RecentClips/2024-09-15_14-25-00-{camera}.mp4")
        assert (info.brand, info.channel, info.camera) == ("tesla", channel, camera)
        assert info.start_local == datetime(2024, 9, 15, 14, 25, 0)

    @pytest.mark.parametrize(
        ("folder", "mode", "locked"),
        [
            ("RecentClips", "normal", False),
            ("RecentClips/2024-09-15", "normal", False),
            ("SavedClips/2024-09-15_14-35-12", "manual", True),
            ("SentryClips/2024-09-15_14-35-12", "event", True),
        ],
    )
    def test_folders(self, folder: str, mode: str, locked: bool) -> None:
        info = parsed(f"TeslaCam/{folder}/2024-09-15_14-25-00-front.mp4")
        assert (info.mode, info.locked) == (mode, locked)

    def test_event_json_is_not_a_clip(self) -> None:
        assert parse_name("TeslaCam/SentryClips/2024-09-15_14-35-12/event.json") is None


# ---------------------------------------------------------------- fallback


@pytest.mark.parametrize(
    "relpath",
    [
        "GRMN0128.MP4",  # Garmin: no time in the name
        "GH010123.MP4",  # GoPro
        "holiday.mp4",
        "2026_1345_172152_000120F.MP4",  # digits that are not a date
        "20191301_120000_NF.mp4",  # month 13
        "2026_0513_172152_000120F.jpg",
        "",
        "DCIM/Movie/",
    ],
)
def test_unknown_names_return_none(relpath: str) -> None:
    assert parse_name(relpath) is None


def test_every_brand_sample_name_parses_to_its_brand() -> None:
    names = brand_names()
    assert set(names) <= {c.brand for c in CONVENTIONS}
    for brand, relpath in names.items():
        assert parsed(relpath).brand == brand


# ---------------------------------------------------------------- ignored / video names


@pytest.mark.parametrize(
    "name",
    [
        ".hidden.mp4",
        ".2026_0513_172152_000120F.MP4.a8Xk2Q",  # rsync temp
        ".syncthing.2026_0513_172152_000120F.MP4.tmp",
        "~syncthing~2026_0513_172152_000120F.MP4.tmp",  # Syncthing on Windows
        "2026_0513_172152_000120F.MP4.!sync",  # Resilio
        "clip.mp4.part",
        "clip.MP4.PART",
        "clip.mp4.tmp",
        "clip.mp4.crdownload",
        "clip.mp4.filepart",
        "clip.mp4~",
        ".DS_Store",
        "Thumbs.db",
        "thumbs.db",
        "desktop.ini",
        "._2026_0513_172152_000120F.MP4",  # macOS AppleDouble
        "DCIM/Movie/.2026_0513_172152_000120F.MP4.x1Y2z3",  # a path works too
        "",
    ],
)
def test_ignored_names(name: str) -> None:
    assert is_ignored_name(name)


@pytest.mark.parametrize(
    "name",
    ["2026_0513_172152_000120F.MP4", "Record/20190101_120000_NF.mp4", "notes.txt", "a.partial.mp4"],
)
def test_regular_names_are_not_ignored(name: str) -> None:
    assert not is_ignored_name(name)


@pytest.mark.parametrize(
    "name",
    ["a.mp4", "A.MP4", "a.Mp4", "a.mov", "a.MOV", "a.ts", "a.TS", "a.avi", "a.AVI", "x/y/a.mp4"],
)
def test_video_names_by_default_patterns(name: str) -> None:
    assert is_video_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "a.mp4.part",
        ".a.mp4",
        "._a.MP4",
        "a.mp4~",
        "a.jpg",
        "a.gps",
        "a.thm",
        "a.mp4.tmp",
        "mp4",
        "",
    ],
)
def test_not_video_names(name: str) -> None:
    assert not is_video_name(name)


def test_video_patterns_are_configurable_and_case_insensitive() -> None:
    assert is_video_name("clip.MKV", ["*.mkv"])
    assert not is_video_name("clip.mp4", ["*.mkv"])
    assert is_video_name("front.h265", ("front.*",))
    assert "*.mp4" in DEFAULT_VIDEO_PATTERNS


# ---------------------------------------------------------------- real names, per family


@pytest.mark.parametrize("row", REAL_NAMES, ids=[r["path"] for r in REAL_NAMES])
def test_real_name(row: dict[str, Any]) -> None:
    # A name without a time of day (Cobra) is recognised, not parsed: "start" is null.  A
    # Novatek clone's names are read as its brand by an inbox configured to it ("families").
    families = select_families(row["families"]) if "families" in row else None
    info = recognise(row["path"], families)
    assert info is not None
    assert (info.brand, info.rule) == (row["family"], row["family"])
    want = None if row["start"] is None else datetime.fromisoformat(row["start"])
    assert info.start_local == want
    assert (info.channel, info.mode, info.locked) == (row["channel"], row["mode"], row["locked"])


def test_real_names_cover_eight_families_each_with_a_source() -> None:
    assert len({r["family"] for r in REAL_NAMES}) >= 8
    assert all(
        r["sources"] and all(s.startswith("https://") for s in r["sources"]) for r in REAL_NAMES
    )
    readme = (FIXTURES / "README.md").read_text()
    for source in {s for r in REAL_NAMES for s in r["sources"]}:
        assert source in readme, f"{source} is not cited in the fixture README"


def test_hisilicon_name_carries_the_clip_length() -> None:
    assert parsed("DCIM/100video/20240112181119_180.MP4").duration_s == 180


# ---------------------------------------------------------------- families without real names


@pytest.mark.parametrize(
    ("relpath", "family", "start", "channel", "mode", "locked"),
    [
        # Thinkware: mode from the folder (names from the pattern; folders from the manuals)
        (
            "evt_rec/REC_20240915_143027_R.MP4",
            "thinkware",
            "2024-09-15T14:30:27",
            "rear",
            "event",
            False,
        ),
        (
            "motion_rec/REC_20240915_143027_F.MP4",
            "thinkware",
            "2024-09-15T14:30:27",
            "front",
            "parking",
            False,
        ),
        # HiSilicon DTCF: "_b" folders hold the back camera, EMR the events
        (
            "Movie/2024_09_15_143027_07.TS",
            "hisilicon-dtcf",
            "2024-09-15T14:30:27",
            "front",
            "normal",
            False,
        ),
        (
            "EMR_b/2024_09_15_143027_08.TS",
            "hisilicon-dtcf",
            "2024-09-15T14:30:27",
            "rear",
            "event",
            True,
        ),
        (
            "Park_b_s/2024_09_15_143027_09.MP4",
            "hisilicon-dtcf",
            "2024-09-15T14:30:27",
            "rear",
            "parking",
            False,
        ),
        # DDPai: 4-digit clip length, channel from the folder
        (
            "DCIM/200video/rear/20260307103136_0060.mp4",
            "ddpai",
            "2026-03-07T10:31:36",
            "rear",
            "unknown",
            False,
        ),
        # Mio MiVue: two-digit year, F/R letter
        ("Event/FILE260819-071804R.mp4", "mio", "2026-08-19T07:18:04", "rear", "event", True),
        ("F/FILE260819-071804.mp4", "mio", "2026-08-19T07:18:04", "front", "unknown", False),
        # Novatek names in a Yi's EMR folder: an event, whatever the brand
        (
            "EMR/2017_0612_081802_001.MP4",
            "novatek",
            "2017-06-12T08:18:02",
            "unknown",
            "event",
            True,
        ),
    ],
)
def test_generated_name(
    relpath: str, family: str, start: str, channel: str, mode: str, locked: bool
) -> None:
    info = parsed(relpath)
    assert (info.brand, info.rule) == (family, family)
    assert info.start_local == datetime.fromisoformat(start)
    assert (info.channel, info.mode, info.locked) == (channel, mode, locked)


def test_ddpai_and_hisilicon_lengths_do_not_collide() -> None:
    assert parsed("20260307103136_0060.mp4").brand == "ddpai"
    assert parsed("20260307103136_60.mp4").brand == "hisilicon"


class TestGarmin:
    def test_name_without_time_is_recognised_but_not_parsed(self) -> None:
        info = recognise("DCIM/100EVNT/GRMN0128.MP4")
        assert info is not None
        assert (info.brand, info.start_local, info.sequence) == ("garmin", None, 128)
        assert (info.mode, info.locked) == ("event", True)
        assert parse_name("DCIM/100EVNT/GRMN0128.MP4") is None

    @pytest.mark.parametrize(
        ("folder", "mode", "locked"),
        [("102SAVED", "manual", True), ("103UNSVD", "normal", False), ("DCIM", "unknown", False)],
    )
    def test_folders(self, folder: str, mode: str, locked: bool) -> None:
        info = recognise(f"{folder}/GRMN0001.MP4")
        assert info is not None and (info.mode, info.locked) == (mode, locked)


class TestRedtiger:
    def test_rear_camera_and_locked_folder(self) -> None:
        info = parsed("DCIM/LOCK/20260312191047_000505B.MP4")
        assert (info.brand, info.channel, info.camera) == ("redtiger", "rear", "B")
        assert (info.mode, info.locked, info.sequence) == ("event", True, 505)
        assert info.start_local == datetime(2026, 3, 12, 19, 10, 47)

    def test_not_taken_for_the_other_start_and_number_families(self) -> None:
        assert parsed("20260312190947_000504A.MP4").brand == "redtiger"
        assert parsed("20260312190947_0504.MP4").brand == "ddpai"
        assert parsed("20260312190947_504.MP4").brand == "hisilicon"
        assert parsed("20260312190947_000504.MP4").rule == GENERIC_RULE


class TestTranscend:
    def test_older_drivepro_names_and_folders(self) -> None:
        info = parsed("DCIM/EVENT/TS20140301123000.MOV")
        assert (info.brand, info.mode, info.locked) == ("transcend", "event", True)
        assert info.start_local == datetime(2014, 3, 1, 12, 30)
        assert parsed("N-Video/TS20140301123100.MOV").mode == "normal"


class TestCobra:
    def test_name_without_time_is_recognised_but_not_parsed(self) -> None:
        info = recognise("DCIM/20260414_0002_CAM2_VID.MOV")
        assert info is not None
        assert (info.brand, info.start_local, info.sequence) == ("cobra", None, 2)
        assert (info.channel, info.camera) == ("rear", "2")
        assert parse_name("DCIM/20260414_0002_CAM2_VID.MOV") is None

    def test_a_third_camera_is_other(self) -> None:
        info = recognise("20260414_0003_CAM3_VID.MOV")
        assert info is not None and (info.brand, info.channel) == ("cobra", "other")


@pytest.mark.parametrize(
    ("brand", "relpath", "mode", "locked"),
    [
        ("xiaomi-yi", "EMR/2017_0612_081802_001.MP4", "event", True),
        ("xiaomi-yi", "Movie/2017_0612_081802_002.MP4", "normal", False),
        ("rove", "DCIM/Movie/RO/2021_0301_101010_000123.MP4", "event", True),
        ("street-guardian", "DCIM/MOVIE/2019_0101_120000_001.MOV", "normal", False),
        ("rexing", "DCIM/Movie/2019_0101_120000_000001F.MP4", "normal", False),
        ("transcend-dp", "DP250/E_VIDEO/2026_0513_120237_012.mp4", "event", True),
    ],
)
def test_novatek_clones_are_told_apart_by_configuring_the_inbox(
    brand: str, relpath: str, mode: str, locked: bool
) -> None:
    assert parsed(relpath).brand in {"novatek", "viofo"}  # the name alone cannot tell
    info = parse_name(relpath, select_families([brand]))
    assert info is not None
    assert (info.brand, info.rule, info.mode, info.locked) == (brand, brand, mode, locked)


def test_an_inbox_restricted_to_one_family_still_gets_the_generic_time() -> None:
    info = parse_name("Record/20190101_120000_NF.mp4", select_families(["tesla"]))
    assert info is not None
    assert (info.brand, info.rule) == ("generic", GENERIC_RULE)


def test_select_families_names_the_unknown_one() -> None:
    with pytest.raises(FamilyError, match=r"'kenwood' is not known; known: .*viofo"):
        select_families(["viofo", "kenwood"])


# ---------------------------------------------------------------- the built-in table


def test_builtin_table_has_at_least_fifteen_families_with_template_and_source() -> None:
    assert len(FAMILIES) >= 15
    assert len({f.brand for f in FAMILIES}) == len(FAMILIES)
    assert all(f.template and f.source for f in FAMILIES)
    assert CONVENTIONS is FAMILIES


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.brand)
def test_each_template_name_is_read_back_by_the_default_table(family: Family) -> None:
    start = datetime(2023, 2, 28, 23, 59, 58)
    info = recognise(render_name(family, start, seq=42, dur=61))
    assert info is not None
    # Families sharing a pattern (Novatek clones) are read as the first of them.
    assert info.start_local == (start if family.timed else None)
    assert info.rule != GENERIC_RULE


# ---------------------------------------------------------------- generic time rule


@pytest.mark.parametrize(
    ("relpath", "start"),
    [
        ("20190101_120000_NZ.mp4", "2019-01-01T12:00:00"),  # BlackVue-like, unknown letter
        ("cam/20190101-120000.MP4", "2019-01-01T12:00:00"),
        ("20190101120000.mov", "2019-01-01T12:00:00"),
        ("VID_20240115_143025_00_001.mp4", "2024-01-15T14:30:25"),
        ("2019_0101_120000_XYZ.MP4", "2019-01-01T12:00:00"),
        ("2024-09-15_14-25-00.mp4", "2024-09-15T14:25:00"),
        ("2024-09-15 14.25.00.mkv", "2024-09-15T14:25:00"),
        ("2025_10_12_220337_00_F.TS", "2025-10-12T22:03:37"),
        ("REC20250607-180617-527-A.mp4", "2025-06-07T18:06:17"),
        ("CH1-20260618-130336.TS", "2026-06-18T13:03:36"),
        ("20130501-121010_NOR_D1.avi", "2013-05-01T12:10:10"),
        ("FILE201104-163014-000429X.mov", "2020-11-04T16:30:14"),  # two-digit year
        ("1970_0101_000000.MP4", "1970-01-01T00:00:00"),  # a camera whose clock was never set
    ],
)
def test_generic_rule_finds_the_time(relpath: str, start: str) -> None:
    info = parsed(relpath)
    assert (info.brand, info.rule) == ("generic", GENERIC_RULE)
    assert info.start_local == datetime.fromisoformat(start)


@pytest.mark.parametrize(
    ("relpath", "channel", "mode", "locked"),
    [
        ("Normal/Front/20190101_120000.mp4", "front", "normal", False),
        ("sd/emr_b/20190101_120000.mp4", "unknown", "event", True),
        ("Parking/rear/20190101_120000.mp4", "rear", "parking", False),
        ("Protected/20190101_120000.mp4", "unknown", "event", True),
        ("cam/20190101_120000.mp4", "unknown", "unknown", False),
        ("Backup/20190101_120000.mp4", "unknown", "unknown", False),  # "back" only as a word
    ],
)
def test_generic_rule_reads_folder_words(
    relpath: str, channel: str, mode: str, locked: bool
) -> None:
    info = parsed(relpath)
    assert (info.rule, info.channel, info.mode, info.locked) == (
        GENERIC_RULE,
        channel,
        mode,
        locked,
    )


@pytest.mark.parametrize(
    "relpath",
    [
        "20191301_120000.mp4",  # month 13
        "20190132_120000.mp4",  # day 32
        "20190101_250000.mp4",  # hour 25
        "20190101_120000.jpg",  # not a video
        "20190101_120000.gps",
        "120190101_120000.mp4",  # the digits run on: not a date
        "18991231_120000.mp4",  # before any camera
        "clip_2019.mp4",
    ],
)
def test_generic_rule_rejects_non_dates(relpath: str) -> None:
    assert parse_name(relpath) is None


# ---------------------------------------------------------------- properties


_PATHISH = st.text(alphabet="0123456789_-./\\ TFRNEPabcMOVmp4", max_size=60)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), _PATHISH))
def test_any_string_gives_a_result_or_none(relpath: str) -> None:
    info = parse_name(relpath)
    if info is not None:
        assert isinstance(info.start_local, datetime)
        assert info.channel in get_args(Channel) and info.mode in get_args(Mode)
        assert info.rule
    found = recognise(relpath)
    assert found is None or isinstance(found, NameInfo)


@pytest.mark.parametrize("family", [f for f in FAMILIES if f.timed], ids=lambda f: f.brand)
@settings(max_examples=60, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59)
    ),
    seq=st.integers(min_value=0, max_value=99),
    dur=st.integers(min_value=1, max_value=999),
)
def test_a_generated_name_round_trips_its_time(
    family: Family, start: datetime, seq: int, dur: int
) -> None:
    start = start.replace(microsecond=0)
    name = render_name(family, start, seq=seq, dur=dur)
    info = parse_name(name, [family])
    assert info is not None, name
    assert (info.start_local, info.brand, info.rule) == (start, family.brand, family.brand)
    by_default = parse_name(name)
    assert by_default is not None and by_default.start_local == start


# ---------------------------------------------------------------- families from plain data


_ACME: dict[str, Any] = {
    "name": "acme",
    "pattern": r"ACME_(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})_(?P<h>\d{2})(?P<mi>\d{2})(?P<s>\d{2})"
    r"_(?P<mode>[NE])(?P<ch>[FR])\.mp4",
    "channels": {"F": "front", "R": "rear"},
    "modes": {"N": "normal", "E": "event"},
    "default_mode": "normal",
    "folders": [{"match": "LOCK", "mode": "event", "locked": True}],
    "template": "ACME_{y:04d}{mo:02d}{d:02d}_{h:02d}{mi:02d}{s:02d}_NF.mp4",
    "source": "https://example.org/acme-manual",
}


def test_operator_family_is_used_like_a_builtin_one() -> None:
    (acme,) = families_from_data([_ACME], taken=(f.brand for f in FAMILIES))
    table = (acme, *FAMILIES)
    info = parse_name("LOCK/acme_20250102_030405_er.MP4", table)
    assert info == NameInfo(
        brand="acme",
        start_local=datetime(2025, 1, 2, 3, 4, 5),
        channel="rear",
        mode="event",
        locked=True,
        camera="r",
        rule="acme",
    )
    assert parse_name("acme_20250102_030405_er.MP4") is not None  # generic rule without it
    assert select_families(["acme"], extra=[acme]) == (acme,)


def test_operator_family_without_time_groups_is_recognised_only() -> None:
    (fam,) = families_from_data([{"name": "seqcam", "pattern": r"CLIP(?P<seq>\d{4})\.mp4"}])
    info = recognise("CLIP0042.mp4", [fam])
    assert info is not None and (info.brand, info.sequence, info.start_local) == (
        "seqcam",
        42,
        None,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Bad Name"}, r"#1: name 'Bad Name' must be"),
        ({"name": None}, r"#1: name None must be"),
        ({"colour": "red"}, r"#1 \('acme'\): unknown key\(s\) colour"),
        ({"pattern": "ACME_(?P<y>"}, r"pattern 'ACME_\(\?P<y>' is not a valid regular expression"),
        ({"pattern": ""}, r"pattern must be a non-empty string"),
        ({"pattern": r"(?P<year>\d{4})\.mp4"}, r"unknown group\(s\) year; allowed:"),
        ({"pattern": r"(?P<y>\d{4})(?P<mo>\d\d)(?P<d>\d\d)\.mp4"}, r"lacks group\(s\) h, mi, s"),
        ({"channels": {"F": "sideways"}}, r"channels.F = 'sideways' is not one of"),
        ({"channels": ["F"]}, r"channels must be a table"),
        ({"modes": {"E": "crash"}}, r"modes.E = 'crash' is not one of"),
        ({"default_mode": "loop"}, r"default_mode 'loop' is not one of"),
        ({"folders": [{"match": "X"}]}, r"folders\[0\] says nothing"),
        ({"folders": [{"match": "(", "mode": "event"}]}, r"folders\[0\].match '\(' is not a valid"),
        (
            {"folders": [{"match": "X", "mode": "crash"}]},
            r"folders\[0\].mode 'crash' is not one of",
        ),
        (
            {"folders": [{"match": "X", "locked": "yes"}]},
            r"folders\[0\].locked must be true or false",
        ),
        ({"folders": [{"match": "X", "when": 1}]}, r"folders\[0\]: unknown key\(s\) when"),
        ({"folders": "EVENT"}, r"folders must be a list"),
        (
            {"template": "ACME_{y}.mp4"},
            r"template renders 'ACME_2024.mp4', which the pattern does not match",
        ),
        ({"template": "ACME_{year}.mp4"}, r"template 'ACME_\{year\}.mp4' does not render"),
        ({"source": 3}, r"source must be a string"),
    ],
)
def test_invalid_family_data_is_rejected_with_a_clear_message(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(FamilyError, match=message):
        families_from_data([{**_ACME, **change}])


def test_family_data_without_the_groups_its_tables_need_is_rejected() -> None:
    no_mode = {**_ACME, "pattern": r"ACME_(?P<ch>[FR])\.mp4", "template": None}
    with pytest.raises(FamilyError, match=r"modes are given but the pattern has no"):
        families_from_data([no_mode])
    no_ch = {**no_mode, "pattern": r"ACME_(?P<mode>[NE])\.mp4", "modes": {"N": "normal"}}
    with pytest.raises(FamilyError, match=r"channels are given but the pattern has no"):
        families_from_data([no_ch])


def test_family_names_must_be_unique() -> None:
    with pytest.raises(FamilyError, match=r"#2 \('acme'\): name is already used"):
        families_from_data([_ACME, _ACME])
    with pytest.raises(FamilyError, match=r"#1 \('viofo'\): name is already used"):
        families_from_data([{**_ACME, "name": "viofo"}], taken=[f.brand for f in FAMILIES])


def test_family_data_must_be_tables() -> None:
    with pytest.raises(FamilyError, match=r"#1: must be a table, got str"):
        families_from_data(["acme"])


def test_builtin_table_is_plain_data_through_the_same_builder() -> None:
    from spoold.dashcam import BUILTIN_FAMILY_DATA

    rebuilt = families_from_data(BUILTIN_FAMILY_DATA)
    assert [f.brand for f in rebuilt] == [f.brand for f in FAMILIES]
    assert [f.pattern.pattern for f in rebuilt] == [f.pattern.pattern for f in FAMILIES]


def test_families_are_hashable_for_use_as_keys() -> None:
    assert len({*FAMILIES, *FAMILIES}) == len(FAMILIES)
