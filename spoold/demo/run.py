"""``spoold demo``: the whole pipeline on one machine, on sample dashcam clips made on the spot.

Public API: :func:`run_demo`, :func:`check_timeline`.

It makes clips of several brands (front and rear, GPS along a route, licence plates rendered
into the frames), lays out a demo NAS, writes a ``spoold.toml``, and starts real processes:
the daemon (``spoold run``), a Jetson-class and a GPU-class device (``spoold work`` running
the reference workers) and the API (``spoold serve``).  The clips are then "synced" into the
NAS inbox.  It waits until the API's plate timeline shows every rendered plate, compares place
and time with what was rendered, and prints where to look.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

Echo = Callable[[str], Any]

_CONFIG = """\
# Written by `spoold demo`: a whole pipeline in one folder.
[spool]
root = "spool"
lease_s = 30.0
fsync = false
backoff_base_s = 2.0

[storage]
indoor-nas = "indoor-nas"
shed-nas = "shed-nas"
server = "server"

[daemon]
state_dir = "state"
tick_s = 0.5
chain_interval_s = 0.5

[ingest]
stable_s = 1.0
scan_interval_s = 1.0

[[inbox]]
name = "demo-cams"
root = "indoor-nas"
path = "dashcam"
# native on a local disk: a clip renamed into place is ready after a re-stat, not stable_s
watch = "auto"
vehicle = "demo-car"

[pipeline.stages.preprocess]
params = {{ camera_tz = "{tz}" }}

[index]
dir = "index"
publish_interval_s = 0.5
"""


def _free_port(preferred: int = 8080) -> int:
    """``preferred`` when nothing listens there, else any free port."""
    for want in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", want))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError("no free port on 127.0.0.1")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def _meters(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat = math.radians((a[0] + b[0]) / 2)
    dy = (a[0] - b[0]) * 111_320
    dx = (a[1] - b[1]) * 111_320 * math.cos(lat)
    return math.hypot(dx, dy)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def check_timeline(api: str, manifest: Any) -> list[dict[str, Any]]:
    """For each rendered plate: what the API's timeline says, and how far off it is."""
    out = []
    for clip, plate in manifest.plates():
        row: dict[str, Any] = {"plate": plate.text, "clip": Path(clip.path).name, "found": False}
        try:
            body = _get(f"{api}/api/plates/{plate.text}/timeline")
        except (urllib.error.URLError, OSError, ValueError):
            out.append(row)
            continue
        want_t = _parse_time(plate.time_utc)
        for s in body.get("rows", []):
            loc = s.get("location")
            if not loc or not s.get("first_seen"):
                continue
            seen = _parse_time(s["first_seen"])
            if seen.tzinfo is None:
                continue
            dt = abs((seen - want_t).total_seconds())
            dist = _meters((loc["lat"], loc["lon"]), (plate.lat, plate.lon))
            if not row["found"] or dt < row["dt_s"]:
                row.update(
                    found=True,
                    dt_s=round(dt, 1),
                    dist_m=round(dist, 1),
                    seen=s["first_seen"],
                    video_id=s.get("video_id"),
                    offset_s=s.get("offset_s"),
                )
        out.append(row)
    return out


