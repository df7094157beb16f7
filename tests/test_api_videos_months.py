"""/api/videos pages walk the month partitions in order, and /api/stats follows new snapshots.

The ``videos`` snapshot table is one file per month of ``sort_ts``; a list page reads the
newest (oldest) months first, a growing number at a time, until it is full.  Whatever the page
size, filters and starting key, the pages must be exactly the global order, once each.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from spoold.demo.synth import video_files
from webui_export.api.app import create_app
from webui_export.api.months import _after_prefix
from webui_export.index import files as layout
from webui_export.index.writer import Indexer

FIRST = datetime(2026, 1, 31, 23, 0, tzinfo=timezone.utc)


def _videos() -> list[tuple[str, datetime | None, str]]:
    """(video id, start, channel): months with many, few and no videos; front and rear clips
    starting at the same second (ties on the sort key); two clips with no time at all."""
    out: list[tuple[str, datetime | None, str]] = []
    for n in range(30):
        month = (0, 0, 0, 1, 1, 4, 4, 4, 4, 4, 4, 4, 9)[n % 13]  # Jan-Feb, Mar, Jun, Nov
        start = FIRST + timedelta(days=31 * month, minutes=7 * n)
        out.append((f"c{n:02d}f", start, "front"))
        if n % 3 == 0:
            out.append((f"c{n:02d}r", start, "rear"))
    return [*out, ("zz_notime_a", None, "front"), ("zz_notime_b", None, "rear")]


VIDEOS = _videos()
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
NEWEST_FIRST = [
    vid for vid, _, _ in sorted(VIDEOS, key=lambda v: (v[1] or EPOCH, v[0]), reverse=True)
]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("months")
    with Indexer(tmp / "index") as ix:
        ix.finalize_many(
            [
                (*video_files(tmp / "w", vid, start=start, channel=channel, detections=3), [])
                for vid, start, channel in VIDEOS
            ]
        )
        ix.publish()
    return tmp / "index"


@pytest.fixture
def client(index_dir: Path) -> Iterator[FlaskClient]:
    yield create_app({"INDEX_DIR": index_dir, "DEFAULT_PAGE_SIZE": 50}).test_client()


def walk(client: FlaskClient, url: str) -> list[str]:
    """Every row of every page of ``url``, following ``next_url``."""
    seen: list[str] = []
    for _ in range(200):
        body = client.get(url).get_json()
        assert body["ok"], body
        seen += [row["video_id"] for row in body["rows"]]
        if body["next_url"] is None:
            return seen
        url = body["next_url"]
    raise AssertionError("more than 200 pages")


def test_the_index_spans_several_month_files(index_dir: Path) -> None:
    manifest = layout.read_manifest(index_dir)
    assert manifest is not None
    assert sorted(manifest.parts["videos"]) == [
        "1970-01", "2026-01", "2026-02", "2026-03", "2026-06", "2026-11",
    ]  # fmt: skip


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 50])
@pytest.mark.parametrize("order", ["desc", "asc"])
def test_pages_across_months_are_the_global_order_once_each(
    client: FlaskClient, limit: int, order: str
) -> None:
    expected = NEWEST_FIRST if order == "desc" else NEWEST_FIRST[::-1]
    assert walk(client, f"/api/videos?limit={limit}&order={order}") == expected


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ("channel=rear", lambda vid, start, channel: channel == "rear"),
        ("channel=front", lambda vid, start, channel: channel == "front"),
        ("after=2026-02-01&before=2026-06-30",
         lambda vid, start, channel: start and _utc("2026-02-01") <= start < _utc("2026-06-30")),
        ("after=2026-03-02", lambda vid, start, channel: start and start >= _utc("2026-03-02")),
        ("before=2026-02-01T00:30:00Z",
         lambda vid, start, channel: start and start < _utc("2026-02-01T00:30:00")),
        ("vehicle=nobody", lambda vid, start, channel: False),
        # filters that only some months hold: those months alone are read (each file's
        # counts and paths say which), the pages are the same
        ("path=videos/car1/c0", lambda vid, start, channel: vid.startswith("c0")),
        ("path=videos/car1/c1", lambda vid, start, channel: vid.startswith("c1")),
        ("path=videos/car1/c2*r.MP4",
         lambda vid, start, channel: vid.startswith("c2") and vid.endswith("r")),
        ("path=videos/car1/c[12]?f*", lambda vid, start, channel: vid[1] in "12" and "f" in vid),
        ("path=videos/car1/zz_", lambda vid, start, channel: vid.startswith("zz_")),
        ("path=videos/car1/c0&channel=rear",
         lambda vid, start, channel: vid.startswith("c0") and channel == "rear"),
        ("path=videos/car1/c2&after=2026-03-02",
         lambda vid, start, channel: vid.startswith("c2") and start >= _utc("2026-03-02")),
        ("path=videos/car2", lambda vid, start, channel: False),
        ("path=*0r*", lambda vid, start, channel: "0r" in vid),
        ("status=processing&channel=rear", lambda vid, start, channel: channel == "rear"),
        ("status=complete", lambda vid, start, channel: False),
        ("status=failed", lambda vid, start, channel: False),
        ("brand=viofo&vehicle=car1&has_plate=false", lambda vid, start, channel: True),
        ("has_plate=true", lambda vid, start, channel: False),
        # a box with filters no month can match: no month is read at all (schemathesis found
        # an empty file list reaching DuckDB: a 503)
        ("bbox=-180,-90,180,90&vehicle=nobody", lambda vid, start, channel: False),
        ("bbox=0,0,0,0&status=failed&before=2026-01-02", lambda vid, start, channel: False),
        ("bbox=-180,-90,180,90&path=videos/car2", lambda vid, start, channel: False),
    ],
)  # fmt: skip
@pytest.mark.parametrize("order", ["desc", "asc"])
def test_filtered_pages_across_months(
    client: FlaskClient, query: str, keep: Callable[..., bool], order: str
) -> None:
    wanted = {video[0] for video in VIDEOS if keep(*video)}
    expected = [vid for vid in NEWEST_FIRST if vid in wanted]
    if order == "asc":
        expected.reverse()
    assert walk(client, f"/api/videos?{query}&limit=4&order={order}") == expected


def test_stats_follow_a_new_generation(tmp_path: Path) -> None:
    june = datetime(2026, 6, 20, tzinfo=timezone.utc)
    with Indexer(tmp_path / "index") as ix:
        ix.finalize(*video_files(tmp_path / "w", "first", start=june))
        ix.publish()
    client = create_app({"INDEX_DIR": tmp_path / "index"}).test_client()
    url = "/api/stats?from_day=2026-06-01&to_day=2026-06-30"
    first = client.get(url).get_json()
    assert first == client.get(url).get_json()  # the same generation: the same answer
    assert sum(d["videos"] for d in first["index"]["videos_per_day"]) == 1
    with Indexer(tmp_path / "index") as ix:
        ix.finalize(*video_files(tmp_path / "w", "later", start=june + timedelta(hours=1)))
        ix.publish()
    second = client.get(url).get_json()
    assert second["generation"] == first["generation"] + 1
    assert sum(d["videos"] for d in second["index"]["videos_per_day"]) == 2
    assert second["index"]["counts"]["videos"] == 2


def _fixes(client: FlaskClient, video_id: str) -> list[tuple[float, float]]:
    """A video's GPS fixes as ``(lon, lat)``, from its track."""
    geometry = client.get(f"/api/videos/{video_id}/track").get_json()["geometry"]
    if geometry is None:
        return []
    coords = geometry["coordinates"]
    return [tuple(coords)] if geometry["type"] == "Point" else [tuple(c) for c in coords]


