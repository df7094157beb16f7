"""Listing inbox folders cheaply and fingerprinting the files found: the ingest scanner's I/O.

Public API: :func:`scan_inbox`, :func:`fingerprint_files`, :class:`DirInfo`,
:class:`ScanResult`, :func:`filesystem_type`, :func:`is_network_fs`, :func:`effective_watch`,
``FileEntry``, ``Sig``.

These functions run in a storage root's threads (:mod:`spoold.server.storage`) and never touch the
daemon's state: they read a snapshot of the cached tree and return what they saw; the
caller (:class:`spoold.server.ingest.Ingestor`) applies it.  A folder whose mtime did not change is
not listed again, which is what keeps an idle tree of 100,000 files cheap.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from spoold.errors import SpoolError
from spoold.server import media
from spoold.server.storage import probe_marker

#: size, mtime_ns, video id (None until fingerprinted)
FileEntry = tuple[int, int, "str | None"]
#: size, mtime_ns, ctime_ns: a file's "has it changed" signature
Sig = tuple[int, int, int]

NETWORK_FS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre"}
    | {"davfs", "ncpfs", "sshfs", "fuse", "fuseblk"}
)


# --------------------------------------------------------------------------- filesystems
def filesystem_type(path: str | os.PathLike[str], mounts: str = "/proc/self/mounts") -> str:
    """The type of the filesystem holding ``path`` ("ext4", "nfs4", "fuse.sshfs"; "" if unknown)."""
    real = os.path.realpath(path)
    best, kind = "", ""
    try:
        with open(mounts, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) < 3:
                    continue
                point = parts[1].replace("\\040", " ").replace("\\011", "\t")
                inside = real == point or real.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, kind = point, parts[2]
    except OSError:
        return ""
    return kind


def is_network_fs(kind: str) -> bool:
    """inotify cannot see other clients' changes on these (FUSE counts: sshfs, NFS/SMB clients)."""
    return kind in NETWORK_FS or kind.startswith("fuse.")


def effective_watch(mode: str, path: Path) -> str:
    """``auto`` → ``native`` on a local disk, ``scan`` (no observer) on a network mount."""
    if mode != "auto":
        return mode
    return "scan" if is_network_fs(filesystem_type(path)) else "native"


# --------------------------------------------------------------------------- the tree
@dataclass
class DirInfo:
    """One listed folder of an inbox: its mtime when listed, subfolders, video files."""

    mtime_ns: int
    subdirs: list[str]
    files: dict[str, FileEntry]


@dataclass
class ScanResult:
    problem: str | None = None  # marker missing, inbox folder missing...: nothing concluded
    unmounted: bool = False  # the marker was missing (the storage module reports that)
    listed: dict[str, DirInfo] = field(default_factory=dict)
    reached: set[str] | None = field(default_factory=set)  # None: the tree was not walked
    stats: dict[str, Sig] = field(default_factory=dict)  # files without a video id
    gone: set[str] = field(default_factory=set)  # watched files that vanished
    full: bool = False


def join(a: str, b: str) -> str:
    """A path relative to the inbox: ``a/b``, or ``b`` when ``a`` is the inbox itself."""
    return f"{a}/{b}" if a else b


def scan_inbox(
    base: Path,
    root: Path,
    marker: str,
    dirs: dict[str, DirInfo],
    *,
    dirty: frozenset[str] = frozenset(),
    full: bool = False,
    watch: tuple[str, ...] = (),
    walk: bool = True,
    accept_dir: Callable[[str], bool],
    accept_file: Callable[[str], bool],
) -> ScanResult:
    """List ``base`` (an inbox folder) incrementally; runs in a storage thread.

    ``dirs`` is read, never changed (the caller applies the result).  Folders whose mtime is
    unchanged are not listed unless ``full`` or ``dirty``; ``watch`` (files not yet stable)
    are stat'ed whatever (with ``walk=False``, only they are).  Files keep their cached
    video id while size and mtime match.
    """
    state, message = probe_marker(root, marker)
    if state != "ok":
        return ScanResult(problem=message, unmounted=True)
    res = ScanResult(full=full)
    if not base.is_dir():
        res.problem = f"inbox folder {base} does not exist (storage root is mounted)"
        return res
    stack = [""] if walk else []
    if not walk:
        res.reached = None
    while stack:
        rel = stack.pop()
        path = base / rel if rel else base
        try:
            st = os.stat(path)
        except OSError:
            continue
        res.reached.add(rel)  # type: ignore[union-attr]
        old = dirs.get(rel)
        if old is not None and not full and rel not in dirty and old.mtime_ns == st.st_mtime_ns:
            stack.extend(join(rel, s) for s in old.subdirs)
            continue
        subdirs: list[str] = []
        files: dict[str, FileEntry] = {}
        try:
            entries = list(os.scandir(path))
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    if accept_dir(e.name):
                        subdirs.append(e.name)
                    continue
                if not e.is_file(follow_symlinks=False) or not accept_file(e.name):
                    continue
                s = e.stat(follow_symlinks=False)
            except OSError:  # vanished between listing and stat
                continue
            prev = old.files.get(e.name) if old is not None else None
            vid = prev[2] if prev and (prev[0], prev[1]) == (s.st_size, s.st_mtime_ns) else None
            files[e.name] = (s.st_size, s.st_mtime_ns, vid)
            if vid is None:
                res.stats[join(rel, e.name)] = (s.st_size, s.st_mtime_ns, s.st_ctime_ns)
        res.listed[rel] = DirInfo(st.st_mtime_ns, sorted(subdirs), files)
        stack.extend(join(rel, s) for s in subdirs)
    for rel in watch:
        if rel in res.stats or rel.rpartition("/")[0] in res.listed:
            continue
        try:
            s = os.stat(base / rel)
            res.stats[rel] = (s.st_size, s.st_mtime_ns, s.st_ctime_ns)
        except FileNotFoundError:
            res.gone.add(rel)
        except OSError:
            continue
    return res


def fingerprint_files(
    base: Path, items: list[tuple[str, int, int]]
) -> list[tuple[str, int, int, str | None, str | None]]:
    """(rel, size, mtime_ns, video id or None, why not) for each stable file; storage thread."""
    out: list[tuple[str, int, int, str | None, str | None]] = []
    for rel, size, mtime in items:
        path = base / rel
        try:
            vid = media.fingerprint(path)
            st = os.stat(path)
        except FileNotFoundError:
            out.append((rel, size, mtime, None, "vanished"))
            continue
        except (OSError, SpoolError) as exc:
            out.append((rel, size, mtime, None, str(exc)))
            continue
        if (st.st_size, st.st_mtime_ns) != (size, mtime):
            out.append((rel, st.st_size, st.st_mtime_ns, None, "changed"))
        else:
            out.append((rel, size, mtime, vid, None))
    return out