def _spawn(args: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    fh = open(log, "ab")  # noqa: SIM115 - owned by the child for its lifetime
    return subprocess.Popen(
        args, stdout=fh, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True
    )


def run_demo(
    where: Path,
    *,
    port: int | None = None,
    exit_when_done: bool = False,
    timeout: float = 600.0,
    echo: Echo = print,
) -> int:
    """Run the demo in ``where`` (replaced).  Returns 0 when every plate was found in place."""
    from spoold.demo.media import generate_demo_clips

    started = time.monotonic()
    _lay_out(where)
    echo("making sample dashcam clips (plates rendered in, GPS along a route) ...")
    manifest = generate_demo_clips(where / "staging")
    camera_folders(where / "staging", where / "indoor-nas/dashcam")
    cfg = where / "spoold.toml"
    cfg.write_text(_CONFIG.format(tz=manifest.camera_tz))
    port = port or _free_port()
    api = f"http://127.0.0.1:{port}"
    procs = _start(where, cfg, port)
    echo(
        f"started: {', '.join(f'{k} (pid {p.pid})' for k, p in procs.items())}; logs in {where / 'logs'}"
    )
    code = 1
    try:  # from here on, whatever happens (Ctrl-C, SIGTERM) stops what _start started
        _sync_clips(where)
        plates = manifest.plates()
        echo(
            f"{len(manifest.clips)} clips with {len(plates)} plates dropped into {where / 'indoor-nas/dashcam'}"
        )
        rows = _wait_for_plates(where, procs, api, manifest, started, timeout, echo)
        good = [r for r in rows if r["found"] and r["dt_s"] <= 3 and r["dist_m"] <= 60]
        code = 0 if len(good) == len(plates) else 1
        _report(rows, len(good), len(plates), started, echo)
        _report_latency(where, echo)
        echo(f"dashboard:  {api}/")
        echo(
            f"API:        {api}/api/videos   {api}/api/plates/{plates[0][1].text}/timeline   {api}/metrics"
        )
        echo(f"spool:      spoold status --config {cfg}   (or: ls -R {where / 'spool'})")
        if not exit_when_done:
            echo("running until Ctrl-C ...")
            # pause, not sigwait: sigwait ignores signals that have a handler, and the CLI
            # turns SIGTERM into KeyboardInterrupt so that the finally below stops everything.
            while True:
                signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        _stop(procs)
    return code


def _lay_out(where: Path) -> None:
    """A fresh demo folder: the NAS and server storage roots, state, logs and the spool."""
    from spoold.spool import Spool

    if where.exists():
        shutil.rmtree(where)
    for d in ("indoor-nas/dashcam", "shed-nas", "server", "state", "logs"):
        (where / d).mkdir(parents=True)
    for root in ("indoor-nas", "shed-nas", "server"):
        (where / root / ".spoold-storage").touch()  # "this share is mounted"
    Spool.init(where / "spool")


def _start(where: Path, cfg: Path, port: int) -> dict[str, subprocess.Popen[bytes]]:
    """The daemon, a Jetson-class and a GPU-class worker and the API, each logging to logs/."""
    py = [sys.executable, "-m", "spoold"]
    common = ["--config", str(cfg)]

    def worker(device_class: str, device: str, module: str) -> list[str]:
        return [
            *py, "work", *common, "--class", device_class, "--device", device,
            "--poll", "0.3", "--max-poll", "1", "--", sys.executable, "-m", module,
        ]  # fmt: skip

    commands = {
        "daemon": [*py, "run", *common],
        "jetson-01": worker("jetson", "jetson-01", "spoold.workers.preprocess"),
        "gpu-01": worker("gpu", "gpu-01", "spoold.workers.detect"),
        "api": [*py, "serve", *common, "--port", str(port), "--workers", "2"],
    }
    return {
        name: _spawn(args, where / f"logs/{name}.log", where) for name, args in commands.items()
    }


def camera_folders(staging: Path, inbox: Path) -> None:
    """Make the cameras' folders in the inbox before any clip lands, as they are on a NAS
    between drops: a clip renamed into a folder made that very instant is seen through the
    folder's creation (inotify watches it only once it exists), not as a rename, and waits
    ``stable_s``."""
    for d in sorted(p for p in staging.rglob("*") if p.is_dir()):
        (inbox / d.relative_to(staging)).mkdir(parents=True, exist_ok=True)


def _sync_clips(where: Path) -> None:
    """Move the clips into the NAS inbox; each file appears by rename, as sync tools do."""
    staging = where / "staging"
    for src in sorted(staging.rglob("*")):
        if src.is_file() and src.name != "manifest.json":
            rel = src.relative_to(staging)
            # The NAS's own replication job keeps an archival copy on the Shed NAS; the
            # pipeline's archive stage checks it is there and complete.
            shed = where / "shed-nas/dashcam" / rel
            shed.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, shed)
            dst = where / "indoor-nas/dashcam" / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.rename(src, dst)


def _wait_for_plates(
    where: Path,
    procs: dict[str, subprocess.Popen[bytes]],
    api: str,
    manifest: Any,
    started: float,
    timeout: float,
    echo: Echo,
) -> list[dict[str, Any]]:
    """Poll the spool and the API, printing progress, until every plate is in the API."""
    from spoold.spool import Spool
    from spoold.spool import inspect as spool_inspect

    spool = Spool(where / "spool")
    plates = manifest.plates()
    rows: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        for name, p in procs.items():
            if p.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with status {p.returncode}; see {where / 'logs'}"
                )
        st = spool_inspect.status(spool)
        done = sum(st["complete_by_day"].values())
        t = st["totals"]
        rows = check_timeline(api, manifest)
        found = sum(r["found"] for r in rows)
        line = (
            f"  {time.monotonic() - started:5.0f}s  tasks complete {done:3d}  ready {t['ready']:2d}  "
            f"running {t['claimed']:2d}  failing {t['failing']:2d}  plates in the API {found}/{len(plates)}"
        )
        if line.split("s ", 1)[1] != last:
            echo(line)
            last = line.split("s ", 1)[1]
        if found == len(plates):
            break
        time.sleep(2)
    return rows


def _report(rows: list[dict[str, Any]], good: int, total: int, started: float, echo: Echo) -> None:
    """The table of plates: where and when each was seen, and how far from the truth."""
    echo(
        "\nplate        clip                               seen (UTC)                   Δt s   Δ m"
    )
    for r in rows:
        if r["found"]:
            echo(f"{r['plate']:12} {r['clip']:34} {r['seen']:28} {r['dt_s']:5} {r['dist_m']:6}")
        else:
            echo(f"{r['plate']:12} {r['clip']:34} NOT FOUND")
    echo(
        f"\n{good}/{total} rendered plates read at the right place and time "
        f"in {time.monotonic() - started:.0f} s"
    )


def _report_latency(where: Path, echo: Echo) -> None:
    """Seconds per stage from each clip landing to its plates in a published index."""
    from spoold.demo.latency import breakdown, format_breakdown
    from spoold.spool import Spool

    clips = breakdown(
        Spool(where / "spool"),
        {root: where / root for root in ("indoor-nas", "shed-nas", "server")},
        [where / "logs/jetson-01.log", where / "logs/gpu-01.log"],
        where / "logs/daemon.log",
    )
    echo(
        "\nseconds from landing in the inbox to a published index, per stage "
        "(all clips landed at once: queue waits include waiting behind the others)"
    )
    for line in format_breakdown(clips):
        echo(line)


def _stop(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for p in procs.values():
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs.values():
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
