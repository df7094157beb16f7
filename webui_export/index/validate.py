"""Worker output files of a finalize task: where they are, and whether they are valid.

The one place that validates worker outputs, for the index (:func:`load_outputs`, before
anything is written) and for a daemon without an index (:func:`check_outputs`).

Public API: :func:`resolve_outputs`, :func:`load_outputs`, :func:`check_outputs`,
:class:`Outputs`, :func:`describe`, :func:`derive_typeddict`, ``OUTPUT_KINDS``,
``MAX_FILE_BYTES``.

Every problem becomes a :class:`~webui_export.errors.FinalizeError` whose message starts with
the file's path and says what is wrong, e.g.::

    /srv/meta/v1.detections.json: detections.12.bbox.w: Input should be greater than 0
    /srv/meta/v1.plates.json: not valid JSON (EOF while parsing a list at line 1 column 4096);
        a partial or truncated upload?

The models in :mod:`schemas.metadata` are the contract.  A detections file holds thousands of
rows, so it is first read by Arrow's JSON reader straight into typed columns and checked
column-wise against the constraints read from the models (no Python object per detection,
mostly outside the interpreter lock).  That path only accepts: whatever it cannot prove valid
goes to a validator *derived* from the models (same fields, constraints and config, but
producing plain dicts instead of model instances, which is faster); if that rejects a file,
the model itself is run to word the error.  A model that gains a custom validator, a field or
a constraint the columnar path does not know turns these shortcuts off, and the model is used.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union, cast, get_args, get_origin

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from typing_extensions import NotRequired, TypedDict

from schemas.metadata import (
    BBox,
    Detection,
    DetectionsFile,
    GpsPoint,
    GpsTrackFile,
    PlateRead,
    PlatesFile,
)
from schemas.task import FileRef
from webui_export.errors import FinalizeError
from webui_export.index.arrow import pa, pc, pj
from webui_export.index.platetext import canonical_plate
from webui_export.index.shapes import utc_naive

#: ``FileRef.type`` -> the model its file must validate against.
OUTPUT_KINDS: dict[str, type[BaseModel]] = {
    "detections": DetectionsFile,
    "gps": GpsTrackFile,
    "plates": PlatesFile,
}
#: A metadata file larger than this is refused rather than read into memory.
MAX_FILE_BYTES = 64 << 20
_MAX_REPORTED = 3

_BBOX = pa.struct(
    [("x", pa.float32()), ("y", pa.float32()), ("w", pa.float32()), ("h", pa.float32())]
)
_DETECTION = pa.struct(
    [
        ("t", pa.float64()),
        ("label", pa.string()),
        ("confidence", pa.float32()),
        ("bbox", _BBOX),
        ("track_id", pa.int32()),
    ]
)


@dataclass
class Outputs:
    """One video's validated outputs, as columns ready to insert (absent kinds: no rows).

    Tables are sorted by time, their ``seq`` column numbering rows in that order.
    """

    detections: pa.Table | None = None
    gps: list[GpsPoint] = field(default_factory=list)
    plates: list[PlateRead] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    max_offset: float = 0.0
    detector: str | None = None
    gps_source: str | None = None
    plate_reader: str | None = None

    @property
    def n_detections(self) -> int:
        return 0 if self.detections is None else self.detections.num_rows


def resolve_outputs(
    outputs: Iterable[FileRef], roots: Mapping[str, Path] | Callable[[FileRef], Path]
) -> dict[str, Path]:
    """Map a finalize task's metadata outputs to local paths: ``{type: path}``.

    ``roots`` maps a storage device to its folder (``root / ref.path``), or is a function
    giving a ref's local path (its errors propagate).  Outputs of other types (video,
    keyframes, ...) are ignored.  An unknown storage device or two outputs of one type raise
    :class:`FinalizeError`.
    """
    files: dict[str, Path] = {}
    for ref in outputs:
        if ref.type not in OUTPUT_KINDS:
            continue
        if callable(roots):
            path = roots(ref)
        elif ref.device in roots:
            path = roots[ref.device] / ref.path
        else:
            raise FinalizeError(
                f"{ref.device}:{ref.path}: unknown storage device {ref.device!r} "
                f"(known: {', '.join(sorted(roots)) or 'none'})"
            )
        if ref.type in files:
            raise FinalizeError(f"two {ref.type} outputs: {files[ref.type]} and {path}")
        files[ref.type] = path
    return files


def check_outputs(video_id: str, files: Mapping[str, Path]) -> list[str]:
    """Validate each file of ``files`` (kind -> path) on its own: what is wrong with each
    (one message per invalid file, as :func:`load_outputs` words it); empty when all are valid.
    """
    problems = []
    for kind, path in files.items():
        try:
            load_outputs(video_id, {kind: path})
        except FinalizeError as exc:
            problems.append(str(exc))
    return problems


def load_outputs(video_id: str, files: Mapping[str, Path]) -> Outputs:
    """Validate every file in ``files`` (kind -> path) for video ``video_id``; the outputs as
    columns.  Raises :class:`FinalizeError` (the first problem found)."""
    unknown = sorted(set(files) - set(OUTPUT_KINDS))
    if unknown:
        raise FinalizeError(
            f"video {video_id}: unknown output type(s) {', '.join(map(repr, unknown))}; "
            f"expected {', '.join(OUTPUT_KINDS)}"
        )
    out = Outputs()
    offsets = [0.0]
    if "detections" in files:
        out.detections, out.detector, out.labels = _detections(files["detections"], video_id)
        if out.detections.num_rows:
            offsets.append(float(pc.max(out.detections["t"]).as_py()))
    if "gps" in files:
        gps = _validated(files["gps"], GpsTrackFile, video_id)
        out.gps = sorted(gps.points, key=lambda p: utc_naive(p.time))
        out.gps_source = gps.source
        offsets += [p.t for p in out.gps if p.t is not None]
    if "plates" in files:
        plates = _validated(files["plates"], PlatesFile, video_id)
        out.plates = sorted(plates.reads, key=lambda r: r.t)
        out.plate_reader = plates.reader
        offsets += [r.t for r in out.plates]
        for read in out.plates:
            canonical_plate(read.text)  # the pattern check in the model guarantees A-Z0-9
    out.max_offset = max(offsets)
    return out


def _read(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise FinalizeError(f"{path}: not a regular file")
        if size == 0:
            raise FinalizeError(f"{path}: empty file; a partial or failed upload?")
        if size > MAX_FILE_BYTES:
            raise FinalizeError(f"{path}: {size} bytes is more than the {MAX_FILE_BYTES} allowed")
        return path.read_bytes()
    except FileNotFoundError:
        raise FinalizeError(
            f"{path}: file does not exist (the worker listed it as an output)"
        ) from None
    except OSError as exc:
        raise FinalizeError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _validated(path: Path, model: type[Any], video_id: str, raw: bytes | None = None) -> Any:
    raw = _read(path) if raw is None else raw
    try:
        doc = model.model_validate_json(raw)
    except ValidationError as exc:
        raise FinalizeError(f"{path}: {describe(exc)}") from None
    _check_video(path, doc.video_id, video_id)
    return doc


def _check_video(path: Path, file_video: object, video_id: str) -> None:
    if file_video != video_id:
        raise FinalizeError(
            f"{path}: is for video {file_video!r}, but the task finalizes {video_id!r}"
        )


def _detections(path: Path, video_id: str) -> tuple[pa.Table, str | None, dict[str, int]]:
    raw = _read(path)
    parsed = _parse_columns(raw)
    if parsed is not None and parsed[1] == video_id:
        table, model = parsed[0], parsed[2]
    else:  # not certainly valid, or for another video: the validators decide, word the error
        table, model = _validated_columns(path, video_id, raw)
    table = table.take(pc.sort_indices(table, [("t", "ascending")]))  # stable: ties keep order
    table = table.add_column(0, "seq", pa.array(range(table.num_rows), pa.int32()))
    # Per label, most frequent first; ties in order of first appearance in time (stable sort).
    counts = pc.value_counts(table["label"]).to_pylist()
    ranked = sorted(counts, key=lambda c: int(c["counts"]), reverse=True)
    return table, model, {c["values"]: int(c["counts"]) for c in ranked}


def _validated_columns(path: Path, video_id: str, raw: bytes) -> tuple[pa.Table, str | None]:
    """The detection columns (unsorted) and model of a file the columnar path did not accept,
    through the pydantic validators."""
    if _FAST_DETECTIONS is None:
        model_doc = _validated(path, DetectionsFile, video_id, raw)
        rows: list[Any] = [d.model_dump() for d in model_doc.detections]
        model: str | None = model_doc.model
    else:
        try:
            doc = _FAST_DETECTIONS.validate_json(raw)
        except ValidationError:
            _validated(path, DetectionsFile, video_id, raw)  # words the error
            raise FinalizeError(f"{path}: does not validate") from None  # pragma: no cover
        _check_video(path, doc["video_id"], video_id)
        rows, model = doc["detections"], doc.get("model")
    table = pa.Table.from_struct_array(pa.array(rows, type=_DETECTION)).flatten()
    return table.rename_columns(list(_COLUMNS)), model


# -- the columnar fast path -------------------------------------------------------------------
# A detections file is parsed by Arrow's JSON reader straight into typed columns and checked
# column-wise, outside the interpreter lock, with no Python object per detection.  It may only
# *accept*: anything it cannot prove valid under the contract model (odd input Arrow reads
# differently, an explicit null where a default applies, a value out of range, a track id
# wider than the index column) goes to the validators above, which decide and word the error.
# tests/test_index_validate.py checks on fuzzed documents that it never accepts what the
# model refuses, and yields the same columns when it accepts.

_COLUMNS = ("t", "label", "confidence", "x", "y", "w", "h", "track_id")
_F64_BBOX = pa.struct([(k, pa.float64()) for k in "xywh"])
_PARSE_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("version", pa.int64()),
        ("video_id", pa.string()),
        ("model", pa.string()),
        (
            "detections",
            pa.list_(
                pa.struct(
                    [
                        ("t", pa.float64()),
                        ("label", pa.string()),
                        ("confidence", pa.float64()),
                        ("bbox", _F64_BBOX),
                        ("track_id", pa.int64()),
                    ]
                )
            ),
        ),
    ]
)
_PARSE_OPTIONS = pj.ParseOptions(
    explicit_schema=_PARSE_SCHEMA, unexpected_field_behavior="error", newlines_in_values=True
)
_INT32 = (-(2**31), 2**31 - 1)
#: The fields the columnar path reads, per model, with their types: if the contract models
#: change shape, the path turns itself off (``_BOUNDS`` is None) until it is taught the change.
_SHAPES: dict[type[BaseModel], dict[str, object]] = {
    DetectionsFile: {
        "kind": Literal["detections"],
        "version": int,
        "video_id": str,
        "model": str | None,
        "detections": list[Detection],
    },
    Detection: {
        "t": float,
        "label": str,
        "confidence": float,
        "bbox": BBox,
        "track_id": int | None,
    },
    BBox: dict.fromkeys("xywh", float),
}


@dataclass(frozen=True)
class _Bounds:
    """A column's constraints, read from the contract model's field."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    min_length: int | None = None
    max_length: int | None = None


