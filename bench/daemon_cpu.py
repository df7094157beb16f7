"""Run ``spoold`` with the CPU time of its main parts counted, per thread, and written out.

    python bench/daemon_cpu.py OUT.json run --config spoold.toml

is ``python -m spoold run --config spoold.toml`` with each function of :data:`PARTS` wrapped:
the CPU seconds of the calling thread (``time.thread_time``) spent inside it, and its calls,
counted once however deeply it recurses.  At exit (``spoold run`` stops on SIGTERM) OUT.json
holds ``{"process": CPU seconds of the whole process, "parts": {name: [seconds, calls]}}``.
Parts nest (``Daemon.tick`` holds ``StageTracker.flush``), so they do not add up.  A part
the code under test does not have is left out.  ``bench/backlog_bench.py --breakdown`` uses
it to say where a backlog's CPU goes, per video.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import json
import runpy
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

#: (module, function or Class.method) whose CPU time is counted.
PARTS = [
    ("spoold.server.daemon", "Daemon.tick"),
    ("spoold.server.runner", "ServerRunner.tick"),
    ("spoold.server.runner", "ServerRunner._start"),
    ("spoold.server.runner", "ServerRunner._conclude"),
    ("spoold.server.stages", "video_stages"),
    ("spoold.server.stages", "StageTracker.flush"),
    ("spoold.server.pipeline", "video_stages"),  # where a baseline before 2026-12-06 has them
    ("spoold.server.pipeline", "StageTracker.flush"),
    ("spoold.server.pipeline", "Chainer.run_pass"),
    ("spoold.spool.spool", "Spool.claim"),
    ("spoold.spool.claim", "Claim.complete"),
    ("spoold.server.executors.index", "IndexService._load"),
    ("spoold.server.executors.index", "IndexService._run_batch"),
    ("spoold.server.executors.index", "IndexService._publish_if_due"),
    ("spoold.server.executors.index", "IndexService._update_stages"),
    ("spoold.server.executors.index", "IndexService._record_ingests"),
    ("spoold.server.executors.index", "IndexService.start_batch"),
    ("spoold.server.executors.index", "IndexService._flush_journal"),
    ("webui_export.index.writer", "Indexer.finalize_many"),
    ("webui_export.index.writer", "Indexer.publish"),
]

_spent: dict[str, list[float]] = {}
_inside = threading.local()


def _counted(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        active: set[str] = _inside.__dict__.setdefault("names", set())
        if name in active:  # recursion: the outer call counts it
            return fn(*args, **kwargs)
        active.add(name)
        started = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            active.discard(name)
            entry = _spent.setdefault(name, [0.0, 0])
            entry[0] += time.thread_time() - started
            entry[1] += 1

    return wrapper


def install() -> None:
    """Wrap every part the code has, also where a module imported a function by name."""
    for module, qualname in PARTS:
        try:
            owner: Any = importlib.import_module(module)
            *path, attr = qualname.split(".")
            for part in path:
                owner = getattr(owner, part)
            original = getattr(owner, attr)
        except (ImportError, AttributeError):
            continue
        wrapped = _counted(qualname, original)
        setattr(owner, attr, wrapped)
        if not path:
            for loaded in list(sys.modules.values()):
                if getattr(loaded, attr, None) is original:
                    setattr(loaded, attr, wrapped)


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    install()

    def dump() -> None:
        with open(out, "w") as f:
            json.dump({"process": time.process_time(), "parts": _spent}, f)

    atexit.register(dump)
    sys.argv = ["spoold", *args]
    runpy.run_module("spoold", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
