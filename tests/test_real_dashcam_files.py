"""Files as real dashcams write them: names, finished-copy checks and GPS, family by family.

Three kinds of file (``tests/fixtures/realfiles/README.md`` lists each one, its origin and
licence):

- real files whose licence allows copying, committed to the repository (70mai);
- real GoPro telemetry (GPMF: the Karma's GPRI, GPS5 of a HERO5, Fusion, HERO7 and MAX,
  GPS9 of a HERO11), committed as trimmed files or raw dumps; the test puts the real
  ``gpmd`` samples (and, for trimmed files, the real ``gpmd`` track box) into a clip ffmpeg
  encodes, since the trimmed files' video offsets point past their end and ingestion
  rightly refuses them as truncated;
- layout replicas of real public files whose repositories state no licence (so no byte of
  them is copied): the real file name and folder, and the real box order and GPS payload
  layout, rebuilt here around a clip ffmpeg encodes (``spoold.demo.samples.make_clip``), with
  made-up coordinates.

For each file the test checks what the pipeline does with it: :func:`spoold.dashcam.recognise`
reads the family, mode and start time from its path; :func:`spoold.server.media.unfinished`
and :func:`~spoold.server.media.describe` (pymediainfo) take it as a finished copy with its
start and the start's basis; and :func:`spoold.workers.gps.extract_gps` (the preprocess
worker's reader) finds its GPS track near the expected place, with the fix count and GPS start
where the file is real.
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

pytest.importorskip("pymediainfo", reason="the server extra (pymediainfo) is not installed")

from spoold.dashcam import Family, NameInfo, recognise, select_families
from spoold.demo.gps_payloads import embed_novatek_gps
from spoold.demo.samples import make_clip
from spoold.server.media import describe, unfinished
from spoold.workers.gps import (
    GpsExtraction,
    clip_days,
    extract_gps,
    find_logs,
    find_sidecars,
    parse_freegps_block,
)
from spoold.workers.mp4box import child_boxes, make_box, top_level_boxes
from spoold.workers.nmea import nmea_sentence, to_nmea_coord

WORKERS_FIXTURES = Path(__file__).parent / "workers_fixtures"
REALFILES = Path(__file__).parent / "fixtures" / "realfiles"
UTC = timezone.utc


@dataclass(frozen=True)
class Case:
    """One file: where it sits on the card, what its name says, and where its GPS is."""

    family: str
    relpath: str  # as on the card (folder + the camera's file name)
    mode: str
    channel: str
    start_local: datetime | None  # what the name says (None: the name holds no time)
    gps_source: str  # what extract_gps answers from
    lat_lon: tuple[float, float]  # roughly where the fixes are (real or made up)
    build: Callable[[Path, Case], Path]  # writes the file under the card root, returns it
    families: tuple[str, ...] = ()  # the inbox's configured families (default: built-in order)
    label: str = ""  # test id when one family has several cases (default: the family)
    start_basis: str = "name"  # what ingestion takes the start from
    start_utc: datetime | None = None  # the ingested start when its basis is the container
    gps_count: int | None = None  # fixes the track keeps (checked when known)
    gps_start: datetime | None = None  # the clip start by the GPS receiver's clock (UTC)

    def recognised(self) -> NameInfo | None:
        return recognise(self.relpath, self.family_list())

    def family_list(self) -> tuple[Family, ...] | None:
        return select_families(self.families) if self.families else None


def _ddmm(value: float) -> float:
    v = abs(value)
    d = int(v)
    return d * 100 + (v - d) * 60


# ------------------------------------------------------------------ real, committed files


def _copy_70mai(root: Path, case: Case) -> Path:
    # mzdun/dashcam-gps fuzzer seed (MIT): ftyp, free, tiny H.264 mdat, moov, top-level GPS box
    dst = root / case.relpath
    dst.parent.mkdir(parents=True)
    shutil.copyfile(WORKERS_FIXTURES / "70mai" / dst.name, dst)
    return dst


# GoPro: the telemetry is real (committed files), the video track is ffmpeg's.  A trimmed
# real file (``gopro/trim_mdat.py``) lends its ``gpmd`` track box verbatim and its mdat (the
# GPMF samples, as the camera wrote them); a raw GPMF dump (one DEVC a second, as the
# camera's gpmd samples are) gets a minimal ``gpmd`` track built here.


def _full_box(kind: bytes, payload: bytes) -> bytes:
    return make_box(kind, b"\0\0\0\0" + payload)  # version 0, no flags


def _chunk_offsets(trak: bytes, base: int = 0) -> tuple[int, bool]:
    """Where in ``trak`` (a whole box) its chunk offset table starts, and whether it is co64."""
    for box in child_boxes(trak[base:]):
        body_at = base + box.payload_offset
        if box.type in (b"stco", b"co64"):
            return body_at + 4, box.type == b"co64"
        if box.type in (b"trak", b"mdia", b"minf", b"stbl"):
            try:
                return _chunk_offsets(trak[: base + box.end], body_at)
            except LookupError:
                continue
    raise LookupError("no stco/co64 in the track")


def _graft_gpmd(video: Path, trak: bytes, samples: bytes, base: int) -> None:
    """Add the ``gpmd`` track box ``trak`` to ``video``'s moov (its last box) and ``samples``
    in an mdat after it; the track's chunk offsets, relative to ``base``, are moved there."""
    data = video.read_bytes()
    with open(video, "rb") as f:
        moov = top_level_boxes(f, len(data))[-1]
    assert moov.type == b"moov" and moov.end == len(data)
    shift = moov.end + len(trak) + 8 - base  # the new mdat's payload follows the longer moov
    at, wide = _chunk_offsets(trak)
    moved = bytearray(trak)
    code, step = (">Q", 8) if wide else (">I", 4)
    for pos in range(at + 4, at + 4 + step * struct.unpack_from(">I", trak, at)[0], step):
        struct.pack_into(code, moved, pos, struct.unpack_from(code, trak, pos)[0] + shift)
    new_moov = make_box(b"moov", data[moov.payload_offset : moov.end] + bytes(moved))
    video.write_bytes(data[: moov.offset] + new_moov + make_box(b"mdat", samples))


