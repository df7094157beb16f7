"""Dashcam file names: what each brand's convention tells us, and which names we never touch."""

from __future__ import annotations

from datetime import datetime

import pytest

from spoold.dashcam import (
    CONVENTIONS,
    DEFAULT_VIDEO_PATTERNS,
    NameInfo,
    is_ignored_name,
    is_video_name,
    parse_name,
)
from spoold.demo.samples import brand_names


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

    def test_older_three_digit_sequence_without_channel(self) -> None:
        info = parsed("DCIM/MOVIE/2019_0101_120000_001.MOV")
        assert info.brand == "viofo"
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
        "20190101_120000_NZ.mp4",  # unknown direction letter
        "",
        "DCIM/Movie/",
    ],
)
def test_unknown_names_return_none(relpath: str) -> None:
    assert parse_name(relpath) is None


def test_every_brand_sample_name_parses_to_its_brand() -> None:
    names = brand_names()
    assert set(names) == {c.brand for c in CONVENTIONS}
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
