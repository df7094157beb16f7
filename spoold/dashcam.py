"""Dashcam file-name conventions: what a clip's name and folders say about it.

Names are recognised by a table of *families* that is plain data (one dict per family, the
same format operators use to add their own), not code per brand.  A family matches a file
name with a regular expression whose named groups carry the fields; folder hints fill in what
the name leaves open.  When no family matches, a generic rule still finds a date and time
written in the name (``YYYYMMDD_hhmmss``, ``YYYYMMDDhhmmss``, ``YYYY_MMDD_hhmmss``,
``YYYY-MM-DD_hh-mm-ss``, ``YYYY_MM_DD_hhmmss``, ``YYMMDD-hhmmss`` ...), and the result says
which rule matched (``rule="generic-datetime"``).

Public API:

- :class:`NameInfo` — frozen result: ``brand``, ``start_local``, ``channel``, ``mode``,
  ``sequence``, ``locked``, ``camera`` (the raw camera token), ``rule`` (the family or rule
  that matched) and ``duration_s`` (when the name carries the clip length).
- :func:`parse_name(relpath, families=None) <parse_name>` → :class:`NameInfo` with a start
  time, or ``None`` (the caller then falls back to the container creation time, then mtime).
- :func:`recognise(relpath, families=None) <recognise>` → like :func:`parse_name`, but also
  returns families whose names hold no time (Garmin ``GRMN0128.MP4``), with
  ``start_local=None``: brand, mode and lock still come from the name and folders.
- :data:`FAMILIES` (alias :data:`CONVENTIONS`) — the built-in table of :class:`Family`, in
  match order; :data:`BUILTIN_FAMILY_DATA` — the same table as plain data (it lives in
  :mod:`spoold.dashcam_families`).
- :func:`families_from_data(items, taken=()) <families_from_data>` — validate plain data and
  build extra families (raises :class:`FamilyError` naming the family and the field).
- :func:`select_families(names, extra=()) <select_families>` — the families of an inbox
  configured to a few named families, in that order (unknown names raise
  :class:`FamilyError`).
- :func:`render_name(family, start, seq=1, dur=60) <render_name>` — a file name the family
  would write at ``start`` (from its ``template``), for tests and demos.
- :func:`is_ignored_name(name) <is_ignored_name>` — temp/partial/OS-junk names never to ingest.
- :func:`is_video_name(name, patterns) <is_video_name>` — case-insensitive glob match against
  :data:`DEFAULT_VIDEO_PATTERNS` (or the configured patterns), ignored names excluded.

Family data format (a dict per family; TOML ``[[dashcam.families]]`` tables map onto it)::

    name = "acme"                     # required; lower-case letters, digits, "-" and "_"
    pattern = '''ACME_(?P<y>\\d{4})(?P<mo>\\d{2})(?P<d>\\d{2})_(?P<h>\\d{2})(?P<mi>\\d{2})(?P<s>\\d{2})_(?P<ch>[FR])\\.mp4'''
    channels = { F = "front", R = "rear" }   # token of group "ch" -> channel
    modes = { N = "normal", E = "event" }    # token of group "mode" -> mode
    default_mode = "normal"                  # when neither name nor folder says
    folders = [                              # folder name (full match, any case) -> hints
      { match = "EVENT", mode = "event", locked = true },
      { match = "Park(ing)?", mode = "parking" },
      { match = "Rear", channel = "rear" },
    ]
    template = "ACME_{y:04d}{mo:02d}{d:02d}_{h:02d}{mi:02d}{s:02d}_F.mp4"  # optional
    source = "https://..."                   # optional: where the convention is documented

``pattern`` must fully match the file name (case-insensitive) and may use only these named
groups: ``y`` (4 digits, or 2 meaning 20yy), ``mo``, ``d``, ``h``, ``mi``, ``s`` (all six or
none: a family without them yields no start time), ``seq`` (sequence number), ``ch`` (camera
token, looked up in ``channels``; a token not listed there means ``"other"``), ``mode`` (mode
token, looked up in ``modes``) and ``dur`` (clip length in seconds).  Channels are
``front rear interior left right telephoto other unknown``; modes are ``normal event
parking manual unknown``.  ``template`` is a :meth:`str.format` string over ``y yy mo d h mi
s seq dur``; when given it must render a name the pattern matches with the same time.
Families are tried in order and the first whose pattern matches with a valid date wins, so
families sharing a pattern (many Novatek-based brands write the same names) are told apart
only by configuring an inbox to its family (:func:`select_families`).

Names are hints, not truth: ``start_local`` is the camera's wall clock (no time zone, may be
wrong), and ``locked`` is only set where the path or name says the camera protected the clip.
Pure functions, no I/O; runs on Python 3.10.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from spoold.dashcam_families import BUILTIN_FAMILY_DATA
from spoold.errors import ConfigError

__all__ = [
    "BUILTIN_FAMILY_DATA",
    "CONVENTIONS",
    "DEFAULT_VIDEO_PATTERNS",
    "FAMILIES",
    "GENERIC_RULE",
    "Channel",
    "Convention",
    "Family",
    "FamilyError",
    "FolderHint",
    "Mode",
    "NameInfo",
    "families_from_data",
    "is_ignored_name",
    "is_video_name",
    "parse_name",
    "recognise",
    "render_name",
    "select_families",
]

Channel = Literal["front", "rear", "interior", "left", "right", "telephoto", "other", "unknown"]
Mode = Literal["normal", "event", "parking", "manual", "unknown"]

DEFAULT_VIDEO_PATTERNS: tuple[str, ...] = ("*.mp4", "*.mov", "*.MP4", "*.MOV", "*.ts", "*.avi")

GENERIC_RULE = "generic-datetime"


class FamilyError(ConfigError):
    """A dashcam family definition (built-in or from ``spoold.toml``) is invalid."""


@dataclass(frozen=True)
class NameInfo:
    """What a dashcam file name (and its folders) encode."""

    brand: str
    # Naive: the camera's wall clock, as written in the name.  ``None`` only from
    # :func:`recognise` for families whose names hold no time; :func:`parse_name` never.
    start_local: datetime | None
    channel: Channel = "unknown"
    mode: Mode = "unknown"
    sequence: int | None = None
    locked: bool = False
    # Raw camera token ("F", "left_pillar", "Back"): keeps cameras apart that share a channel
    # (Tesla repeater vs pillar both map to "left").
    camera: str = ""
    rule: str = ""  # the family (or generic rule) that matched
    duration_s: int | None = None  # clip length, where the name carries it


@dataclass(frozen=True)
class FolderHint:
    """A directory name (full match, case-insensitive) that tells mode, lock or channel."""

    pattern: re.Pattern[str]
    mode: Mode | None = None
    locked: bool = False
    channel: Channel | None = None


@dataclass(frozen=True)
class Family:
    """One naming family: the name regex, token tables, folder hints (see module doc)."""

    brand: str
    pattern: re.Pattern[str]
    folder_hints: tuple[FolderHint, ...] = ()
    # Keys are case-folded tokens; lookups case-fold the token found in the name.  Left out
    # of the hash (dicts are not hashable); the pattern already tells families apart.
    channels: Mapping[str, Channel] = field(default_factory=dict, hash=False)
    modes: Mapping[str, Mode] = field(default_factory=dict, hash=False)
    # Mode when neither the name nor a folder says (loop recording for families whose names
    # mark the exceptions; "unknown" where only folders carry the mode).
    default_mode: Mode = "unknown"
    template: str | None = None
    source: str = ""

    @property
    def timed(self) -> bool:
        """True when names of this family carry a start time."""
        return "y" in self.pattern.groupindex


Convention = Family  # the name this type had before families became data

# ---------------------------------------------------------------- building families from data

_TIME_GROUPS = ("y", "mo", "d", "h", "mi", "s")
_GROUPS = frozenset(_TIME_GROUPS) | {"seq", "ch", "mode", "dur"}
_KEYS = frozenset(
    {"name", "pattern", "channels", "modes", "default_mode", "folders", "template", "source"}
)
_FOLDER_KEYS = frozenset({"match", "mode", "channel", "locked"})
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_CHANNELS: frozenset[str] = frozenset(get_args(Channel))
_MODES: frozenset[str] = frozenset(get_args(Mode))
# What a template is rendered with when a family is validated.
_SAMPLE_START = datetime(2024, 9, 15, 14, 30, 27)


def _fail(where: str, what: str) -> FamilyError:
    return FamilyError(f"dashcam family {where}: {what}")


def _regex(where: str, key: str, value: object) -> re.Pattern[str]:
    if not isinstance(value, str) or not value:
        raise _fail(where, f"{key} must be a non-empty string (a regular expression)")
    try:
        return re.compile(value, re.IGNORECASE)
    except re.error as exc:
        raise _fail(where, f"{key} {value!r} is not a valid regular expression: {exc}") from None


def _table(where: str, key: str, value: object, allowed: frozenset[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(where, f"{key} must be a table of token = value, got {type(value).__name__}")
    out: dict[str, Any] = {}
    for token, target in value.items():
        if not isinstance(token, str) or not token:
            raise _fail(where, f"{key}: token {token!r} must be a non-empty string")
        if target not in allowed:
            raise _fail(
                where, f"{key}.{token} = {target!r} is not one of {', '.join(sorted(allowed))}"
            )
        out[token.casefold()] = target
    return out


def _folders(where: str, value: object) -> tuple[FolderHint, ...]:
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise _fail(where, "folders must be a list of tables {match, mode, channel, locked}")
    hints: list[FolderHint] = []
    for i, item in enumerate(value):
        at = f"folders[{i}]"
        if not isinstance(item, Mapping):
            raise _fail(where, f"{at} must be a table with a 'match' regex")
        unknown = sorted(set(item) - _FOLDER_KEYS)
        if unknown:
            raise _fail(where, f"{at}: unknown key(s) {', '.join(unknown)}")
        mode, channel, locked = item.get("mode"), item.get("channel"), item.get("locked", False)
        if mode is not None and mode not in _MODES:
            raise _fail(where, f"{at}.mode {mode!r} is not one of {', '.join(sorted(_MODES))}")
        if channel is not None and channel not in _CHANNELS:
            raise _fail(
                where, f"{at}.channel {channel!r} is not one of {', '.join(sorted(_CHANNELS))}"
            )
        if not isinstance(locked, bool):
            raise _fail(where, f"{at}.locked must be true or false")
        if mode is None and channel is None and not locked:
            raise _fail(where, f"{at} says nothing: give mode, channel or locked = true")
        hints.append(
            FolderHint(_regex(where, f"{at}.match", item.get("match")), mode, locked, channel)
        )
    return tuple(hints)


def _family(index: int, item: object) -> Family:
    where = f"#{index + 1}"
    if not isinstance(item, Mapping):
        raise _fail(where, f"must be a table, got {type(item).__name__}")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise _fail(where, f"name {name!r} must be 1-40 of a-z 0-9 - _ (starting a-z 0-9)")
    where = f"#{index + 1} ({name!r})"
    unknown = sorted(set(item) - _KEYS)
    if unknown:
        raise _fail(
            where, f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}"
        )
    pattern = _regex(where, "pattern", item.get("pattern"))
    groups = set(pattern.groupindex)
    extra = sorted(groups - _GROUPS)
    if extra:
        raise _fail(
            where,
            f"pattern has unknown group(s) {', '.join(extra)}; allowed: {', '.join(sorted(_GROUPS))}",
        )
    time_groups = groups & set(_TIME_GROUPS)
    if time_groups and time_groups != set(_TIME_GROUPS):
        missing = [g for g in _TIME_GROUPS if g not in time_groups]
        raise _fail(
            where,
            f"pattern lacks group(s) {', '.join(missing)}: give all of y, mo, d, h, mi, s or none",
        )
    channels = _table(where, "channels", item.get("channels"), _CHANNELS)
    modes = _table(where, "modes", item.get("modes"), _MODES)
    if modes and "mode" not in groups:
        raise _fail(where, "modes are given but the pattern has no (?P<mode>...) group")
    if channels and "ch" not in groups:
        raise _fail(where, "channels are given but the pattern has no (?P<ch>...) group")
    default_mode = item.get("default_mode", "unknown")
    if default_mode not in _MODES:
        raise _fail(
            where, f"default_mode {default_mode!r} is not one of {', '.join(sorted(_MODES))}"
        )
    template, source = item.get("template"), item.get("source", "")
    if template is not None and not isinstance(template, str):
        raise _fail(where, "template must be a string")
    if not isinstance(source, str):
        raise _fail(where, "source must be a string")
    fam = Family(
        brand=name,
        pattern=pattern,
        folder_hints=_folders(where, item.get("folders")),
        channels=channels,
        modes=modes,
        default_mode=default_mode,
        template=template,
        source=source,
    )
    if template is not None:
        _check_template(where, fam)
    return fam


def _check_template(where: str, fam: Family) -> None:
    try:
        rendered = render_name(fam, _SAMPLE_START, seq=7, dur=60)
    except (KeyError, IndexError, ValueError) as exc:
        raise _fail(where, f"template {fam.template!r} does not render: {exc!r}") from None
    info = _match(fam, [], rendered)
    if info is None:
        raise _fail(where, f"template renders {rendered!r}, which the pattern does not match")
    if fam.timed and info.start_local != _SAMPLE_START:
        raise _fail(
            where,
            f"template renders {rendered!r}, read back as {info.start_local} "
            f"instead of {_SAMPLE_START}",
        )


def families_from_data(items: Iterable[object], taken: Iterable[str] = ()) -> tuple[Family, ...]:
    """Validate plain family data (format in the module doc) and build the families.

    ``taken`` holds names already in use (by default none; pass ``f.brand for f in
    FAMILIES`` to keep operator families from shadowing built-in ones).  Raises
    :class:`FamilyError` naming the family (position and name) and the field at fault.
    """
    seen = set(taken)
    out: list[Family] = []
    for i, item in enumerate(items):
        fam = _family(i, item)
        if fam.brand in seen:
            raise _fail(f"#{i + 1} ({fam.brand!r})", "name is already used by another family")
        seen.add(fam.brand)
        out.append(fam)
    return tuple(out)


def render_name(family: Family, start: datetime, seq: int = 1, dur: int = 60) -> str:
    """The file name ``family`` writes for a clip starting at ``start`` (from its template)."""
    if family.template is None:
        raise ValueError(f"dashcam family {family.brand!r} has no template")
    return family.template.format(
        y=start.year,
        yy=start.year % 100,
        mo=start.month,
        d=start.day,
        h=start.hour,
        mi=start.minute,
        s=start.second,
        seq=seq,
        dur=dur,
    )


# ---------------------------------------------------------------- the generic rule

_VIDEO_EXT_RE = re.compile(r"(?P<stem>.+)\.(?:mp4|mov|ts|avi|mkv|m4v|mts|3gp)", re.IGNORECASE)
# Tried in order anywhere in the stem; digits may not run on either side of the match.
_GENERIC_PATTERNS: tuple[re.Pattern[str], ...] = (
    # 20190101_120000, 20190101120000, 2019_0101_120000, 2019-01-01_12-00-00,
    # 2019_01_01_120000, 2019-01-01T12:00:00 ...
    re.compile(
        r"(?<!\d)(?P<y>(?:19[7-9]|20\d)\d)[-_.]?(?P<mo>\d{2})[-_.]?(?P<d>\d{2})"
        r"[-_. T]?(?P<h>\d{2})[-_.:]?(?P<mi>\d{2})[-_.:]?(?P<s>\d{2})(?!\d)"
    ),
    # 190101_120000, 190101-120000: two-digit year, separator required
    re.compile(
        r"(?<!\d)(?P<y>\d{2})(?P<mo>\d{2})(?P<d>\d{2})[-_](?P<h>\d{2})(?P<mi>\d{2})(?P<s>\d{2})(?!\d)"
    ),
)
_W = r"(?:.*[^a-z])?"  # the keyword starts the folder name or follows a non-letter
_E = r"(?:[^a-z].*)?"  # ... and ends it or is followed by a non-letter
_GENERIC_HINTS: tuple[FolderHint, ...] = _folders(
    "(generic rule)",
    [
        {"match": _W + words + _E, **hint}
        for words, hint in (
            (
                "(?:event|evt|emr|emergency|sos|crash|impact|locked|protected|ro)",
                {"mode": "event", "locked": True},
            ),
            ("(?:parking|park|parked)", {"mode": "parking"}),
            ("(?:manual)", {"mode": "manual"}),
            ("(?:normal|norm|loop|cont|continuous|driving|movie)", {"mode": "normal"}),
            ("(?:front|forward)", {"channel": "front"}),
            ("(?:rear|back)", {"channel": "rear"}),
            ("(?:interior|inside|cabin|inner)", {"channel": "interior"}),
        )
    ],
)


def _start(m: re.Match[str]) -> datetime | None:
    """The wall-clock time from the named groups y, mo, d, h, mi, s (2-digit year = 20yy)."""
    year = m["y"]
    try:
        return datetime(
            (2000 if len(year) == 2 else 0) + int(year),
            int(m["mo"]),
            int(m["d"]),
            int(m["h"]),
            int(m["mi"]),
            int(m["s"]),
        )
    except ValueError:  # e.g. month 13: digits that merely look like a date
        return None


def _apply_folders(
    hints: Sequence[FolderHint],
    dirs: Sequence[str],
    mode: Mode | None,
    channel: Channel | None,
    camera: str,
) -> tuple[Mode | None, Channel | None, bool, str]:
    """Fill mode/channel left open by the name from folders, deepest first; any matching
    hint with ``locked`` marks the clip locked."""
    locked = False
    for folder in reversed(dirs):
        for hint in hints:
            if not hint.pattern.fullmatch(folder):
                continue
            if mode is None and hint.mode is not None:
                mode = hint.mode
            if channel is None and hint.channel is not None:
                channel = hint.channel
                camera = camera or folder
            locked = locked or hint.locked
    return mode, channel, locked, camera


def _match(fam: Family, dirs: Sequence[str], name: str) -> NameInfo | None:
    m = fam.pattern.fullmatch(name)
    if m is None:
        return None
    groups = fam.pattern.groupindex
    start = _start(m) if fam.timed else None
    if fam.timed and start is None:
        return None
    token = (m["ch"] or "") if "ch" in groups else ""
    channel: Channel | None = fam.channels.get(token.casefold(), "other") if token else None
    mode_token = (m["mode"] or "") if "mode" in groups else ""
    mode: Mode | None = fam.modes.get(mode_token.casefold()) if mode_token else None
    mode, channel, locked, camera = _apply_folders(fam.folder_hints, dirs, mode, channel, token)
    seq = m["seq"] if "seq" in groups else None
    dur = m["dur"] if "dur" in groups else None
    return NameInfo(
        brand=fam.brand,
        start_local=start,
        channel=channel or "unknown",
        mode=mode or fam.default_mode,
        sequence=int(seq) if seq else None,
        locked=locked,
        camera=camera,
        rule=fam.brand,
        duration_s=int(dur) if dur else None,
    )


def _generic(dirs: Sequence[str], name: str) -> NameInfo | None:
    ext = _VIDEO_EXT_RE.fullmatch(name)
    if ext is None:
        return None
    stem = ext["stem"]
    for pattern in _GENERIC_PATTERNS:
        for m in pattern.finditer(stem):
            start = _start(m)
            if start is None:
                continue
            mode, channel, locked, camera = _apply_folders(_GENERIC_HINTS, dirs, None, None, "")
            return NameInfo(
                brand="generic",
                start_local=start,
                channel=channel or "unknown",
                mode=mode or "unknown",
                locked=locked,
                camera=camera,
                rule=GENERIC_RULE,
            )
    return None


def _split(relpath: str) -> tuple[list[str], str]:
    # Accept Windows separators: shares are often filled from Windows machines.
    parts = [p for p in re.split(r"[\\/]+", relpath) if p and p != "."]
    if not parts:
        return [], ""
    return parts[:-1], parts[-1]


FAMILIES: tuple[Family, ...] = families_from_data(BUILTIN_FAMILY_DATA)
CONVENTIONS = FAMILIES


def select_families(names: Iterable[str], extra: Iterable[Family] = ()) -> tuple[Family, ...]:
    """The families called ``names`` (built-in or in ``extra``), in the order given."""
    known = {f.brand: f for f in (*FAMILIES, *extra)}
    out: list[Family] = []
    for name in names:
        if name not in known:
            raise FamilyError(
                f"dashcam family {name!r} is not known; known: {', '.join(sorted(known))}"
            )
        out.append(known[name])
    return tuple(out)


def recognise(relpath: str, families: Sequence[Family] | None = None) -> NameInfo | None:
    """Decode a clip's relative path with the first matching family, else the generic rule.

    ``families`` defaults to :data:`FAMILIES`.  The name decides first (Viofo ``E``/``P``,
    BlackVue type letter, 70mai prefix ...); folders only fill in what the name leaves open
    (deepest folder first).  A family whose names hold no time (Garmin) yields
    ``start_local=None``; ``None`` means neither a family nor a date in the name.
    """
    dirs, name = _split(relpath)
    if not name:
        return None
    for fam in FAMILIES if families is None else families:
        info = _match(fam, dirs, name)
        if info is not None:
            return info
    return _generic(dirs, name)


def parse_name(relpath: str, families: Sequence[Family] | None = None) -> NameInfo | None:
    """:func:`recognise`, but only when the name gives a start time (else ``None``)."""
    info = recognise(relpath, families)
    return info if info is not None and info.start_local is not None else None


# ---------------------------------------------------------------- ignored / video names

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
