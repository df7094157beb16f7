"""The derived fast validator accepts exactly what the contract models accept."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError, field_validator

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
