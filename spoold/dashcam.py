"""Dashcam file-name conventions: what a clip's name and folders say about it.

Public API:

- :class:`NameInfo` — frozen result: ``brand``, ``start_local``, ``channel``, ``mode``,
  ``sequence``, ``locked`` (+ ``camera``, the raw camera token).
- :func:`parse_name(relpath) <parse_name>` → :class:`NameInfo` or ``None`` when no known
  convention matches (the caller then falls back to the container creation time, then mtime).
- :data:`CONVENTIONS` — the table of :class:`Convention` (brand, compiled regex, folder hints).
- :func:`is_ignored_name(name) <is_ignored_name>` — temp/partial/OS-junk names never to ingest.
- :func:`is_video_name(name, patterns) <is_video_name>` — case-insensitive glob match against
  :data:`DEFAULT_VIDEO_PATTERNS` (or the configured patterns), ignored names excluded.

Names are hints, not truth: ``start_local`` is the camera's wall clock (no time zone, may be
wrong), and ``locked`` is only set where the path or name says the camera protected the clip.
Pure functions, no I/O; runs on Python 3.10.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

__all__ = [
    "CONVENTIONS",
    "DEFAULT_VIDEO_PATTERNS",
    "Channel",
    "Convention",
    "FolderHint",
    "Mode",
    "NameInfo",
    "is_ignored_name",
    "is_video_name",
    "parse_name",
]

Channel = Literal["front", "rear", "interior", "left", "right", "telephoto", "other", "unknown"]
Mode = Literal["normal", "event", "parking", "manual", "unknown"]

DEFAULT_VIDEO_PATTERNS: tuple[str, ...] = ("*.mp4", "*.mov", "*.MP4", "*.MOV", "*.ts", "*.avi")


@dataclass(frozen=True)
class NameInfo:
    """What a dashcam file name (and its folders) encode."""

    brand: str
    start_local: datetime  # naive: the camera's wall clock, as written in the name
    channel: Channel = "unknown"
    mode: Mode = "unknown"
    sequence: int | None = None
    locked: bool = False
    # Raw camera token ("F", "left_pillar", "Back"): keeps cameras apart that share a channel
    # (Tesla repeater vs pillar both map to "left").
    camera: str = ""


@dataclass(frozen=True)
class FolderHint:
    """A directory name (full match, case-insensitive) that tells mode, lock or channel."""

    pattern: re.Pattern[str]
    mode: Mode | None = None
    locked: bool = False
    channel: Channel | None = None


class _Decoded(NamedTuple):
    start: datetime
    channel: Channel | None = None
    mode: Mode | None = None
    sequence: int | None = None
    locked: bool = False
    camera: str = ""


@dataclass(frozen=True)
class Convention:
    """One brand's naming rule: the name regex, how to decode a match, and folder hints."""

    brand: str
    pattern: re.Pattern[str]
    folder_hints: tuple[FolderHint, ...]
    decode: Callable[[re.Match[str]], _Decoded | None]
    # Mode when neither the name nor a folder says (loop recording for brands whose names
    # mark the exceptions; "unknown" where only folders carry the mode).
    default_mode: Mode = "unknown"


def _hint(
    pattern: str, mode: Mode | None = None, locked: bool = False, channel: Channel | None = None
) -> FolderHint:
    return FolderHint(re.compile(pattern, re.IGNORECASE), mode, locked, channel)


def _start(m: re.Match[str], century: int = 0) -> datetime | None:
    """The wall-clock time from the named groups y, mo, d, h, mi, s."""
    try:
        return datetime(
            century + int(m["y"]), int(m["mo"]), int(m["d"]), int(m["h"]), int(m["mi"]), int(m["s"])
        )
    except ValueError:  # e.g. month 13: digits that merely look like a date
        return None


_DATE8 = r"(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})"
_TIME6 = r"(?P<h>\d{2})(?P<mi>\d{2})(?P<s>\d{2})"


_VIDEO_EXT = r"\.(?:mp4|mov|ts|avi)"

# --- Viofo (Novatek): 2026_0513_172152_000120F.MP4, ..._000122PF, ..._000123ER;
# older single-channel models: 2019_0101_120000_001.MOV
_VIOFO_RE = re.compile(
    r"(?P<y>\d{4})_(?P<mo>\d{2})(?P<d>\d{2})_" + _TIME6 + "_"
    r"(?P<seq>\d{6}|\d{3})(?P<kind>[PE])?(?P<ch>[FRTI])?" + _VIDEO_EXT,
    re.IGNORECASE,
)
_VIOFO_CH: dict[str, Channel] = {"F": "front", "R": "rear", "T": "telephoto", "I": "interior"}
_VIOFO_KIND: dict[str, Mode] = {"P": "parking", "E": "event"}


