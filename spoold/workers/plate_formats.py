"""Licence-plate formats per region, and the format-guided repair of an OCR read.

Public API:

- :data:`FORMATS` — the table: :class:`PlateFormat` ``(region, name, pattern)``; a pattern is a
  sequence of ``L`` (letter), ``D`` (digit), ``X`` (letter or digit) or ``[ABC]`` (one of), each
  optionally repeated ``{n}`` / ``{m,n}``.  :data:`REGIONS` lists the region codes.
- :func:`parse_regions(spec) <parse_regions>` — ``"all"`` / ``"UK,DE"`` / a list → region codes;
  an unknown code raises :class:`UnknownRegionError` naming the known ones.
- :func:`match_plate(text, regions) <match_plate>` — the best reading of ``text`` as a plate of
  one of ``regions``, or ``None``: a :class:`PlateMatch` (``text``, ``region``, ``format``,
  ``repairs``, ``dropped_lead``, ``dropped_tail``, ``cost``).  Never raises on any string.
- :func:`is_valid_plate(text, regions) <is_valid_plate>` — ``text`` fits a format as it stands.
- :func:`plate_region(text, regions) <plate_region>` — the region of the format ``text`` fits as
  it stands, or ``None``.

How a read is matched: it is upper-cased and reduced to ``A-Z0-9``; then every way of dropping
up to three leading and one trailing character (a country band's ``D``/``NL``/``GB``, India's
``IND``, a sticker read as a letter) is tried against every format of the enabled regions, with
the OCR confusions ``O/0 I/1 Z/2 S/5 B/8 G/6 A/4 T/7`` repaired where the format wants the other
kind.  Each repair and each dropped character costs 1 (a dropped known band code 0.5), each
``X`` position 0.25 (a loose format says less than a strict one), so a read that
only fits once its band letter is dropped, or only loosely, loses to a strict fit.  The cheapest
candidate under :data:`MAX_COST` wins; between regions at the same cost, the one listed first in
``regions`` (the operator's order; the table's for ``all``): several layouts are shared (French
SIV and Italian ``LLDDDLL``, Belgian and Californian ``DLLLDDD``, German and Northern Irish
``LLLDDDD``), so a fleet lists its home region first.  Some reads are ambiguous as text alone (a German ``D``
band before ``BAB1234`` gives the valid ``DBAB1234``): the plate reader crops the blue band off
the image before reading for that reason.  Pure Python; runs on Python 3.10.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "BAND_CODES",
    "FORMATS",
    "MAX_COST",
    "REGIONS",
    "PlateFormat",
    "PlateMatch",
    "UnknownRegionError",
    "is_valid_plate",
    "match_plate",
    "parse_regions",
    "plate_region",
]


@dataclass(frozen=True)
class PlateFormat:
    region: str
    name: str
    pattern: str


# Layouts as printed, separators dropped.  Sources: the registration schemes of each country
# (DVLA V5C / "current format" AB12CDE; German FZV; French SIV AA-123-AA; Dutch "sidecodes";
# Italian 2-3-2; Spanish 2000 scheme; Polish district code + 4-5; Belgian 1-ABC-123; Indian
# Motor Vehicles Act state-district-series-number and the BH series; US states' current
# standard issues, most of which also accept 5-8 free-form vanity characters).
FORMATS: tuple[PlateFormat, ...] = (
    PlateFormat("UK", "current", "LLDDLLL"),
    PlateFormat("UK", "prefix", "LD{1,3}LLL"),
    PlateFormat("UK", "suffix", "LLLD{1,3}L"),
    PlateFormat("UK", "northern-ireland", "LLLD{1,4}"),
    PlateFormat("DE", "standard", "L{1,3}L{1,2}D{1,4}"),
    PlateFormat("DE", "electric/historic", "L{1,3}L{1,2}D{1,4}[EH]"),
    PlateFormat("FR", "SIV", "LLDDDLL"),
    PlateFormat("FR", "FNI", "D{1,4}L{2,3}D{2}"),
    PlateFormat("NL", "sidecode-4", "LLDDLL"),
    PlateFormat("NL", "sidecode-5", "LLLLDD"),
    PlateFormat("NL", "sidecode-6", "DDLLLL"),
    PlateFormat("NL", "sidecode-7", "DDLLLD"),
    PlateFormat("NL", "sidecode-8", "DLLLDD"),
    PlateFormat("NL", "sidecode-9", "LLDDDL"),
    PlateFormat("NL", "sidecode-10", "LDDDLL"),
    PlateFormat("NL", "sidecode-11", "LLLDDL"),
    PlateFormat("NL", "sidecode-13", "DLLDDD"),
    PlateFormat("IT", "2-3-2", "LLDDDLL"),
    PlateFormat("ES", "2000", "DDDDLLL"),
    PlateFormat("ES", "provincial", "L{1,2}DDDDL{1,2}"),
    PlateFormat("PL", "2-letter district", "LLX{5}"),
    PlateFormat("PL", "3-letter district", "LLLX{4,5}"),
    PlateFormat("BE", "1-ABC-123", "DLLLDDD"),
    PlateFormat("US", "CA", "DLLLDDD"),
    PlateFormat("US", "NY/TX/PA/WA", "LLLDDDD"),
    PlateFormat("US", "IL", "LLDDDDD"),
    PlateFormat("US", "FL", "LLLLDD"),
    PlateFormat("US", "MA/NJ", "DLLDDD"),
    PlateFormat("US", "free-form", "X{5,8}"),
    PlateFormat("IN", "state-district-series", "LLD{1,2}L{0,3}D{4}"),
    PlateFormat("IN", "BH", "DD[B][H]DDDDLL"),
)

REGIONS: tuple[str, ...] = tuple(dict.fromkeys(f.region for f in FORMATS))

# Indian state / union-territory codes: the first two letters of an Indian plate.
_IN_STATES = frozenset(
    [
        "AN",
        "AP",
        "AR",
        "AS",
        "BR",
        "CG",
        "CH",
        "DD",
        "DL",
        "DN",
        "GA",
        "GJ",
        "HP",
        "HR",
        "JH",
        "JK",
        "KA",
        "KL",
        "LA",
        "LD",
        "MH",
        "ML",
        "MN",
        "MP",
        "MZ",
        "NL",
        "OD",
        "OR",
        "PB",
        "PY",
        "RJ",
        "SK",
        "TN",
        "TR",
        "TS",
        "UK",
        "UP",
        "WB",
    ]
)

# What a country band or identifier strip may add in front of the plate.
BAND_CODES = frozenset(
    [
        "D",
        "F",
        "NL",
        "GB",
        "UK",
        "I",
        "E",
        "PL",
        "B",
        "IND",
        "USA",
        "A",
        "CH",
        "CZ",
        "DK",
        "H",
        "IRL",
        "L",
        "N",
        "P",
        "S",
        "SK",
        "SLO",
        "FIN",
        "RO",
        "BG",
        "GR",
        "HR",
    ]
)

MAX_COST = 3.0
_MAX_LEAD, _MAX_TAIL = 3, 1
_TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "J": "1", "Z": "2"}
_TO_DIGIT |= {"S": "5", "B": "8", "G": "6", "A": "4", "T": "7"}
_TO_LETTER = {"0": "O", "1": "I", "2": "Z", "5": "S", "8": "B", "6": "G", "4": "A", "7": "T"}
_NON_ALNUM = re.compile(r"[^A-Z0-9]")
_TOKEN = re.compile(r"(L|D|X|\[[A-Z0-9]+\])(?:\{(\d+)(?:,(\d+))?\})?")


class UnknownRegionError(ValueError):
    """A configured plate region that the format table does not know."""


@dataclass(frozen=True)
class PlateMatch:
    text: str
    region: str
    format: str
    repairs: int
    dropped_lead: str
    dropped_tail: str
    cost: float


def parse_regions(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """``None`` / ``"all"`` → every region; ``"uk, de"`` or ``["UK", "DE"]`` → those."""
    if spec is None:
        return REGIONS
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    codes = [str(s).strip().upper() for s in items if str(s).strip()]
    if not codes or codes == ["ALL"]:
        return REGIONS
    unknown = [c for c in codes if c not in REGIONS]
    if unknown:
        raise UnknownRegionError(
            f"unknown plate region(s) {', '.join(unknown)}; known: all, {', '.join(REGIONS)}"
        )
    return tuple(dict.fromkeys(codes))


def _expand(pattern: str) -> list[tuple[str, ...]]:
    """``"LD{1,2}"`` → ``[("L", "D"), ("L", "D", "D")]``: one class per character."""
    choices: list[list[tuple[str, ...]]] = []
    pos = 0
    for m in _TOKEN.finditer(pattern):
        if m.start() != pos:
            raise ValueError(f"bad plate pattern {pattern!r} at {pos}")
        pos = m.end()
        lo = int(m.group(2)) if m.group(2) else 1
        hi = int(m.group(3)) if m.group(3) else lo
        choices.append([(m.group(1),) * n for n in range(lo, hi + 1)])
    if pos != len(pattern):
        raise ValueError(f"bad plate pattern {pattern!r} at {pos}")
    return [tuple(c for part in combo for c in part) for combo in itertools.product(*choices)]


@lru_cache(maxsize=64)
def _layouts(regions: tuple[str, ...]) -> dict[int, list[tuple[PlateFormat, tuple[str, ...]]]]:
    """Concrete layouts of the regions' formats, by length, in table order."""
    by_len: dict[int, list[tuple[PlateFormat, tuple[str, ...]]]] = {}
    for fmt in FORMATS:
        if fmt.region in regions:
            for layout in _expand(fmt.pattern):
                by_len.setdefault(len(layout), []).append((fmt, layout))
    return by_len


