"""GET /api/plates?q= (OCR-tolerant prefix search) and /api/plates/<plate>/timeline."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from spoold.demo.synth import DemoIndex, build_demo_index
from webui_export.api.app import create_app


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoIndex:
    tmp = tmp_path_factory.mktemp("demo")
    return build_demo_index(tmp / "index", tmp / "files")


@pytest.fixture
def client(demo: DemoIndex) -> FlaskClient:
    return create_app({"INDEX_DIR": demo.index_dir}).test_client()


def plates(client: FlaskClient, query: str) -> list[str]:
    response = client.get(f"/api/plates?{query}")
    assert response.status_code == 200, response.get_json()
    return [row["plate"] for row in response.get_json()["rows"]]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("AB1", ["AB123"]),
        ("a8 1", ["AB123"]),  # B/8 confusion, case and spaces ignored
        ("K0S", ["K0S77"]),
        ("KO5", ["K0S77"]),  # O/0 and S/5
        ("XY9", ["XY999"]),
        ("Z", []),
        ("Q", ["QQ111"]),
    ],
)
def test_prefix_search_tolerates_ocr_confusions(
    client: FlaskClient, q: str, expected: list[str]
) -> None:
    assert plates(client, f"q={q}") == expected


def test_a_plate_summary_spans_vehicles_and_read_variants(client: FlaskClient) -> None:
    [row] = client.get("/api/plates?q=AB123").get_json()["rows"]
    assert row == {
        "plate": "AB123",
        "canonical": "A8123",
        "variants": ["A8123", "AB123"],
        "sightings": 3,
        "reads": 11,
        "first_seen": "2026-11-24T08:00:05.000Z",
        "last_seen": "2026-11-25T12:00:11.000Z",
        "best_confidence": 0.95,
        "vehicles": ["car1", "car2"],
        "regions": [],  # the demo's texts match no plate format
    }


def test_without_q_every_plate_is_listed_by_canonical_form(client: FlaskClient) -> None:
    assert plates(client, "") == ["AB123", "K0S77", "QQ111", "XY999"]
    first = client.get("/api/plates?limit=3").get_json()
    second = client.get(first["next_url"]).get_json()
    assert [r["plate"] for r in first["rows"] + second["rows"]] == [
        "AB123", "K0S77", "QQ111", "XY999",
    ]  # fmt: skip
    assert second["next"] is None


def test_timeline_lists_every_sighting_with_when_where_and_which_video(client: FlaskClient) -> None:
    body = client.get("/api/plates/AB123/timeline").get_json()
    rows = body["rows"]
    assert body["plate"] == {"query": "AB123", "canonical": "A8123"}
    assert [(r["vehicle"], r["first_seen"], r["video_id"], r["offset_s"]) for r in rows] == [
        ("car1", "2026-11-24T08:00:05.000Z", "car1_f_0001", 5.0),
        ("car1", "2026-11-24T08:01:50.000Z", "car1_f_0002", 50.0),
        ("car2", "2026-11-25T12:00:10.000Z", "car2_f_0001", 10.0),
    ]
    first = rows[0]
    assert first["video_ids"] == ["car1_f_0001", "car1_r_0001"]  # front and rear, one sighting
    assert first["channels"] == ["front", "rear"]
    assert first["reads"] == 6
    assert first["location"]["gps_time"] == "2026-11-24T08:00:05.000Z"
    assert 48 < first["location"]["lat"] < 49


def test_timeline_matches_ocr_variants_of_the_plate(client: FlaskClient) -> None:
    a = client.get("/api/plates/AB123/timeline").get_json()["rows"]
    b = client.get("/api/plates/a8-i23/timeline").get_json()["rows"]
    assert a == b


def test_timeline_of_a_video_without_time_has_offsets_but_no_times(client: FlaskClient) -> None:
    [row] = client.get("/api/plates/QQ111/timeline").get_json()["rows"]
    assert row["time_basis"] == "none"
    assert (row["first_seen"], row["last_seen"], row["location"]) == (None, None, None)
    assert (row["video_id"], row["offset_s"]) == ("notime_0001", 3.0)


def test_timeline_pages(client: FlaskClient) -> None:
    first = client.get("/api/plates/AB123/timeline?limit=2").get_json()
    second = client.get(first["next_url"]).get_json()
    assert len(first["rows"]) == 2 and len(second["rows"]) == 1 and second["next"] is None


def test_a_plate_never_seen_has_an_empty_timeline(client: FlaskClient) -> None:
    body = client.get("/api/plates/ZZZ999/timeline").get_json()
    assert body["rows"] == [] and body["next"] is None
