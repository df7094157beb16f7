"""The fast validators (the derived TypedDict, the columnar path) accept exactly what the
contract models accept, and yield the same columns."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyarrow import ArrowException  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas.metadata import DetectionsFile
from webui_export.index import validate
from webui_export.index.validate import derive_typeddict

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-5, 5),
    st.sampled_from([0, 1, 0.5, -0.0, 1.0000001]),
    st.text(max_size=3),
    st.none(),
    st.booleans(),
)
bbox = st.fixed_dictionaries(
    {"x": numbers, "y": numbers, "w": numbers, "h": numbers},
    optional={"z": numbers},
)
detection = st.fixed_dictionaries(
    {"t": numbers, "label": st.one_of(st.text(max_size=70), st.integers()), "confidence": numbers,
     "bbox": bbox},
    optional={"track_id": st.one_of(st.integers(), st.none(), st.floats(), st.text(max_size=2))},
)  # fmt: skip
document = st.fixed_dictionaries(
    {"video_id": st.one_of(st.just("v1"), st.integers()), "detections": st.lists(detection, max_size=3)},
    optional={"kind": st.sampled_from(["detections", "gps"]), "model": st.one_of(st.none(), st.text()),
              "version": st.integers(0, 2), "extra": st.just(1)},
)  # fmt: skip


def _normalized(value: object) -> object:
    """Compare floats by value (NaN never appears in accepted documents)."""
    if isinstance(value, dict):
        return {k: _normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


@settings(max_examples=100, deadline=None)
@given(doc=document)
def test_fast_validator_agrees_with_the_model(doc: dict) -> None:
    raw = json.dumps(doc, allow_nan=True)
    assert validate._FAST_DETECTIONS is not None
    try:
        model = DetectionsFile.model_validate_json(raw)
    except ValidationError:
        model = None
    try:
        fast = validate._FAST_DETECTIONS.validate_json(raw)
    except ValidationError:
        fast = None
    assert (model is None) == (fast is None), raw
    if model is not None and fast is not None:
        dumped = model.model_dump(exclude_unset=True)
        assert _normalized(dumped["detections"]) == _normalized(fast["detections"])
        for det in fast["detections"]:
            assert all(math.isfinite(det["bbox"][k]) for k in "xywh")


def test_a_model_with_a_custom_validator_is_not_derived() -> None:
    class Checked(BaseModel):
        x: int

        @field_validator("x")
        @classmethod
        def _positive(cls, v: int) -> int:
            return v

    class Outer(BaseModel):
        items: list[Checked]

    assert derive_typeddict(Checked) is None
    assert derive_typeddict(Outer) is None


# -- the columnar path (Arrow's JSON reader) against the model ----------------------------------

wild_numbers = st.one_of(
    numbers,
    st.integers(-(2**70), 2**70),
    st.sampled_from([1e-400, 1e400, 2**31, -(2**31) - 1, 1e308]),
)
wild_detection = st.fixed_dictionaries(
    {"t": wild_numbers, "label": st.one_of(st.text(max_size=70), st.integers(), st.none()),
     "confidence": wild_numbers, "bbox": st.one_of(bbox, st.none())},
    optional={"track_id": st.one_of(wild_numbers, st.none()), "extra": st.just(1)},
)  # fmt: skip
wild_document = st.fixed_dictionaries(
    {"video_id": st.one_of(st.just("v1"), st.integers(), st.none()),
     "detections": st.one_of(st.lists(wild_detection, max_size=4), st.none())},
    optional={"kind": st.sampled_from(["detections", "gps", None]),
              "model": st.one_of(st.none(), st.text(max_size=5), st.integers()),
              "version": st.one_of(st.integers(0, 2), st.none(), st.floats()), "extra": st.just(1)},
)  # fmt: skip
layouts = st.sampled_from([None, 1, 2])  # json.dumps indent: one line, or across lines
tails = st.sampled_from(["", "\n", " \n\t", "\n{}", "{}", "x", "\x00", "\n\n"])


def _columns_of_the_model(raw: str) -> tuple[object, object, object] | None:
    """What the pydantic path makes of ``raw``: (columns, video_id, model), or None."""
    try:
        doc = DetectionsFile.model_validate_json(raw)
    except ValidationError:
        return None
    path = Path("/nonexistent/v.detections.json")
    try:
        table, model = validate._validated_columns(path, doc.video_id, raw.encode())
    except (ArrowException, OverflowError, ValueError):  # a track id no index column holds
        return ("unindexable", doc.video_id, doc.model)
    return table, doc.video_id, model


def _assert_agrees(raw: str) -> bool:
    """The columnar path accepts only what the model accepts, with the same columns; whether
    it accepted."""
    fast = validate._parse_columns(raw.encode())
    if fast is None:
        return False
    slow = _columns_of_the_model(raw)
    assert slow is not None, f"columnar path accepted what the model refuses: {raw!r}"
    assert slow[0] != "unindexable", raw
    assert fast[0].equals(slow[0]), raw
    assert (fast[1], fast[2]) == (slow[1], slow[2]), raw
    return True


@settings(max_examples=200, deadline=None)
@given(doc=wild_document, indent=layouts, tail=tails)
def test_columnar_path_never_accepts_what_the_model_refuses(
    doc: dict, indent: int | None, tail: str
) -> None:
    _assert_agrees(json.dumps(doc, allow_nan=True, indent=indent) + tail)


@settings(max_examples=100, deadline=None)
@given(doc=wild_document, key=st.sampled_from(["kind", "version", "video_id", "model", "t", "x"]),
       value=st.sampled_from(["null", '"detections"', "1", '"v1"', "0.5"]))  # fmt: skip
def test_columnar_path_agrees_on_explicit_nulls_and_repeated_keys(
    doc: dict, key: str, value: str
) -> None:
    raw = json.dumps(doc, allow_nan=True)
    # An explicit value (null: where a default would apply) or a key given twice.
    _assert_agrees(raw.replace(f'"{key}": ', f'"{key}": {value}, "{key}": ', 1))
    _assert_agrees(raw.replace("{", f'{{"{key}": {value}, ', 1))


unit = st.floats(0, 1)
valid_detection = st.fixed_dictionaries(
    {"t": st.one_of(st.floats(0, 1e6), st.integers(0, 10**6)),
     "label": st.text(st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"\\'),
                      min_size=1, max_size=64),
     "confidence": unit,
     "bbox": st.fixed_dictionaries({"x": unit, "y": unit, "w": st.floats(1e-9, 1),
                                    "h": st.floats(1e-9, 1)})},
    optional={"track_id": st.one_of(st.integers(-(2**31), 2**31 - 1), st.none())},
)  # fmt: skip
valid_document = st.fixed_dictionaries(
    {"video_id": st.just("v1"), "detections": st.lists(valid_detection, max_size=20)},
    optional={"kind": st.just("detections"), "model": st.one_of(st.none(), st.just("yolo 8")),
              "version": st.integers(0, 2)},
)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(doc=valid_document, indent=layouts)
def test_columnar_path_takes_plain_valid_files(doc: dict, indent: int | None) -> None:
    """Not a vacuous fast path: ordinary worker output is accepted, columns as the model's."""
    assert _assert_agrees(json.dumps(doc, indent=indent))


