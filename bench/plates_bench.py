"""Plate reading on the generated corpus: precision, recall, exact clips, phantoms per region.

Usage::

    .venv/bin/python bench/plates_bench.py              # 10 regions x 8 clips x 2 keyframes
    .venv/bin/python bench/plates_bench.py --quick      # 10 regions x 1 clip x 2 keyframes
    .venv/bin/python bench/plates_bench.py --regions UK,DE --clips 4 -v   # misses listed
    .venv/bin/python bench/plates_bench.py --variety wide --seed 16   # ranges not tuned on

Both readers run in the same process on the same frames (``bench/plate_corpus.py``):

- **baseline** — ``spoold/workers/plates.py`` as of ``--baseline-rev`` (default ``885a4be``,
  the reader before region formats and consensus), loaded from git: each keyframe's reads
  kept as they are, each distinct text a plate (what the index made of them);
- **current** — this checkout's reader (formats of every region, band masking) and the detect
  worker's consensus over each clip's keyframes.

Per region, over its clips: ``P`` = right plate texts / texts output, ``R`` = ground-truth
plates output / ground-truth plates, ``exact`` = clips whose output is exactly their plates (each
plate once, nothing else), ``phantom`` = texts output that are no plate of the clip.  A
measurement, not a test: nothing here asserts a figure.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from plate_corpus import CORPUS_REGIONS, VARIETIES, CorpusClip, corpus  # noqa: E402

from spoold.workers.plate_consensus import Read, consensus  # noqa: E402
from spoold.workers.plates import PlateReader  # noqa: E402

BASELINE_REV = "885a4be"


@dataclass
class Tally:
    clips: int = 0
    exact: int = 0
    plates: int = 0
    outputs: int = 0
    right: int = 0
    phantoms: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, clip: CorpusClip, texts: set[str]) -> None:
        truth = set(clip.plates)
        self.clips += 1
        self.plates += len(truth)
        self.outputs += len(texts)
        self.right += len(texts & truth)
        self.phantoms += len(texts - truth)
        if texts == truth:
            self.exact += 1
        else:
            self.misses.append(f"{clip.name}: want {sorted(truth)}, got {sorted(texts)}")

    def row(self) -> str:
        p = self.right / self.outputs if self.outputs else 1.0
        r = self.right / self.plates if self.plates else 1.0
        e = self.exact / self.clips if self.clips else 1.0
        return f"{p:6.1%} {r:6.1%} {e:6.1%} {self.phantoms:4d}"


def load_baseline(rev: str) -> ModuleType:
    """``spoold/workers/plates.py`` at ``rev``, imported as module ``plates_baseline``."""
    src = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:spoold/workers/plates.py"],
        capture_output=True,
        text=True,
        check=False,
    )
    if src.returncode != 0:
        raise SystemExit(f"plates_bench: cannot read the baseline reader at {rev}: {src.stderr}")
    path = Path(tempfile.mkdtemp(prefix="plates-baseline-")) / "plates_baseline.py"
    path.write_text(src.stdout)
    spec = importlib.util.spec_from_file_location("plates_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["plates_baseline"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    path.unlink()
    path.parent.rmdir()
    return module


def current_texts(reader: PlateReader, clip: CorpusClip) -> set[str]:
    reads = [
        Read(frame.t, c.text, c.confidence, c.bbox)
        for frame in clip.frames
        for c in reader.read(frame.image)
    ]
    return set(consensus(reads, reader.regions))


def baseline_texts(reader: Any, clip: CorpusClip) -> set[str]:
    return {str(c.text) for frame in clip.frames for c in reader.read(frame.image)}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 clip of 2 keyframes per region")
    ap.add_argument("--clips", type=int, default=8, help="clips per region")
    ap.add_argument("--frames", type=int, default=2, help="keyframes per clip")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--regions", default=",".join(CORPUS_REGIONS))
    ap.add_argument(
        "--variety",
        choices=VARIETIES,
        default="standard",
        help="wide: tilts, sizes, seals and car colours the reader was not tuned on",
    )
    ap.add_argument("--baseline-rev", default=BASELINE_REV)
    ap.add_argument("--threads", type=int, default=2, help="onnxruntime threads per reader")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every clip not exact")
    args = ap.parse_args(argv)
    clips, frames = (1, 2) if args.quick else (args.clips, args.frames)
    regions = [r.strip().upper() for r in args.regions.split(",") if r.strip()]

    base_reader = load_baseline(args.baseline_rev).PlateReader(threads=args.threads)
    reader = PlateReader(threads=args.threads)
    tallies: dict[str, dict[str, Tally]] = {
        "baseline": defaultdict(Tally),
        "current": defaultdict(Tally),
    }
    seconds = {"baseline": 0.0, "current": 0.0}
    n_frames = 0
    for clip in corpus(regions, clips, frames, args.seed, args.variety):
        n_frames += len(clip.frames)
        t0 = time.perf_counter()
        base = baseline_texts(base_reader, clip)
        t1 = time.perf_counter()
        cur = current_texts(reader, clip)
        seconds["baseline"] += t1 - t0
        seconds["current"] += time.perf_counter() - t1
        for name, texts in (("baseline", base), ("current", cur)):
            tallies[name][clip.region].add(clip, texts)
            tallies[name]["all"].add(clip, texts)

    print(
        f"plate corpus: {len(regions)} regions x {clips} clips x {frames} keyframes "
        f"(seed {args.seed}, {args.variety}); baseline = plates.py at {args.baseline_rev}"
    )
    print(
        f"{'region':6}  {'baseline: P      R      exact  phantom':38}  current: P      R      exact  phantom"
    )
    for region in [*regions, "all"]:
        print(
            f"{region:6}  {tallies['baseline'][region].row():38}  {tallies['current'][region].row()}"
        )
    for name in ("baseline", "current"):
        print(f"{name}: {seconds[name] / max(1, n_frames):.2f} s per keyframe")
    if args.verbose:
        for name in ("baseline", "current"):
            for miss in tallies[name]["all"].misses:
                print(f"{name} miss  {miss}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
