"""First plate to screen: seconds from a clip landing in the inbox to a published index, per stage.

Runs the real pipeline twice in one go, with the demo's machinery (``spoold.demo``): the daemon
(``spoold run``), a Jetson-class and a GPU-class device (``spoold work`` with the reference
workers) and the API (``spoold serve``), on the demo's synthetic clips:

- **baseline**: the default settings (``[ingest] stable_s`` and ``scan_interval_s`` 10 s,
  ``[daemon] tick_s`` 1 s and ``chain_interval_s`` 2 s, ``[index] publish_interval_s`` 1 s,
  devices ``--poll 2 --max-poll 30`` with the idle doorbell off: polling alone; the inbox's
  ``watch = "auto"``, the default, as in the demo);
- **tuned**: the demo's short intervals and the idle doorbell (``--doorbell 0.5``), same
  ``--max-poll 30``.

Both watch the inbox natively (a local disk), so a clip renamed into place is ready after a
short re-stat, not ``stable_s``; ``--scan`` runs both with ``watch = "scan"`` instead (the
path a network mount takes, where ``stable_s`` and the scan interval decide).

Each brand's clips land alone (sidecars first, the video last, each by rename as sync tools
do; into the camera's folders, made before, as they are on a NAS between drops) after the
devices have been idle ``--idle`` seconds, and the next brand lands only once
those are in a published index generation: an idle system, one clip at a time.  The table is
:func:`spoold.demo.latency.breakdown` of each run (spool records, device logs, the daemon's
publish log); then the median per stage of both runs and their ratio.

    python bench/e2e_latency.py                  # two brands (3 videos) per variant
    python bench/e2e_latency.py --brands all --idle 45
    python bench/e2e_latency.py --quick          # one clip, short idle: the smoke test
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spoold.demo.latency import STAGES, ClipLatency, breakdown, format_breakdown, summary  # noqa: E402
from spoold.demo.media import DemoManifest, generate_demo_clips  # noqa: E402
from spoold.demo.run import (  # noqa: E402
    _CONFIG,
    _free_port,
    _lay_out,
    _spawn,
    _stop,
    camera_folders,
    check_timeline,
)
from spoold.spool import Spool  # noqa: E402

ROOTS = ("indoor-nas", "shed-nas", "server")
DEVICES = {
    "jetson-01": ("jetson", "spoold.workers.preprocess"),
    "gpu-01": ("gpu", "spoold.workers.detect"),
}


@dataclass(frozen=True)
class Variant:
    name: str
    #: (the demo config's line, this variant's line) replacements.
    config: tuple[tuple[str, str], ...]
    worker_args: tuple[str, ...]


BASELINE = Variant(
    "baseline",
    (
        ("tick_s = 0.5", "tick_s = 1.0"),
        ("chain_interval_s = 0.5", "chain_interval_s = 2.0"),
        ("stable_s = 1.0", "stable_s = 10.0"),
        ("scan_interval_s = 1.0", "scan_interval_s = 10.0"),
        ("publish_interval_s = 0.5", "publish_interval_s = 1.0"),
    ),
    ("--poll", "2", "--max-poll", "30", "--doorbell", "0"),
)
TUNED = Variant("tuned", (), ("--poll", "2", "--max-poll", "30", "--doorbell", "0.5"))


def _start(where: Path, variant: Variant, port: int) -> dict[str, subprocess.Popen[bytes]]:
    py = [sys.executable, "-m", "spoold"]
    common = ["--config", str(where / "spoold.toml")]
    commands = {
        "daemon": [*py, "run", *common],
        "api": [*py, "serve", *common, "--port", str(port), "--workers", "1"],
    }
    for device, (device_class, module) in DEVICES.items():
        commands[device] = [
            *py, "work", *common, "--class", device_class, "--device", device,
            *variant.worker_args, "--", sys.executable, "-m", module,
        ]  # fmt: skip
    return {n: _spawn(args, where / f"logs/{n}.log", where) for n, args in commands.items()}


def _measure(where: Path) -> list[ClipLatency]:
    return breakdown(
        Spool(where / "spool"),
        {root: where / root for root in ROOTS},
        [where / f"logs/{d}.log" for d in DEVICES],
        where / "logs/daemon.log",
    )


def run_variant(
    where: Path,
    manifest: DemoManifest,
    variant: Variant,
    idle: float,
    timeout: float,
    *,
    scan: bool = False,
) -> list[ClipLatency]:
    """One pipeline run with ``variant``'s settings (and ``watch = "scan"`` with ``scan``);
    each brand's clips land alone."""
    _lay_out(where)
    shutil.copytree(manifest.root, where / "staging")
    config = _CONFIG.format(tz=manifest.camera_tz)
    edits = (*variant.config, *((('watch = "auto"', 'watch = "scan"'),) if scan else ()))
    for old, new in edits:
        assert old in config, old
        config = config.replace(old, new)
    (where / "spoold.toml").write_text(config)
    port = _free_port(0)
    procs = _start(where, variant, port)
    try:
        brands = sorted(p.name for p in (where / "staging").iterdir() if p.is_dir())
        videos = 0
        for brand in brands:
            camera_folders(where / "staging" / brand, where / "indoor-nas/dashcam" / brand)
            time.sleep(idle)  # the devices back off to their longest poll meanwhile
            files = [p for p in (where / "staging" / brand).rglob("*") if p.is_file()]
            # Sidecars first, the video last: the video's landing is the clip's last byte.
            files.sort(key=lambda p: (p.suffix.lower() in (".mp4", ".mov", ".ts"), str(p)))
            for src in files:
                rel = src.relative_to(where / "staging")
                shed = where / "shed-nas/dashcam" / rel  # the archive copy the pipeline checks
                shed.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, shed)
                dst = where / "indoor-nas/dashcam" / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                src.rename(dst)
            videos += sum(p.suffix.lower() in (".mp4", ".mov", ".ts") for p in files)
            deadline = time.monotonic() + timeout
            while len(_measure(where)) < videos:
                for name, p in procs.items():
                    if p.poll() is not None:
                        raise RuntimeError(f"{name} exited ({p.returncode}); see {where}/logs")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{variant.name}: {brand} not published in {timeout:.0f} s")
                time.sleep(0.5)
        # The API serves what the breakdown says was published (the run's sanity check).
        rows = check_timeline(f"http://127.0.0.1:{port}", manifest)
        missing = [r["plate"] for r in rows if not r["found"]]
        if missing:
            raise RuntimeError(f"{variant.name}: plates not in the API: {missing}")
    finally:
        _stop(procs)
    return _measure(where)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--brands", default="blackvue,viofo", help="comma-separated, or 'all'")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds idle before each drop")
    parser.add_argument("--timeout", type=float, default=300.0, help="per drop")
    parser.add_argument("--quick", action="store_true", help="one clip, 3 s idle")
    parser.add_argument("--dir", type=Path, help="work folder (default: a temp folder)")
    parser.add_argument("--scan", action="store_true", help='both with watch = "scan"')
    args = parser.parse_args()
    brands = None if args.brands == "all" else args.brands.split(",")
    if args.quick:
        brands, args.idle = ["blackvue"], 3.0
    base = Path(tempfile.mkdtemp(prefix="e2e-", dir=args.dir))
    try:
        manifest = generate_demo_clips(base / "clips", brands=brands)
        results = {}
        for variant in (BASELINE, TUNED):
            where = base / variant.name
            clips = run_variant(where, manifest, variant, args.idle, args.timeout, scan=args.scan)
            print(f"\n{variant.name}: seconds from landing to a published index, per stage")
            print("\n".join(format_breakdown(clips)))
            results[variant.name] = summary(clips)
        old, new = results["baseline"], results["tuned"]
        print("\nmedian seconds per stage")
        print(f"{'stage':16}{'baseline':>10}{'tuned':>10}{'ratio':>8}")
        for stage in (*STAGES, "outside_devices", "total"):
            ratio = old[stage] / new[stage] if new[stage] > 0 else float("inf")
            print(f"{stage:16}{old[stage]:10.2f}{new[stage]:10.2f}{ratio:7.1f}x")
        verdict = "met" if new["outside_devices"] < 3.0 else "NOT met"
        print(f"target: outside the devices' compute < 3 s (tuned): {verdict}")
        queue_ok = "met" if new["queue"] < 1.0 * 2 else "NOT met"
        print(f"target: a device's queue wait < 1 s when idle (tuned, 2 waits): {queue_ok}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
