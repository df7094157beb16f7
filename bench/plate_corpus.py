"""A generated, varied licence-plate corpus with ground truth, for the plate bench and tests.

Public API:

- :func:`corpus(regions, clips_per_region, frames_per_clip, seed) <corpus>` yields
  :class:`CorpusClip` objects: ``name``, ``region``, ``conditions``, ``plates`` (the ground-truth
  texts) and ``frames`` (:class:`CorpusFrame`: ``t``, BGR ``image``, ``boxes`` per plate in
  pixels).  The same arguments give the same pixels.
- :func:`random_plate(region, rng) <random_plate>` — a plate text of that region's format.
- :func:`render_plate(text, region, font, rng, band=True) <render_plate>` — one plate face as a
  BGR image, drawn as that country prints it (band, colours, spacing, stickers).
- :func:`fonts()` — the TrueType fonts found with ``fc-list`` (Pillow's built-in font when none).
- :data:`CORPUS_REGIONS` — UK, DE, FR, NL, IT, ES, PL, BE, US, IN; :data:`VARIETIES` — the
  ``variety`` argument of :func:`corpus`: ``standard`` or ``wide`` (see below).

What varies: the machine's fonts (bold, condensed, mono, serif); the country band (EU blue strip
with its code and a ring of stars, the UK's "UK"/"GB" band or green zero-emission band, India's
"IND" strip; France's right-hand department band); stickers (German registration seals between
the city code and the letters, a US registration sticker in a corner); tilt (perspective), blur,
noise, night (dark frame, lit plate), rain (streaks), low resolution (a 480x272 frame with a
small plate) and two plates in one frame.  Each clip is a short run of keyframes of the same
plates while the car approaches, as the detect worker sees it; every frame goes through a JPEG
round trip.  ``wide`` widens tilt, plate size, character size and seal size and paints some car
bodies in the bands' blue or green: ranges nobody tuned the reader on.  Needs Pillow, OpenCV and numpy.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from spoold.demo.render import background

__all__ = [
    "CORPUS_REGIONS",
    "VARIETIES",
    "CorpusClip",
    "CorpusFrame",
    "corpus",
    "fonts",
    "random_plate",
    "render_plate",
]

CORPUS_REGIONS = ("UK", "DE", "FR", "NL", "IT", "ES", "PL", "BE", "US", "IN")
#: ``standard``: the corpus the reader was developed on; ``wide``: the same clips with wider
#: tilts (up to 0.22), plate sizes (0.7-1.6x, close-ups), smaller characters, other seal sizes
#: and car bodies coloured like the bands.
VARIETIES = ("standard", "wide")
CONDITIONS = ("clear", "tilt", "blur", "noise", "night", "rain", "lowres", "two")

# Letters that real schemes leave out because they read as digits (I, O, Q).
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
_DIGITS = "0123456789"
_BAND_CODE = {"DE": "D", "FR": "F", "NL": "NL", "IT": "I", "ES": "E", "PL": "PL", "BE": "B"}
_IN_STATES = ("KA", "MH", "DL", "TN", "KL", "GJ", "RJ", "UP", "WB", "HR")
_US_STATES = {
    "CALIFORNIA": "DLLLDDD",
    "NEW YORK": "LLLDDDD",
    "TEXAS": "LLLDDDD",
    "ILLINOIS": "LLDDDDD",
}

BGR = tuple[int, int, int]


@dataclass(frozen=True)
class _Wide:
    """The knobs of the ``wide`` variety: ranges the reader was not tuned on."""

    tilt: float
    size: float
    text_scale: float
    seal_scale: float
    body: BGR | None

    @staticmethod
    def draw(rng: np.random.Generator) -> _Wide:
        # Car bodies in the band's own blue and the UK green, where the band melts into them.
        bodies: tuple[BGR | None, ...] = (None, (153, 51, 0), (170, 90, 20), (40, 170, 80))
        return _Wide(
            tilt=float(rng.choice([-1, 1]) * rng.uniform(0.1, 0.22)),
            size=float(rng.uniform(0.7, 1.6)),
            text_scale=float(rng.uniform(0.75, 1.0)),
            seal_scale=float(rng.uniform(0.35, 0.7)),
            body=bodies[int(rng.integers(len(bodies)))],
        )


@dataclass(frozen=True)
class CorpusFrame:
    t: float
    image: NDArray[np.uint8]
    boxes: tuple[tuple[int, int, int, int], ...]  # per plate: x, y, w, h in pixels


@dataclass(frozen=True)
class CorpusClip:
    name: str
    region: str
    conditions: tuple[str, ...]
    plates: tuple[str, ...]
    frames: tuple[CorpusFrame, ...]


@functools.lru_cache(maxsize=1)
def fonts() -> tuple[str, ...]:
    """Upright TrueType fonts on this machine that a plate could be printed in."""
    try:
        out = subprocess.run(
            ["fc-list", ":", "file"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    files = sorted({line.strip().rstrip(":") for line in out.splitlines() if line.strip()})
    skip = ("oblique", "italic", "light", "math", "glyph", "emoji", "symbol")
    return tuple(
        f
        for f in files
        if f.lower().endswith((".ttf", ".otf")) and not any(s in f.lower() for s in skip)
    )


def _font(path: str | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if path:
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _pick(rng: np.random.Generator, seq: Sequence[str]) -> str:
    return seq[int(rng.integers(len(seq)))]


def _fill(layout: str, rng: np.random.Generator) -> str:
    return "".join(_pick(rng, _LETTERS if c == "L" else _DIGITS) for c in layout)


def random_plate(region: str, rng: np.random.Generator) -> str:
    """A text of one of the region's common formats (separators as printed)."""
    if region == "UK":
        return f"{_fill('LLDD', rng)} {_fill('LLL', rng)}"
    if region == "DE":
        city = _fill("L" * int(rng.integers(1, 4)), rng)
        return f"{city} {_fill('L' * int(rng.integers(1, 3)), rng)} {_fill('D' * int(rng.integers(2, 5)), rng)}"
    if region in ("FR",):
        return f"{_fill('LL', rng)}-{_fill('DDD', rng)}-{_fill('LL', rng)}"
    if region == "IT":
        return f"{_fill('LL', rng)} {_fill('DDD', rng)}{_fill('LL', rng)}"
    if region == "NL":
        return _pick(
            rng,
            [
                f"{_fill('LL', rng)}-{_fill('DDD', rng)}-{_fill('L', rng)}",
                f"{_fill('D', rng)}-{_fill('LLL', rng)}-{_fill('DD', rng)}",
                f"{_fill('DD', rng)}-{_fill('LLL', rng)}-{_fill('D', rng)}",
            ],
        )
    if region == "ES":
        return f"{_fill('DDDD', rng)} {_fill('LLL', rng)}"
    if region == "PL":
        return f"{_fill('LL', rng)} {_fill('DDDDD', rng)}"
    if region == "BE":
        return f"{_fill('D', rng)}-{_fill('LLL', rng)}-{_fill('DDD', rng)}"
    if region == "US":
        layout = _US_STATES[_pick(rng, sorted(_US_STATES))]
        return _fill(layout, rng)
    if region == "IN":
        return (
            f"{_pick(rng, _IN_STATES)} {_fill('DD', rng)} {_fill('LL', rng)} {_fill('DDDD', rng)}"
        )
    raise ValueError(f"no plate generator for region {region!r}; have {', '.join(CORPUS_REGIONS)}")


