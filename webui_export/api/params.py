"""Query-string and path parsing: every bad parameter becomes a 4xx that says what is allowed.

Public API: :class:`Params`, :class:`Rule`, :func:`encode_token`, :func:`plate`,
:func:`parse_time`, :func:`parse_token_time`, :func:`token_time`, the rules ``ID_RE``,
``NAME_RE``, ``PLATE_RE`` and the OpenAPI patterns ``TIME_PATTERN``, ``BBOX_PATTERN``,
``PLATE_PATTERN``, ``MAX_VALUE``.

A ``Params`` is made with the names an endpoint accepts; an unknown name, a repeated scalar or
a malformed value raises :class:`~webui_export.api.http.ApiError` (400) naming the parameter, what
was given and what would be accepted.  Every decoder turns *any* string into a value or an
``ApiError`` (tests/test_api_params.py checks it with hypothesis).

One rule for every pattern (:class:`Rule`): the OpenAPI document publishes the pattern string
and the code applies exactly that pattern to the *whole* value (``re.fullmatch``, so ``$`` does
not let a trailing newline through) with ASCII classes (``[0-9]`` for ``\\d``, as in the
ECMA-262 regexes OpenAPI clients use).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from werkzeug.datastructures import MultiDict

from webui_export.api.http import ApiError
from webui_export.index.platetext import normalize_plate


class Rule:
    """An OpenAPI ``pattern`` and the one way the API applies it: the whole string, ASCII."""

    def __init__(self, pattern: str) -> None:
        if not (pattern.startswith("^") and pattern.endswith("$")):
            raise ValueError(f"a parameter pattern is anchored at both ends: {pattern!r}")
        self.pattern = pattern
        self.regex = re.compile(pattern, re.ASCII)

    def match(self, text: str) -> bool:
        """Whether all of ``text`` matches (a trailing newline does not)."""
        return self.regex.fullmatch(text) is not None

    def groups(self, text: str) -> tuple[str | None, ...] | None:
        """The groups of a whole-string match, or None."""
        m = self.regex.fullmatch(text)
        return m.groups() if m else None


#: A video id as the spool makes them (``schemas.task.KEY_RE``).
ID_RE = Rule(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,150}$")
#: Free-form names used as filters: brand, vehicle, label.
NAME_RE = Rule(r"^[A-Za-z0-9][A-Za-z0-9_.:# -]{0,63}$")
#: A plate as a client may type it: 1-32 ASCII letters and digits, separators ignored.
PLATE_PATTERN = r"^[ ._-]*[A-Za-z0-9]([ ._-]*[A-Za-z0-9]){0,31}[ ._-]*$"
PLATE_RE = Rule(PLATE_PATTERN)
CHANNELS = ("front", "rear", "interior", "left", "right", "telephoto", "other", "unknown")
#: The longest value of any query parameter (the OpenAPI document's maxLength).
MAX_VALUE = 512
#: The most values of a repeatable parameter (the OpenAPI document's maxItems).
MAX_ITEMS = 50
_INTEGER = Rule(r"^-?[0-9]{1,18}$")
_NUMBER = Rule(r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]{1,3})?$")
DAY_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_DAY = Rule(DAY_PATTERN)
BBOX_PATTERN = r"^-?[0-9]+(\.[0-9]+)?,-?[0-9]+(\.[0-9]+)?,-?[0-9]+(\.[0-9]+)?,-?[0-9]+(\.[0-9]+)?$"
_BBOX = Rule(BBOX_PATTERN)
#: A page token: unpadded URL-safe base64 (what :func:`encode_token` writes).
_TOKEN = Rule(r"^[A-Za-z0-9_-]{1,512}$")
#: A string inside a token: times, video ids and canonical plates are written from these.
_TOKEN_TEXT = Rule(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,150}$")
#: A time inside a token, as :func:`token_time` writes it (naive UTC, like the index).
_TOKEN_TIME = Rule(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?$")
_INT64 = 2**63


def encode_token(kind: str, *values: Any) -> str:
    """An opaque keyset token: the sort key of the last row of a page."""
    raw = json.dumps([kind, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class Params:
    """The query string of one request, checked against the names an endpoint takes."""

    def __init__(self, args: MultiDict[str, str], allowed: Iterable[str]) -> None:
        self.args = args
        self.allowed = sorted(allowed)
        for name in args:
            if name not in self.allowed:
                takes = ", ".join(self.allowed) or "no parameters"
                raise ApiError(400, f"unknown parameter {name!r}; this endpoint takes: {takes}")
        for name, values in args.lists():
            for value in values:
                if len(value) > MAX_VALUE:
                    raise ApiError(400, f"{name}: value longer than {MAX_VALUE} characters")
                if "\x00" in value:
                    raise ApiError(400, f"{name}: value contains a NUL character")
                if value == "":
                    raise ApiError(400, f"{name}: empty value; leave the parameter out instead")

    def _one(self, name: str) -> str | None:
        values = self.args.getlist(name)
        if len(values) > 1:
            raise ApiError(400, f"{name}: given {len(values)} times; give it once")
        return values[0] if values else None

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        raw = self._one(name)
        if raw is None:
            return default
        if not _INTEGER.match(raw):
            raise ApiError(400, f"{name}: expected an integer, got {raw!r}")
        value = int(raw)
        if not lo <= value <= hi:
            raise ApiError(400, f"{name}: must be between {lo} and {hi}, got {value}")
        return value

    def number(self, name: str, lo: float, hi: float) -> float | None:
        raw = self._one(name)
        if raw is None:
            return None
        if not _NUMBER.match(raw):
            raise ApiError(400, f"{name}: expected a number like 0.5, got {raw!r}")
        value = float(raw)
        if not math.isfinite(value) or not lo <= value <= hi:
            raise ApiError(400, f"{name}: must be a number between {lo:g} and {hi:g}, got {raw!r}")
        return value

    def boolean(self, name: str) -> bool | None:
        raw = self._one(name)
        if raw is None:
            return None
        if raw in ("true", "false"):
            return raw == "true"
        raise ApiError(400, f"{name}: expected true or false, got {raw!r}")

    def time(self, name: str) -> datetime | None:
        """An RFC 3339 / ISO 8601 time or date (no zone means UTC), or Unix seconds.

        Returned as naive UTC.
        """
        raw = self._one(name)
        if raw is None:
            return None
        value = parse_time(raw)
        if value is None:
            raise ApiError(
                400,
                f"{name}: expected an ISO 8601 time like 2026-11-25T10:15:30Z, a date like "
                f"2026-11-25, or Unix seconds; got {raw!r}",
            )
        return value

    def day(self, name: str, default: date) -> date:
        raw = self._one(name)
        if raw is None:
            return default
        try:
            if not _DAY.match(raw):
                raise ValueError(raw)
            value = date(int(raw[:4]), int(raw[5:7]), int(raw[8:]))
        except ValueError:
            raise ApiError(400, f"{name}: expected a date like 2026-11-25, got {raw!r}") from None
        if not date(1900, 1, 1) <= value <= date(2200, 1, 1):
            raise ApiError(400, f"{name}: {raw!r} is outside 1900..2200")
        return value

    def choices(self, name: str, allowed: Iterable[str]) -> list[str]:
        """Values from a fixed set; repeat the parameter for several."""
        options = list(allowed)
        values = self.names(name, None)
        for value in values:
            if value not in options:
                raise ApiError(400, f"{name}: {value!r} is not one of {', '.join(options)}")
        return values

    def names(self, name: str, pattern: Rule | None = NAME_RE) -> list[str]:
        """Free-form names; repeat the parameter for several."""
        values = [v for v in self.args.getlist(name) if v]
        if len(values) > MAX_ITEMS:
            raise ApiError(400, f"{name}: at most {MAX_ITEMS} values")
        for value in values:
            if pattern is not None and not pattern.match(value):
                raise ApiError(
                    400, f"{name}: {value!r} is not a valid name (letters, digits, _ . - : #)"
                )
        return values

    def text(self, name: str) -> str | None:
        return self._one(name)

    def choice(self, name: str, options: Iterable[str], default: str) -> str:
        """One value from a fixed set."""
        raw = self._one(name)
        allowed = list(options)
        if raw is None:
            return default
        if raw not in allowed:
            raise ApiError(400, f"{name}: {raw!r} is not one of {', '.join(allowed)}")
        return raw

    def bbox(self, name: str) -> tuple[float, float, float, float] | None:
        """``min_lon,min_lat,max_lon,max_lat`` (GeoJSON order), not crossing the antimeridian."""
        raw = self._one(name)
        if raw is None:
            return None
        hint = f"{name}: expected min_lon,min_lat,max_lon,max_lat like 11.5,48.1,11.6,48.2"
        if not _BBOX.match(raw):
            raise ApiError(400, f"{hint}; got {raw!r}")
        w, s, e, n = (float(p) for p in raw.split(","))
        if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
            raise ApiError(
                400,
                f"{hint}, with -180 <= min_lon <= max_lon <= 180, -90 <= min_lat <= max_lat"
                f" <= 90; got {raw!r}",
            )
        return w, s, e, n

    def token(self, name: str, kind: str, types: tuple[type, ...]) -> list[Any] | None:
        """Decode a keyset token made by :func:`encode_token` for this endpoint."""
        raw = self._one(name)
        if raw is None:
            return None
        bad = ApiError(400, f"{name}: {_TOKEN_HINT}")
        if not _TOKEN.match(raw):
            raise bad
        try:
            decoded = json.loads(
                base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), parse_constant=_no_constant
            )
        except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
            raise bad from None
        if not isinstance(decoded, list) or not decoded or decoded[0] != kind:
            raise bad
        values = decoded[1:]
        if len(values) != len(types):
            raise bad
        for value, expected in zip(values, types, strict=True):
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise bad
            if expected is float and isinstance(value, int | float):
                if not math.isfinite(value):
                    raise bad
            elif not isinstance(value, expected):
                raise bad
            if isinstance(value, int) and not -_INT64 <= value < _INT64:
                raise bad  # the index's keys are 64-bit
            if isinstance(value, str) and not _TOKEN_TEXT.match(value):
                raise bad
        return values


_TOKEN_HINT = "not a valid page token for this endpoint; use the next_url of the previous page"


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def plate(text: str, name: str) -> str:
    """A plate parameter (path or query) in normalized form: ``[A-Z0-9]{1,32}``.

    Only ASCII letters and digits count (``PLATE_PATTERN``): upper-casing ``ß`` or ``ﬁ`` would
    make ASCII letters the client never typed.
    """
    valid = len(text) <= MAX_VALUE and PLATE_RE.match(text)
    normalized = normalize_plate(text) if valid else None
    if normalized is None:
        raise ApiError(
            400,
            f"{name}: {text!r} is not a plate: 1-32 letters A-Z and digits (spaces, dots, "
            "dashes and underscores are ignored)",
        )
    return normalized


#: What :func:`parse_time` accepts (the OpenAPI document repeats it as the parameter pattern).
TIME_PATTERN = (
    r"^(\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:\d{2})?)?"
    r"|-?\d{1,11}(\.\d{1,6})?)$"
)
_TIME_RULE = Rule(TIME_PATTERN)
_TIME = Rule(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"([Zz]|[+-]\d{2}:\d{2})?)?$"
)
_EPOCH = Rule(r"^-?\d{1,11}(\.\d{1,6})?$")


def parse_time(text: str) -> datetime | None:
    """Parse a time as :data:`TIME_PATTERN` describes; naive UTC, or ``None`` if invalid."""
    if not _TIME_RULE.match(text):
        return None
    if _EPOCH.match(text):
        try:
            return datetime(1970, 1, 1) + timedelta(seconds=float(text))
        except OverflowError:
            return None
    groups = _TIME.groups(text)
    if groups is None:
        return None
    year, month, day_, hour, minute, second, fraction, zone = groups
    try:
        value = datetime(
            int(year or 0),
            int(month or 0),
            int(day_ or 0),
            int(hour or 0),
            int(minute or 0),
            min(int(second or 0), 59),  # a leap second counts as :59
            int((fraction or "0")[:6].ljust(6, "0")),
        )
        if zone and zone not in "Zz":
            sign = 1 if zone[0] == "+" else -1
            offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
            if offset >= timedelta(hours=24):
                return None
            value -= sign * offset
    except (ValueError, OverflowError):
        return None
    return value


def parse_token_time(value: str) -> datetime:
    """A datetime written into a token by :func:`token_time`; ``ApiError`` if tampered with.

    Only the naive form :func:`token_time` writes is accepted: a zone would have to be
    converted, and near the ends of the calendar that conversion overflows.
    """
    try:
        if not _TOKEN_TIME.match(value):
            raise ValueError(value)
        return datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"next: {_TOKEN_HINT}") from None


def token_time(value: datetime) -> str:
    """How a sort time is written into a token (the index's times are naive UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat()
