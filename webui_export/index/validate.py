"""Load and check a video's worker output files before anything is written to the index.

Public API: :func:`load_outputs`, :class:`Outputs`, :func:`describe`, ``OUTPUT_KINDS``,
``MAX_FILE_BYTES``.

Every problem becomes a :class:`~webui_export.errors.FinalizeError` whose message starts with
the file's path and says what is wrong, e.g.::

    /srv/meta/v1.detections.json: detections.12.bbox.w: Input should be greater than 0
    /srv/meta/v1.plates.json: not valid JSON (EOF while parsing a list at line 1 column 4096);
        a partial or truncated upload?

The models in :mod:`schemas.metadata` are the contract.  A detections file holds thousands of
rows, so it is checked by a validator *derived* from those models (same fields, constraints and
config, but producing plain dicts instead of model instances: about twice as fast); if it
rejects a file, the model itself is run to word the error.  A model that gains a custom
validator makes the derivation refuse, and the model is used directly.
"""

from __future__ import annotations

import types
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Union, cast, get_args, get_origin

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from typing_extensions import NotRequired, TypedDict

from schemas.metadata import (
    DetectionsFile,
    GpsPoint,
    GpsTrackFile,
    PlateRead,
    PlatesFile,
    VideoMeta,
)
from webui_export.errors import FinalizeError
from webui_export.index.arrow import pa, pc
from webui_export.index.platetext import canonical_plate

#: ``FileRef.type`` -> the model its file must validate against.
OUTPUT_KINDS: dict[str, type[BaseModel]] = {
    "detections": DetectionsFile,
    "gps": GpsTrackFile,
    "plates": PlatesFile,
}
#: A metadata file larger than this is refused rather than read into memory.
MAX_FILE_BYTES = 256 * 1024 * 1024
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


def load_outputs(video: VideoMeta, files: Mapping[str, Path]) -> Outputs:
    """Validate every file in ``files`` (kind -> path) for ``video``; raise FinalizeError."""
    unknown = sorted(set(files) - set(OUTPUT_KINDS))
    if unknown:
        raise FinalizeError(
            f"video {video.video_id}: unknown output type(s) {', '.join(map(repr, unknown))}; "
            f"expected {', '.join(OUTPUT_KINDS)}"
        )
    out = Outputs()
    offsets = [0.0]
    if "detections" in files:
        out.detections, out.detector, out.labels = _detections(files["detections"], video)
        if out.detections.num_rows:
            offsets.append(float(pc.max(out.detections["t"]).as_py()))
    if "gps" in files:
        gps = _validated(files["gps"], GpsTrackFile, video)
        out.gps = sorted(gps.points, key=lambda p: _utc_naive(p.time))
        out.gps_source = gps.source
        offsets += [p.t for p in out.gps if p.t is not None]
    if "plates" in files:
        plates = _validated(files["plates"], PlatesFile, video)
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


def _validated(path: Path, model: type[Any], video: VideoMeta, raw: bytes | None = None) -> Any:
    raw = _read(path) if raw is None else raw
    try:
        doc = model.model_validate_json(raw)
    except ValidationError as exc:
        raise FinalizeError(f"{path}: {describe(exc)}") from None
    _check_video(path, doc.video_id, video)
    return doc


def _check_video(path: Path, file_video: object, video: VideoMeta) -> None:
    if file_video != video.video_id:
        raise FinalizeError(
            f"{path}: is for video {file_video!r}, but the task finalizes {video.video_id!r}"
        )


def _detections(path: Path, video: VideoMeta) -> tuple[pa.Table, str | None, dict[str, int]]:
    raw = _read(path)
    if _FAST_DETECTIONS is None:
        model_doc = _validated(path, DetectionsFile, video, raw)
        rows: list[Any] = [d.model_dump() for d in model_doc.detections]
        model: str | None = model_doc.model
    else:
        try:
            doc = _FAST_DETECTIONS.validate_json(raw)
        except ValidationError:
            _validated(path, DetectionsFile, video, raw)  # words the error
            raise FinalizeError(f"{path}: does not validate") from None  # pragma: no cover
        _check_video(path, doc["video_id"], video)
        rows, model = doc["detections"], doc.get("model")
    table = pa.Table.from_struct_array(pa.array(rows, type=_DETECTION)).flatten()
    table = table.take(pc.sort_indices(table, [("t", "ascending")]))  # stable: ties keep order
    table = table.rename_columns(["t", "label", "confidence", "x", "y", "w", "h", "track_id"])
    table = table.add_column(0, "seq", pa.array(range(table.num_rows), pa.int32()))
    labels = Counter(table["label"].to_pylist())
    return table, model, dict(labels.most_common())


def _utc_naive(when: datetime) -> datetime:
    if when.tzinfo is None:
        return when
    return when.astimezone(timezone.utc).replace(tzinfo=None)


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
