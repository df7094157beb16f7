"""How much slower the spool runs through the power-cut filesystem than on its backing disk.

``python tests/powercut/bench.py [N]``: N tasks published, claimed and completed, with the
spool's fsync on and off, in a temporary directory and through a strict-mode mount of
another; prints tasks/s for each. Needs root and /dev/fuse, like the tests. (Through the
layer an fsync costs no disk flush, so with fsync on the layer may well be the faster.)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from powercut import PowerCutMount
from spoold.spool import Spool


def cycle(root: Path, n: int, fsync: bool) -> float:
    """Tasks per second through publish + claim + complete."""
    spool = Spool.init(root, fsync=fsync)
    t0 = time.perf_counter()
    for i in range(n):
        spool.publish(spool.new_task("work", "q", f"t{i}", stamp="20260101T000000Z"))
    for _ in range(n):
        claim = spool.claim("q", "dev")
        assert claim is not None
        claim.complete()
    spool.close()
    return n / (time.perf_counter() - t0)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    for fsync in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            direct = cycle(Path(tmp) / "direct", n, fsync)
            with PowerCutMount(Path(tmp) / "pc", "strict") as mount:
                t0 = time.perf_counter()
                layered = cycle(mount.mnt / "spool", n, fsync)
                elapsed = time.perf_counter() - t0
                calls = sum(mount.stats()["counts"].values())
        print(
            f"fsync {'on ' if fsync else 'off'}: {n} tasks: direct {direct:.0f} tasks/s, "
            f"through the layer {layered:.0f} tasks/s; {calls / n:.0f} filesystem calls per "
            f"task, {calls / elapsed:.0f} calls/s through the layer"
        )


if __name__ == "__main__":
    main()