def _gpmd_trak(sizes: list[int]) -> bytes:
    """A minimal ``gpmd`` track: one sample a chunk and a second, offsets from 0."""
    n = len(sizes)
    offsets = [sum(sizes[:i]) for i in range(n)]
    entry = make_box(b"gpmd", bytes(6) + struct.pack(">HI", 1, 0))
    stbl = make_box(
        b"stbl",
        _full_box(b"stsd", struct.pack(">I", 1) + entry)
        + _full_box(b"stts", struct.pack(">III", 1, n, 1000))
        + _full_box(b"stsc", struct.pack(">IIII", 1, 1, 1, 1))
        + _full_box(b"stsz", struct.pack(f">II{n}I", 0, n, *sizes))
        + _full_box(b"stco", struct.pack(f">I{n}I", n, *offsets)),
    )
    dref = _full_box(b"dref", struct.pack(">I", 1) + make_box(b"url ", b"\0\0\0\1"))
    minf = make_box(b"minf", _full_box(b"nmhd", b"") + make_box(b"dinf", dref) + stbl)
    mdhd = _full_box(b"mdhd", struct.pack(">IIIIHH", 0, 0, 1000, 1000 * n, 0x55C4, 0))
    hdlr = _full_box(b"hdlr", struct.pack(">I4s12x", 0, b"meta") + b"GoPro MET\0")
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    tkhd = struct.pack(">5I8x4H", 0, 0, 9, 0, 1000 * n, 0, 0, 0, 0) + matrix + bytes(8)
    return make_box(b"trak", _full_box(b"tkhd", tkhd) + make_box(b"mdia", mdhd + hdlr + minf))


def _devc_items(raw: bytes) -> list[bytes]:
    """The top-level GPMF items of a raw dump (each ``DEVC`` is one gpmd sample)."""
    items, pos = [], 0
    while pos + 8 <= len(raw):
        size, repeat = raw[pos + 5], int(struct.unpack_from(">H", raw, pos + 6)[0])
        end = pos + 8 + (size * repeat + 3) // 4 * 4
        items.append(raw[pos:end])
        pos = end
    return items


def _u32(data: bytes, pos: int) -> int:
    return int(struct.unpack_from(">I", data, pos)[0])


def _gopro_clip(root: Path, case: Case, created: datetime | None) -> Path:
    return make_clip(root / case.relpath, seconds=2, size=(214, 120), fps=15, creation_time=created)