def test_detections_are_sorted_numbered_and_counted_alike_on_both_paths(tmp_path: Path) -> None:
    dets = [
        {"t": t, "label": label, "confidence": 0.5, "bbox": {"x": 0, "y": 0, "w": 1, "h": 1}}
        for t, label in [(3, "car"), (1, "bus"), (1, "car"), (2, "bus"), (0.5, "van")]
    ]
    path = tmp_path / "v1.detections.json"
    path.write_text(json.dumps({"video_id": "v1", "detections": dets}))
    fast = validate._detections(path, "v1")
    dets[0]["label"] = "c\\u0061r"  # "car" with an escape: read by the model's path
    path.write_text(json.dumps({"video_id": "v1", "detections": dets}).replace("\\\\", "\\"))
    assert validate._parse_columns(path.read_bytes()) is None
    slow = validate._detections(path, "v1")
    assert fast[0].equals(slow[0])
    assert list(fast[2].items()) == list(slow[2].items()) == [("bus", 2), ("car", 2), ("van", 1)]
    assert fast[0]["t"].to_pylist() == [0.5, 1, 1, 2, 3]
    assert fast[0]["label"].to_pylist() == ["van", "bus", "car", "bus", "car"]
    assert fast[0]["seq"].to_pylist() == [0, 1, 2, 3, 4]


def test_columnar_path_turns_off_when_the_contract_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert validate._BOUNDS is not None and validate._BOUNDS["w"].gt == 0

    class Stricter(BaseModel):
        model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
        t: float = Field(ge=0, multiple_of=0.5)  # a constraint the path does not check

    class Wider(BaseModel):
        model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
        t: float = Field(ge=0)
        speed: float  # a field the path does not read

    monkeypatch.setattr(validate, "_SHAPES", {Stricter: {"t": float}})
    assert validate._contract_bounds() is None
    monkeypatch.setattr(validate, "_SHAPES", {Wider: {"t": float}})
    assert validate._contract_bounds() is None
    monkeypatch.setattr(validate, "_BOUNDS", None)
    assert validate._parse_columns(b'{"video_id": "v1", "detections": []}') is None