@pytest.mark.parametrize("limit", [1, 2, 5])
@pytest.mark.parametrize("order", ["desc", "asc"])
def test_bbox_pages_keep_exactly_the_videos_with_a_fix_inside(
    client: FlaskClient, limit: int, order: str
) -> None:
    """A box through the middle of the tracks: most videos' tracks cross its edge, so each
    is checked fix by fix, a batch of candidates at a time, across pages and months."""
    fixes = {vid: _fixes(client, vid) for vid in NEWEST_FIRST}
    lons = sorted(lon for points in fixes.values() for lon, _ in points)
    lats = sorted(lat for points in fixes.values() for _, lat in points)
    # edges halfway between two fixes: the track's rounding cannot put a fix on either side
    box = tuple(
        (values[i] + values[i + 1]) / 2
        for values, i in ((lons, len(lons) // 4), (lats, len(lats) // 4),
                          (lons, len(lons) // 2), (lats, len(lats) // 2))
    )  # fmt: skip
    w, s, e, n = box
    expected = [
        vid
        for vid in NEWEST_FIRST
        if any(w <= lon <= e and s <= lat <= n for lon, lat in fixes[vid])
    ]
    crossing = [
        vid
        for vid in expected
        if not all(w <= lon <= e and s <= lat <= n for lon, lat in fixes[vid])
    ]
    assert len(expected) < len(NEWEST_FIRST) - 2 and len(crossing) > 3  # the case at hand
    if order == "asc":
        expected.reverse()
    bbox = ",".join(f"{x:.6f}" for x in box)
    assert walk(client, f"/api/videos?bbox={bbox}&limit={limit}&order={order}") == expected


@pytest.mark.parametrize(
    "prefix", ["videos/car1/c0", "a", "z\U0010ffff", "\U0010ffff", "\U0010ffff\U0010ffff", "ä€"]
)
def test_the_path_bound_counts_exactly_the_paths_with_the_prefix(prefix: str) -> None:
    """A month is skipped when no path in it starts with the prefix: the sorted range
    [prefix, _after_prefix(prefix)) holds exactly those paths, highest characters included."""
    stems = ["", "a", "z", "ä€", "videos/car1/c0", "videos/car1/c1", "\U0010ffff"]
    paths = sorted({a + b + c for a in stems for b in stems for c in ("", "x", "\U0010ffff")})
    lo = bisect_left(paths, prefix)
    after = _after_prefix(prefix)
    hi = len(paths) if after is None else bisect_left(paths, after, lo)
    assert paths[lo:hi] == [p for p in paths if p.startswith(prefix)]
