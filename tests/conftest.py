"""Shared fixtures: a fresh spool in ``tmp_path`` and a factory of valid tasks.

Keep this file small and generic; fixtures used by one test module belong in that module.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.task import Task
from spoold.spool import Spool

# The CLI's caches (spoold.cli.rejections) go to a folder of this run, never the user's ~/.cache;
# commands run as subprocesses inherit it.
os.environ.setdefault("SPOOLD_CACHE_DIR", tempfile.mkdtemp(prefix="spoold-test-cache-"))

#: The id stamp ``make_task`` uses unless told otherwise (so complete/ has one day folder).
STAMP = "20260101T000000Z"

MakeTask = Callable[..., Task]


@pytest.fixture
def spool_root(tmp_path: Path) -> Path:
    """Where the ``spool`` fixture lives (not created until ``spool`` is requested)."""
    return tmp_path / "spool"


@pytest.fixture
def spool(spool_root: Path) -> Spool:
    """An initialised, empty spool on local disk (default lease 60 s)."""
    return Spool.init(spool_root, default_lease=60.0)


@pytest.fixture
def make_task(spool: Spool) -> MakeTask:
    """``make_task(key=None, *, task_type="work", device_class="cpu", **fields)`` -> Task.

    Ids are ``STAMP-TYPE-KEY``; without ``key`` each call gets a new one (``t0001``, ...).
    Not published: pass the result to ``spool.publish``.
    """
    counter = itertools.count(1)

    def make(
        key: str | None = None,
        *,
        task_type: str = "work",
        device_class: str = "cpu",
        stamp: str | datetime = STAMP,
        **fields: Any,
    ) -> Task:
        return spool.new_task(
            task_type,
            device_class,
            key if key is not None else f"t{next(counter):04d}",
            stamp=stamp,
            **fields,
        )

    return make
