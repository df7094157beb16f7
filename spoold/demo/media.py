"""Sample dashcam clips made on the spot for the end-to-end demo: brands, GPS, licence plates.

Public API:

- :func:`generate_demo_clips(out_dir, *, seconds=12.0, fps=10, camera_tz="Asia/Kolkata",
  start_local=datetime(2026, 11, 25, 10, 15), brands=None) <generate_demo_clips>` →
  :class:`DemoManifest`; also writes ``out_dir/manifest.json``.
- :class:`DemoManifest` (``clips``, ``camera_tz``, :meth:`~DemoManifest.to_json`,
  :meth:`~DemoManifest.plates`), :class:`DemoClip` (``path`` relative to ``out_dir``,
  ``brand``, ``channel``, ``start_local``/``start_utc``, size, ``gps_source`` the extractor
  should report, ``sidecars``, ``plates``, ``track``; :meth:`~DemoClip.position_at`),
  :class:`DemoPlate` (``text``, ``t_start``/``t_end``/``t_mid`` seconds into the clip,
  ``time_utc``, ``lat``/``lon`` at ``t_mid``, ``bbox`` at ``t_mid``).
- ``python -m spoold.demo.media OUT_DIR [--seconds S] [--brands viofo,blackvue,...]`` —
  generate and print the manifest path.

The pieces: :mod:`spoold.demo.route` (where the car drives), :mod:`spoold.demo.render` (the
frames and their encoding), :mod:`spoold.demo.gps_payloads` (each brand's GPS format).

The clips (file names, folders and GPS as each brand writes them):

=========== ================================================= =================================
brand       file                                              GPS
=========== ================================================= =================================
viofo       ``viofo/DCIM/Movie/2026_1125_101500_000120F.MP4`` Novatek ``moov/gps `` index +
            and ``...R.MP4`` (rear, smaller)                  binary ``freeGPS `` blocks (1 Hz)
blackvue    ``blackvue/Record/20261125_101600_NF.mp4``         ``20261125_101600_N.gps`` sidecar
                                                              and a ``free/gps `` box (NMEA)
70mai       ``70mai/Normal/Front/NO20261125-101630-000001.MP4`` top-level ``GPS `` box
tesla       ``tesla/TeslaCam/SavedClips/<event>/...-front.mp4`` ``event.json`` est_lat/est_lon
=========== ================================================= =================================

Each plate is readable for ~2.6 s.  Runs on Python 3.10.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path

from spoold.demo.gps_payloads import (
    blackvue_nmea_lines,
    embed_blackvue_gps,
    embed_novatek_gps,
    mai_gps_box,
    novatek_freegps_block,
    tesla_event_json,
)
from spoold.demo.render import (
    SceneClip,
    ScenePlate,
    background,
    encode_mp4,
    plate_geometry,
    render_frame,
)
from spoold.demo.route import SPEED_MPS, TrackPoint, route_position

__all__ = ["DemoClip", "DemoManifest", "DemoPlate", "generate_demo_clips"]


@dataclass
class DemoPlate:
    text: str
    t_start: float
    t_end: float
    t_mid: float
    time_utc: str
    lat: float
    lon: float
    bbox: tuple[float, float, float, float]  # normalized x, y, w, h at t_mid


@dataclass
class DemoClip:
    path: str
    brand: str
    channel: str
    video_id: str
    start_local: str
    start_utc: str
    route_offset_s: float
    seconds: float
    fps: int
    width: int
    height: int
    gps_source: str
    sidecars: list[str] = field(default_factory=list)
    plates: list[DemoPlate] = field(default_factory=list)
    track: list[TrackPoint] = field(default_factory=list)

    def position_at(self, t: float) -> tuple[float, float]:
        """(lat, lon) of the car ``t`` seconds into this clip."""
        lat, lon, _ = route_position(self.route_offset_s + t)
        return lat, lon


@dataclass
class DemoManifest:
    root: str
    camera_tz: str
    clips: list[DemoClip]

    def plates(self) -> list[tuple[DemoClip, DemoPlate]]:
        return [(c, p) for c in self.clips for p in c.plates]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def _scenes(start_local: datetime) -> list[SceneClip]:
    def name(offset: float, fmt: str) -> str:
        return (start_local + timedelta(seconds=offset)).strftime(fmt)

    tesla_event = start_local + timedelta(seconds=125)
    tesla_dir = "tesla/TeslaCam/SavedClips/" + tesla_event.strftime("%Y-%m-%d_%H-%M-%S")
    # brand, path, route offset, width, height, plates (text, in view from/to, x), car, overlay
    return [
        SceneClip("viofo", "viofo/DCIM/Movie/" + name(0, "%Y_%m%d_%H%M%S") + "_000120F.MP4",
                  0.0, 640, 360,
                  (ScenePlate("KA01AB1234", 3.0, 5.6, 0.45), ScenePlate("KA05MN4321", 8.0, 10.6, 0.6)),
                  (40, 40, 150), "VIOFO A139"),
        SceneClip("viofo", "viofo/DCIM/Movie/" + name(0, "%Y_%m%d_%H%M%S") + "_000120R.MP4",
                  0.0, 480, 272, (ScenePlate("KA03HB7788", 4.0, 6.6, 0.5),),
                  (120, 90, 30), "VIOFO A139 R"),
        SceneClip("blackvue", "blackvue/Record/" + name(60, "%Y%m%d_%H%M%S") + "_NF.mp4",
                  60.0, 640, 360, (ScenePlate("MH12DE1433", 2.0, 4.6, 0.5),),
                  (60, 60, 60), "BLACKVUE"),
        SceneClip("70mai", "70mai/Normal/Front/NO" + name(90, "%Y%m%d-%H%M%S") + "-000001.MP4",
                  90.0, 640, 360, (ScenePlate("DL8CAF5031", 5.0, 7.6, 0.4),),
                  (30, 110, 30), "70MAI"),
        SceneClip("tesla", tesla_dir + "/" + name(120, "%Y-%m-%d_%H-%M-%S") + "-front.mp4",
                  120.0, 640, 360, (ScenePlate("TN09BC6543", 3.0, 5.6, 0.55),),
                  (140, 140, 140), ""),
    ]  # fmt: skip


def generate_demo_clips(
    out_dir: Path,
    *,
    seconds: float = 12.0,
    fps: int = 10,
    camera_tz: str = "Asia/Kolkata",
    start_local: datetime = datetime(2026, 11, 25, 10, 15),
    brands: Sequence[str] | None = None,
) -> DemoManifest:
    """Write the demo clips (and sidecars) under ``out_dir``; return and save the manifest."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(camera_tz)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clips = [
        _make_clip(out_dir, scene, seconds=seconds, fps=fps, start_local=start_local, tz=tz)
        for scene in _scenes(start_local)
        if brands is None or scene.brand in brands
    ]
    manifest = DemoManifest(root=str(out_dir), camera_tz=camera_tz, clips=clips)
    (out_dir / "manifest.json").write_text(manifest.to_json() + "\n")
    return manifest