def _gopro_raw(raw_name: str) -> Callable[[Path, Case], Path]:
    """A clip carrying the real GPMF dump ``gopro/<raw_name>`` as its gpmd track."""

    def build(root: Path, case: Case) -> Path:
        items = _devc_items((REALFILES / "gopro" / raw_name).read_bytes())
        # the dump holds no mvhd: the clip's creation time is the table's (the first GPSU second)
        video = _gopro_clip(root, case, case.start_utc)
        _graft_gpmd(video, _gpmd_trak([len(i) for i in items]), b"".join(items), 0)
        return video

    return build


def _gopro_trimmed(name: str) -> Callable[[Path, Case], Path]:
    """A clip carrying the real gpmd track and samples of ``gopro/<name>`` (a trimmed file)."""

    def build(root: Path, case: Case) -> Path:
        src = REALFILES / "gopro" / name
        data = src.read_bytes()
        with open(src, "rb") as f:
            _, mdat, moov = top_level_boxes(f, len(data))
        body = data[moov.payload_offset : moov.end]
        trak = next(
            body[b.offset : b.end]
            for b in child_boxes(body)
            if b.type == b"trak" and b"gpmd" in body[b.offset : b.end]
        )
        (mvhd,) = (body[b.payload_offset : b.end] for b in child_boxes(body) if b.type == b"mvhd")
        assert mvhd[0] == 0  # version 0: u32 seconds since 1904 after version + flags
        created = datetime(1904, 1, 1, tzinfo=UTC) + timedelta(seconds=_u32(mvhd, 4))
        video = _gopro_clip(root, case, created)  # the camera's own mvhd time
        _graft_gpmd(video, trak, data[mdat.payload_offset : mdat.end], mdat.payload_offset)
        return video

    return build


# -------------------------------------------------------------------- layout replicas


def _clip(root: Path, case: Case, seconds: float = 2) -> Path:
    return make_clip(root / case.relpath, seconds=seconds, size=(214, 120), fps=15)


def _hisilicon(root: Path, case: Case) -> Path:
    """Kaiser Bass R50 (HiSilicon): ``DCIM/101video/<start>_<seconds>.MP4``, no GPS in the
    file; ``gps/YYYYMMDD.dat`` at the card root holds CRLF lines ``YYYYMMDDhhmmss,ddmm.mmmmm,
    N/S,dddmm.mmmmm,E/W,knots,course`` on the camera clock, a ``#`` line at each start."""
    video = _clip(root, case, seconds=10)
    lat, lon = case.lat_lon
    lines = ["#"]
    for i in range(-3, 14):  # the log runs before and after the clip, as the camera's does
        t = case.start_local + timedelta(seconds=i)
        la, lo = lat - i * 0.00013, lon + i * 0.00001
        lines.append(
            f"{t:%Y%m%d%H%M%S},{_ddmm(la):010.5f},{'S' if la < 0 else 'N'},"
            f"{_ddmm(lo):011.5f},{'W' if lo < 0 else 'E'},28.463,117.3"
        )
    log = root / "gps" / f"{case.start_local:%Y%m%d}.dat"
    log.parent.mkdir(parents=True)
    log.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return video


