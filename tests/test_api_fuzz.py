"""Schemathesis fuzzes the real app from its OpenAPI document: no 500s, every answer conforms.

Positive cases (valid per the document) and negative ones (deliberately invalid) are generated
for every operation; each response is checked for a server error, a documented status code and
content type, a body that validates against the documented schema, and (negative cases) a 4xx.
``SPOOLD_FUZZ_EXAMPLES`` sets the examples per operation and mode (default 25).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from spoold.demo.synth import build_demo_index
from webui_export.api.app import create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _schema() -> schemathesis.BaseSchema:
    # Built at import: Schemathesis collects one test per operation from a loaded schema
    # (its fixture-based lazy loader does not work with this pytest).
    tmp = Path(tempfile.mkdtemp(prefix="spoold-fuzz-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    demo = build_demo_index(tmp / "index", tmp / "files")
    app = create_app({"INDEX_DIR": demo.index_dir})
    loaded = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=int(os.environ.get("SPOOLD_FUZZ_EXAMPLES", "25")),
    )
    return loaded


schema = _schema()


@schema.parametrize()
def test_fuzzed_requests_get_documented_answers(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)