def _text_block(
    draw: ImageDraw.ImageDraw,
    text: str,
    box: tuple[int, int, int, int],
    font_path: str | None,
    colour: BGR,
) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, float, float]:
    """``text`` as large as fits in ``box`` (x0, y0, x1, y1), centred."""
    x0, y0, x1, y1 = box
    size = max(6, y1 - y0)
    while size > 6:
        font = _font(font_path, size)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        if right - left <= (x1 - x0) and bottom - top <= (y1 - y0):
            break
        size -= 2
    font = _font(font_path, size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = x0 + ((x1 - x0) - (right - left)) // 2 - left
    y = y0 + ((y1 - y0) - (bottom - top)) // 2 - top
    draw.text((x, y), text, font=font, fill=colour[::-1])
    return font, x, y


def render_plate(
    text: str,
    region: str,
    font_path: str | None,
    rng: np.random.Generator,
    band: bool = True,
    text_scale: float = 1.0,
    seal_scale: float = 0.5,
) -> NDArray[np.uint8]:
    """One plate face (BGR), 520 px wide, as the region prints it; ``text_scale`` shrinks the
    characters' height, ``seal_scale`` is a German seal's diameter over the gap it sits in."""
    w, h = 520, 112
    face: BGR = (255, 255, 255)
    ink: BGR = (20, 20, 20)
    if region == "NL" or (region == "UK" and rng.random() < 0.5):
        face = (0, 200, 250)  # yellow (NL plates, UK rear plates)
    if region == "BE":
        ink = (40, 20, 170)  # Belgian plates are printed in red
    if region == "US":
        ink = (110, 40, 20)
    img = Image.new("RGB", (w, h), face[::-1])
    draw = ImageDraw.Draw(img)
    draw.rectangle((2, 2, w - 3, h - 3), outline=(0, 0, 0), width=3)
    left, right = 12, w - 12
    band_w = 52
    if band and region in _BAND_CODE:
        draw.rectangle((3, 3, band_w, h - 4), fill=(0, 51, 153))
        cx, cy = band_w // 2 + 2, 34
        for k in range(12):  # the ring of stars
            a = 2 * np.pi * k / 12
            sx, sy = cx + 15 * np.cos(a), cy + 15 * np.sin(a)
            draw.ellipse((sx - 2, sy - 2, sx + 2, sy + 2), fill=(255, 204, 0))
        _text_block(draw, _BAND_CODE[region], (5, 56, band_w - 1, 104), font_path, (255, 255, 255))
        left = band_w + 3
    if band and region == "FR":
        draw.rectangle((w - band_w, 3, w - 4, h - 4), fill=(0, 51, 153))
        _text_block(
            draw, _fill("DD", rng), (w - band_w + 6, 60, w - 8, 98), font_path, (255, 255, 255)
        )
        right = w - band_w - 8
    if band and region == "UK":
        kind = _pick(rng, ["uk", "gb", "green"])
        colour = (0, 51, 153) if kind != "green" else (80, 170, 40)
        draw.rectangle((3, 3, band_w, h - 4), fill=colour)
        if kind != "green":
            _text_block(draw, kind.upper(), (5, 56, band_w - 1, 104), font_path, (255, 255, 255))
        left = band_w + 3
    if band and region == "IN":
        _text_block(draw, "IND", (6, 60, 50, 100), font_path, (150, 60, 0))
        draw.ellipse((14, 16, 42, 44), fill=(190, 190, 200))  # the hologram
        left = 52
    top, bottom = 14, h - 12
    shrink = int((bottom - top) * (1 - text_scale) / 2)
    top, bottom = top + shrink, bottom - shrink
    if region == "US":
        state = next(s for s, lay in _US_STATES.items() if _fits(text, lay))
        _text_block(draw, state, (left + 120, 6, right - 120, 30), font_path, (40, 40, 190))
        top = 34
        if rng.random() < 0.5:  # registration sticker in the top-right corner
            draw.rectangle((right - 58, 8, right - 8, 30), fill=(30, 160, 230))
            _text_block(
                draw, _fill("DD", rng), (right - 52, 10, right - 14, 28), font_path, (0, 0, 0)
            )
    if region == "DE" and " " in text:
        city, rest = text.split(" ", 1)
        spaced = f"{city}   {rest}"  # the seals sit in the gap
        font, x, _y = _text_block(draw, spaced, (left, top, right, bottom), font_path, ink)
        x_gap = x + draw.textlength(city + " ", font=font)
        gap = draw.textlength("  ", font=font)
        mid = (top + bottom) / 2
        for k, col in enumerate(((40, 110, 220), (60, 60, 60))):  # inspection + registration seals
            r = gap * seal_scale / 2
            cy = mid - r * 1.2 + k * r * 2.4
            draw.ellipse((x_gap, cy - r, x_gap + 2 * r, cy + r), fill=col)
    else:
        _text_block(draw, text, (left, top, right, bottom), font_path, ink)
    return np.asarray(img, dtype=np.uint8)[:, :, ::-1].copy()


def _fits(text: str, layout: str) -> bool:
    return len(text) == len(layout) and all(
        (c.isdigit() if k == "D" else c.isalpha()) for c, k in zip(text, layout, strict=True)
    )


def _paste(
    frame: NDArray[np.uint8],
    plate: NDArray[np.uint8],
    cx: int,
    cy: int,
    pw: int,
    tilt: float,
    rng: np.random.Generator,
    body_colour: BGR | None = None,
) -> tuple[int, int, int, int]:
    """The plate scaled to ``pw`` px wide, tilted, on a car body around ``(cx, cy)``."""
    ph = max(4, int(pw * plate.shape[0] / plate.shape[1]))
    small = cv2.resize(plate, (pw, ph), interpolation=cv2.INTER_AREA)
    fh, fw = frame.shape[:2]
    body = (int(pw * 2.4), int(pw * 1.2))
    colour = tuple(int(c) for c in rng.integers(30, 200, 3))
    if body_colour is not None:
        colour = body_colour
    cv2.rectangle(
        frame,
        (cx - body[0] // 2, cy - int(body[1] * 0.7)),
        (cx + body[0] // 2, cy + int(body[1] * 0.35)),
        colour,
        -1,
    )
    src = np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]])
    d = tilt * ph
    dst = np.float32(
        [[0, d], [pw, -d], [pw - abs(d) * 0.3, ph - d], [abs(d) * 0.3, ph + d]]
    ) + np.float32([cx - pw / 2, cy - ph / 2])
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(small, matrix, (fw, fh), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), matrix, (fw, fh))
    frame[mask > 127] = warped[mask > 127]
    xs, ys = dst[:, 0], dst[:, 1]
    x0, y0 = int(max(0, xs.min())), int(max(0, ys.min()))
    return x0, y0, int(min(fw, xs.max())) - x0, int(min(fh, ys.max())) - y0


