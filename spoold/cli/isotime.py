"""ISO 8601 date-times for the command line (``submit --not-before``), on Python 3.10.

Public API: :func:`parse_iso8601`, :func:`iso8601_option` (the click option callback).

Python 3.10's ``datetime.fromisoformat`` reads only what ``isoformat`` writes (no ``Z``, no
basic format), and a worker device runs 3.10 without python-dateutil (a server dependency
that the light install must not grow for one option; its ``isoparse`` also leaves times
without an offset naive and reads no ``24:00``).  So this is a small parser of the standard's
forms, checked by property tests against what ``datetime`` itself formats:

- dates: calendar ``2026-12-06`` / ``20261206``, ordinal ``2026-340`` / ``2026340``, week
  ``2026-W49-7`` / ``2026W497`` (and ``2026-W49``), reduced ``2026-12`` and ``2026``;
- times after ``T`` (or a space, as RFC 3339 allows): ``hh``, ``hh:mm``, ``hh:mm:ss`` or basic
  ``hhmm``, ``hhmmss``, the last part with a decimal fraction (``.`` or ``,``); ``24:00`` is the
  end of the day and a leap second ``23:59:60`` the first instant after it;
- offsets ``Z``, ``+05:30``, ``+0530``, ``+05`` (``-`` likewise).

A date or time without an offset is UTC (the spool's clock); the result is always an aware
UTC ``datetime``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from fractions import Fraction

import click

__all__ = ["iso8601_option", "parse_iso8601"]

_DATE = re.compile(
    r"""^(?:
        (?P<y1>\d{4})-(?P<m1>\d{2})-(?P<d1>\d{2})        # 2026-12-06
      | (?P<y2>\d{4})(?P<m2>\d{2})(?P<d2>\d{2})          # 20261206
      | (?P<y3>\d{4})-?(?P<o3>\d{3})                     # 2026-340, 2026340
      | (?P<y4>\d{4})-?W(?P<w4>\d{2})(?:-?(?P<wd4>\d))?  # 2026-W49-7, 2026W497, 2026-W49
      | (?P<y5>\d{4})-(?P<m5>\d{2})                      # 2026-12
      | (?P<y6>\d{4})                                    # 2026
    )$""",
    re.VERBOSE,
)
_FRACTION = r"(?:[.,](?P<frac>\d+))?"
_TIME = re.compile(
    rf"""^(?:
        (?P<h1>\d{{2}}):(?P<mi1>\d{{2}})(?::(?P<s1>\d{{2}}))?   # 10:15, 10:15:30
      | (?P<h2>\d{{2}})(?P<mi2>\d{{2}})(?P<s2>\d{{2}})?         # 1015, 101530
      | (?P<h3>\d{{2}})                                         # 10
    ){_FRACTION}$""",
    re.VERBOSE,
)
_OFFSET = re.compile(r"(?P<off>[Zz]|(?P<sign>[+-])(?P<oh>\d{2})(?::?(?P<om>\d{2}))?)$")


def _date(text: str) -> date:
    m = _DATE.match(text)
    if not m:
        raise ValueError(f"{text!r} is not an ISO 8601 date")
    g = {k: int(v) for k, v in m.groupdict().items() if v is not None}
    if "y1" in g:
        return date(g["y1"], g["m1"], g["d1"])
    if "y2" in g:
        return date(g["y2"], g["m2"], g["d2"])
    if "y3" in g:
        if not 1 <= g["o3"] <= (366 if _leap(g["y3"]) else 365):
            raise ValueError(f"day {g['o3']} of {g['y3']} does not exist")
        return date(g["y3"], 1, 1) + timedelta(days=g["o3"] - 1)
    if "y4" in g:
        return date.fromisocalendar(g["y4"], g["w4"], g.get("wd4", 1))
    if "y5" in g:
        return date(g["y5"], g["m5"], 1)
    return date(g["y6"], 1, 1)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _time(text: str) -> timedelta:
    """The time of day as an offset from midnight (24:00 and a leap second allowed)."""
    m = _TIME.match(text)
    if not m:
        raise ValueError(f"{text!r} is not an ISO 8601 time")
    g = m.groupdict()
    parts = [g["h1"] or g["h2"] or g["h3"], g["mi1"] or g["mi2"], g["s1"] or g["s2"]]
    units = [3600, 60, 1]
    values = [int(p) for p in parts if p is not None]
    hour, minute, second = [*values, 0, 0][:3]
    # The fraction belongs to the last part given: 10.5 is 10:30, 10:15.5 is 10:15:30.
    frac = Fraction(int(g["frac"]), 10 ** len(g["frac"])) if g["frac"] else Fraction(0)
    if minute > 59 or second > 60 or hour > 24:
        raise ValueError(f"{text!r}: hour, minute or second out of range")
    if hour == 24 and (minute or second or frac):
        raise ValueError(f"{text!r}: only 24:00 may have hour 24 (the end of the day)")
    if second == 60 and (hour, minute) != (23, 59):
        raise ValueError(f"{text!r}: a leap second is only 23:59:60")
    whole = hour * 3600 + minute * 60 + second
    micro = round(frac * units[len(values) - 1] * 1_000_000)
    return timedelta(seconds=whole, microseconds=micro)


def parse_iso8601(text: str) -> datetime:
    """``text`` (any ISO 8601 date or date-time, see the module docstring) as an aware UTC
    ``datetime``; ValueError saying what is wrong otherwise."""
    s = text.strip()
    date_part, sep, time_part = s.replace("t", "T").partition("T")
    if not sep and " " in s:
        date_part, _, time_part = s.partition(" ")
        sep = " "
    offset = timezone.utc
    if sep:
        m = _OFFSET.search(time_part)
        if m:
            time_part = time_part[: m.start()]
            if m["off"] not in ("Z", "z"):
                minutes = int(m["oh"]) * 60 + int(m["om"] or 0)
                if int(m["oh"]) > 23 or int(m["om"] or 0) > 59:
                    raise ValueError(f"{text!r}: offset out of range")
                offset = timezone(timedelta(minutes=-minutes if m["sign"] == "-" else minutes))
    try:
        day = _date(date_part)
        since_midnight = _time(time_part) if sep else timedelta()
        start = datetime(day.year, day.month, day.day, tzinfo=offset)
        return (start + since_midnight).astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{text!r} is outside the years 1-9999 in UTC") from None
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None


def iso8601_option(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> datetime | None:
    """A click option callback: ``value`` (any ISO 8601 date or date-time) as an aware UTC
    ``datetime``.  A callback rather than a ``click.ParamType``, which click 8.5 made generic
    and click 8.1 (a worker's) cannot subscript."""
    if value is None:
        return None
    try:
        return parse_iso8601(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"{exc} (want ISO 8601, e.g. 2026-12-06T10:15:00Z, "
            "2026-12-06T15:45+05:30, 20261206T101500Z or 2026-12-06)",
            ctx,
            param,
        ) from None