def _make_clip(
    out_dir: Path,
    scene: SceneClip,
    *,
    seconds: float,
    fps: int,
    start_local: datetime,
    tz: tzinfo,
) -> DemoClip:
    """Render, encode and add the brand's GPS to one clip; its manifest entry."""
    clip_local = start_local + timedelta(seconds=scene.route_offset_s)
    clip_utc = clip_local.replace(tzinfo=tz).astimezone(timezone.utc)
    path = out_dir / scene.path
    path.parent.mkdir(parents=True, exist_ok=True)
    n_frames = round(seconds * fps)
    track = _track(scene, clip_utc, seconds)
    bg = background(scene.width, scene.height)
    frames = [
        render_frame(scene, bg, k / fps, clip_local, SPEED_MPS * 3.6) for k in range(n_frames)
    ]
    encode_mp4(path, frames, scene.width, scene.height, fps)
    source, sidecars = _write_gps(path, scene, track, seconds, clip_local)
    return DemoClip(
        path=scene.path,
        brand=scene.brand,
        channel="rear" if path.stem.endswith("R") else "front",
        video_id=path.stem,
        start_local=clip_local.isoformat(),
        start_utc=clip_utc.isoformat(),
        route_offset_s=scene.route_offset_s,
        seconds=n_frames / fps,
        fps=fps,
        width=scene.width,
        height=scene.height,
        gps_source=source,
        sidecars=sidecars,
        plates=[_demo_plate(scene, ps, clip_utc) for ps in scene.plates],
        track=track,
    )


