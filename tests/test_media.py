"""Video ingestion on real files: ids, validation, metadata, and "has it stopped changing?".

Every clip here is a real MP4 made by ffmpeg (spoold.demo.samples); pymediainfo runs for real.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pymediainfo import MediaInfo

from spoold.dashcam import parse_name
from spoold.demo.samples import (
    brand_names,
    make_clip,
    make_empty,
    make_fake_video,
    make_truncated_copy,
    make_zero_tail_copy,
    video_encoder,
)
from spoold.errors import SpoolError
from spoold.server import media
from spoold.server.media import (
    REASON_EMPTY,
    REASON_NOT_MEDIA,
    REASON_TRUNCATED,
    REASON_ZERO_TAIL,
    VideoNotReady,
    VideoRejected,
    describe,
    fingerprint,
    probe,
)

REAL_SAMPLES = Path(os.environ.get("SPOOLD_REAL_SAMPLES", "/work/shared/samples"))
CREATED = datetime(2024, 9, 15, 12, 30, 27, tzinfo=timezone.utc)
CODEC = "h264" if video_encoder() == "libx264" else "mpeg4"


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "src" / "clip.mp4", seed=1)


def rejection(path: Path) -> VideoRejected:
    with pytest.raises(VideoRejected) as exc:
        probe(path)
    return exc.value


# ---------------------------------------------------------------- valid clips → VideoMeta


@pytest.mark.parametrize(("brand", "relpath"), sorted(brand_names().items()))
def test_valid_clip_named_by_brand_convention(tmp_path: Path, brand: str, relpath: str) -> None:
    root = tmp_path / "car1"
    seed = sorted(brand_names()).index(brand) + 10
    path = make_clip(root / relpath, creation_time=CREATED, seed=seed)
    name = parse_name(relpath)
    assert name is not None

    meta = describe("car1", root, relpath)

    assert meta.video_id == fingerprint(path)
    assert meta.device == "car1"
    assert meta.path == relpath
    assert meta.size == path.stat().st_size
    assert (meta.brand, meta.channel, meta.mode, meta.sequence) == (
        brand,
        name.channel,
        name.mode,
        name.sequence,
    )
    assert meta.start_source == "filename"
    assert meta.start_local == name.start_local
    # The container's date is kept alongside when it agrees with the name (within a day:
    # time zones), and ignored with a note when it is far from it (issue 13).
    name_utc = name.start_local.replace(tzinfo=timezone.utc)
    agrees = abs(CREATED - name_utc) <= timedelta(hours=26)
    assert meta.start_utc == (CREATED if agrees else None)
    assert meta.start_basis == "name"
    assert (meta.start_note is None) == agrees
    assert meta.duration_s == pytest.approx(2.0)
    assert (meta.codec, meta.width, meta.height) == (CODEC, 320, 240)
    assert meta.fps == pytest.approx(10.0)
    assert meta.bitrate is not None and meta.bitrate > 0


def test_generic_name_takes_start_from_container(tmp_path: Path) -> None:
    make_clip(tmp_path / "videos" / "holiday.mp4", creation_time=CREATED, seed=2)
    meta = describe("phone", tmp_path, "videos/holiday.mp4")
    assert (meta.brand, meta.channel, meta.mode) == ("generic", "unknown", "unknown")
    assert meta.start_source == "container"
    assert meta.start_utc == CREATED
    assert meta.start_local is None


def test_without_name_or_container_date_start_is_mtime_minus_duration(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "GRMN0128.MP4", seed=3)  # Garmin: no time in the name
    end = datetime(2024, 9, 15, 12, 31, 0, tzinfo=timezone.utc)
    os.utime(path, (end.timestamp(), end.timestamp()))
    meta = describe("garmin", tmp_path, "GRMN0128.MP4")
    assert meta.start_source == "mtime"
    assert meta.start_utc == end - timedelta(seconds=2)
    assert meta.start_basis == "file-time"
    assert meta.start_note is not None and "copied" in meta.start_note


def test_windows_style_relpath_is_normalized(tmp_path: Path) -> None:
    make_clip(tmp_path / "evt_rec" / "REC_20240915_143027_F.MP4", seed=4)
    meta = describe("tw", tmp_path, "evt_rec\\REC_20240915_143027_F.MP4")
    assert (meta.path, meta.brand, meta.mode) == (
        "evt_rec/REC_20240915_143027_F.MP4",
        "thinkware",
        "event",
    )


def test_probe_with_timeout_gives_the_same_answer(clip: Path) -> None:
    assert probe(clip, timeout=30) == probe(clip)


def test_file_that_grows_while_being_probed_is_not_ready(
    clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real mediainfo runs; a writer appends to the file meanwhile.
    real_parse = media._mediainfo

    def parse_while_a_writer_appends(path: str, timeout: float | None) -> object:
        result = real_parse(path, timeout)
        with open(path, "ab") as f:
            f.write(b"\0" * 4096)
        return result

    monkeypatch.setattr(media, "_mediainfo", parse_while_a_writer_appends)
    with pytest.raises(VideoNotReady, match="changed while being probed") as exc:
        probe(clip)
    assert not isinstance(exc.value, VideoRejected)  # retry later, not a verdict


# ---------------------------------------------------------------- rejected files


def test_truncated_copy_is_rejected_as_truncated(clip: Path, tmp_path: Path) -> None:
    cut = make_truncated_copy(clip, tmp_path / "cut.mp4")
    err = rejection(cut)
    assert err.reason == REASON_TRUNCATED
    assert str(cut) in str(err) and REASON_TRUNCATED in str(err)
    assert err.detail and "less than expected size" in err.detail


def test_truncated_copy_fails_describe_too(clip: Path, tmp_path: Path) -> None:
    make_truncated_copy(clip, tmp_path / "Record" / "20190101_120000_NF.mp4")
    with pytest.raises(VideoRejected, match="truncated"):
        describe("car1", tmp_path, "Record/20190101_120000_NF.mp4")


def test_zero_byte_file_is_rejected(tmp_path: Path) -> None:
    err = rejection(make_empty(tmp_path / "2026_0513_172152_000120F.MP4"))
    assert err.reason == REASON_EMPTY == "empty file (0 bytes)"


def test_text_file_named_mp4_is_rejected(tmp_path: Path) -> None:
    err = rejection(make_fake_video(tmp_path / "20190101_120000_NF.mp4"))
    assert err.reason == REASON_NOT_MEDIA == "not a media file"


def test_rejections_are_spool_errors_naming_file_and_reason(tmp_path: Path) -> None:
    path = make_empty(tmp_path / "x.mp4")
    err = rejection(path)
    assert isinstance(err, SpoolError)
    assert err.path == str(path)
    assert str(err).startswith(f"{path}: {REASON_EMPTY}")


def test_missing_file_is_not_a_rejection(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        probe(tmp_path / "gone.mp4")


# ---------------------------------------------------------------- zero-tailed (pre-allocated) copies


class TestZeroTailedCopy:
    """A pre-allocated copy has its final size before its data; mediainfo does not flag it."""

    def test_same_size_different_fingerprint(self, clip: Path, tmp_path: Path) -> None:
        zero = make_zero_tail_copy(clip, tmp_path / "zero.mp4")
        assert zero.stat().st_size == clip.stat().st_size
        assert fingerprint(zero) != fingerprint(clip)

    def test_mediainfo_alone_does_not_call_it_truncated(self, clip: Path, tmp_path: Path) -> None:
        zero = make_zero_tail_copy(clip, tmp_path / "zero.mp4")
        general = MediaInfo.parse(zero, parse_speed=media.PARSE_SPEED).general_tracks[0]
        assert general.istruncated != "Yes"

    def test_zero_tail_from_media_data_is_rejected(self, clip: Path, tmp_path: Path) -> None:
        err = rejection(make_zero_tail_copy(clip, tmp_path / "zero.mp4"))
        assert err.reason == REASON_ZERO_TAIL
        assert err.detail and "to the end" in err.detail

    def test_zero_tail_inside_the_index_is_rejected(self, clip: Path, tmp_path: Path) -> None:
        # Only the second half of the moov is zero: mediainfo still reports a good video.
        data = clip.read_bytes()
        moov_size = len(data) - (data.rindex(b"moov") - 4)
        zero = make_zero_tail_copy(clip, tmp_path / "zero.mp4", zero_bytes=moov_size // 2)
        assert MediaInfo.parse(zero, parse_speed=media.PARSE_SPEED).video_tracks
        err = rejection(zero)
        assert err.reason == REASON_ZERO_TAIL
        assert err.detail and "inside the moov index" in err.detail

    def test_zeroed_trailing_metadata_only_is_accepted(self, clip: Path, tmp_path: Path) -> None:
        # The last bytes of ffmpeg's moov are udta metadata: the clip still plays. The id
        # still differs from the complete file's, so the pair is never confused.
        zero = make_zero_tail_copy(clip, tmp_path / "zero.mp4", zero_bytes=16)
        assert probe(zero).duration_s == pytest.approx(2.0)
        assert fingerprint(zero) != fingerprint(clip)

    def test_zero_padding_after_a_complete_file_is_accepted(
        self, clip: Path, tmp_path: Path
    ) -> None:
        padded = tmp_path / "padded.mp4"
        padded.write_bytes(clip.read_bytes() + bytes(64 * 1024))
        assert probe(padded).duration_s == pytest.approx(2.0)


# ---------------------------------------------------------------- fingerprint


def test_renamed_copy_has_the_same_fingerprint(clip: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "20190101_120000_NF.mp4"
    copy.parent.mkdir()
    shutil.copy2(clip, copy)
    assert fingerprint(copy) == fingerprint(clip)
    moved = clip.rename(tmp_path / "renamed.MP4")
    assert fingerprint(moved) == fingerprint(copy)


def test_fingerprint_format(clip: Path) -> None:
    vid = fingerprint(clip)
    assert len(vid) == 21 and vid[0] == "v"
    int(vid[1:], 16)


def test_distinct_seeds_give_distinct_ids_same_seed_the_same(tmp_path: Path) -> None:
    ids = {fingerprint(make_clip(tmp_path / f"s{seed}.mp4", seed=seed)) for seed in range(5)}
    assert len(ids) == 5
    again = make_clip(tmp_path / "again.mp4", seed=3)
    assert fingerprint(again) == fingerprint(tmp_path / "s3.mp4")


def test_fingerprint_reads_only_head_and_tail(tmp_path: Path) -> None:
    chunk = media.FINGERPRINT_CHUNK
    data = bytearray(os.urandom(5 * chunk))
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    base = fingerprint(path)

    data[2 * chunk] ^= 0xFF  # middle byte: outside both read windows
    path.write_bytes(data)
    assert fingerprint(path) == base

    for offset in (0, chunk - 1, 4 * chunk, 5 * chunk - 1):  # first and last 64 KiB
        changed = bytearray(data)
        changed[offset] ^= 0xFF
        path.write_bytes(changed)
        assert fingerprint(path) != base, offset

    path.write_bytes(data + b"\0")  # size is part of the id
    assert fingerprint(path) != base


# ---------------------------------------------------------------- real 70mai / GoPro samples


def _real(relpath: str) -> Path:
    if not REAL_SAMPLES.is_dir():
        pytest.skip(f"real sample folder {REAL_SAMPLES} is missing (set SPOOLD_REAL_SAMPLES)")
    path = REAL_SAMPLES / relpath
    if not path.is_file():
        pytest.skip(f"real sample {path} is missing")
    return path


def test_real_70mai_clip(tmp_path: Path) -> None:
    src = _real("70mai-mgps/NO20191130-120156-000121.MP4")
    root = tmp_path / "70mai"
    dst = root / "Normal" / "Front" / src.name
    dst.parent.mkdir(parents=True)
    shutil.copyfile(src, dst)

    meta = describe("car2", root, f"Normal/Front/{src.name}")

    assert (meta.brand, meta.mode, meta.channel, meta.sequence) == ("70mai", "normal", "front", 121)
    assert meta.start_local == datetime(2019, 11, 30, 12, 1, 56)
    assert meta.start_source == "filename"
    # The container says 2014, the name 2019: the container date is implausible, so it is
    # not recorded as the start (issue 13), and the record says why.
    assert meta.start_utc is None and meta.start_basis == "name"
    assert meta.start_note is not None and "container date 2014" in meta.start_note
    assert (meta.codec, meta.width, meta.height, meta.duration_s) == ("h264", 48, 144, 1.0)
    assert meta.video_id == fingerprint(src)


@pytest.mark.parametrize(
    "name",
    [
        "NO20191130-120256-000122.MP4",
        "EV20191130-121256-000132.MP4",
        "PA20191130-121756-000137.MP4",
    ],
)
def test_real_70mai_cut_files_are_rejected_as_truncated(name: str) -> None:
    assert rejection(_real(f"70mai-mgps/{name}")).reason == REASON_TRUNCATED


def test_real_gopro_clip_has_container_start() -> None:
    src = _real("gopro-gpmf/karma.mp4")
    meta = describe("gopro", src.parent, src.name)
    assert (meta.brand, meta.start_source) == ("generic", "container")
    assert meta.start_utc == datetime(2017, 4, 17, 19, 27, 57, tzinfo=timezone.utc)
    assert (meta.width, meta.height) == (854, 480)
