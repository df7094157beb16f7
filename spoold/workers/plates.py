"""Licence-plate finding and reading on keyframes, with RapidOCR's bundled ONNX models.

Public API:

- :class:`PlateReader` — ``PlateReader(min_confidence=0.6, plate_regex=None, min_len=4,
  max_len=10, use_cuda=False, threads=0, max_side=1280, ignore_top=0.06,
  ignore_bottom=0.08, regions=None, mask_bands=True, reread_faces=True)``;
  :meth:`PlateReader.read(image) <PlateReader.read>` takes a
  BGR ``numpy`` image and returns :class:`PlateCandidate` objects; :attr:`PlateReader.name`
  names the engine and models (goes into ``PlatesFile.reader``).
- :class:`PlateCandidate` — ``text_raw`` (as read), ``text`` (the plate: normalized ``A-Z0-9``
  and matched to a format), ``confidence`` (0..1), ``bbox`` (normalized ``x, y, w, h``),
  ``region`` (the matched format's region: on a layout several regions share, the one listed
  first in ``regions``; ``""`` with ``plate_regex``).
- :func:`normalize_plate(text) <normalize_plate>` — upper-case, look-alike glyphs (multiplication
  sign, Greek and Cyrillic capitals, full-width forms) to the Latin ones, keep ``A-Z0-9`` only.
- :func:`looks_like_plate(text, ...) <looks_like_plate>` — the default plate filter.
- :func:`rapidocr_model_paths() <rapidocr_model_paths>` — the detection, recognition and
  orientation models shipped inside the installed ``rapidocr`` wheel.

How it works: RapidOCR's text detector (PP-OCR DB) finds text lines anywhere in the frame,
its recognizer (PP-OCR CRNN/SVTR) reads them; lines on one row that are close together
(or overlap by less than half a character height: the detector pads its boxes) are joined
(plates with a space are often split, German ones at their seals), then only
plate-like texts are kept: 4-10 characters after normalization with at least one letter and
one digit (or ``plate_regex``), not a speed read-out (``36 KM/H``), not in the top
``ignore_top`` / bottom ``ignore_bottom`` fraction of the frame (where dashcams burn in date,
speed and model), and a confidence of at least ``min_confidence``.  A kept text must then fit
a plate format of the enabled ``regions`` (:mod:`spoold.workers.plate_formats`: OCR
confusions repaired by position, band letters and stickers in front or behind dropped);
``plate_regex`` replaces that check.  Before reading, blue country bands (the EU strip with
``D``/``NL``/``GB``...) and round stickers are painted over so their letters never join the
plate text (``mask_bands``, :mod:`spoold.workers.plate_bands`); a read whose box still starts
on blue loses its leading band code when the rest is a plate of that code's region.  Then the plate face under a kept read
(the white or yellow region around it, found in the unmasked frame, ``reread_faces``) is cut
out upright with everything off the face painted over and read again by the recognizer
alone: a text detector finds lines, not plates, and misses a short group set apart by a wide
gap (a German one-letter district before its seals), whose rest is itself a valid plate.
The face's read replaces the line's when it is a longer plate containing it, or a shorter one
inside it whose extra letters lay off the face; a face that runs into a background of its
colour is no evidence and changes nothing.  Frames larger than ``max_side`` pixels
are scaled down for the text detector (never up).  Model files are taken from the installed
package by path, so nothing is ever downloaded; a missing model is a clear error.
Runs on Python 3.10.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spoold.workers._contract import WorkerError
from spoold.workers.plate_bands import blue_at_left, face_pixels, mask_country_bands, without_band
from spoold.workers.plate_formats import REGIONS, match_plate

__all__ = [
    "PlateCandidate",
    "PlateReader",
    "looks_like_plate",
    "normalize_plate",
    "rapidocr_model_paths",
]

_NON_ALNUM = re.compile(r"[^A-Z0-9]")
# Characters a plate's printed text may contain besides letters and digits.
_PLATE_PUNCT = set(" -·.:_|")
# Speed read-outs of dashcam overlays ("36 KM/H", "22MPH") are not plates.
_SPEED_RE = re.compile(r"\d{1,3}(?:KMH|KPH|KM|MPH)")


# Glyphs the recognizer's dictionary holds that are drawn like a Latin letter or digit: a
# plate's ``X`` read as the multiplication sign would otherwise vanish in normalization and
# leave a shorter text that may still fit a format (``LCVX580`` → ``LCV580``, a Northern Irish
# layout).  Escaped: the multiplication sign and crosses, Greek and Cyrillic capitals (and the
# small letters that upper-case to them), IPA small capitals, the slashed zero, full-width
# forms.  Not NFKC: it also spells out marks the recognizer may see in a smudge (a trade mark
# sign is ``TM``, a fraction ``1/2``), adding characters.
_LOOKALIKES = str.maketrans(
    {
        **{chr(0xFF10 + k): str(k) for k in range(10)},
        **{chr(0xFF21 + k): chr(65 + k) for k in range(26)},
        **{chr(0xFF41 + k): chr(65 + k) for k in range(26)},
        **dict.fromkeys("\u00d7\u2715\u2716\u2718\u0445\u0425\u03c7\u03a7", "X"),
        **dict.fromkeys("\u00d8\u00f8", "0"),
        **dict(
            zip(
                "\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5"
                "\u03b1\u03b2\u03b5\u03b6\u03b7\u03b9\u03ba\u03bc\u03bd\u03bf\u03c1\u03c4\u03c5"
                "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0423"
                "\u0430\u0435\u043e\u043a\u0440\u0441\u0442\u0443"
                "\u0299\u026a\u0280\u0274\u029c\u029f\u028f\u0262\u0131\u017f",
                "ABEZHIKMNOPTYABEZHIKMNOPTYABEKMHOPCTYAEOKPCTYBIRNHLYGIS",
                strict=True,
            )
        ),
    }
)


def _latin(text: str) -> str:
    """``text`` with look-alike glyphs (the multiplication sign, Greek and Cyrillic capitals,
    small capitals, full-width forms) turned into the Latin letters and digits they are drawn
    like."""
    return text.translate(_LOOKALIKES)


def normalize_plate(text: str) -> str:
    """``"ka-01 ab 1234"`` → ``"KA01AB1234"`` (A-Z0-9 only; look-alikes: :func:`_latin`)."""
    return _NON_ALNUM.sub("", _latin(text).upper())


def looks_like_plate(
    text_raw: str, *, min_len: int = 4, max_len: int = 10, regex: re.Pattern[str] | None = None
) -> bool:
    """The default plate filter (see the module docstring)."""
    norm = normalize_plate(text_raw)
    if regex is not None:
        return bool(regex.fullmatch(norm))
    if _SPEED_RE.fullmatch(norm):
        return False
    if not (min_len <= len(norm) <= max_len):
        return False
    if not any(c.isdigit() for c in norm) or not any(c.isalpha() for c in norm):
        return False
    stripped = _latin(text_raw).strip()
    other = [c for c in stripped if not c.isalnum() and c not in _PLATE_PUNCT]
    return len(other) <= max(1, len(stripped) // 8)


@dataclass(frozen=True)
class PlateCandidate:
    text_raw: str
    text: str
    confidence: float
    bbox: tuple[float, float, float, float]  # normalized x, y, w, h
    region: str = ""


@dataclass
class _Line:
    text: str
    score: float
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def h(self) -> float:
        return self.y1 - self.y0


def _join_lines(lines: list[_Line]) -> list[_Line]:
    """Join text boxes on one row separated by a gap smaller than their height."""
    lines = sorted(lines, key=lambda ln: (ln.y0, ln.x0))
    out: list[_Line] = []
    used = [False] * len(lines)
    for i, a in enumerate(lines):
        if used[i]:
            continue
        cur = _Line(a.text, a.score, a.x0, a.y0, a.x1, a.y1)
        parts = 1
        changed = True
        while changed:
            changed = False
            for j, b in enumerate(lines):
                if used[j] or j == i:
                    continue
                overlap = min(cur.y1, b.y1) - max(cur.y0, b.y0)
                similar = 0.6 < (b.h / cur.h if cur.h else 0) < 1.6
                # b may lie left of cur: rows are sorted by their top edge first
                before = b.x0 < cur.x0
                gap = cur.x0 - b.x1 if before else b.x0 - cur.x1
                # The detector pads its boxes: neighbouring groups of a tilted or tightly set
                # plate overlap by up to half a character height.  A second box over the same
                # text overlaps most of the narrower one and is not joined.
                narrow = min(cur.x1 - cur.x0, b.x1 - b.x0)
                least = min(-0.2 * cur.h, max(-0.5 * min(cur.h, b.h), -0.3 * narrow))
                close = least < gap < 1.6 * cur.h
                if similar and overlap > 0.6 * min(cur.h, b.h) and close:
                    cur = _Line(
                        f"{b.text} {cur.text}" if before else f"{cur.text} {b.text}",
                        (cur.score * parts + b.score) / (parts + 1),
                        min(cur.x0, b.x0),
                        min(cur.y0, b.y0),
                        max(cur.x1, b.x1),
                        max(cur.y1, b.y1),
                    )
                    parts += 1
                    used[j] = True
                    changed = True
        used[i] = True
        out.append(cur)
    return out


def rapidocr_model_paths() -> dict[str, Path]:
    """``{"det": ..., "rec": ..., "cls": ...}`` inside the installed rapidocr package."""
    try:
        import rapidocr
    except ImportError:
        raise WorkerError(
            "the rapidocr package is not installed (pip install rapidocr onnxruntime)"
        ) from None
    models = Path(rapidocr.__file__).parent / "models"
    found: dict[str, Path] = {}
    for kind in ("det", "rec", "cls"):
        cands = sorted(models.glob(f"*_{kind}_*.onnx")) + sorted(models.glob(f"*{kind}*.onnx"))
        if cands:
            found[kind] = cands[0]
    missing = [k for k in ("det", "rec") if k not in found]
    if missing:
        raise WorkerError(
            f"{models}: the rapidocr wheel carries no {'/'.join(missing)} ONNX model; "
            "install a rapidocr release that ships its models (>= 3.4)"
        )
    return found


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


class PlateReader:
    """Find and read licence plates in one image at a time (see the module docstring)."""

    def __init__(
        self,
        *,
        min_confidence: float = 0.6,
        plate_regex: str | None = None,
        min_len: int = 4,
        max_len: int = 10,
        use_cuda: bool = False,
        threads: int = 0,
        max_side: int = 1280,
        ignore_top: float = 0.06,
        ignore_bottom: float = 0.08,
        regions: tuple[str, ...] | None = None,
        mask_bands: bool = True,
        reread_faces: bool = True,
    ) -> None:
        try:
            from rapidocr import RapidOCR
        except ImportError:
            raise WorkerError(
                "the rapidocr package is not installed (pip install rapidocr onnxruntime)"
            ) from None
        paths = rapidocr_model_paths()
        params: dict[str, Any] = {
            "Global.log_level": "error",
            "Global.use_cls": False,  # plates are upright; skips the 180° classifier
            "Det.model_path": str(paths["det"]),
            "Rec.model_path": str(paths["rec"]),
            "Cls.model_path": str(paths.get("cls", paths["det"])),
            "EngineConfig.onnxruntime.use_cuda": bool(use_cuda),
            # Never upscale; scale frames larger than max_side down (0 = native size).
            "Det.limit_type": "max",
            "Det.limit_side_len": int(max_side) if max_side > 0 else 100_000,
        }
        if threads > 0:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = int(threads)
        try:
            self._engine = RapidOCR(params=params)
        except Exception as exc:
            raise WorkerError(f"cannot start RapidOCR with {paths['det'].parent}: {exc}") from None
        self.min_confidence = min_confidence
        self.regex = re.compile(plate_regex) if plate_regex else None
        self.min_len, self.max_len = min_len, max_len
        self.ignore_top, self.ignore_bottom = ignore_top, ignore_bottom
        self.regions = tuple(regions) if regions is not None else REGIONS
        self.mask_bands = mask_bands
        self.reread_faces = reread_faces
        self.name = (
            f"rapidocr {_version('rapidocr')} ({paths['det'].stem} + {paths['rec'].stem}, "
            f"onnxruntime {_version('onnxruntime') if not use_cuda else _version('onnxruntime-gpu')}"
            f"{', cuda' if use_cuda else ''})"
        )

    def read(self, image: NDArray[np.uint8]) -> list[PlateCandidate]:
        """Plate-like texts in a BGR image, best first."""
        if image.ndim != 3 or image.shape[0] < 8 or image.shape[1] < 8:
            return []
        height, width = image.shape[:2]
        original = image
        if self.mask_bands:
            image, _bands = mask_country_bands(image)
        # Every call sets the steps: RapidOCR keeps the last call's use_det/use_rec settings.
        res: Any = self._engine(image, use_det=True, use_cls=False, use_rec=True)
        boxes = getattr(res, "boxes", None)
        txts = getattr(res, "txts", None)
        scores = getattr(res, "scores", None)
        if boxes is None or txts is None or scores is None:
            return []
        lines = []
        for box, txt, score in zip(boxes, txts, scores, strict=False):
            pts = np.asarray(box, dtype=np.float64).reshape(-1, 2)
            lines.append(
                _Line(
                    str(txt),
                    float(score),
                    float(pts[:, 0].min()),
                    float(pts[:, 1].min()),
                    float(pts[:, 0].max()),
                    float(pts[:, 1].max()),
                )
            )
        # Judge each line alone and the joined rows; prefer the joined read of the same area.
        found: dict[str, PlateCandidate] = {}
        faces = _Faces(original, image) if self.reread_faces and self.regex is None else None
        for ln in _join_lines(lines) + lines:
            if ln.score < self.min_confidence:
                continue
            centre = (ln.y0 + ln.y1) / 2 / height
            if centre < self.ignore_top or centre > 1 - self.ignore_bottom:
                continue  # the dashcam's own date/speed/model overlay lives in these bands
            if not looks_like_plate(
                ln.text, min_len=self.min_len, max_len=self.max_len, regex=self.regex
            ):
                continue
            x0, y0 = max(0.0, ln.x0) / width, max(0.0, ln.y0) / height
            x1, y1 = min(float(width), ln.x1) / width, min(float(height), ln.y1) / height
            if x1 <= x0 or y1 <= y0:
                continue
            text, region, src = normalize_plate(ln.text), "", ln
            if self.regex is None:
                fitted = match_plate(text, self.regions)
                if fitted is None:
                    continue  # fits no plate format of the enabled regions
                box = (ln.x0, ln.y0, ln.x1, ln.y1)
                if self.mask_bands and blue_at_left(image, box):  # a band the mask missed
                    fitted = without_band(text, fitted, self.regions)
                text, region = fitted.text, fitted.region
                if faces is not None:
                    whole = self._reread_face(faces, ln, text)
                    if whole is not None:
                        (text, region), src = whole
                        x0, y0 = src.x0 / width, src.y0 / height
                        x1, y1 = src.x1 / width, src.y1 / height
            if any(_inside(text, other) for other in found):
                continue  # a fragment of a longer read already kept
            cand = PlateCandidate(
                text_raw=src.text.strip()[:32],
                text=text[:32],
                confidence=round(min(1.0, max(0.0, src.score)), 4),
                bbox=(round(x0, 5), round(y0, 5), round(x1 - x0, 5), round(y1 - y0, 5)),
                region=region,
            )
            # Overlapping reads of one frame are one plate read twice (a fragment, a band
            # letter joined): the more confident stays, or one plate becomes two.
            rivals = [t for t, c in found.items() if _overlap(c.bbox, cand.bbox) >= 0.5]
            if any(found[t].confidence >= cand.confidence for t in [*rivals, text] if t in found):
                continue
            for t in rivals:
                del found[t]
            found[text] = cand
        return sorted(found.values(), key=lambda c: -c.confidence)

    def _reread_face(
        self, faces: _Faces, ln: _Line, text: str
    ) -> tuple[tuple[str, str], _Line] | None:
        """The whole plate face around a read, read again: ``((text, region), line)`` when it
        gives a longer plate that contains ``text`` (the read missed a group), or a shorter
        one inside ``text`` whose missing letters the read found off the face (a band or
        sticker beside it); else None."""
        found = faces.around(ln)
        if found is None:
            return None
        label, crop, (fx0, fy0, fx1, fy1) = found
        if label not in faces.reads:  # the joined line and its parts share one face
            res: Any = self._engine(crop, use_det=False, use_cls=False, use_rec=True)
            txts, scores = getattr(res, "txts", None), getattr(res, "scores", None)
            faces.reads[label] = (str(txts[0]), float(scores[0])) if txts and scores else None
        got = faces.reads[label]
        if got is None or got[1] < self.min_confidence:
            return None
        raw, score = got
        if not looks_like_plate(raw, min_len=self.min_len, max_len=self.max_len):
            return None
        fitted = match_plate(normalize_plate(raw), self.regions)
        if fitted is None or fitted.text == text:
            return None
        if len(fitted.text) > len(text) and text in fitted.text:
            pass  # the read missed a group of the plate
        elif len(fitted.text) < len(text) and text.endswith(fitted.text):
            if ln.x0 > fx0 - 0.15 * ln.h:
                return None  # the extra letters in front of the read are on the face
        elif len(fitted.text) < len(text) and text.startswith(fitted.text):
            if ln.x1 < fx1 + 0.15 * ln.h:
                return None
        else:
            return None  # a different text: two reads of one face, neither is evidence
        whole = _Line(raw, min(score, ln.score), fx0, fy0, fx1, fy1)
        return (fitted.text, fitted.region), whole


class _Faces:
    """The bright plate faces (white or yellow) of a frame, as connected regions.

    A text detector finds text lines, not plates: a short first group set apart by a wide gap
    (a German one-letter district before its seals) is often no line at all, and the rest is
    itself a valid plate.  The face a read sits on shows the plate's real extent.  Faces are
    found in the frame as it was (a band painted over would join its face, and what is left
    of its letter be read), their pixels taken from the masked frame (seals painted over)."""

    def __init__(self, original: NDArray[np.uint8], masked: NDArray[np.uint8]) -> None:
        import cv2

        self.image = masked
        face = face_pixels(cv2.cvtColor(original, cv2.COLOR_BGR2HSV)).astype(np.uint8)
        _n, self.labels, self.stats, _c = cv2.connectedComponentsWithStats(face, connectivity=4)
        self.reads: dict[int, tuple[str, float] | None] = {}  # label -> recognized text, score

    def around(self, ln: _Line) -> tuple[int, NDArray[np.uint8], tuple[int, int, int, int]] | None:
        """The face under a read: its label, an upright crop with everything off the face
        painted over with its colour (band, background, border), and its box; None when the
        read is on no plate-sized face (night, a white car body or background around it)."""
        import cv2

        height, width = self.labels.shape
        x0, y0 = max(0, int(ln.x0)), max(0, int(ln.y0))
        x1, y1 = min(width, int(ln.x1) + 1), min(height, int(ln.y1) + 1)
        under = self.labels[y0:y1, x0:x1]
        ids, counts = np.unique(under[under > 0], return_counts=True)
        if ids.size == 0:
            return None
        label = int(ids[counts.argmax()])
        fx, fy, fw, fh = (int(v) for v in self.stats[label][:4])
        # A plate face holds its text with margins: not much taller, at most ~3 widths wider
        # (the rest of a split plate), and the read is on it, not beside it.
        if fw > 3.5 * (x1 - x0) or fh > 3.0 * (y1 - y0) or fw < 0.8 * (x1 - x0):
            return None
        if fx > x0 + ln.h or fx + fw < x1 - ln.h:
            return None  # the read runs well past the face: a band or another plate
        comp = (self.labels[fy : fy + fh, fx : fx + fw] == label).astype(np.uint8)
        hull = cv2.convexHull(cv2.findNonZero(comp))
        inside = np.zeros_like(comp)
        cv2.fillConvexPoly(inside, hull, 1)
        window = self.image[fy : fy + fh, fx : fx + fw]
        colour = np.median(window[comp > 0], axis=0).astype(np.uint8)
        # Margins of face colour: a character touching the crop's edge is often dropped.
        pad = max(2, fh // 4)
        crop = np.empty((fh + 2 * pad, fw + 2 * pad, 3), np.uint8)
        crop[:] = colour
        crop[pad : pad + fh, pad : pad + fw][inside > 0] = window[inside > 0]
        return label, crop, (fx, fy, fx + fw, fy + fh)


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """The intersection of two ``x, y, w, h`` boxes over the smaller one's area."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    smaller = min(a[2] * a[3], b[2] * b[3])
    return w * h / smaller if w > 0 and h > 0 and smaller > 0 else 0.0


def _inside(text: str, other: str) -> bool:
    return text != other and text in other