def _track(scene: SceneClip, clip_utc: datetime, seconds: float) -> list[TrackPoint]:
    """One fix per second of the clip, along the route."""
    track = []
    for i in range(int(seconds) + 1):
        lat, lon, heading = route_position(scene.route_offset_s + i)
        track.append(
            TrackPoint(
                t=float(i),
                time_utc=(clip_utc + timedelta(seconds=i)).isoformat(),
                lat=round(lat, 7),
                lon=round(lon, 7),
                speed_kmh=SPEED_MPS * 3.6,
                heading=round(heading, 2),
            )
        )
    return track


def _write_gps(
    path: Path, scene: SceneClip, track: list[TrackPoint], seconds: float, clip_local: datetime
) -> tuple[str, list[str]]:
    """Add the GPS the way ``scene.brand`` records it; (gps source, sidecar paths)."""
    sidecars: list[str] = []
    if scene.brand == "viofo":
        blocks = [
            novatek_freegps_block(
                datetime.fromisoformat(p.time_utc), p.lat, p.lon, p.speed_kmh, p.heading
            )
            for p in track[: int(seconds)]
        ]
        embed_novatek_gps(path, blocks)
        return "freegps", sidecars
    if scene.brand == "blackvue":
        text = blackvue_nmea_lines(track)
        gps_name = path.name.rsplit("_", 1)[0] + "_" + path.stem[-2] + ".gps"
        (path.parent / gps_name).write_text(text)
        embed_blackvue_gps(path, text)
        sidecars.append(str(Path(scene.path).parent / gps_name))
        return "nmea-sidecar", sidecars
    if scene.brand == "70mai":
        with open(path, "ab") as f:
            f.write(mai_gps_box(track, slots=max(len(track), 60)))
        return "70mai", sidecars
    if scene.brand == "tesla":
        event_local = datetime.strptime(path.parent.name, "%Y-%m-%d_%H-%M-%S")
        t_event = (event_local - clip_local).total_seconds()
        lat, lon, _ = route_position(scene.route_offset_s + t_event)
        (path.parent / "event.json").write_text(tesla_event_json(event_local, lat, lon))
        sidecars.append(str(Path(scene.path).parent / "event.json"))
        return "tesla-event-json", sidecars
    return "none", sidecars  # pragma: no cover


def _demo_plate(scene: SceneClip, ps: ScenePlate, clip_utc: datetime) -> DemoPlate:
    """Where and when the plate is, halfway through its time in view."""
    t_mid = round((ps.t_start + ps.t_end) / 2, 3)
    lat, lon, _ = route_position(scene.route_offset_s + t_mid)
    cx, cy, pw = plate_geometry(ps, t_mid, scene.width, scene.height)
    ph = int(pw * 0.24)
    return DemoPlate(
        text=ps.text,
        t_start=ps.t_start,
        t_end=ps.t_end,
        t_mid=t_mid,
        time_utc=(clip_utc + timedelta(seconds=t_mid)).isoformat(),
        lat=round(lat, 7),
        lon=round(lon, 7),
        bbox=(
            round((cx - pw // 2) / scene.width, 4),
            round((cy - ph // 2) / scene.height, 4),
            round(pw / scene.width, 4),
            round(ph / scene.height, 4),
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m spoold.demo.media", description=__doc__.split("\n")[0]
    )
    p.add_argument("out_dir", type=Path)
    p.add_argument("--seconds", type=float, default=12.0)
    p.add_argument("--fps", type=int, default=10)
    p.add_argument("--camera-tz", default="Asia/Kolkata")
    p.add_argument("--brands", default=None, help="comma list: viofo,blackvue,70mai,tesla")
    ns = p.parse_args(argv)
    brands = ns.brands.split(",") if ns.brands else None
    m = generate_demo_clips(
        ns.out_dir, seconds=ns.seconds, fps=ns.fps, camera_tz=ns.camera_tz, brands=brands
    )
    for c in m.clips:
        plates = ", ".join(f"{pl.text}@{pl.t_start:g}-{pl.t_end:g}s" for pl in c.plates)
        print(f"{c.path}  gps={c.gps_source}  plates: {plates}")
    print(f"manifest: {ns.out_dir / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