def _viofo(m: re.Match[str]) -> _Decoded | None:
    start = _start(m)
    if start is None:
        return None
    kind = (m["kind"] or "").upper()
    ch = (m["ch"] or "").upper()
    # No channel letter (older single-channel models): the name does not say which camera.
    return _Decoded(start, _VIOFO_CH.get(ch), _VIOFO_KIND.get(kind), int(m["seq"]), False, ch)


# --- BlackVue: 20190101_120000_NF.mp4 (+ optional L/S live/substream flag)
_BLACKVUE_RE = re.compile(
    _DATE8
    + "_"
    + _TIME6
    + r"_(?P<type>[NEPMIOATBRXGDLYF])(?P<dir>[FRIO])(?P<flag>[LS])?"
    + _VIDEO_EXT,
    re.IGNORECASE,
)
# N normal, M manual, P parking motion; every other letter is a triggered recording (impact,
# parking impact, overspeed, harsh driving, geofence, driver-monitoring alerts) → event.
_BLACKVUE_MODE: dict[str, Mode] = {"N": "normal", "M": "manual", "P": "parking"}
_BLACKVUE_CH: dict[str, Channel] = {"F": "front", "R": "rear", "I": "interior", "O": "other"}


def _blackvue(m: re.Match[str]) -> _Decoded | None:
    start = _start(m)
    if start is None:
        return None
    kind, ch = m["type"].upper(), m["dir"].upper()
    return _Decoded(start, _BLACKVUE_CH[ch], _BLACKVUE_MODE.get(kind, "event"), None, False, ch)


# --- Nextbase: 240915_143027_001_FH.MP4 (YYMMDD_hhmmss_seq_<camera F/R><quality H/L>)
_NEXTBASE_RE = re.compile(
    r"(?P<y>\d{2})(?P<mo>\d{2})(?P<d>\d{2})_"
    + _TIME6
    + r"_(?P<seq>\d{3})_(?P<cam>[FRI])(?P<q>[HL])"
    + _VIDEO_EXT,
    re.IGNORECASE,
)
_LETTER_CH: dict[str, Channel] = {"F": "front", "R": "rear", "I": "interior", "B": "rear"}


def _nextbase(m: re.Match[str]) -> _Decoded | None:
    start = _start(m, century=2000)
    if start is None:
        return None
    cam = m["cam"].upper()
    return _Decoded(start, _LETTER_CH[cam], None, int(m["seq"]), False, cam)


# --- 70mai: NO20191130-120156-000121.MP4, EV..., PA..., ..._s.MP4; some dual models add F/B
_70MAI_RE = re.compile(
    r"(?P<kind>NO|EV|PA)"
    + _DATE8
    + "-"
    + _TIME6
    + r"-(?P<seq>\d{6})(?P<ch>[FB])?(?:_s)?"
    + _VIDEO_EXT,
    re.IGNORECASE,
)
_70MAI_MODE: dict[str, Mode] = {"NO": "normal", "EV": "event", "PA": "parking"}


def _70mai(m: re.Match[str]) -> _Decoded | None:
    start = _start(m)
    if start is None:
        return None
    ch = (m["ch"] or "").upper()
    mode = _70MAI_MODE[m["kind"].upper()]
    return _Decoded(start, _LETTER_CH.get(ch), mode, int(m["seq"]), False, ch)


# --- Thinkware: REC_20240915_143027_F.MP4 (also REC_2024_09_15_14_30_27_F.MP4 on some models)
_THINKWARE_RE = re.compile(
    r"REC_(?P<y>\d{4})_?(?P<mo>\d{2})_?(?P<d>\d{2})_(?P<h>\d{2})_?(?P<mi>\d{2})_?(?P<s>\d{2})"
    r"_(?P<ch>[FRI])" + _VIDEO_EXT,
    re.IGNORECASE,
)


def _thinkware(m: re.Match[str]) -> _Decoded | None:
    start = _start(m)
    if start is None:
        return None
    ch = m["ch"].upper()
    return _Decoded(start, _LETTER_CH[ch], None, None, False, ch)


# --- Tesla TeslaCam: 2024-09-15_14-25-00-front.mp4, -back, -left_repeater, -right_pillar ...
_TESLA_RE = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})_(?P<h>\d{2})-(?P<mi>\d{2})-(?P<s>\d{2})"
    r"-(?P<cam>[a-z][a-z_]*)" + _VIDEO_EXT,
    re.IGNORECASE,
)
_TESLA_CH: dict[str, Channel] = {
    "front": "front",
    "back": "rear",
    "left_repeater": "left",
    "right_repeater": "right",
    "left_pillar": "left",
    "right_pillar": "right",
}


def _tesla(m: re.Match[str]) -> _Decoded | None:
    start = _start(m)
    if start is None:
        return None
    cam = m["cam"].lower()
    # A camera added by a later firmware still parses, as "other".
    return _Decoded(start, _TESLA_CH.get(cam, "other"), None, None, False, cam)