def _contract_bounds() -> dict[str, _Bounds] | None:
    """Each checked column's constraints from the models, or None if the models are not the
    shape the columnar path reads (other fields or types, a constraint it does not know,
    a custom validator, other config)."""
    if _FAST_DETECTIONS is None:  # a custom validator somewhere
        return None
    bounds: dict[str, _Bounds] = {}
    for model, shape in _SHAPES.items():
        config = model.model_config
        if config.get("extra") != "forbid" or config.get("allow_inf_nan", True):
            return None
        if (
            config.get("strict")
            or {k: f.annotation for k, f in model.model_fields.items()} != shape
        ):
            return None
        if model is DetectionsFile:
            continue
        for name, info in model.model_fields.items():
            found: dict[str, Any] = {}
            for item in info.metadata:
                known = [k for k in _Bounds.__dataclass_fields__ if hasattr(item, k)]
                if len(known) != 1:
                    return None
                found[known[0]] = getattr(item, known[0])
            if found:
                bounds[name] = _Bounds(**found)
    return bounds


def _within(bounds: Mapping[str, _Bounds], columns: Mapping[str, Any]) -> bool:
    """Every value of each column (no nulls) is finite and within its bounds (string columns:
    given as their lengths in characters)."""
    if set(bounds) - set(columns):
        return False  # a constrained field this path does not read
    for name, col in columns.items():
        if pa.types.is_floating(col.type) and not pc.all(pc.is_finite(col)).as_py():
            return False
        b = bounds.get(name)
        if b is None:
            continue
        low, high = (v.as_py() for v in pc.min_max(col).values())
        lo = b.ge if b.ge is not None else b.min_length
        hi = b.le if b.le is not None else b.max_length
        if (lo is not None and low < lo) or (b.gt is not None and low <= b.gt):
            return False
        if (hi is not None and high > hi) or (b.lt is not None and high >= b.lt):
            return False
    return True


