"""GET /api/videos, /api/videos/<id>, .../track and .../detections over a small known index."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from spoold.demo.synth import DemoIndex, build_demo_index
from webui_export.api.app import create_app
from webui_export.api.openapi import openapi_document

ALL = [
    "car2_f_0002",
    "car2_f_0001",
    "car1_f_0002",
    "car1_r_0001",
    "car1_f_0001",
    "car3_i_0001",
    "car3_f_0001",
    "notime_0001",
]  # fmt: skip  (newest first; camera-clock time sorts as given, no time sorts last)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoIndex:
    tmp = tmp_path_factory.mktemp("demo")
    return build_demo_index(tmp / "index", tmp / "files")


@pytest.fixture
def client(demo: DemoIndex) -> Iterator[FlaskClient]:
    yield create_app({"INDEX_DIR": demo.index_dir, "DEFAULT_PAGE_SIZE": 50}).test_client()


def ids(client: FlaskClient, url: str) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200, response.get_json()
    return [row["video_id"] for row in response.get_json()["rows"]]


def test_lists_every_video_newest_first(client: FlaskClient) -> None:
    assert ids(client, "/api/videos") == ALL
    assert ids(client, "/api/videos?order=asc") == ALL[::-1]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("after=2026-11-24T08:00:30Z", ["car2_f_0002", "car2_f_0001", "car1_f_0002"]),
        ("after=2026-11-24&before=2026-11-24T08:00:01Z", ["car1_f_0001"]),
        ("after=1764057600", ALL[:7]),  # Unix seconds 2025-11-25T08:00Z: every timed video
        ("channel=rear", ["car1_r_0001"]),
        ("channel=rear&channel=interior", ["car1_r_0001", "car3_i_0001"]),
        ("brand=nextbase", ["car3_i_0001", "car3_f_0001"]),
        ("status=failed", ["car2_f_0002"]),
        ("has_plate=true", ["car2_f_0001", "car1_f_0002", "car1_r_0001", "car1_f_0001",
                            "notime_0001"]),
        ("vehicle=car2&has_plate=false", ["car2_f_0002"]),
        ("bbox=13.3,52.4,13.5,52.6", ["car2_f_0002", "car2_f_0001"]),
        ("bbox=0,0,1,1", []),
    ],
)  # fmt: skip
def test_filters(client: FlaskClient, query: str, expected: list[str]) -> None:
    assert ids(client, f"/api/videos?{query}") == expected


def test_bbox_checks_the_fixes_not_just_the_tracks_box(client: FlaskClient) -> None:
    """A box inside a track's bounding box but off its path finds nothing."""
    video = client.get("/api/videos/car1_f_0001").get_json()["video"]
    track = client.get("/api/videos/car1_f_0001/track").get_json()
    w, s, e, n = video["bbox"]
    first_lon, first_lat = track["geometry"]["coordinates"][0]
    tiny = f"{first_lon - 1e-6},{first_lat - 1e-6},{first_lon + 1e-6},{first_lat + 1e-6}"
    assert "car1_f_0001" in ids(client, f"/api/videos?bbox={tiny}")
    corners = [(w, s), (w, n), (e, s), (e, n)]
    coords = track["geometry"]["coordinates"]
    lon, lat = max(corners, key=lambda c: min(abs(c[0] - x) + abs(c[1] - y) for x, y in coords))
    off_path = f"{lon - 1e-7},{lat - 1e-7},{lon + 1e-7},{lat + 1e-7}"
    assert "car1_f_0001" not in ids(client, f"/api/videos?bbox={off_path}")


def test_keyset_pages_cover_everything_once_in_order(client: FlaskClient) -> None:
    seen: list[str] = []
    url: str | None = "/api/videos?limit=3"
    pages = 0
    while url:
        response = client.get(url)
        body = response.get_json()
        seen += [row["video_id"] for row in body["rows"]]
        url = body["next_url"]
        if url:
            assert response.headers["Link"] == f'<{url}>; rel="next"'
            assert body["next"] in url
        pages += 1
    assert seen == ALL and pages == 3


def test_pages_keep_their_filters(client: FlaskClient) -> None:
    first = client.get("/api/videos?vehicle=car1&limit=2").get_json()
    assert "vehicle=car1" in first["next_url"]
    second = client.get(first["next_url"]).get_json()
    assert [r["video_id"] for r in first["rows"] + second["rows"]] == ALL[2:5]


