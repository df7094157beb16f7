"""HTTP behaviour of the read API: bad parameters, methods, auth, CORS, ETags, config, stats."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from spoold.demo.synth import DemoIndex, build_demo_index, video_files
from spoold.errors import ConfigError
from webui_export.api.app import create_app
from webui_export.index.writer import Indexer


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoIndex:
    tmp = tmp_path_factory.mktemp("demo")
    return build_demo_index(tmp / "index", tmp / "files")


@pytest.fixture
def client(demo: DemoIndex) -> FlaskClient:
    return create_app({"INDEX_DIR": demo.index_dir}).test_client()


BAD_REQUESTS = [
    ("/api/videos?limit=0", "limit: must be between 1 and 1000"),
    ("/api/videos?limit=1001", "limit: must be between 1 and 1000"),
    ("/api/videos?limit=ten", "limit: expected an integer"),
    ("/api/videos?limit=1&limit=2", "limit: given 2 times"),
    ("/api/videos?limit=", "limit: empty value"),
    ("/api/videos?after=yesterday", "after: expected an ISO 8601 time"),
    ("/api/videos?before=2026-13-01", "before: expected an ISO 8601 time"),
    ("/api/videos?channel=roof", "channel: 'roof' is not one of front, rear"),
    ("/api/videos?status=done", "status: 'done' is not one of processing, complete, failed, rejected"),
    ("/api/videos?has_plate=maybe", "has_plate: expected true or false"),
    ("/api/videos?bbox=1,2,3", "bbox: expected min_lon,min_lat,max_lon,max_lat"),
    ("/api/videos?bbox=10,50,9,51", "-180 <= min_lon <= max_lon <= 180"),
    ("/api/videos?bbox=nan,1,2,3", "bbox: expected"),
    ("/api/videos?brand=%27%3B%20DROP%20TABLE%20videos", "brand: \"'; DROP TABLE videos\" is not a valid name"),
    ("/api/videos?order=sideways", "order: 'sideways' is not one of desc, asc"),
    ("/api/videos?next=garbage", "next: not a valid page token"),
    ("/api/videos?chanel=front", "unknown parameter 'chanel'; this endpoint takes: after, bbox"),
    ("/api/videos?vehicle=%00", "vehicle: value contains a NUL character"),
    ("/api/videos?vehicle=" + "x" * 600, "vehicle: value longer than 512 characters"),
    ("/api/videos/car1_f_0001/detections?min_confidence=2", "min_confidence: must be a number"),
    ("/api/videos/car1_f_0001/detections?min_confidence=inf", "min_confidence: expected a number"),
    ("/api/videos/car1_f_0001/detections?start_s=9&end_s=1", "start_s (9) is after end_s (1)"),
    ("/api/videos/car1_f_0001/detections?next=WyJ2aWRlb3M6ZGVzYyIsMV0", "next: not a valid page"),
    ("/api/videos/car1_f_0001?limit=3", "unknown parameter 'limit'; this endpoint takes: no"),
    ("/api/plates?q=%C3%84B", "q: 'ÄB' is not a plate"),
    ("/api/plates?q=---", "q: '---' is not a plate"),
    ("/api/plates?q=" + "A" * 40, "is not a plate"),
    ("/api/plates/%21%21/timeline", "plate: '!!' is not a plate"),
    ("/api/stats?from_day=2026-02-30", "from_day: expected a date like 2026-11-25"),
    ("/api/stats?from_day=2026-11-25&to_day=2026-11-01", "from_day (2026-11-25) is after to_day"),
    ("/api/stats?from_day=1990-01-01&to_day=2026-01-01", "spans more than 3660 days"),
]  # fmt: skip


@pytest.mark.parametrize(("url", "message"), BAD_REQUESTS)
def test_every_bad_parameter_is_a_400_that_says_what_is_wrong(
    client: FlaskClient, url: str, message: str
) -> None:
    response = client.get(url)
    body = response.get_json()
    assert response.status_code == 400, body
    assert body["ok"] is False and body["status"] == 400
    assert message in body["error"], body["error"]
    assert body["errors"] == [body["error"]]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
@pytest.mark.parametrize("url", ["/api/videos", "/api/videos/car1_f_0001", "/api/stats"])
def test_every_non_get_method_is_405(client: FlaskClient, method: str, url: str) -> None:
    response = client.open(url, method=method, data=b"{}")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"
    assert "read-only" in response.get_json()["error"]


def test_head_is_a_get_without_a_body(client: FlaskClient) -> None:
    response = client.head("/api/videos")
    assert response.status_code == 200 and response.data == b""


def test_unknown_endpoints_are_json_404s(client: FlaskClient) -> None:
    response = client.get("/api/vidoes")
    assert response.status_code == 404
    assert response.get_json()["error"] == "no such endpoint: /api/vidoes (see /api/openapi.json)"


def test_etag_gives_304_until_the_index_changes(demo: DemoIndex, tmp_path: Path) -> None:
    index = tmp_path / "index"
    with Indexer(index) as ix:
        client = create_app({"INDEX_DIR": index}).test_client()
        first = client.get("/api/videos")
        etag = first.headers["ETag"]
        assert etag.startswith('W/"') and first.headers["Cache-Control"] == "no-cache"
        again = client.get("/api/videos", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.data == b""
        other = client.get("/api/videos?limit=5", headers={"If-None-Match": etag})
        assert other.status_code == 200  # the URL is part of the tag

        video, files = video_files(tmp_path / "w", "v1")
        ix.finalize(video, files)
        ix.publish()

        changed = client.get("/api/videos", headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["ETag"] != etag
        assert [r["video_id"] for r in changed.get_json()["rows"]] == ["v1"]


def test_stats_and_openapi_are_tagged_by_content(client: FlaskClient) -> None:
    for url in ("/api/stats", "/api/openapi.json"):
        etag = client.get(url).headers["ETag"]
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 304


def test_bearer_token_is_required_when_configured(demo: DemoIndex) -> None:
    client = create_app({"INDEX_DIR": demo.index_dir, "API_TOKEN": "s3cret"}).test_client()
    missing = client.get("/api/videos")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/videos", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/videos", headers={"Authorization": "Basic s3cret"}).status_code == 401
    assert client.get("/api/videos", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/api/openapi.json").status_code == 200  # the document is public


def test_cors_answers_only_configured_origins(demo: DemoIndex) -> None:
    app = create_app({"INDEX_DIR": demo.index_dir, "CORS_ORIGINS": "https://ui.example, http://x"})
    client = app.test_client()
    ok = client.get("/api/videos", headers={"Origin": "https://ui.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://ui.example"
    assert "Origin" in ok.headers["Vary"] and "ETag" in ok.headers["Access-Control-Expose-Headers"]
    other = client.get("/api/videos", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = client.options(
        "/api/videos",
        headers={"Origin": "https://ui.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Headers"] == "Authorization, If-None-Match"
    refused = client.options(
        "/api/videos",
        headers={"Origin": "https://ui.example", "Access-Control-Request-Method": "DELETE"},
    )
    assert refused.status_code == 405


def test_no_cors_headers_by_default(client: FlaskClient) -> None:
    response = client.get("/api/videos", headers={"Origin": "https://ui.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_an_unpublished_index_is_a_503_not_a_500(tmp_path: Path) -> None:
    client = create_app({"INDEX_DIR": tmp_path}).test_client()
    response = client.get("/api/videos")
    assert response.status_code == 503
    assert "no published index yet" in response.get_json()["error"]
    assert response.headers["Retry-After"] == "1"


def test_configuration_is_checked_and_read_from_the_environment(
    demo: DemoIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="INDEX_DIR is not set"):
        create_app()
    with pytest.raises(ConfigError, match="MAX_PAGE_SIZE must be a positive integer"):
        create_app({"INDEX_DIR": demo.index_dir, "MAX_PAGE_SIZE": 0})
    monkeypatch.setenv("SPOOLD_INDEX_DIR", str(demo.index_dir))
    monkeypatch.setenv("SPOOLD_CORS_ORIGINS", '["https://a.example"]')
    app = create_app()
    assert app.config["INDEX_DIR"] == demo.index_dir
    assert app.config["CORS_ORIGINS"] == ["https://a.example"]


def test_stats_report_the_index_and_leave_queues_to_the_spool(client: FlaskClient) -> None:
    body = client.get("/api/stats?from_day=2026-11-23&to_day=2026-11-26").get_json()
    index = body["index"]
    assert index["counts"]["videos"] == 8
    assert index["videos_by_status"] == {"complete": 7, "failed": 1}
    assert index["failed_videos"][0]["video_id"] == "car2_f_0002"
    assert index["videos_per_day"] == [
        {"day": "2026-11-23", "videos": 2},
        {"day": "2026-11-24", "videos": 3},
        {"day": "2026-11-25", "videos": 2},
        {"day": "2026-11-26", "videos": 0},
    ]
    assert body["queues"]["available"] is False
    assert "Spool.status()" in body["queues"]["reason"] or "SPOOL_ROOT" in body["queues"]["reason"]