CONVENTIONS: tuple[Convention, ...] = (
    Convention(
        "viofo",
        _VIOFO_RE,
        (
            _hint("RO", mode="event", locked=True),  # DCIM/Movie/RO = read-only (protected)
            _hint(r".*parking.*", mode="parking"),
        ),
        _viofo,
        default_mode="normal",
    ),
    Convention("blackvue", _BLACKVUE_RE, (), _blackvue, default_mode="unknown"),
    Convention(
        "nextbase",
        _NEXTBASE_RE,
        (
            _hint(r"protected|event", mode="event", locked=True),
            _hint(r"parking", mode="parking"),
            _hint(r"video|normal", mode="normal"),
        ),
        _nextbase,
        default_mode="normal",
    ),
    Convention(
        "70mai",
        _70MAI_RE,
        (
            _hint("normal", mode="normal"),
            _hint("event", mode="event"),
            _hint("parking", mode="parking"),
            _hint("front", channel="front"),
            _hint("back|rear", channel="rear"),
        ),
        _70mai,
    ),
    Convention(
        "thinkware",
        _THINKWARE_RE,
        (
            _hint("cont_rec", mode="normal"),
            _hint("evt_rec|sos_rec", mode="event"),
            _hint("manual_rec", mode="manual"),
            _hint("parking_rec|motion_timelapse_rec|motion_rec|timelapse_rec", mode="parking"),
        ),
        _thinkware,
    ),
    Convention(
        "tesla",
        _TESLA_RE,
        (
            _hint("RecentClips", mode="normal"),
            # Saved and Sentry clips are kept until deleted; RecentClips are overwritten.
            _hint("SavedClips", mode="manual", locked=True),
            _hint("SentryClips", mode="event", locked=True),
        ),
        _tesla,
    ),
)


def _split(relpath: str) -> tuple[list[str], str]:
    # Accept Windows separators: shares are often filled from Windows machines.
    parts = [p for p in re.split(r"[\\/]+", relpath) if p and p != "."]
    if not parts:
        return [], ""
    return parts[:-1], parts[-1]


def parse_name(relpath: str) -> NameInfo | None:
    """Decode a clip's relative path with the first matching convention, or return ``None``.

    The name decides first (e.g. Viofo ``E``/``P``, BlackVue type letter, 70mai prefix);
    folders only fill in what the name leaves open (deepest folder first), and any folder
    hint with ``locked`` marks the clip locked.
    """
    dirs, name = _split(relpath)
    if not name:
        return None
    for conv in CONVENTIONS:
        m = conv.pattern.fullmatch(name)
        if m is None:
            continue
        dec = conv.decode(m)
        if dec is None:
            continue
        mode, channel, locked = dec.mode, dec.channel, dec.locked
        camera = dec.camera
        for folder in reversed(dirs):
            for hint in conv.folder_hints:
                if not hint.pattern.fullmatch(folder):
                    continue
                if mode is None and hint.mode is not None:
                    mode = hint.mode
                if channel is None and hint.channel is not None:
                    channel = hint.channel
                    camera = camera or folder
                locked = locked or hint.locked
        return NameInfo(
            brand=conv.brand,
            start_local=dec.start,
            channel=channel or "unknown",
            mode=mode or conv.default_mode,
            sequence=dec.sequence,
            locked=locked,
            camera=camera,
        )
    return None


_IGNORED_SUFFIXES = (
    ".part",  # curl, wget, Firefox, many download managers
    ".partial",
    ".tmp",
    ".temp",
    ".crdownload",  # Chrome
    ".filepart",  # WinSCP
    ".!sync",  # Resilio / BitTorrent Sync
    ".swp",
    "~",  # editor backups
)
_IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini", "ehthumbs.db", ".ds_store"})
_IGNORED_PREFIXES = (
    ".",  # dotfiles: rsync ".name.XXXXXX", Syncthing ".syncthing.name.tmp", AppleDouble "._x"
    "~syncthing~",  # Syncthing temp names on Windows
    "~$",  # Office lock files
)


def is_ignored_name(name: str) -> bool:
    """True for names of files still being written or never worth ingesting.

    Only the last path component is looked at, so a path may be passed too.
    """
    _, base = _split(name)
    if not base:
        return True
    low = base.lower()
    return (
        low in _IGNORED_NAMES
        or low.startswith(_IGNORED_PREFIXES)
        or low.endswith(_IGNORED_SUFFIXES)
    )


def is_video_name(name: str, patterns: Iterable[str] = DEFAULT_VIDEO_PATTERNS) -> bool:
    """True when the last path component matches one of ``patterns`` (case-insensitive globs)
    and is not an ignored temp/junk name (``.x.MP4.AbC123`` or ``._x.MP4`` never qualify)."""
    _, base = _split(name)
    if not base or is_ignored_name(base):
        return False
    low = base.lower()
    return any(fnmatch.fnmatchcase(low, p.lower()) for p in patterns)