def _blackvue(root: Path, case: Case) -> Path:
    """BlackVue DR series: ``Record/<start>_<type><camera>.mp4`` and one ``<start>_<type>.gps``
    per recording: every second one ``[epoch-ms]`` stamp on RMC, VTG, GGA, GSA, four GSV and
    GLL, each line followed by an empty line; RMC's course is empty when standing still."""
    video = _clip(root, case)
    lat, lon = case.lat_lon
    start_utc = case.start_local.replace(tzinfo=UTC) - timedelta(hours=3)  # camera at UTC+3
    out: list[str] = []
    for i in range(4):
        t = start_utc + timedelta(seconds=i)
        ms = int(t.timestamp() * 1000) + 960
        la, lo = to_nmea_coord(lat + i * 0.00001, True), to_nmea_coord(lon + i * 0.00002, False)
        hms, dmy = f"{t:%H%M%S}.00", f"{t:%d%m%y}"
        course = "62.67" if i % 2 else ""  # empty course while standing still
        sentences = [
            f"GPRMC,{hms},A,{la},{lo},7.525,{course},{dmy},,,A",
            f"GPVTG,{course},T,,M,7.525,N,13.937,K,A",
            f"GPGGA,{hms},{la},{lo},1,11,0.81,222.3,M,24.8,M,,",
            "GPGSA,A,3,11,14,01,32,22,08,03,19,17,31,23,,1.30,0.81,1.02",
            "GPGSV,4,1,14,01,77,242,41,03,44,266,38,04,09,133,16,08,07,194,33",
            "GPGSV,4,2,14,10,04,085,05,11,55,202,36,12,02,023,,14,55,075,38",
            "GPGSV,4,3,14,17,27,313,33,19,12,330,30,22,72,263,35,23,08,213,14",
            "GPGSV,4,4,14,31,23,115,27,32,38,058,32",
            f"GPGLL,{la},{lo},{hms},A,A",
        ]
        out += [f"[{ms}]{nmea_sentence(s)}\n\n" for s in sentences]
    sidecar = video.with_name(video.stem[:-1] + ".gps")  # 20170708_221449_N.gps
    sidecar.write_text("".join(out))
    return video


def _freegps_header(size: int) -> bytearray:
    body = bytearray(size)
    struct.pack_into(">I4s4s", body, 0, size, b"free", b"GPS ")
    return body


def _viofo_a119s_block(t: datetime, lat: float, lon: float) -> bytes:
    """Viofo A119S (Novatek) ``freeGPS `` block: size 0x8000, ``L`` at 0x0c, zeros to 0x30,
    then u32 h, m, s, year-2000, month, day; ``A``/N/E at 0x48; float32 ddmm lat, lon, knots,
    course at 0x4c (exiftool's QuickTimeStream.pl notes on a real A119S file)."""
    body = _freegps_header(0x8000)
    struct.pack_into("<I", body, 12, 0x4C)
    struct.pack_into("<6I", body, 0x30, t.hour, t.minute, t.second, t.year - 2000, t.month, t.day)
    body[0x48:0x4C] = b"A" + (b"N" if lat >= 0 else b"S") + (b"E" if lon >= 0 else b"W") + b"\0"
    struct.pack_into("<4f", body, 0x4C, _ddmm(lat), _ddmm(lon), 7.53, 165.35)
    return bytes(body)


def _put_ddmm_f64(body: bytearray, at: int, lat: float, lon: float) -> None:
    """float64 ddmm lat at ``at`` with its N/S byte 8 bytes on, lon and E/W 16 bytes on."""
    struct.pack_into("<d", body, at, _ddmm(lat))
    body[at + 8] = ord("N" if lat >= 0 else "S")
    struct.pack_into("<d", body, at + 0x10, _ddmm(lon))
    body[at + 0x18] = ord("E" if lon >= 0 else "W")


def _vantrue_n4_block(t: datetime, lat: float, lon: float) -> bytes:
    """Vantrue N4 ``freeGPS `` block: size 0x4000, u32 h, m, s at 0x10, ``A`` at 0x1c, float64
    ddmm lat at 0x20 with its ref at 0x28, lon at 0x30 / 0x38, knots and course at 0x40,
    u32 year-2000, month, day at 0x50, then a ``$GNRMC`` sentence at 0x66 (exiftool's
    QuickTimeStream.pl notes on a real N4 file)."""
    body = _freegps_header(0x4000)
    struct.pack_into("<I", body, 12, 0x3F0)
    struct.pack_into("<3I", body, 0x10, t.hour, t.minute, t.second)
    body[0x1C] = ord("A")
    _put_ddmm_f64(body, 0x20, lat, lon)
    struct.pack_into("<2d", body, 0x40, 22.519, 199.88)
    struct.pack_into("<3I", body, 0x50, t.year - 2000, t.month, t.day)
    rmc = nmea_sentence(
        f"GNRMC,{t:%H%M%S}.000,A,{to_nmea_coord(lat, True)},{to_nmea_coord(lon, False)},"
        f"22.519,199.88,{t:%d%m%y},,,A"
    )
    text = (" " + rmc + "\r\n").encode()
    body[0x66 : 0x66 + len(text)] = text
    return bytes(body)