def _parse_columns(raw: bytes) -> tuple[pa.Table, str, str | None] | None:
    """(the detection columns unsorted, video id, model) if ``raw`` is certainly a valid
    detections file; ``None`` if that is not certain."""
    if _BOUNDS is None:
        return None
    # Plain ASCII without escapes: Arrow and the model's JSON parser read strings alike
    # (no byte-order mark, encodings, surrogates or escaped keys to disagree on).
    if not raw.isascii() or b"\\" in raw:
        return None
    try:
        doc = pj.read_json(
            pa.BufferReader(raw),
            read_options=pj.ReadOptions(use_threads=False, block_size=len(raw) + 64),
            parse_options=_PARSE_OPTIONS,
        )
    except (pa.ArrowException, ValueError):
        return None
    if doc.num_rows != 1:  # several documents, or none
        return None
    top = {name: doc[name][0].as_py() for name in ("kind", "version", "video_id", "model")}
    # Arrow reads a missing key and an explicit null alike; the model's defaults take only
    # the former.
    for key, default_ok in (("kind", "detections"), ("version", None)):
        if top[key] is None and f'"{key}"'.encode() in raw:
            return None
        if key == "kind" and top[key] not in (None, default_ok):
            return None
    if top["video_id"] is None:
        return None
    lists = doc["detections"].combine_chunks()
    if lists.null_count:
        return None
    items = lists.flatten()
    if items.null_count or items.field("bbox").null_count:
        return None
    bbox = items.field("bbox")
    f64 = {"t": items.field("t"), "confidence": items.field("confidence")}
    f64.update({k: bbox.field(k) for k in "xywh"})
    label, track = items.field("label"), items.field("track_id")
    if label.null_count or any(col.null_count for col in f64.values()):
        return None
    if len(items) and not _within(_BOUNDS, {**f64, "label": pc.utf8_length(label)}):
        return None
    ids = pc.min_max(track)
    if ids["min"].as_py() is not None and (
        ids["min"].as_py() < _INT32[0] or ids["max"].as_py() > _INT32[1]
    ):  # the index column is 32 bits: the model's path raises what it raises
        return None
    f32 = {name: f64[name].cast(pa.float32()) for name in ("confidence", *"xywh")}
    table = pa.table(
        {
            "t": f64["t"],
            "label": label,
            **{name: f32[name] for name in ("confidence", *"xywh")},
            "track_id": track.cast(pa.int32()),
        }
    )
    return table, top["video_id"], top["model"]


