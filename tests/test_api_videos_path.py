"""GET /api/videos?path=: from a file's path to its video (issue 13), a prefix or a glob."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from spoold.demo.synth import DemoIndex, build_demo_index
from webui_export.api.app import create_app
from webui_export.api.openapi import openapi_document


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoIndex:
    tmp = tmp_path_factory.mktemp("demo")
    return build_demo_index(tmp / "index", tmp / "files")


@pytest.fixture
def client(demo: DemoIndex) -> Iterator[FlaskClient]:
    yield create_app({"INDEX_DIR": demo.index_dir, "DEFAULT_PAGE_SIZE": 50}).test_client()


def rows(client: FlaskClient, query: str = "") -> list[dict]:
    response = client.get("/api/videos" + query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["rows"]


def by_path(client: FlaskClient, value: str) -> set[str]:
    return {r["video_id"] for r in rows(client, "?path=" + quote(value, safe=""))}


def test_every_videos_path_finds_it_exactly_as_a_prefix_and_as_a_glob(client: FlaskClient) -> None:
    everything = rows(client)
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