def _degrade(
    img: NDArray[np.uint8], conditions: Sequence[str], rng: np.random.Generator, pw: int
) -> NDArray[np.uint8]:
    out = img.astype(np.float64)
    if "night" in conditions:
        out = 255.0 * (out / 255.0) ** 1.6 * 0.45
    if "rain" in conditions:
        streaks = np.zeros(img.shape[:2], np.uint8)
        for _ in range(140):
            x, y = int(rng.integers(img.shape[1])), int(rng.integers(img.shape[0]))
            length = int(rng.integers(8, 22))
            cv2.line(streaks, (x, y), (x + length // 5, y + length), 255, 1)
        out = out * 0.85 + streaks[:, :, None] * 0.25
    result = np.clip(out, 0, 255).astype(np.uint8)
    if "blur" in conditions or "rain" in conditions:
        k = max(3, (pw // 60) | 1)
        result = cv2.GaussianBlur(result, (k, k), 0)
    if "noise" in conditions or "night" in conditions:
        sigma = 7.0 if "noise" in conditions else 5.0
        noisy = result.astype(np.float64) + rng.normal(0.0, sigma, result.shape)
        result = np.clip(noisy, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", result, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), dtype=np.uint8) if ok else result


def _clip_conditions(k: int, rng: np.random.Generator) -> tuple[str, ...]:
    """Clip k of a region: the first is clear, then each condition in turn, some combined."""
    main = CONDITIONS[k % len(CONDITIONS)]
    extra = [c for c in ("tilt", "noise") if c != main and rng.random() < 0.3]
    return (main, *extra) if main != "clear" else ("clear",)


def corpus(
    regions: Sequence[str] = CORPUS_REGIONS,
    clips_per_region: int = 4,
    frames_per_clip: int = 3,
    seed: int = 15,
    variety: str = "standard",
) -> Iterator[CorpusClip]:
    """The corpus, clip by clip (see the module docstring)."""
    if variety not in VARIETIES:
        raise ValueError(f"corpus variety {variety!r}: want one of {', '.join(VARIETIES)}")
    available = fonts() or (None,)
    for region in regions:
        rng = np.random.default_rng([seed, CORPUS_REGIONS.index(region)])
        for k in range(clips_per_region):
            # "wide" draws its extra knobs from a stream of its own: "standard" stays the same.
            wide = _Wide.draw(np.random.default_rng([seed, CORPUS_REGIONS.index(region), k, 7]))
            conditions = _clip_conditions(k, rng)
            lowres = "lowres" in conditions
            fw, fh = (480, 272) if lowres else (640, 360)
            count = 2 if "two" in conditions else 1
            texts = tuple(random_plate(region, rng) for _ in range(count))
            faces = [
                render_plate(
                    text,
                    region,
                    _pick(rng, available),
                    rng,
                    band=rng.random() < 0.85,
                    **(
                        {"text_scale": wide.text_scale, "seal_scale": wide.seal_scale}
                        if variety == "wide"
                        else {}
                    ),
                )
                for text in texts
            ]
            tilt = float(rng.uniform(-0.12, 0.12)) if "tilt" in conditions else 0.0
            base_w = int(fw * (0.16 if lowres else float(rng.uniform(0.2, 0.27))))
            body: BGR | None = None
            if variety == "wide":
                tilt = wide.tilt if "tilt" in conditions else tilt
                base_w = int(base_w * (1.0 if lowres or count == 2 else wide.size))
                body = wide.body
            xs = [0.3, 0.72] if count == 2 else [float(rng.uniform(0.35, 0.65))]
            bg = background(fw, fh)
            frames = []
            for f in range(frames_per_clip):
                img: NDArray[np.uint8] = np.array(bg, copy=True)
                pw = int(base_w * (1 + 0.08 * f))
                boxes = tuple(
                    _paste(
                        img,
                        face,
                        int(fw * x + 6 * f),
                        int(fh * (0.68 + 0.02 * f)),
                        pw if count == 1 else int(pw * 0.8),
                        tilt,
                        rng,
                        body,
                    )
                    for face, x in zip(faces, xs, strict=True)
                )
                frames.append(
                    CorpusFrame(t=float(f), image=_degrade(img, conditions, rng, pw), boxes=boxes)
                )
            yield CorpusClip(
                name=f"{region}-{k:02d}-{'+'.join(conditions)}",
                region=region,
                conditions=conditions,
                plates=tuple("".join(ch for ch in t if ch.isalnum()) for t in texts),
                frames=tuple(frames),
            )
