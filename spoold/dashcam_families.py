"""The built-in dashcam naming families, as data (:mod:`spoold.dashcam` builds and checks them).

Public API: :data:`BUILTIN_FAMILY_DATA`: one dict per family, in the format that operators use
for ``[[dashcam.families]]`` in ``spoold.toml`` (documented in :mod:`spoold.dashcam`).  Each
family cites where its names come from (``source``); ``tests/fixtures/dashcam_names/README.md``
lists the real names and their origin and licence.
"""

from __future__ import annotations

from typing import Any

_EXT = r"\.(?:mp4|mov)"
_EXT_TS = r"\.(?:mp4|mov|ts)"
_YMD = r"(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})"
_HMS = r"(?P<h>\d{2})(?P<mi>\d{2})(?P<s>\d{2})"
_Y_MD = r"(?P<y>\d{4})_(?P<mo>\d{2})(?P<d>\d{2})"  # Novatek's YYYY_MMDD
_TPL_Y_MD_HMS = "{y:04d}_{mo:02d}{d:02d}_{h:02d}{mi:02d}{s:02d}"
_TPL_YMD_HMS = "{y:04d}{mo:02d}{d:02d}_{h:02d}{mi:02d}{s:02d}"

# Folders the many Novatek-based cameras use (the name alone does not tell them apart).
_NOVATEK_FOLDERS: list[dict[str, Any]] = [
    {"match": "RO", "mode": "event", "locked": True},  # DCIM/Movie/RO = read-only (protected)
    {"match": "EMR(_s)?|event", "mode": "event", "locked": True},
    {"match": ".*parking.*|park", "mode": "parking"},
    {"match": "movie|normal", "mode": "normal"},
]


def _novatek_like(
    name: str,
    folders: list[dict[str, Any]],
    source: str,
    channels: dict[str, str] | None = None,
    ext: str = _EXT,
) -> dict[str, Any]:
    """Data of a family writing Novatek's single-channel names (``YYYY_MMDD_HHMMSS_NNN``,
    plus a camera letter where ``channels`` are given)."""
    ch = "(?P<ch>[" + "".join(channels) + "])?" if channels else ""
    return {
        "name": name,
        "pattern": _Y_MD + "_" + _HMS + r"_(?P<seq>\d{3,6})" + ch + ext,
        "channels": channels,
        "default_mode": "normal",
        "folders": folders,
        "template": _TPL_Y_MD_HMS + "_{seq:03d}.MP4",
        "source": source,
    }