def test_video_detail_has_metadata_and_per_stage_pipeline_status(client: FlaskClient) -> None:
    body = client.get("/api/videos/car2_f_0002").get_json()
    video = body["video"]
    assert body["ok"] is True and body["generation"] >= 1
    assert video["status"] == "failed"
    assert [s["stage"] for s in video["pipeline"]] == [
        "ingest", "preprocess", "detect", "plates", "finalize",
    ]  # fmt: skip
    assert video["stages"]["failed"] == ["plates"]
    assert video["stages"]["complete"] == ["ingest", "preprocess", "detect", "finalize"]
    assert video["pipeline"][3]["task_id"] == "20261125T100000Z-plates-car2_f_0002"
    assert video["start"] == "2026-11-25T12:05:00.000Z"
    assert video["counts"] == {"detections": 30, "gps_points": 60, "plate_reads": 0}
    assert sum(video["labels"].values()) == 30
    assert video["brand"] == "blackvue" and video["sources"]["gps"] == "synth"


def test_times_follow_the_time_basis(client: FlaskClient) -> None:
    local = client.get("/api/videos/car3_i_0001").get_json()["video"]
    assert local["time_basis"] == "local"
    assert local["start"] == "2026-11-23T09:00:00.000" and local["start_utc"] is None
    none = client.get("/api/videos/notime_0001").get_json()["video"]
    assert (none["time_basis"], none["start"], none["day"]) == ("none", None, None)


def test_track_is_a_geojson_linestring_with_per_point_times(client: FlaskClient) -> None:
    response = client.get("/api/videos/car1_f_0001/track")
    feature = response.get_json()
    assert response.mimetype == "application/geo+json"
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "LineString"
    coords = feature["geometry"]["coordinates"]
    props = feature["properties"]
    assert len(coords) == props["point_count"] == len(props["coordinateProperties"]["times"]) == 60
    assert props["coordinateProperties"]["times"][0] == "2026-11-24T08:00:00.000Z"
    lon, lat = coords[0]
    assert 11 < lon < 12 and 48 < lat < 49  # [lon, lat] order
    assert feature["bbox"][0] <= lon <= feature["bbox"][2]


def test_a_video_without_fixes_has_a_null_geometry(client: FlaskClient) -> None:
    for video_id in ("car1_r_0001", "car3_f_0001"):  # no GPS file; an empty track
        feature = client.get(f"/api/videos/{video_id}/track").get_json()
        assert feature["geometry"] is None and feature["properties"]["point_count"] == 0


def test_detections_filter_by_label_confidence_and_time(client: FlaskClient) -> None:
    rows = client.get("/api/videos/car1_f_0001/detections?limit=1000").get_json()["rows"]
    assert len(rows) == 120 and [r["seq"] for r in rows] == list(range(120))
    cars = client.get(
        "/api/videos/car1_f_0001/detections?label=car&min_confidence=0.6&start_s=5&end_s=40"
    ).get_json()["rows"]
    expected = [
        r for r in rows
        if r["label"] == "car" and r["confidence"] >= 0.6 and 5 <= r["t"] <= 40
    ]  # fmt: skip
    assert cars == expected and cars


def test_detections_paginate_by_sequence(client: FlaskClient) -> None:
    seen = []
    url: str | None = "/api/videos/car1_f_0001/detections?limit=50"
    while url:
        body = client.get(url).get_json()
        seen += [r["seq"] for r in body["rows"]]
        url = body["next_url"]
    assert seen == list(range(120))


@pytest.mark.parametrize("suffix", ["", "/track", "/detections"])
def test_unknown_videos_are_404(client: FlaskClient, suffix: str) -> None:
    response = client.get(f"/api/videos/nope_0001{suffix}")
    assert response.status_code == 404
    assert "no video 'nope_0001'" in response.get_json()["error"]


def test_served_from_a_path_given_as_str(demo: DemoIndex) -> None:
    client = create_app({"INDEX_DIR": str(demo.index_dir)}).test_client()
    assert client.get("/api/videos?limit=1").status_code == 200


# ---------------------------------------------------------------- ?path= (issue 13)


def by_path(client: FlaskClient, value: str) -> set[str]:
    response = client.get("/api/videos?path=" + quote(value, safe=""))
    assert response.status_code == 200, response.get_json()
    return {r["video_id"] for r in response.get_json()["rows"]}


def test_every_videos_path_finds_it_exactly_as_a_prefix_and_as_a_glob(client: FlaskClient) -> None:
    everything = client.get("/api/videos").get_json()["rows"]
    assert len({r["path"] for r in everything}) > 3
    for row in everything:
        path = row["path"]
        assert row["video_id"] in by_path(client, path)
        folder = path.rsplit("/", 1)[0] + "/" if "/" in path else path[:3]
        assert by_path(client, folder) == {
            r["video_id"] for r in everything if r["path"].startswith(folder)
        }
        glob = "*" + path[-6:]
        assert by_path(client, glob) == {
            r["video_id"] for r in everything if fnmatch.fnmatchcase(r["path"], glob)
        }
    assert by_path(client, "no/such/folder/") == set()


def test_the_path_filter_is_documented(client: FlaskClient) -> None:
    params = openapi_document()["paths"]["/api/videos"]["get"]["parameters"]
    [doc] = [p for p in params if p["name"] == "path"]
    assert "glob" in doc["description"] and "prefix" in doc["description"]
