"""Read side: a per-process, in-memory DuckDB over the published snapshot's Parquet files.

Public API: :class:`IndexReader`, :class:`Session`, :func:`reader_for`, :func:`init_app`,
:func:`get_db`.

Readers never open ``live.duckdb``, so they never hold a lock the writer needs, and any number
of processes (gunicorn workers, ``spoold export``) can read at once.  Each request takes a
:class:`Session`: the manifest current at its start plus a cursor, so every query of the request
sees the same generation.  The DuckDB connection is created lazily in the process that uses it
(after gunicorn forks) and is confined to the index directory (``enable_external_access`` off,
``allowed_directories`` = the index).  A published generation never changes, so what is
computed from it (e.g. the ``/api/stats`` aggregates) is kept per process until the next one
(:meth:`Session.cached`), and a file never changes, so what is read from one (e.g. the rows per
status of a ``videos`` file) is kept per process while the current manifest still names the file
(:meth:`Session.per_file`).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb
from flask import Flask, current_app, g

from webui_export.errors import SnapshotUnavailable
from webui_export.index import files as layout
from webui_export.index.files import Manifest

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
#: Most results one generation's memo keeps (it starts over when full).
MEMO_ENTRIES = 64
T = TypeVar("T")


@dataclass(frozen=True)
class Session:
    """One request's view: a manifest (one generation) and a cursor to query its files."""

    index_dir: Path
    manifest: Manifest
    cursor: duckdb.DuckDBPyConnection
    #: Results computed from this generation, shared by the process's requests (a published
    #: generation never changes); emptied whenever ``CURRENT.json`` changes.
    memo: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)
    #: Values read from one immutable file, shared by the process's requests; an entry goes
    #: when a manifest that no longer names its file is read.
    files: dict[tuple[str, str], Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def generation(self) -> int:
        return self.manifest.generation

    def part_files(self, table: str, part: str | None = None) -> list[str]:
        """A partitioned table's files: all of them, or one partition's (maybe none)."""
        m = self.manifest
        rel = m.all_part_paths(table) if part is None else m.part_paths(table, part)
        return [str(self.index_dir / p) for p in rel]

    def global_file(self, table: str) -> list[str]:
        """Every file of a partitioned table (``read_parquet`` takes the list)."""
        return self.part_files(table)

    def block_files(self, table: str, video_key: int) -> list[str]:
        block = layout.block_of(video_key, self.manifest.block_size)
        return [str(self.index_dir / p) for p in self.manifest.block_paths(table, block)]

    def all_block_files(self, table: str) -> list[str]:
        return [str(self.index_dir / p) for p in self.manifest.all_block_paths(table)]

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one parameterized statement and fetch every row.

        ``params`` may hold more names than ``sql`` uses; only the ``$name``s in it are bound.
        """
        bound = {name: (params or {})[name] for name in set(_PARAM.findall(sql))}
        try:
            return self.cursor.execute(sql, bound).fetchall()
        except duckdb.IOException as exc:
            raise SnapshotUnavailable(
                f"snapshot generation {self.generation} changed under the request; retry ({exc})"
            ) from exc

    def one(self, sql: str, params: dict[str, Any] | None = None) -> tuple[Any, ...] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def cached(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, once per generation and process for each ``key``; treat the result
        as read-only.  Two requests may compute it at once: the same value, kept once."""
        try:
            value: T = self.memo[key]
        except KeyError:
            value = compute()
            if len(self.memo) >= MEMO_ENTRIES:  # e.g. many distinct day ranges asked for
                self.memo.clear()
            self.memo[key] = value
        return value

    def per_file(self, kind: str, path: str, compute: Callable[[], T]) -> T:
        """``compute()`` (what ``kind`` reads from the file ``path``), once per process while
        the file is part of the published snapshot; treat the result as read-only."""
        try:
            value: T = self.files[(kind, path)]
        except KeyError:
            value = self.files[(kind, path)] = compute()
        return value


class IndexReader:
    """The published snapshot of one index directory, for one process."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = Path(index_dir).resolve()
        self._lock = threading.Lock()
        self._pid = -1
        self._con: duckdb.DuckDBPyConnection | None = None
        self._manifest: Manifest | None = None
        self._memo: dict[Hashable, Any] = {}
        self._files: dict[tuple[str, str], Any] = {}
        self._stamp: tuple[int, int, int] | None = None

    def manifest(self) -> Manifest:
        """The current manifest, re-read only when ``CURRENT.json`` changed (one stat)."""
        return self._current()[0]

    def _current(
        self,
    ) -> tuple[Manifest, dict[Hashable, Any], dict[tuple[str, str], Any]]:
        """The current manifest, the memo of its generation and the per-file values."""
        path = self.index_dir / layout.MANIFEST
        try:
            st = path.stat()
        except FileNotFoundError:
            raise SnapshotUnavailable(
                f"{self.index_dir}: no published index yet (no {layout.MANIFEST}); the daemon "
                "publishes one when its Indexer starts"
            ) from None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp or self._manifest is None:
                manifest = layout.read_manifest(self.index_dir)
                if manifest is None:
                    raise SnapshotUnavailable(f"{self.index_dir}: no published index yet")
                named = {str(self.index_dir / p) for p in manifest.all_paths()}
                # a new dict: sessions of the previous generation keep theirs
                self._files = {k: v for k, v in self._files.items() if k[1] in named}
                self._manifest, self._memo, self._stamp = manifest, {}, stamp
            return self._manifest, self._memo, self._files

    def _connection(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None or self._pid != os.getpid():
                con = duckdb.connect(":memory:", config={"threads": 1})
                con.execute("SET GLOBAL parquet_metadata_cache = true")  # files are immutable
                con.execute(
                    "SET GLOBAL allowed_directories = $dirs", {"dirs": [f"{self.index_dir}/"]}
                )
                con.execute("SET GLOBAL enable_external_access = false")
                con.execute("SET GLOBAL lock_configuration = true")
                self._con, self._pid = con, os.getpid()
            return self._con

    def session(self) -> Session:
        """A snapshot-consistent session; close its cursor when done."""
        manifest, memo, files = self._current()
        return Session(self.index_dir, manifest, self._connection().cursor(), memo, files)


_READERS: dict[Path, IndexReader] = {}
_READERS_LOCK = threading.Lock()


def reader_for(index_dir: Path) -> IndexReader:
    """The process-wide reader of ``index_dir`` (its parquet metadata cache is shared)."""
    key = Path(index_dir).resolve()
    with _READERS_LOCK:
        reader = _READERS.get(key)
        if reader is None:
            reader = _READERS[key] = IndexReader(key)
        return reader


def get_db() -> Session:
    """This request's session (created on first use, closed at teardown)."""
    if "index_session" not in g:
        g.index_session = reader_for(Path(current_app.config["INDEX_DIR"])).session()
    session: Session = g.index_session
    return session


def _close_db(_exc: BaseException | None = None) -> None:
    session: Session | None = g.pop("index_session", None)
    if session is not None:
        session.cursor.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_close_db)