def describe(exc: ValidationError) -> str:
    """A one-line summary of a pydantic error: the first few locations and messages."""
    errors = exc.errors(include_url=False)
    if errors and errors[0]["type"] == "json_invalid":
        detail = str(errors[0].get("ctx", {}).get("error", errors[0]["msg"]))
        return f"not valid JSON ({detail}); a partial or truncated upload?"
    parts = []
    for err in errors[:_MAX_REPORTED]:
        loc = ".".join(str(p) for p in err["loc"]) or "(document)"
        parts.append(f"{loc}: {err['msg']}")
    if len(errors) > _MAX_REPORTED:
        parts.append(f"and {len(errors) - _MAX_REPORTED} more error(s)")
    return "; ".join(parts)


# -- the derived fast validator --------------------------------------------------------------


def derive_typeddict(model: type[BaseModel]) -> type | None:
    """A TypedDict with ``model``'s fields, constraints and config; ``None`` if not derivable.

    Not derivable: any custom validator or serializer, on the model or a nested model.
    Fields with defaults become ``NotRequired`` (the default is not filled in).
    """
    decorators = model.__pydantic_decorators__
    if any(
        (
            decorators.validators,
            decorators.field_validators,
            decorators.root_validators,
            decorators.model_validators,
            decorators.field_serializers,
            decorators.model_serializers,
            decorators.computed_fields,
        )
    ):
        return None
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if info.alias or info.validation_alias:
            return None
        annotation = _derive_annotation(info.annotation)
        if annotation is None:
            return None
        if info.metadata:
            args = (annotation, *info.metadata)
            annotation = cast(Any, Annotated)[args]
        fields[name] = annotation if info.is_required() else NotRequired[annotation]
    typed: Any = cast(Any, TypedDict)(f"{model.__name__}Row", fields)
    typed.__pydantic_config__ = ConfigDict(
        extra=model.model_config.get("extra"),
        allow_inf_nan=model.model_config.get("allow_inf_nan", True),
        strict=model.model_config.get("strict", False),
    )
    return cast(type, typed)


def _derive_annotation(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return derive_typeddict(annotation)
    origin = get_origin(annotation)
    if origin is list:
        (item,) = get_args(annotation)
        derived = _derive_annotation(item)
        return None if derived is None else list[derived]  # type: ignore[valid-type]
    if origin in (Union, types.UnionType):
        args = [_derive_annotation(a) for a in get_args(annotation)]
        return None if any(a is None for a in args) else cast(Any, Union)[tuple(args)]
    if origin is Annotated:
        return None  # nested constraint wrappers: keep it simple, use the model
    return annotation


def _fast_adapter() -> TypeAdapter[Any] | None:
    typed = derive_typeddict(DetectionsFile)
    return None if typed is None else TypeAdapter(typed)


_FAST_DETECTIONS = _fast_adapter()
_BOUNDS = _contract_bounds()