BUILTIN_FAMILY_DATA: tuple[dict[str, Any], ...] = (
    {
        # 2026_0513_172152_000120F.MP4, ..._000122PF (parking), ..._000123ER (event)
        "name": "viofo",
        "pattern": _Y_MD + "_" + _HMS + r"_(?P<seq>\d{3,6})(?P<mode>[PE])?(?P<ch>[FRTI])" + _EXT,
        "channels": {"F": "front", "R": "rear", "T": "telephoto", "I": "interior"},
        "modes": {"P": "parking", "E": "event"},
        "default_mode": "normal",
        "folders": [
            {"match": "RO", "mode": "event", "locked": True},
            {"match": ".*parking.*", "mode": "parking"},
        ],
        "template": _TPL_Y_MD_HMS + "_{seq:06d}F.MP4",
        "source": "https://github.com/jusii/viofosync/blob/main/tests/test_queue_filename_parsing.py",
    },
    # Single-channel Novatek names, no camera letter: 2016_1224_094105_116.MP4 (Viofo A119)
    # and the same on Street Guardian, Rove, Rexing, Xiaomi Yi and many unbranded cameras.
    _novatek_like(
        "novatek",
        _NOVATEK_FOLDERS,
        "https://github.com/miahi/a119_join/blob/master/a119_join.py",
        ext=_EXT_TS,
    ),
    {
        # 20181029_131513_NF.mp4: type letter, direction letter, optional L/S upload flag
        "name": "blackvue",
        "pattern": _YMD + "_" + _HMS + r"_(?P<mode>[NEPMIOATBRXGDLYF])(?P<ch>[FRIO])[LS]?" + _EXT,
        # N normal, M manual, P parking motion; every other letter is a triggered recording
        # (impact, parking impact, overspeed, harsh driving, geofence, driver alerts).
        "modes": {
            "N": "normal",
            "M": "manual",
            "P": "parking",
            **{letter: "event" for letter in "EIOATBRXGDLYF"},
        },
        "channels": {"F": "front", "R": "rear", "I": "interior", "O": "other"},
        "template": _TPL_YMD_HMS + "_NF.mp4",
        "source": "https://github.com/acolomba/blackvuesync/blob/master/test/blackvuesync_test.py",
    },
    {
        # 240915_143027_001_FH.MP4: YYMMDD_hhmmss_seq_<camera F/R><quality H/L>
        "name": "nextbase",
        "pattern": r"(?P<y>\d{2})(?P<mo>\d{2})(?P<d>\d{2})_"
        + _HMS
        + r"_(?P<seq>\d{3})_(?P<ch>[FRI])[HL]"
        + _EXT,
        "channels": {"F": "front", "R": "rear", "I": "interior"},
        "default_mode": "normal",
        "folders": [
            {"match": "protected|event", "mode": "event", "locked": True},
            {"match": "parking", "mode": "parking"},
            {"match": "video|normal", "mode": "normal"},
        ],
        "template": "{yy:02d}{mo:02d}{d:02d}_{h:02d}{mi:02d}{s:02d}_{seq:03d}_FH.MP4",
        "source": "https://nextbase.zendesk.com/hc/en-ie/articles/21362518328349-File-Names",
    },
    {
        # NO20191130-120156-000121.MP4 (EV event, PA parking), ..._s.MP4; dual models add F/B
        "name": "70mai",
        "pattern": r"(?P<mode>NO|EV|PA)"
        + _YMD
        + "-"
        + _HMS
        + r"-(?P<seq>\d{6})(?P<ch>[FB])?(?:_s)?"
        + _EXT,
        "modes": {"NO": "normal", "EV": "event", "PA": "parking"},
        "channels": {"F": "front", "B": "rear"},
        "folders": [
            {"match": "normal", "mode": "normal"},
            {"match": "event", "mode": "event"},
            {"match": "parking", "mode": "parking"},
            {"match": "front", "channel": "front"},
            {"match": "back|rear", "channel": "rear"},
        ],
        "template": "NO{y:04d}{mo:02d}{d:02d}-{h:02d}{mi:02d}{s:02d}-{seq:06d}.MP4",
        "source": "https://github.com/mzdun/dashcam-gps/tree/main/extras/mgps-70mai/fuzzer/data",
    },
    {
        # REC_20240915_143027_F.MP4 (also REC_2024_09_15_14_30_27_F.MP4); mode from folder
        "name": "thinkware",
        "pattern": r"REC_(?P<y>\d{4})_?(?P<mo>\d{2})_?(?P<d>\d{2})_(?P<h>\d{2})_?(?P<mi>\d{2})_?(?P<s>\d{2})_(?P<ch>[FRI])"
        + _EXT,
        "channels": {"F": "front", "R": "rear", "I": "interior"},
        "folders": [
            {"match": "cont_rec", "mode": "normal"},
            {"match": "evt_rec|sos_rec", "mode": "event"},
            {"match": "manual_rec", "mode": "manual"},
            {
                "match": "parking_rec|motion_timelapse_rec|motion_rec|timelapse_rec",
                "mode": "parking",
            },
        ],
        "template": "REC_" + _TPL_YMD_HMS + "_F.MP4",
        "source": "https://manualshive.com/ru/manual/thinkware/fa10/1107408?page=14",
    },
    {
        # TeslaCam/RecentClips/2022-04-11_19-12-27-back.mp4 (front, back, left/right_repeater,
        # left/right_pillar; a camera a later firmware adds parses as "other")
        "name": "tesla",
        "pattern": r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})_(?P<h>\d{2})-(?P<mi>\d{2})-(?P<s>\d{2})-(?P<ch>[a-z][a-z_]*)"
        + _EXT,
        "channels": {
            "front": "front",
            "back": "rear",
            "left_repeater": "left",
            "right_repeater": "right",
            "left_pillar": "left",
            "right_pillar": "right",
        },
        "folders": [
            {"match": "RecentClips", "mode": "normal"},
            # Saved and Sentry clips are kept until deleted; RecentClips are overwritten.
            {"match": "SavedClips", "mode": "manual", "locked": True},
            {"match": "SentryClips", "mode": "event", "locked": True},
        ],
        "template": "{y:04d}-{mo:02d}-{d:02d}_{h:02d}-{mi:02d}-{s:02d}-front.mp4",
        "source": "https://github.com/Lythinari/TeslaCamViewer/blob/main/README.md",
    },
    {
        # Kaiser Bass R50 and unbranded HiSilicon cameras: DCIM/100video/20240112181119_180.MP4
        # (start, then length in seconds); DCIM/101video/ holds event clips.
        "name": "hisilicon",
        "pattern": _YMD + _HMS + r"_(?P<dur>[1-9]\d{0,3})" + _EXT,
        "folders": [
            {"match": "100video", "mode": "normal"},
            {"match": "101video", "mode": "event", "locked": True},
        ],
        "template": "{y:04d}{mo:02d}{d:02d}{h:02d}{mi:02d}{s:02d}_{dur:d}.MP4",
        "source": "https://github.com/jgOhYeah/dashcam-viewer/tree/main/src/demo-files/DCIM",
    },
    {
        # HiSilicon DTCF middleware (Hi3559V200 car cameras): Movie/2024_09_15_143027_07.TS,
        # EMR/ events, Park/ parking; "_b" folders hold the back camera, "_s" sub-streams.
        "name": "hisilicon-dtcf",
        "pattern": r"(?P<y>\d{4})_(?P<mo>\d{2})_(?P<d>\d{2})_"
        + _HMS
        + r"_(?P<seq>\d{2})"
        + _EXT_TS,
        "folders": [
            {"match": "Movie(_s)?", "mode": "normal", "channel": "front"},
            {"match": "EMR(_s)?", "mode": "event", "locked": True, "channel": "front"},
            {"match": "Park(_s)?", "mode": "parking", "channel": "front"},
            {"match": "Movie_b(_s)?", "mode": "normal", "channel": "rear"},
            {"match": "EMR_b(_s)?", "mode": "event", "locked": True, "channel": "rear"},
            {"match": "Park_b(_s)?", "mode": "parking", "channel": "rear"},
        ],
        "template": "{y:04d}_{mo:02d}_{d:02d}_{h:02d}{mi:02d}{s:02d}_{seq:02d}.TS",
        "source": "https://github.com/LiuyunlongLorin/HI3559v200/blob/master/middleware/component/dtcf/src/hi_dtcf.c",
    },
    {
        # DDPai: DCIM/200video/front/20260307103136_0060.mp4 (start, then 4-digit length in
        # seconds, the stem its GPS archives share: 20210221181215_0377.git)
        "name": "ddpai",
        "pattern": _YMD + _HMS + r"_(?P<dur>0\d{3})" + _EXT,
        "folders": [
            {"match": "front", "channel": "front"},
            {"match": "rear", "channel": "rear"},
        ],
        "template": "{y:04d}{mo:02d}{d:02d}{h:02d}{mi:02d}{s:02d}_{dur:04d}.mp4",
        "source": "https://github.com/lixingcong/ddpai-mini5-gps-parser/blob/main/src/ddpai/tests/ddpai.test.ts",
    },
    {
        # Redtiger: 20260312190947_000504A.MP4 (start, then a 6-digit sequence and the camera
        # letter); locked clips are moved to a folder such as LOCK.
        "name": "redtiger",
        "pattern": _YMD + _HMS + r"_(?P<seq>\d{6})(?P<ch>[AB])" + _EXT,
        "channels": {"A": "front", "B": "rear"},
        "default_mode": "normal",
        "folders": [{"match": "LOCK(ED)?", "mode": "event", "locked": True}],
        "template": "{y:04d}{mo:02d}{d:02d}{h:02d}{mi:02d}{s:02d}_{seq:06d}A.MP4",
        "source": "https://github.com/greatvovan/redtiger-dashcam/blob/main/redtiger/filesystem.py",
    },
    {
        # Cobra: 20260414_0001_CAM1_VID.MOV (recording day, a per-day sequence, the camera):
        # no time of day in the name, so the container's creation time is used.
        "name": "cobra",
        "pattern": r"\d{8}_(?P<seq>\d{4})_CAM(?P<ch>\d)_VID" + _EXT,
        "channels": {"1": "front", "2": "rear"},
        "template": "{y:04d}{mo:02d}{d:02d}_{seq:04d}_CAM1_VID.MOV",
        "source": "https://github.com/exiftool/exiftool/issues/424",
    },
    {
        # Transcend DrivePro, older cards: TSYYYYMMDDhhmmss.MOV in N-Video; emergency
        # recordings (EVENT) are protected from loop overwriting.
        "name": "transcend",
        "pattern": "TS" + _YMD + _HMS + _EXT,
        "folders": [
            {"match": "N[-_]VIDEO", "mode": "normal"},
            {"match": "EVENT|E[-_]VIDEO", "mode": "event", "locked": True},
        ],
        "template": "TS{y:04d}{mo:02d}{d:02d}{h:02d}{mi:02d}{s:02d}.MOV",
        "source": "https://github.com/Glawster/organiseMyVideo/blob/main/documentation/cameraInventory.md",
    },
    {
        # Vantrue: 2017_0101_060101_001A.MP4 (A front, B rear) in Video/Normal, Video/Event
        "name": "vantrue",
        "pattern": _Y_MD + "_" + _HMS + r"_(?P<seq>\d{3,6})(?P<ch>[ABC])" + _EXT,
        "channels": {"A": "front", "B": "rear"},
        "default_mode": "normal",
        "folders": [
            {"match": "normal", "mode": "normal"},
            {"match": "event", "mode": "event", "locked": True},
            {"match": "parking", "mode": "parking"},
        ],
        "template": _TPL_Y_MD_HMS + "_{seq:03d}A.MP4",
        "source": "https://www.manualshelf.com/manual/vantrue/2724592931617/user-manual-english-japanese/page-13.html",
    },
    {
        # Mio MiVue: FILE260819-071804F.mp4 (YYMMDD-hhmmss, F/R camera) in F/ and R/ folders
        "name": "mio",
        "pattern": r"FILE(?P<y>\d{2})(?P<mo>\d{2})(?P<d>\d{2})-"
        + _HMS
        + r"(?:-(?P<seq>\d{6}))?(?P<ch>[FR])?"
        + _EXT,
        "channels": {"F": "front", "R": "rear"},
        "folders": [
            {"match": "F", "channel": "front"},
            {"match": "R", "channel": "rear"},
            {"match": "normal", "mode": "normal"},
            {"match": "event", "mode": "event", "locked": True},
            {"match": "parking", "mode": "parking"},
        ],
        "template": "FILE{yy:02d}{mo:02d}{d:02d}-{h:02d}{mi:02d}{s:02d}F.mp4",
        "source": "not found in a citable source; pattern from a third-party viewer's test suite",
    },
    {
        # Garmin Dash Cam: GRMN0128.MP4, no time in the name (container time is used); the
        # DCIM subfolder says incident-saved, manually saved or unsaved loop video.
        "name": "garmin",
        "pattern": r"GRMN(?P<seq>\d{4})\.mp4",
        "folders": [
            {"match": r"\d{3}EVE?NT", "mode": "event", "locked": True},
            {"match": r"\d{3}SAVED", "mode": "manual", "locked": True},
            {"match": r"\d{3}UNSVD|\d{3}UNSAVED", "mode": "normal"},
        ],
        "template": "GRMN{seq:04d}.MP4",
        "source": "https://www8.garmin.com/manuals/webhelp/GUID-3D42553F-058C-48E4-9E9B-0BF243FDE816/EN-US/GUID-06C87C98-F5DA-4B9E-B971-E000C3086650.html",
    },
    {
        # GoPro action cameras used as dashcams: no time in the name (the container time or
        # the GPMF GPS time is used). HERO5 and older GOPR1234.MP4 (chapters GP011234.MP4);
        # HERO6 on GH011234.MP4 (AVC) / GX011234.MP4 (HEVC), the two digits a chapter or the
        # looping prefix (GHAA0001.MP4); in DCIM/100GOPRO.
        "name": "gopro",
        "pattern": r"(?:GOPR|G[PHX][0-9A-Z]{2})(?P<seq>\d{4})\.mp4",
        "default_mode": "normal",
        "folders": [{"match": r"\d{3}GOPRO", "mode": "normal"}],
        "template": "GH01{seq:04d}.MP4",
        "source": "https://vafudr.blogspot.com/2022/10/gopro-camera-file-naming.html",
    },
    # Novatek-based brands whose names are those of the "novatek" family: never reached in
    # the default order, selected by configuring an inbox to the brand (select_families).
    _novatek_like(
        "xiaomi-yi",
        [{"match": "EMR", "mode": "event", "locked": True}, {"match": "Movie", "mode": "normal"}],
        "https://github.com/JohnDN90/YiDashCamConcatenate/blob/master/README.md",
    ),
    _novatek_like(
        "rove",
        # Locked videos (impact while driving or parked) go to RO.
        [{"match": "RO", "mode": "event", "locked": True}, {"match": "Movie", "mode": "normal"}],
        "https://www.manualshelf.com/manual/rove/r2-4k/user-manual-english/page-40.html",
    ),
    _novatek_like(
        "transcend-dp",
        # DrivePro 10/250: DP250/N_VIDEO/2026_0513_120237_012.mp4, events in E_VIDEO (TEMP and
        # E_TEMP hold low-resolution copies of the same clips: ignore them in the inbox).
        [
            {"match": "E_VIDEO|EVENT", "mode": "event", "locked": True},
            {"match": "N_VIDEO", "mode": "normal"},
        ],
        "https://github.com/Glawster/organiseMyVideo/blob/main/tests/test_cameraPlanTranscendProxies.py",
    ),
    _novatek_like(
        "street-guardian",
        [{"match": "RO", "mode": "event", "locked": True}, {"match": "MOVIE", "mode": "normal"}],
        "not found; Novatek layout assumed (DCIM/MOVIE, DCIM/MOVIE/RO)",
    ),
    _novatek_like(
        "rexing",
        _NOVATEK_FOLDERS,
        "not found; Novatek (freeGPS) per exiftool's QuickTimeStream.pl notes on the V1GW-4K",
        channels={"F": "front", "R": "rear"},
    ),
)
