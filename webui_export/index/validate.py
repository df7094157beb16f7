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
rows, so it is checked by a validator *derived* from those models (same fields, constraints and
config, but producing plain dicts instead of model instances, which is faster); if it rejects a
file, the model itself is run to word the error.  A model that gains a custom
validator makes the derivation refuse, and the model is used directly.
"""

from __future__ import annotations

import types
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
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
)
from schemas.task import FileRef
from webui_export.errors import FinalizeError
from webui_export.index.arrow import pa, pc
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
    table = table.take(pc.sort_indices(table, [("t", "ascending")]))  # stable: ties keep order
    table = table.rename_columns(["t", "label", "confidence", "x", "y", "w", "h", "track_id"])
    table = table.add_column(0, "seq", pa.array(range(table.num_rows), pa.int32()))
    labels = Counter(table["label"].to_pylist())
    return table, model, dict(labels.most_common())


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