def _fit(text: str, layout: tuple[str, ...]) -> tuple[str, int] | None:
    """``text`` read into ``layout`` with confusions repaired: (plate, repairs) or None."""
    out: list[str] = []
    repairs = 0
    for ch, cls in zip(text, layout, strict=True):
        if cls == "X":
            out.append(ch)
        elif cls == "L":
            if ch.isalpha():
                out.append(ch)
            elif ch in _TO_LETTER:
                out.append(_TO_LETTER[ch])
                repairs += 1
            else:
                return None
        elif cls == "D":
            if ch.isdigit():
                out.append(ch)
            elif ch in _TO_DIGIT:
                out.append(_TO_DIGIT[ch])
                repairs += 1
            else:
                return None
        else:  # a [set]
            allowed = cls[1:-1]
            swapped = _TO_LETTER.get(ch) or _TO_DIGIT.get(ch)
            if ch in allowed:
                out.append(ch)
            elif swapped is not None and swapped in allowed:
                out.append(swapped)
                repairs += 1
            else:
                return None
    plate = "".join(out)
    return plate, repairs


def _plausible(fmt: PlateFormat, plate: str) -> bool:
    """Checks a layout cannot express: India's state codes; a free-form needs both kinds."""
    if fmt.region == "IN" and fmt.name != "BH":
        return plate[:2] in _IN_STATES
    if "X" in fmt.pattern:
        return any(c.isdigit() for c in plate) and any(c.isalpha() for c in plate)
    return True


