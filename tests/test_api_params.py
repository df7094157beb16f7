"""Every decoder of the read API turns any input into a value or a typed 4xx, and the limits
of the server in front agree with the OpenAPI document.

The decoders themselves are checked with hypothesis (any string, and any JSON inside a
well-formed page token); HTTP cases check the same through the app and a real gunicorn: a
trailing newline or a non-ASCII letter is refused the same way everywhere, the longest query
the document allows passes, and what goes beyond the documented limits is a JSON 414/431.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from webui_export.api import params as P
from webui_export.api.app import create_app
from webui_export.api.http import (
    MAX_HEADER_FIELD_SIZE,
    MAX_HEADER_FIELDS,
    MAX_REQUEST_TARGET,
    ApiError,
)
from webui_export.api.openapi import openapi_document
from webui_export.index.writer import Indexer

REPO = Path(__file__).resolve().parents[1]
CRAFTED = base64.urlsafe_b64encode(
    json.dumps(["videos:desc", "0001-01-01T00:00:00+05:00", "x"]).encode()
).decode()
ANY_TEXT = st.text(max_size=80) | st.from_regex(r"[ -~\n]{0,40}", fullmatch=True)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
TOKEN_KINDS = [
    ("videos:desc", (str, str)),
    ("videos:asc", (str, str)),
    ("detections", (int,)),
    ("plates", (str,)),
    ("timeline", (str, int)),
]


def _decoded(call: Callable[[], Any]) -> Any:
    """``call()``'s value, or None when it raised the API's own 4xx; anything else fails."""
    try:
        return call()
    except ApiError as exc:
        assert 400 <= exc.status < 500, exc.status
        assert exc.message
        return None


def _params(name: str, *values: str) -> P.Params:
    return P.Params(MultiDict([(name, v) for v in values]), [name])


def _strict_ascii(value: str) -> None:
    assert value.isascii(), value
    assert "\n" not in value, value


# -- the decoders, property-based ------------------------------------------------------------
@given(ANY_TEXT)
def test_scalar_decoders_give_a_value_or_a_4xx(raw: str) -> None:
    _decoded(lambda: _params("limit", raw).integer("limit", 50, 1, 1000))
    value = _decoded(lambda: _params("x", raw).number("x", 0.0, 1e7))
    assert value is None or 0.0 <= value <= 1e7
    _decoded(lambda: _params("x", raw).boolean("x"))
    _decoded(lambda: _params("x", raw).choice("x", ("desc", "asc"), "desc"))
    _decoded(lambda: _params("x", raw).choices("x", P.CHANNELS))
    box = _decoded(lambda: _params("x", raw).bbox("x"))
    assert box is None or -180 <= box[0] <= box[2] <= 180
    day = _decoded(lambda: _params("x", raw).day("x", datetime(2026, 1, 1).date()))
    assert day is None or 1900 <= day.year <= 2200
    for name in _decoded(lambda: _params("x", raw).names("x")) or []:
        _strict_ascii(name)


@given(ANY_TEXT)
def test_times_decode_to_naive_datetimes_or_a_4xx(raw: str) -> None:
    value = _decoded(lambda: _params("after", raw).time("after"))
    if value is not None:
        assert value.tzinfo is None
        _strict_ascii(raw)
    token_time = _decoded(lambda: P.parse_token_time(raw))
    if token_time is not None:
        assert token_time.tzinfo is None  # nothing left to convert, so nothing can overflow
        assert P.parse_token_time(P.token_time(token_time)) == token_time


@given(ANY_TEXT)
def test_plates_decode_to_ascii_or_a_4xx(raw: str) -> None:
    value = _decoded(lambda: P.plate(raw, "plate"))
    if value is not None:
        assert re.fullmatch(r"[A-Z0-9]{1,32}", value), value
        assert P.PLATE_RE.match(raw)
        _strict_ascii(raw)


@given(ANY_TEXT, st.sampled_from(TOKEN_KINDS))
def test_any_token_string_gives_values_or_a_4xx(
    raw: str, kind: tuple[str, tuple[type, ...]]
) -> None:
    _check_token(raw, *kind)


@given(st.lists(JSON, max_size=4), st.sampled_from(TOKEN_KINDS), st.booleans())
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_any_json_inside_a_well_formed_token_gives_values_or_a_4xx(
    values: list[Any], kind: tuple[str, tuple[type, ...]], right_kind: bool
) -> None:
    payload = [kind[0] if right_kind else "other", *values]
    raw = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    _check_token(raw, *kind)


@given(st.datetimes(), st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1))
def test_tokens_the_api_writes_decode_to_what_was_written(when: datetime, key: str) -> None:
    raw = P.encode_token("videos:desc", P.token_time(when), key)
    decoded = _params("next", raw).token("next", "videos:desc", (str, str))
    assert decoded is not None
    assert P.parse_token_time(decoded[0]) == when
    assert decoded[1] == key


def _check_token(raw: str, kind: str, types: tuple[type, ...]) -> None:
    values = _decoded(lambda: _params("next", raw).token("next", kind, types))
    if values is None:
        return
    assert len(values) == len(types)
    for value, expected in zip(values, types, strict=True):
        assert isinstance(value, expected) and not isinstance(value, bool)
        if isinstance(value, int):
            assert -(2**63) <= value < 2**63
    if kind.startswith(("videos", "timeline")):
        when = _decoded(lambda: P.parse_token_time(values[0]))
        assert when is None or when.tzinfo is None


def test_the_crafted_token_of_the_issue_is_a_400() -> None:
    with pytest.raises(ApiError) as err:
        values = _params("next", CRAFTED).token("next", "videos:desc", (str, str))
        assert values is not None
        P.parse_token_time(values[0])
    assert err.value.status == 400


# -- the OpenAPI document and the limits -----------------------------------------------------
def _value_length(schema: dict[str, Any]) -> int:
    """The longest value a parameter schema allows, as characters before percent-encoding."""
    if "enum" in schema:
        return max(len(str(v)) for v in schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        assert "maxLength" in schema, schema
        return int(schema["maxLength"])
    if kind == "integer":
        return max(len(str(schema["minimum"])), len(str(schema["maximum"])))
    if kind == "number":
        return 32  # e.g. -1.2345678901234567e-300
    assert kind == "boolean", schema
    return 5


def longest_request_target(doc: dict[str, Any]) -> tuple[int, str]:
    """The longest path + query string the document allows (every character %XX-encoded)."""
    best = (0, "")
    for path, item in doc["paths"].items():
        length = len(path)
        for param in item["get"].get("parameters", []):
            schema = param["schema"]
            if param["in"] == "path":
                length += 3 * _value_length(schema) - len(param["name"]) - 2
                continue
            items, value = (
                (schema["maxItems"], schema["items"]) if schema["type"] == "array" else (1, schema)
            )
            length += items * (len(param["name"]) + 2 + 3 * _value_length(value))
        best = max(best, (length, path))
    return best


def test_every_string_parameter_is_bounded_and_fits_the_request_limit() -> None:
    doc = openapi_document()
    length, path = longest_request_target(doc)
    assert length <= MAX_REQUEST_TARGET, (length, path)
    description = doc["info"]["description"]
    for number in (MAX_REQUEST_TARGET, MAX_HEADER_FIELDS, MAX_HEADER_FIELD_SIZE):
        assert str(number) in description
    for item in doc["paths"].values():
        responses = item["get"]["responses"]
        for status in ("414", "431"):
            assert responses[status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }


# -- through the app -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api") / "index"
    with Indexer(path):
        pass  # publishes the empty generation 1
    return path


@pytest.fixture
def client(index: Path) -> FlaskClient:
    return create_app({"INDEX_DIR": index}).test_client()


FIFTY_FILTERS = urlencode([("brand", f"B{i:02d}: #" + "x" * 58) for i in range(50)])


@pytest.mark.parametrize(
    ("url", "status"),
    [
        (f"/api/videos?next={CRAFTED}", 400),
        (f"/api/videos?next={CRAFTED.rstrip('=')}", 400),
        ("/api/videos?limit=2%0A", 400),
        ("/api/videos?brand=Acme%0A", 400),
        ("/api/videos?after=2026-01-01%0A", 400),
        ("/api/videos?after=%D9%A2%D9%A0%D9%A2%D9%A6-01-01", 400),  # Arabic-Indic digits
        ("/api/stats?to_day=2026-01-01%0A", 400),
        ("/api/plates/X%0A/timeline", 400),
        ("/api/plates/%C3%9F/timeline", 400),  # ß would upper-case to SS
        ("/api/plates?q=%C3%9F", 400),
        ("/api/plates?q=%EF%AC%81", 400),  # the ligature ﬁ would upper-case to FI
        ("/api/videos/abc%0A", 404),
        ("/api/videos?limit=2", 200),
        ("/api/plates/X/timeline", 200),
        (f"/api/videos?{FIFTY_FILTERS}", 200),
    ],
)
def test_decoders_answer_through_the_app(client: FlaskClient, url: str, status: int) -> None:
    resp = client.get(url)
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["ok"] is (status == 200), body
    if status != 200:
        assert body["status"] == status


def test_beyond_the_documented_limits_is_json_414_and_431(client: FlaskClient) -> None:
    long_url = "/api/videos?next=" + "A" * MAX_REQUEST_TARGET
    resp = client.get(long_url)
    assert resp.status_code == 414
    assert resp.get_json()["status"] == 414
    many = {f"X-Extra-{i}": "1" for i in range(MAX_HEADER_FIELDS + 1)}
    resp = client.get("/api/videos", headers=many)
    assert resp.status_code == 431
    assert resp.get_json()["status"] == 431
    resp = client.get("/api/videos", headers={"X-Big": "v" * MAX_HEADER_FIELD_SIZE})
    assert resp.status_code == 431
    assert "X-Big" in resp.get_json()["error"]
    within = {f"X-Extra-{i}": "1" for i in range(MAX_HEADER_FIELDS - 10)}
    assert client.get("/api/videos", headers=within).status_code == 200


# -- through a real gunicorn -----------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def gunicorn(index: Path) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "webui_export.api.server", "--index-dir", str(index),
         "--port", str(port), "--workers", "1"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                pytest.fail(f"gunicorn exited: {proc.stdout.read() if proc.stdout else ''}")
            try:
                with urllib.request.urlopen(base + "/api/openapi.json", timeout=2):
                    break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
        assert "Traceback" not in out, out


def _raw(base: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # gunicorn answers and closes before reading all of it
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def _get(
    base: str, target: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    fields = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return _raw(
        base, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{fields}\r\n".encode()
    )


def _json_error(status: int, headers: dict[str, str], body: bytes, expected: int) -> None:
    assert status == expected, body
    assert headers["Content-Type"] == "application/json", headers
    doc = json.loads(body)
    assert doc["ok"] is False and doc["status"] == expected and doc["error"], doc


def test_gunicorn_lets_the_longest_documented_query_through(gunicorn: str) -> None:
    status, _, body = _get(gunicorn, f"/api/videos?{FIFTY_FILTERS}")
    assert status == 200, body
    # 50 brands and 50 vehicles of 64 characters, each one needing percent-encoding
    name = quote(("A" + ":# " * 21)[:64], safe="")
    target = "/api/videos?" + "&".join(
        [f"brand={name}"] * 50 + [f"vehicle={name}"] * 50 + ["limit=1000"]
    )
    assert len(target) > 8190  # beyond gunicorn's default (and highest finite) limit
    assert len(target) <= longest_request_target(openapi_document())[0]
    status, _, body = _get(gunicorn, target)
    assert status == 200, body
    assert json.loads(body)["ok"] is True


def test_gunicorn_and_app_limits_answer_json(gunicorn: str) -> None:
    _json_error(*_get(gunicorn, "/api/videos?next=" + "A" * MAX_REQUEST_TARGET), 414)
    many = {f"X-Extra-{i}": "1" for i in range(MAX_HEADER_FIELDS + 1)}
    _json_error(*_get(gunicorn, "/api/videos", many), 431)
    _json_error(*_get(gunicorn, "/api/videos", {"X-Big": "v" * MAX_HEADER_FIELD_SIZE}), 431)
    # beyond gunicorn's own caps: gunicorn answers, in the same shape
    _json_error(*_get(gunicorn, "/api/videos?next=" + "A" * (1 << 21)), 414)
    lots = {f"X-Extra-{i}": "1" for i in range(4 * MAX_HEADER_FIELDS)}
    _json_error(*_get(gunicorn, "/api/videos", lots), 431)
    _json_error(*_get(gunicorn, "/api/videos", {"X-Big": "v" * (4 * MAX_HEADER_FIELD_SIZE)}), 431)
    # and a malformed request line is a JSON 400
    _json_error(*_raw(gunicorn, b"GARBAGE\r\n\r\n"), 400)


def test_a_bad_token_through_gunicorn_is_a_json_400(gunicorn: str) -> None:
    try:
        urllib.request.urlopen(f"{gunicorn}/api/videos?next={CRAFTED}", timeout=10)
    except urllib.error.HTTPError as exc:
        assert exc.code == 400
        assert json.loads(exc.read())["status"] == 400
    else:
        pytest.fail("the crafted token was accepted")