def _nextbase_512g_block(t: datetime, lat: float, lon: float) -> bytes:
    """Nextbase 512G ``freeGPS `` block: ``x.xx`` at 0x10, ``00000`` at 0x20, then from 0x30
    32-byte big-endian records, ten a second: ``$S``, u16 speed (m/s * 100), s16 heading
    (deg * 100), u16 year, u8 month, day, hour, minute, u16 second * 10, u8 2, s32 lat and
    lon (deg * 1e7), u8 16, 8 zero bytes (exiftool's QuickTimeStream.pl notes on a real
    512G file: its "GPSType 20")."""
    body = _freegps_header(0x8000)
    struct.pack_into("<I", body, 12, 0x178)
    body[0x10:0x14], body[0x20:0x25] = b"x.xx", b"00000"
    for k in range(10):
        u = t + timedelta(milliseconds=100 * k)
        struct.pack_into(
            ">2sHhHBBBBHBiiB",
            body,
            0x30 + 0x20 * k,
            b"$S",
            633,
            -11131,  # 248.69 degrees, written signed
            u.year,
            u.month,
            u.day,
            u.hour,
            u.minute,
            u.second * 10 + u.microsecond // 100_000,
            2,
            round(lat * 1e7),
            round(lon * 1e7),
            16,
        )
    return bytes(body)


def _drivepro_230_block(t: datetime, lat: float, lon: float) -> bytes:
    """Transcend DrivePro 230: the Viofo A119S block, plus lat/lon again as float64 (decimal
    degrees) at 0x70 and 0x80 and the altitude at 0xa0 (exiftool's QuickTimeStream.pl notes
    on a real DrivePro 230 file)."""
    body = bytearray(_viofo_a119s_block(t, lat, lon))
    struct.pack_into("<d", body, 0x70, lat)
    struct.pack_into("<d", body, 0x80, lon)
    struct.pack_into("<d", body, 0xA0, 412.5)
    return bytes(body)


def _type2_block(t: datetime, lat: float, lon: float) -> bytes:
    """exiftool's "Type 2" ``freeGPS `` block (its notes on a sample whose firmware string
    at 0x10 is ``20130815.01``, build date at 0x20): u32 h, m, s at 0x30, ``A`` at 0x3c,
    float64 ddmm lat at 0x40 with its ref (u32) at 0x48, lon at 0x50 / 0x58, float64 knots
    and course at 0x60, u32 year-2000, month, day at 0x70, then three int32 accelerations."""
    body = _freegps_header(0x8000)
    struct.pack_into("<I", body, 12, 0x108)
    body[0x10:0x1B], body[0x20:0x30] = b"20130815.01", b"Jun 10 2017, 14:"
    struct.pack_into("<3I", body, 0x30, t.hour, t.minute, t.second)
    body[0x3C] = ord("A")
    _put_ddmm_f64(body, 0x40, lat, lon)
    struct.pack_into("<2d", body, 0x60, 11.2, 301.5)
    struct.pack_into("<3I3i", body, 0x70, t.year - 2000, t.month, t.day, 12, -980, 40)
    return bytes(body)


def _rexing_v1_4k_block(t: datetime, lat: float, lon: float) -> bytes:
    """Rexing V1-4K: the Viofo A119S block, but lat/lon as scaled decimal degrees
    (lat * 3 + 187.98..., |lon| * 2 + 2199.19...), which exiftool's QuickTimeStream.pl undoes
    for a file whose Kodak-style ``frea`` box says ``ver `` 3.01.054 (its notes on a real
    V1-4K file)."""
    body = bytearray(_viofo_a119s_block(t, lat, lon))
    struct.pack_into(
        "<2f", body, 0x4C, abs(lat) * 3 + 187.982162849635, abs(lon) * 2 + 2199.19873715495
    )
    return bytes(body)


def _rexing(root: Path, case: Case) -> Path:
    """A Rexing V1-4K clip: the Novatek layout with scaled blocks, and the top-level ``frea``
    box (``tima`` duration, ``ver `` firmware) that tells the camera apart; where ``frea``
    sits in the real file is not in exiftool's notes: here it is the last box."""
    video = _novatek_with(_rexing_v1_4k_block)(root, case)
    frea = make_box(
        b"frea", make_box(b"tima", struct.pack(">I", 3)) + make_box(b"ver ", b"3.01.054")
    )
    with open(video, "ab") as f:
        f.write(frea)
    return video