def _drop_cost(dropped: str) -> float:
    """1 a character; a whole known band code 0.5, the longer code winning a tie."""
    return 0.5 - 0.01 * len(dropped) if dropped in BAND_CODES else float(len(dropped))


def match_plate(text: str, regions: Iterable[str] | None = None) -> PlateMatch | None:
    """The cheapest reading of ``text`` as a plate of ``regions`` (see the module docstring)."""
    norm = _NON_ALNUM.sub("", str(text).upper())[:32]
    order = tuple(regions) if regions is not None else REGIONS
    by_len = _layouts(order)
    rank = {region: k for k, region in enumerate(order)}
    best: PlateMatch | None = None
    for lead in range(min(_MAX_LEAD, len(norm)) + 1):
        for tail in range(min(_MAX_TAIL, len(norm) - lead) + 1):
            core = norm[lead : len(norm) - tail]
            if not (any(c.isalpha() for c in core) and any(c.isdigit() for c in core)):
                continue  # every format has both; repairs must not invent one kind entirely
            base = _drop_cost(norm[:lead]) + 1.2 * tail  # a band is likelier than a tail sticker
            for fmt, layout in by_len.get(len(core), ()):
                fitted = _fit(core, layout)
                if fitted is None or not _plausible(fmt, fitted[0]):
                    continue
                cost = base + fitted[1] + 0.25 * layout.count("X")
                if cost > MAX_COST or (
                    best is not None and (cost, rank[fmt.region]) >= (best.cost, rank[best.region])
                ):
                    continue
                if True:
                    best = PlateMatch(
                        text=fitted[0],
                        region=fmt.region,
                        format=fmt.name,
                        repairs=fitted[1],
                        dropped_lead=norm[:lead],
                        dropped_tail=norm[len(norm) - tail :],
                        cost=cost,
                    )
    return best


def is_valid_plate(text: str, regions: Iterable[str] | None = None) -> bool:
    """``text`` fits a format of ``regions`` exactly as it stands (no repair, nothing dropped)."""
    return plate_region(text, regions) is not None


def plate_region(text: str, regions: Iterable[str] | None = None) -> str | None:
    """The region of the cheapest format ``text`` fits exactly as it stands (ties: the region
    listed first in ``regions``), or None when it fits none."""
    if not text or _NON_ALNUM.search(text):
        return None  # an X position takes any character; a plate has only A-Z0-9
    order = tuple(regions) if regions is not None else REGIONS
    best: tuple[float, int, str] | None = None
    for fmt, layout in _layouts(order).get(len(text), ()):
        fitted = _fit(text, layout)
        if fitted is not None and fitted == (text, 0) and _plausible(fmt, text):
            key = (0.25 * layout.count("X"), order.index(fmt.region), fmt.region)
            best = key if best is None or key < best else best
    return best[2] if best is not None else None
