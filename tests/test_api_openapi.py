"""The OpenAPI document describes what the API really answers: real responses are validated."""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
import pytest
from flask.testing import FlaskClient

from spoold.demo.synth import DemoIndex, build_demo_index
from webui_export.api.app import create_app
from webui_export.api.openapi import openapi_document

DOC = openapi_document()

# (URL, the document's path template): normal answers, edge cases and errors alike
REQUESTS = [
    ("/api/videos", "/api/videos"),
    ("/api/videos?limit=2&vehicle=car1", "/api/videos"),
    ("/api/videos?bbox=13.3,52.4,13.5,52.6&order=asc", "/api/videos"),
    ("/api/videos?limit=0", "/api/videos"),
    ("/api/videos/car2_f_0002", "/api/videos/{video_id}"),
    ("/api/videos/notime_0001", "/api/videos/{video_id}"),
    ("/api/videos/car3_i_0001", "/api/videos/{video_id}"),
    ("/api/videos/missing", "/api/videos/{video_id}"),
    ("/api/videos/car1_f_0001/track", "/api/videos/{video_id}/track"),
    ("/api/videos/car1_r_0001/track", "/api/videos/{video_id}/track"),
    ("/api/videos/car1_f_0001/detections?limit=5", "/api/videos/{video_id}/detections"),
    ("/api/videos/car3_f_0001/detections", "/api/videos/{video_id}/detections"),
    ("/api/videos/car1_f_0001/detections?label=car&min_confidence=x", "/api/videos/{video_id}/detections"),
    ("/api/plates", "/api/plates"),
    ("/api/plates?q=ab1&limit=1", "/api/plates"),
    ("/api/plates?q=!", "/api/plates"),
    ("/api/plates/AB123/timeline", "/api/plates/{plate}/timeline"),
    ("/api/plates/QQ111/timeline", "/api/plates/{plate}/timeline"),
    ("/api/plates/AB123/timeline?limit=1", "/api/plates/{plate}/timeline"),
    ("/api/stats", "/api/stats"),
    ("/api/stats?from_day=2026-11-20&to_day=2026-11-26", "/api/stats"),
    ("/api/openapi.json", "/api/openapi.json"),
    ("/api/videos/car1_f_0001/sightings", "/api/videos/{video_id}/sightings"),
    ("/api/videos/missing/sightings", "/api/videos/{video_id}/sightings"),
    ("/api/media-signature", "/api/media-signature"),
    ("/api/media/server/videos/car1/car1_f_0001.MP4", "/api/media/{root}/{path}"),
    ("/api/media/server/videos/../x.mp4", "/api/media/{root}/{path}"),
    ("/api/sightings/1/thumbnail.jpg", "/api/sightings/{sighting_id}/thumbnail.jpg"),
    ("/api/sightings/999999/thumbnail.jpg", "/api/sightings/{sighting_id}/thumbnail.jpg"),
    ("/api/sightings/1/thumbnail.jpg?width=100", "/api/sightings/{sighting_id}/thumbnail.jpg"),
]  # fmt: skip


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    tmp = tmp_path_factory.mktemp("demo")
    demo: DemoIndex = build_demo_index(tmp / "index", tmp / "files")
    return create_app({"INDEX_DIR": demo.index_dir}).test_client()


def response_validator(template: str, status: int, media: str) -> Any:
    responses = DOC["paths"][template]["get"]["responses"]
    assert str(status) in responses, f"{template} may not answer {status}"
    content = responses[str(status)]["content"]
    assert media in content, f"{template} {status} is documented as {list(content)}, not {media}"
    schema = {**content[media]["schema"], "components": DOC["components"]}
    return jsonschema_rs.validator_for(schema)


@pytest.mark.parametrize(("url", "template"), REQUESTS)
def test_response_conforms_to_the_document(client: FlaskClient, url: str, template: str) -> None:
    response = client.get(url)
    validator = response_validator(template, response.status_code, response.mimetype)
    errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(response.get_json())]
    assert not errors, errors[:5]


def test_every_route_is_documented_and_every_documented_path_exists(client: FlaskClient) -> None:
    app = client.application
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api")
    }
    assert routes == set(DOC["paths"])
    assert {template for _, template in REQUESTS} == set(DOC["paths"])


def test_documented_parameters_are_the_accepted_ones(client: FlaskClient) -> None:
    """Each endpoint rejects unknown parameters, so the document must list all it takes."""
    for template, item in DOC["paths"].items():
        names = {p["name"] for p in item["get"].get("parameters", []) if p["in"] == "query"}
        url = template.replace("{video_id}", "car1_f_0001").replace("{plate}", "AB123")
        message = client.get(f"{url}?bogus=1").get_json()["error"]
        takes = message.split("this endpoint takes: ")[1]
        assert takes == (", ".join(sorted(names)) or "no parameters"), template


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOC["openapi"] == "3.1.0"
    for template, item in DOC["paths"].items():
        for response in item["get"]["responses"].values():
            for media in response.get("content", {}).values():
                jsonschema_rs.validator_for({**media["schema"], "components": DOC["components"]})
        assert item["get"]["summary"], template