def _novatek_with(make_block: Callable[[datetime, float, float], bytes]) -> Callable[..., Path]:
    """A clip whose ``moov/gps `` index points at one ``freeGPS `` block a second after mdat
    and moov (the Novatek layout), the block in ``make_block``'s layout; GPS time = UTC."""

    def build(root: Path, case: Case) -> Path:
        video = _clip(root, case, seconds=3)
        lat, lon = case.lat_lon
        start_utc = case.start_local.replace(tzinfo=UTC)
        blocks = [
            make_block(start_utc + timedelta(seconds=i), lat + i * 1e-4, lon + i * 1e-4)
            for i in range(3)
        ]
        embed_novatek_gps(video, blocks)
        return video

    return build


# label, name on the card, committed file, near (lat,lon), mvhd creation time, fixes, first fix
_GOPRO_TABLE = """
hero5-karma-GPRI GOPR0001.MP4 karma_trimmed.mp4 33.125,-117.331 2017-04-17T19:27:57 47 19:27:57.366493
max-GPS5 GH010001.MP4 max-heromode_trimmed.mp4 33.127,-117.327 2019-11-18T15:45:32 191 23:45:14
hero5-GPS5 GOPR0002.MP4 hero5.raw 33.126,-117.327 2017-04-17T17:31:03 18 17:31:03
fusion-GPS5 GPFR0004.MP4 fusion.raw 33.127,-117.327 2018-03-23T17:25:37 19 17:25:37.375
hero7-GPS5 GH010002.MP4 hero7.raw 42.342,-8.753 2019-01-03T16:33:34 308 16:33:34.094
hero11-GPS9 GX010003.MP4 hero11.raw 42.426,-8.650 2022-09-20T13:29:36 110 13:29:36.899
"""


def _gopro_case(row: str) -> Case:
    """A GoPro clip in ``DCIM/100GOPRO`` from a row of :data:`_GOPRO_TABLE`: no time in its
    name, so ingestion takes the container's; the GPMF fixes give the start by the receiver's
    clock (on the same day as the container time in every row)."""
    label, name, committed, near, created, fixes, first_fix = row.split()
    lat, lon = (float(v) for v in near.split(","))
    start = datetime.fromisoformat(created).replace(tzinfo=UTC)
    return Case(
        "gopro",
        f"DCIM/100GOPRO/{name}",
        "normal",
        "unknown",
        None,
        "gpmf",
        (lat, lon),
        _gopro_raw(committed) if committed.endswith(".raw") else _gopro_trimmed(committed),
        label=f"gopro-{label}",
        start_basis="container",
        start_utc=start,
        gps_count=int(fixes),
        gps_start=datetime.fromisoformat(f"{start:%Y-%m-%d}T{first_fix}").replace(tzinfo=UTC),
    )


CASES = [
    Case(
        "70mai",
        "Normal/Front/NO20191130-120156-000121.MP4",
        "normal",
        "front",
        datetime(2019, 11, 30, 12, 1, 56),
        "70mai",
        (52.2, 21.0),  # near Warsaw
        _copy_70mai,
    ),
    Case(
        "hisilicon",
        "DCIM/101video/20240113175916_10.MP4",
        "event",
        "unknown",
        datetime(2024, 1, 13, 17, 59, 16),
        "daylog",
        (-36.2, 144.9),
        _hisilicon,
    ),
    Case(
        "blackvue",
        "BlackVue/Record/20170708_221449_NF.mp4",
        "normal",
        "front",
        datetime(2017, 7, 8, 22, 14, 49),
        "nmea-sidecar",
        (53.95, 27.68),
        _blackvue,
    ),
    Case(
        "novatek",
        "DCIM/Movie/RO/2016_1224_094105_116.MP4",
        "event",
        "unknown",
        datetime(2016, 12, 24, 9, 41, 5),
        "freegps",
        (45.5, -73.6),
        _novatek_with(_viofo_a119s_block),
    ),
    Case(
        "vantrue",
        "Video/Normal/2017_0101_060101_001A.MP4",
        "normal",
        "front",
        datetime(2017, 1, 1, 6, 1, 1),
        "freegps",
        (47.36, 8.51),
        _novatek_with(_vantrue_n4_block),
    ),
    Case(
        "nextbase",
        "DCIM/Protected/240915_143027_001_FH.MP4",
        "event",
        "front",
        datetime(2024, 9, 15, 14, 30, 27),
        "freegps",
        (53.82, -1.46),
        _novatek_with(_nextbase_512g_block),
    ),
    Case(
        "transcend-dp",
        "DP10/E_VIDEO/2023_0828_102734_001.MP4",
        "event",
        "unknown",
        datetime(2023, 8, 28, 10, 27, 34),
        "freegps",
        (25.03, 121.56),
        _novatek_with(_drivepro_230_block),
        families=("transcend-dp",),
    ),
    Case(
        "rexing",
        "DCIM/Movie/2020_0222_143440_001F.MP4",
        "normal",
        "front",
        datetime(2020, 2, 22, 14, 34, 40),
        "freegps",
        (33.45, -112.07),
        _rexing,
        families=("rexing",),
    ),
    *(_gopro_case(row) for row in _GOPRO_TABLE.strip().splitlines()),
]


