"""Country bands and round stickers on licence plates: painted over before reading, and a
read's leading band code dropped when the mask missed its band.

Public API:

- :func:`mask_country_bands(image) <mask_country_bands>` — a copy of a BGR image with the
  country bands and round stickers painted over with the plate face, and their count.
- :func:`face_pixels(hsv) <face_pixels>` — which pixels of an HSV image are plate face
  (bright white or yellow).
- :func:`blue_at_left(image, box) <blue_at_left>` — whether a read's box (``x0, y0, x1, y1``
  in pixels) starts on a blue band.
- :func:`without_band(text, fitted, regions) <without_band>` — the plate match of a read
  that starts on a band, its leading band code dropped when the rest is a plate of that
  code's region.

Used by :class:`spoold.workers.plates.PlateReader` (``mask_bands``).  Runs on Python 3.10.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from spoold.workers.plate_formats import PlateMatch, match_plate

__all__ = ["blue_at_left", "face_pixels", "mask_country_bands", "without_band"]

#: One painting job: the outline to fill and the BGR face colour to fill it with.
_Paint = tuple[NDArray[Any], NDArray[Any]]


def face_pixels(hsv: NDArray[Any]) -> NDArray[np.bool_]:
    """True where an HSV image is bright and pale or yellow: the face of a plate."""
    hue, sat, val = hsv[:, :, 0], hsv[:, :, 1], hsv[:, :, 2]
    return np.asarray((val >= 110) & ((sat < 70) | ((hue >= 15) & (hue <= 35))))


def mask_country_bands(image: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], int]:
    """Paint country bands and round stickers over with the plate face; the image and a count.

    A band is a solid, saturated blue (EU, UK "GB"/"UK") or green (UK zero-emission) upright
    strip, small in the frame, with the bright plate face (white or yellow) on one side only:
    blue cars, signs, the sky and blue lettering (face on both sides) do not qualify.  A
    sticker (German inspection and registration seals) is a solid disc of any colour, or two
    stacked, inside the face: no plate character is a filled disc (``O``/``0`` are rings).
    Sizes are judged against the characters beside the disc, never the frame, so a plate close
    to the camera loses its seals too: one disc is shorter than the characters and round (a
    blurred bold ``P`` is a bowl on a stem), two stacked are narrow and meet in a narrow neck
    (a blurred ``8`` has a wide waist).
    """
    import cv2

    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    paint = _bands(hsv) + _stickers(hsv)
    if not paint:
        return image, 0
    out = np.array(image, copy=True)
    for contour, colour in paint:
        cv2.drawContours(out, [contour], -1, tuple(int(c) for c in colour), thickness=-1)
        cv2.drawContours(out, [contour], -1, tuple(int(c) for c in colour), thickness=2)
    return out, len(paint)


def _bands(hsv: NDArray[Any]) -> list[_Paint]:
    """The country bands of an HSV frame (see :func:`mask_country_bands`)."""
    import cv2

    hue, sat, val = hsv[:, :, 0], hsv[:, :, 1], hsv[:, :, 2]
    coloured = ((hue >= 40) & (hue <= 130) & (sat >= 110) & (val >= 40)).astype(np.uint8) * 255
    # Close the band around its letter: a big "D" can cut the blue into slivers.
    closed = cv2.morphologyEx(coloured, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8), iterations=2)
    contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    height, width = hsv.shape[:2]
    paint: list[_Paint] = []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        if h < 6 or w < 3 or not (1.1 <= h / w <= 6.0) or w * h > 0.015 * width * height:
            continue
        if cv2.contourArea(contour) < 0.5 * w * h:
            continue
        core = cv2.erode(closed[y : y + h, x : x + w], np.ones((max(2, h // 5),) * 2, np.uint8))
        if np.count_nonzero(core) < 0.25 * w * h:
            continue  # thin strokes: lettering, not a band
        rows = slice(y + h // 4, y + h - h // 4)
        sides = [hsv[rows, x + w : min(width, x + w + max(3, w // 2))]]
        sides.append(hsv[rows, max(0, x - max(3, w // 2)) : x])
        bright = [_plate_face(side) for side in sides]
        if bright[0] != bright[1]:
            paint.append((contour, _bgr(sides[0] if bright[0] else sides[1])))
    return paint


def _stickers(hsv: NDArray[Any]) -> list[_Paint]:
    """Small, solid, round blobs of anything but the face, with the face around: the seals
    of an HSV frame (see :func:`mask_country_bands`)."""
    import cv2

    height, width = hsv.shape[:2]
    face = face_pixels(hsv).astype(np.uint8)
    blobs, _ = cv2.findContours(1 - face, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    rects = [cv2.boundingRect(c) for c in blobs]
    paint: list[_Paint] = []
    for contour, (x, y, w, h) in zip(blobs, rects, strict=True):
        # up to two discs stacked (the German seals): aspect 0.7..2.4, ellipse-like area
        if h < 4 or w < 3 or not (0.7 <= h / w <= 2.4) or h > 0.2 * height:
            continue
        area = cv2.contourArea(contour)
        if abs(area / (np.pi / 4 * w * h) - 1) > 0.3:
            continue
        # The characters beside the blob (not the plate's border around it or beside it).
        chars = _char_height(
            [
                bh
                for bx, by, bw, bh in rects
                if abs(bx - x) < 4 * h
                and by < y + h
                and y < by + bh
                and bh < 0.5 * height
                and bw >= 0.15 * bh  # not a piece of the border or a line
                and not (bx <= x and by <= y and bx + bw >= x + w and by + bh >= y + h)
            ]
        )
        inside = np.zeros((h, w), np.uint8)
        cv2.drawContours(inside, [contour - np.array([x, y])], -1, 1, thickness=-1)
        # One disc is shorter than the characters beside it (a blurred bold P or 6 is as
        # tall as they are) and as wide below its middle as above (a P's bowl on its stem is
        # not); two stacked are narrow and pinched where they touch.
        if h / w <= 1.4:
            if h > 0.85 * chars or not _disc(inside):
                continue
        elif w > 0.6 * chars or not _pinched(inside):
            continue
        if np.count_nonzero(face[y : y + h, x : x + w][inside > 0] == 0) < 0.85 * inside.sum():
            continue  # a ring (O, 0): the face shows inside it
        y0, y1, x0, x1 = max(0, y - 2), min(height, y + h + 2), max(0, x - 2), min(width, x + w + 2)
        around = face[y0:y1, x0:x1] > 0
        if around.mean() < 0.3:
            continue  # not inside a plate face
        paint.append((contour, _bgr(hsv[y0:y1, x0:x1][around][None])))
    return paint


def _char_height(heights: list[int]) -> float:
    """The height of the characters among blobs of these heights: the median of those at
    least 0.6 of the tallest.  Not the tallest itself: a ``J``'s descender or a tilted wide
    letter's box stands taller than the characters, and a disc as tall as the others would
    pass for a shorter seal; nor the plain median, which hyphens and fragments pull down."""
    if not heights:
        return 0.0
    top = max(heights)
    return float(np.median([h for h in heights if h >= 0.6 * top]))


def _disc(blob: NDArray[np.uint8]) -> bool:
    """A filled disc (or ellipse): as wide a quarter of the way up as a quarter of the way
    down.  A letter with a bowl on a stem (``P``, ``b``, ``d``, ``6``, ``9``) is not, even when
    its counter has blurred shut."""
    h, w = blob.shape
    widths = np.count_nonzero(blob, axis=1)
    return bool(min(widths[h // 4], widths[(3 * h) // 4]) >= 0.6 * w)


def _pinched(blob: NDArray[np.uint8]) -> bool:
    """Two discs stacked: the blob is much narrower half-way down than through either disc
    (two stickers, apart or just touching, meet in a narrow neck; an ``8`` whose counters
    blurred shut keeps a waist of three quarters of its width), and each half is a solid
    disc (a ``9`` or a ``P`` has a stroke for one of them)."""
    h, w = blob.shape
    widths = np.count_nonzero(blob, axis=1)
    if not widths[h // 2] < 0.65 * min(widths[h // 4], widths[(3 * h) // 4]):
        return False
    disc = np.pi / 4 * w * (h / 2)
    halves = (blob[: h // 2], blob[h - h // 2 :])
    return all(np.count_nonzero(half) >= 0.75 * disc for half in halves)


def _bgr(hsv: NDArray[Any]) -> NDArray[Any]:
    """The median colour of HSV pixels, as BGR."""
    import cv2

    pixels = hsv.reshape(1, -1, 3).astype(np.uint8)
    return np.asarray(np.median(cv2.cvtColor(pixels, cv2.COLOR_HSV2BGR).reshape(-1, 3), axis=0))


def _plate_face(hsv: NDArray[Any]) -> bool:
    """Mostly white or yellow: the face of a plate (car paint rarely is both bright and pale)."""
    if hsv.size == 0:
        return False
    return float(face_pixels(hsv).mean()) >= 0.6


def blue_at_left(image: NDArray[np.uint8], box: tuple[float, float, float, float]) -> bool:
    """The read with this box (``x0, y0, x1, y1`` in pixels) starts on a blue band the mask
    missed (blurred, tilted): its first letters are the band's code, not the plate's."""
    import cv2

    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    strip = image[y0 : max(y0 + 1, int(box[3])), x0 : x0 + max(2, int(0.5 * (box[3] - box[1])))]
    if strip.size == 0:
        return False
    hsv = cv2.cvtColor(strip, cv2.COLOR_BGR2HSV)
    blue = (hsv[:, :, 0] >= 95) & (hsv[:, :, 0] <= 130) & (hsv[:, :, 1] >= 110)
    return float(blue.mean()) >= 0.4  # a band merely touching the box covers less


# The band code of each region in the format table; after it, how OCR misreads it.
_BAND_OF = {"UK": ("GB", "UK"), "DE": ("D", "B", "8"), "FR": ("F",), "NL": ("NL",)}
_BAND_OF |= {"IT": ("I",), "ES": ("E",), "PL": ("PL",), "BE": ("B",), "IN": ("IND",)}


def without_band(text: str, fitted: PlateMatch, regions: tuple[str, ...]) -> PlateMatch:
    """The read on a blue band: ``text`` without a leading band code when the rest is a plate
    of that code's region.  The cheapest wins; the blue is evidence against keeping the first
    character (+1), a misread code (``B`` for ``D``) costs 0.5 more than the code itself."""
    best, best_cost = fitted, fitted.cost + 1.0
    for region in regions:
        for k, code in enumerate(_BAND_OF.get(region, ())):
            if not text.startswith(code):
                continue
            rest = match_plate(text[len(code) :], (region,))
            if rest is None or rest.dropped_lead:
                continue
            cost = rest.cost + (0.5 if k and region == "DE" else 0.0)
            if cost < best_cost:
                best, best_cost = rest, cost
    return best