@pytest.fixture(params=CASES, ids=lambda c: c.label or c.family)
def card(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Case, Path, Path]:
    case: Case = request.param
    root = tmp_path / "card"
    return case, root, case.build(root, case)


def test_name_gives_family_mode_and_start(card: tuple[Case, Path, Path]) -> None:
    case, _, _ = card
    info = case.recognised()
    assert info is not None
    assert (info.brand, info.mode, info.channel) == (case.family, case.mode, case.channel)
    assert info.start_local == case.start_local


def test_accepted_as_a_finished_copy(card: tuple[Case, Path, Path]) -> None:
    case, root, video = card
    assert unfinished(video) is None
    meta = describe(
        "car", root, case.relpath, families=case.family_list(), now=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert (meta.brand, meta.mode, meta.start_basis) == (case.family, case.mode, case.start_basis)
    assert meta.start_local == case.start_local
    if case.start_basis == "container":
        assert meta.start_utc == case.start_utc
    assert meta.duration_s and meta.duration_s > 0 and meta.width and meta.height


def _gps(case: Case, root: Path, video: Path) -> GpsExtraction:
    info = case.recognised()
    assert info is not None
    start = info.start_local
    return extract_gps(
        video,
        sidecars=find_sidecars(video),
        start_local=start,
        logs=find_logs(video, days=clip_days(start, 10), root=root) if start else None,
    )


def test_gps_track_is_extracted(card: tuple[Case, Path, Path]) -> None:
    case, root, video = card
    res = _gps(case, root, video)
    assert res.source == case.gps_source, res.notes
    assert len(res.points) > 0
    lat, lon = case.lat_lon
    for p in res.points:
        assert abs(p.lat - lat) < 0.5 and abs(p.lon - lon) < 0.5, (p.lat, p.lon)
    times = [p.t for p in res.points if p.t is not None]
    assert times == sorted(times)
    if case.gps_count is not None:
        assert len(res.points) == case.gps_count, res.notes
    if case.gps_start is not None:
        assert res.gps_start() == case.gps_start


@pytest.mark.parametrize(
    ("make", "layout", "per_block"),
    [
        (_viofo_a119s_block, "binary", 1),
        (_vantrue_n4_block, "nmea", 1),
        (_nextbase_512g_block, "nextbase-binary", 10),
        (_drivepro_230_block, "binary", 1),
        (_rexing_v1_4k_block, "binary-rexing", 1),
        (_type2_block, "binary-type2", 1),
    ],
)
def test_replicated_freegps_layouts_parse(
    make: Callable[[datetime, float, float], bytes], layout: str, per_block: int
) -> None:
    """The block reader alone: each real layout gives its fixes (time, place, speed)."""
    t = datetime(2022, 12, 14, 13, 22, 30, tzinfo=UTC)
    rexing = make is _rexing_v1_4k_block
    fixes, got = parse_freegps_block(make(t, 47.356, -8.514), rexing=rexing)
    assert got == layout
    assert len(fixes) == per_block
    assert [f.time for f in fixes] == [t + timedelta(seconds=k / 10) for k in range(per_block)]
    for f in fixes:
        assert abs(f.lat - 47.356) < 1e-4 and abs(f.lon + 8.514) < 1e-4
        assert f.speed_kmh is not None and 10 < f.speed_kmh < 45


def test_gopro_payload_without_a_fix_says_so(tmp_path: Path) -> None:
    """A real HERO6 payload recorded before the receiver had a lock (``GPSF`` 0, ``GPSP``
    9999): its 17 GPS5 rows are not fixes, and the record says what was found instead."""
    case = next(c for c in CASES if c.label == "gopro-hero7-GPS5")
    video = _gopro_raw("hero6.raw")(tmp_path, case)
    res = _gps(case, tmp_path, video)
    assert (res.source, res.points) == ("none", [])
    assert any("GPS5: 17" in note and "fix < 2" in note for note in res.notes), res.notes


def _innovv_block(lat: float, lon: float, records: int = 5) -> bytes:
    """An INNOVV ``freeGPS `` block (exiftool's QuickTimeStream.pl notes and hex dump of a
    real INNOVV MP4): size 0x4000, then from 0x10 32-byte records ``A`` N/S E/W 0, float32
    ddmm lat, lon (unsigned), knots, course, three int32 accelerations; no time anywhere."""
    body = _freegps_header(0x4000)
    struct.pack_into("<I", body, 12, 0x3F0)
    for k in range(records):
        la, lo = lat + k * 1e-5, lon + k * 1e-5
        ref = (b"N" if la >= 0 else b"S") + (b"E" if lo >= 0 else b"W")
        struct.pack_into(
            "<4s4f3i",
            body,
            0x10 + 32 * k,
            b"A" + ref + b"\0",
            _ddmm(la),
            _ddmm(lo),
            7.1,
            216.2,
            195,
            48,
            -352,
        )
    return bytes(body)


def test_innovv_records_are_timed_by_the_clip_start(tmp_path: Path) -> None:
    """INNOVV records carry no time: with a start from the file name they are placed on the
    camera's clock (one block a second, records spread over it), and the start basis stays
    the name; without one, the record says why no GPS was taken."""
    video = make_clip(tmp_path / "2019_0412_101500_F.MP4", seconds=3, size=(214, 120), fps=15)
    embed_novatek_gps(video, [_innovv_block(-33.87 + i * 1e-4, 151.21) for i in range(3)])
    start = datetime(2019, 4, 12, 10, 15)
    res = extract_gps(video, start_local=start)
    assert res.source == "freegps-camera-clock", res.notes
    assert res.stats.get("innovv") == 3 and len(res.points) == 15
    assert [p.t for p in res.points[:6]] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert res.points[5].time == start.replace(tzinfo=UTC) + timedelta(seconds=1)
    assert all(-33.9 < p.lat < -33.8 and 151.2 < p.lon < 151.3 for p in res.points)
    assert res.gps_start() is None  # the camera's clock, not the receiver's
    blind = extract_gps(video)
    assert blind.points == [] and any("carry no time" in n for n in blind.notes), blind.notes


def test_replicas_keep_the_novatek_box_order(tmp_path: Path) -> None:
    """mdat, then moov holding the ``gps `` index, then the freeGPS blocks as free boxes."""
    case = next(c for c in CASES if c.family == "novatek")
    video = case.build(tmp_path, case)
    with open(video, "rb") as f:
        kinds = [b.type for b in top_level_boxes(f, video.stat().st_size)]
    assert kinds[:1] == [b"ftyp"] and kinds.index(b"mdat") < kinds.index(b"moov")
    assert kinds[kinds.index(b"moov") + 1 :] == [b"free"] * 3


def test_rexing_scaling_applies_only_with_its_frea_box(tmp_path: Path) -> None:
    """The same blocks without the ``frea``/``ver `` box are read as the plain Viofo layout."""
    case = next(c for c in CASES if c.family == "rexing")
    video = case.build(tmp_path, case)
    assert _gps(case, tmp_path, video).stats.get("binary-rexing") == 3
    with open(video, "rb") as f:
        frea = top_level_boxes(f, video.stat().st_size)[-1]
    assert frea.type == b"frea"
    video.write_bytes(video.read_bytes()[: frea.offset])
    plain = _gps(case, tmp_path, video)
    assert plain.stats.get("binary") == 3 and "binary-rexing" not in plain.stats
