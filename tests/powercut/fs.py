"""A FUSE passthrough filesystem that can lose power: what was not fsynced is gone after a cut.

Run as a process (``python fs.py BACKING MOUNTPOINT --mode strict --control SOCKET``; the
harness in ``powercut.mount`` does it). Every operation goes through to BACKING at once, so
the mounted tree behaves like a normal filesystem; alongside, this process keeps a model of
what a disk would have made **durable** so far, and on a *cut* rewrites BACKING, in place,
to that durable state, failing every call until the harness has killed the processes under
test and powers it on again (the mount stays: the kernel caches no names or attributes).

The durability rules (one model, two orderings):

- **File data** is durable only up to the last ``fsync``/``fdatasync`` of that file: the
  fsync copies the file's whole content into the durable image. A new file whose name
  survives but whose data was never fsynced comes back empty (the ext4 zero-length file).
- **Names** (create, mkdir, unlink, rmdir, rename) are namespace operations, logged in
  order. A rename is atomic (old name or new name after a cut, never both, never neither).
  ``strict`` (what POSIX promises): an operation is durable once a directory it touches
  (either directory of a rename) is fsynced; with it become durable the earlier operations
  it depends on, transitively: those on the same file or directory (its create, its earlier
  renames) and on the same name. A file's fsync commits its data, never its names. So a
  file renamed twice and then moved into a directory that is fsynced loses its old names
  durably, while the names it was given on the way in other directories may not persist.
  ``ext4`` (ext4/xfs-like, one ordered journal): *any* fsync, of a file or a directory,
  also commits every earlier namespace operation, in order.
- Metadata (mode, owner, times) is passed through and not modelled: after a cut a file
  keeps its last mtime when it still exists, else gets the cut time.

At a cut the un-durable operations are resolved by a *policy*, within what the mode allows:
``drop`` (none persisted), ``prefix`` (a random prefix of the log, names and data in the
order they happened: allowed in both modes), ``subset`` (a random set of namespace
operations, closed under the dependencies above, in strict mode; a random prefix in ext4
mode; each file independently keeps a random prefix of its un-synced writes). Writes are
never torn inside one ``write`` call.

Design: instead of holding the volatile state in a cache and writing it out on fsync, the
layer writes through and holds the other side, the durable image (old contents of files
changed since their fsync, the durable names): the same semantics, with reads served by
the backing filesystem. ``POWERCUT_TRACE=FILE`` logs every modelled call to FILE.

Not supported: hard links, symlinks, device nodes, rename flags (``RENAME_NOREPLACE``,
``EXCHANGE``) are refused (EPERM, EINVAL); a file unlinked while open can no longer be
written (libfuse has no path for it: ENOENT). The spool does none of these.

Control socket (one JSON object per line, one reply per line): ``{"cmd": "sync"}`` makes
everything durable (like ``sync(1)``); ``{"cmd": "cut", "policy": P, "seed": N}`` stops
serving (every later call fails with EIO), rewrites BACKING in place to the chosen durable
state (moving, creating or rewriting only what differs) and replies with counts;
``{"cmd": "resume", "rescan": B}`` serves again (``rescan``: BACKING was changed while the
power was off, read it again); ``{"cmd": "stats"}`` returns operation counts.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import random
import shutil
import socket
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

import mfusepy as fuse  # type: ignore[import-untyped]

MODES = ("strict", "ext4")
POLICIES = ("drop", "prefix", "subset")


@dataclass
class NsOp:
    """One namespace change: ``node`` leaves ``src`` and/or enters ``dst`` (dir, name)."""

    seq: int
    node: int
    src: tuple[int, str] | None
    dst: tuple[int, str] | None

    def dirs(self) -> set[int]:
        return {e[0] for e in (self.src, self.dst) if e is not None}

    def keys(self) -> set[tuple[Any, ...]]:
        """What it depends on: its node and the entries (dir, name) it changes."""
        return {("node", self.node)} | {e for e in (self.src, self.dst) if e is not None}


@dataclass
class DataOp:
    """One change to a file's content since its last fsync: a write, or a truncate."""

    seq: int
    node: int
    offset: int
    data: bytes | None  # None: truncate to ``offset``


def apply_ns(dirs: dict[int, dict[str, int]], op: NsOp) -> None:
    if op.src is not None:
        d, name = op.src
        if dirs.get(d, {}).get(name) == op.node:
            del dirs[d][name]
    if op.dst is not None:
        d, name = op.dst
        dirs.setdefault(d, {})[name] = op.node


def apply_all(content: bytes, ops: list[DataOp]) -> bytes:
    for op in ops:
        content = apply_data(content, op)
    return content


def apply_data(content: bytes, op: DataOp) -> bytes:
    if op.data is None:
        return content[: op.offset].ljust(op.offset, b"\0")
    head = content[: op.offset].ljust(op.offset, b"\0")
    return head + op.data + content[op.offset + len(op.data) :]


@dataclass
class Model:
    """The live namespace, the durable image, and the log of what lies between them."""

    mode: str
    live: dict[int, dict[str, int]] = field(default_factory=dict)  # dir node -> name -> node
    durable: dict[int, dict[str, int]] = field(default_factory=dict)
    is_dir: dict[int, bool] = field(default_factory=dict)
    #: Durable content of files whose live content may differ from it (absent: the same).
    content: dict[int, bytes] = field(default_factory=dict)
    ns_log: list[NsOp] = field(default_factory=list)
    data_log: list[DataOp] = field(default_factory=list)
    next_node: int = 1
    seq: int = 0

    ROOT = 0

    def scan(self, backing: str) -> None:
        """Everything on BACKING at mount time is durable."""
        self.is_dir[self.ROOT] = True
        self.live[self.ROOT] = {}
        stack = [(self.ROOT, backing)]
        while stack:
            node, path = stack.pop()
            for entry in os.scandir(path):
                child = self.new_node(entry.is_dir(follow_symlinks=False))
                self.live[node][entry.name] = child
                if self.is_dir[child]:
                    stack.append((child, entry.path))
        self.durable = {d: dict(names) for d, names in self.live.items()}

    def new_node(self, is_dir: bool) -> int:
        node = self.next_node
        self.next_node += 1
        self.is_dir[node] = is_dir
        if is_dir:
            self.live[node] = {}
            self.durable[node] = {}
        return node

    def resolve(self, path: str) -> int:
        node = self.ROOT
        for part in path.strip("/").split("/"):
            if part:
                try:
                    node = self.live[node][part]
                except KeyError:
                    raise fuse.FuseOSError(errno.ENOENT) from None
        return node

    def parent(self, path: str) -> tuple[int, str]:
        head, _, name = path.rstrip("/").rpartition("/")
        return self.resolve(head), name

    def log_ns(self, node: int, src: tuple[int, str] | None, dst: tuple[int, str] | None) -> None:
        self.seq += 1
        op = NsOp(self.seq, node, src, dst)
        apply_ns(self.live, op)
        self.ns_log.append(op)

    def log_data(self, node: int, offset: int, data: bytes | None) -> None:
        self.seq += 1
        self.data_log.append(DataOp(self.seq, node, offset, data))

    # ---------------------------------------------------------------- making things durable
    def commit_ns(self, ops: list[NsOp]) -> None:
        chosen = {id(op) for op in ops}
        for op in self.ns_log:
            if id(op) in chosen:
                apply_ns(self.durable, op)
        self.ns_log = [op for op in self.ns_log if id(op) not in chosen]

    def closure(self, ops: list[NsOp]) -> list[NsOp]:
        """``ops`` plus, transitively, every earlier logged operation on the same node or the
        same entry: what must be durable for them to be (a rename needs its file's create)."""
        chosen = {id(op) for op in ops}
        if not chosen:
            return []
        last = max(i for i, op in enumerate(self.ns_log) if id(op) in chosen)
        keys: set[tuple[Any, ...]] = set()
        for op in reversed(self.ns_log[: last + 1]):
            if id(op) in chosen or op.keys() & keys:
                chosen.add(id(op))
                keys |= op.keys()
        return [op for op in self.ns_log if id(op) in chosen]

    def fsync_dir(self, node: int) -> None:
        if self.mode == "ext4":
            self.commit_ns(list(self.ns_log))
        else:
            self.commit_ns(self.closure([op for op in self.ns_log if node in op.dirs()]))

    def fsync_file(self, node: int, live_content: bytes) -> None:
        self.content[node] = live_content
        self.data_log = [op for op in self.data_log if op.node != node]
        if self.mode == "ext4":
            self.commit_ns(list(self.ns_log))

    def sync_all(self, live_content: dict[int, bytes]) -> None:
        """``sync(1)``: everything is durable. ``live_content`` has the files changed since
        their last fsync (read by the caller)."""
        self.commit_ns(list(self.ns_log))
        self.content.update(live_content)
        self.data_log.clear()

    # ---------------------------------------------------------------- power cut
    def crash_image(
        self, policy: str, rng: random.Random
    ) -> tuple[dict[int, dict[str, int]], dict[int, list[DataOp]], int]:
        """The namespace and the persisted un-synced writes after a cut under ``policy``,
        and how many logged operations persisted."""
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r} (one of {', '.join(POLICIES)})")
        ns: list[NsOp] = []
        data: list[DataOp] = []
        if policy == "prefix":
            merged: list[NsOp | DataOp] = sorted(
                [*self.ns_log, *self.data_log], key=lambda o: o.seq
            )
            keep = merged[: rng.randint(0, len(merged))]
            ns = [o for o in keep if isinstance(o, NsOp)]
            data = [o for o in keep if isinstance(o, DataOp)]
        elif policy == "subset":
            if self.mode == "ext4":
                ns = self.ns_log[: rng.randint(0, len(self.ns_log))]
            else:
                ns = self.closure([op for op in self.ns_log if rng.random() < 0.5])
            per_file: dict[int, list[DataOp]] = {}
            for op in self.data_log:
                per_file.setdefault(op.node, []).append(op)
            for ops in per_file.values():
                data += ops[: rng.randint(0, len(ops))]
        dirs = {d: dict(names) for d, names in self.durable.items()}
        for nop in ns:
            apply_ns(dirs, nop)
        writes: dict[int, list[DataOp]] = {}
        for dop in data:
            writes.setdefault(dop.node, []).append(dop)
        return dirs, writes, len(ns) + len(data)


def _rw(flags: int) -> int:
    """Open backing files read-write whatever the caller asked: an fsync reads the content
    through the handle (the file may be unlinked by then); the kernel checked access."""
    return (flags & ~os.O_ACCMODE) | os.O_RDWR


class PowerCutFS(fuse.Operations):  # type: ignore[misc]
    """Passthrough to ``backing`` that feeds :class:`Model`; every call holds ``lock``."""

    use_ns = True

    def __init__(self, backing: str, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")
        self.backing = os.path.realpath(backing)
        self.model = Model(mode)
        self.model.scan(self.backing)
        self._mutex = threading.Lock()
        self.dead = False
        #: Open handles: ours (never reused) -> (backing fd, node). A cut closes them all, so a
        #: late call on a handle of a killed process finds nothing (EBADF), never a new file.
        self.handles: dict[int, tuple[int, int]] = {}
        self._next_fh = 1
        self.generation = 0
        self.counts: dict[str, int] = {}
        #: ``POWERCUT_TRACE=FILE``: log every modelled call there (debugging a finding).
        trace = os.environ.get("POWERCUT_TRACE")
        self.trace = open(trace, "a") if trace else None  # noqa: SIM115 - lives as long as we do

    def _b(self, path: str) -> str:
        return self.backing + path

    def _trace(self, *what: object) -> None:
        if self.trace is not None:
            print(*what, file=self.trace, flush=True)

    def _enter(self, op: str, *args: object) -> None:
        self._trace(op, *args)
        if self.dead:
            # The power is off: nothing succeeds until the harness has killed the processes
            # under test and resumes. Failing at once (not blocking) lets a killed process
            # whose call is already here exit: the kernel waits for our answer.
            raise fuse.FuseOSError(errno.EIO)
        self.counts[op] = self.counts.get(op, 0) + 1

    def _open_fh(self, fd: int, node: int) -> int:
        fh = self._next_fh
        self._next_fh += 1
        self.handles[fh] = (fd, node)
        return fh

    def _fd(self, fh: int) -> int:
        try:
            return self.handles[fh][0]
        except KeyError:
            raise fuse.FuseOSError(errno.EBADF) from None

    def _keep_durable(self, node: int, path: str | None = None) -> None:
        """Before the live content of ``node`` (at ``path`` if known) changes or goes,
        remember its durable content (until now the live file held it)."""
        if node not in self.model.content and not self.model.is_dir[node]:
            self.model.content[node] = self._read_live(node, path)

    def _read_live(self, node: int, path: str | None = None) -> bytes:
        path = path or self._live_paths().get(node)
        if path is None:
            return b""
        with open(self._b(path), "rb") as f:
            return f.read()

    def _live_paths(self) -> dict[int, str]:
        """Node -> its live path (one walk of the live namespace)."""
        paths: dict[int, str] = {}
        stack: list[tuple[int, str]] = [(Model.ROOT, "")]
        while stack:
            d, prefix = stack.pop()
            for name, child in self.model.live[d].items():
                paths[child] = f"{prefix}/{name}"
                if self.model.is_dir[child]:
                    stack.append((child, paths[child]))
        return paths

    # ---------------------------------------------------------------- reads
    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        with self._mutex:
            self._enter("getattr")
            st = os.fstat(self._fd(fh)) if fh is not None else os.lstat(self._b(path))
            keys = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_ino")
            attrs: dict[str, Any] = {k: getattr(st, k) for k in keys}
            for k in ("st_atime", "st_mtime", "st_ctime"):
                attrs[k] = getattr(st, k + "_ns")
            return attrs

    def readdir(self, path: str, fh: int) -> list[str]:
        with self._mutex:
            self._enter("readdir")
            return [".", "..", *self.model.live[self.model.resolve(path)]]

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        with self._mutex:
            self._enter("read")
            return os.pread(self._fd(fh), size, offset)

    def statfs(self, path: str) -> dict[str, Any]:
        with self._mutex:
            self._enter("statfs")
            sv = os.statvfs(self.backing)
            keys = (
                "f_bavail",
                "f_bfree",
                "f_blocks",
                "f_bsize",
                "f_favail",
                "f_ffree",
                "f_files",
                "f_flag",
                "f_frsize",
                "f_namemax",
            )
            return {k: getattr(sv, k) for k in keys}

    # ---------------------------------------------------------------- metadata (not modelled)
    def chmod(self, path: str, mode: int) -> int:
        with self._mutex:
            self._enter("chmod")
            os.chmod(self._b(path), mode)
            return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        with self._mutex:
            self._enter("chown")
            os.chown(self._b(path), uid, gid)
            return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        with self._mutex:
            self._enter("utimens")
            if times is None:
                os.utime(self._b(path))
            else:
                os.utime(self._b(path), ns=times)
            return 0

    # ---------------------------------------------------------------- files
    def open(self, path: str, flags: int) -> int:
        with self._mutex:
            self._enter("open", path, flags)
            node = self.model.resolve(path)
            if flags & os.O_TRUNC:
                self._keep_durable(node, path)
            fd = os.open(self._b(path), _rw(flags))
            if flags & os.O_TRUNC:
                self.model.log_data(node, 0, None)
            return self._open_fh(fd, node)

    def create(self, path: str, mode: int, flags: int) -> int:
        with self._mutex:
            self._enter("create", path, flags)
            parent, name = self.model.parent(path)
            existing = self.model.live[parent].get(name)
            if existing is not None and flags & os.O_TRUNC:
                self._keep_durable(existing, path)
            fd = os.open(self._b(path), _rw(flags) | os.O_CREAT, mode)
            if existing is None:
                node = self.model.new_node(False)
                self.model.content[node] = b""
                self.model.log_ns(node, None, (parent, name))
            else:
                node = existing
                if flags & os.O_TRUNC:
                    self.model.log_data(node, 0, None)
            return self._open_fh(fd, node)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        with self._mutex:
            self._enter("write", path, offset, len(data))
            fd = self._fd(fh)
            node = self.handles[fh][1]
            self._keep_durable(node, path)
            n = os.pwrite(fd, data, offset)
            self.model.log_data(node, offset, bytes(data[:n]))
            return n

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        with self._mutex:
            self._enter("truncate", path, length)
            node = self.handles[fh][1] if fh in self.handles else self.model.resolve(path)
            self._keep_durable(node, path)
            if fh is not None:
                os.ftruncate(self._fd(fh), length)
            else:
                os.truncate(self._b(path), length)
            self.model.log_data(node, length, None)
            return 0

    def flush(self, path: str, fh: int) -> int:
        with self._mutex:
            self._enter("flush")
            return 0

    def release(self, path: str, fh: int) -> int:
        with self._mutex:
            entry = self.handles.pop(fh, None)
            if entry is not None:
                os.close(entry[0])
            return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        with self._mutex:
            self._enter("fsync", path)
            fd = self._fd(fh)
            node = self.handles[fh][1]
            size = os.fstat(fd).st_size
            self.model.fsync_file(node, os.pread(fd, size, 0) if size else b"")
            return 0

    # ---------------------------------------------------------------- directories
    def opendir(self, path: str) -> int:
        with self._mutex:
            self._enter("opendir")
            self.model.resolve(path)
            return 0

    def releasedir(self, path: str, fh: int) -> int:
        return 0

    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        with self._mutex:
            self._enter("fsyncdir", path)
            self.model.fsync_dir(self.model.resolve(path))
            return 0

    def mkdir(self, path: str, mode: int) -> int:
        with self._mutex:
            self._enter("mkdir", path)
            parent, name = self.model.parent(path)
            os.mkdir(self._b(path), mode)
            self.model.log_ns(self.model.new_node(True), None, (parent, name))
            return 0

    def rmdir(self, path: str) -> int:
        with self._mutex:
            self._enter("rmdir", path)
            parent, name = self.model.parent(path)
            node = self.model.resolve(path)
            os.rmdir(self._b(path))
            self.model.log_ns(node, (parent, name), None)
            return 0

    def unlink(self, path: str) -> int:
        with self._mutex:
            self._enter("unlink", path)
            parent, name = self.model.parent(path)
            node = self.model.resolve(path)
            self._keep_durable(node, path)
            os.unlink(self._b(path))
            self.model.log_ns(node, (parent, name), None)
            return 0

    def rename(self, old: str, new: str) -> int:
        with self._mutex:
            self._enter("rename", old, new)
            src = self.model.parent(old)
            dst = self.model.parent(new)
            node = self.model.resolve(old)
            replaced = self.model.live[dst[0]].get(dst[1])
            if replaced is not None and replaced != node:
                self._keep_durable(replaced, new)
            os.rename(self._b(old), self._b(new))
            if replaced != node:
                self.model.log_ns(node, src, dst)
            return 0

    def link(self, target: str, source: str) -> int:
        raise fuse.FuseOSError(errno.EPERM)

    def symlink(self, target: str, source: str) -> int:
        raise fuse.FuseOSError(errno.EPERM)

    def mknod(self, path: str, mode: int, dev: int) -> int:
        raise fuse.FuseOSError(errno.EPERM)

    # ---------------------------------------------------------------- control
    def sync(self) -> dict[str, Any]:
        with self._mutex:
            self._enter("sync")
            dirty = {op.node for op in self.model.data_log}
            live: dict[int, bytes] = {}
            for node in dirty:
                fd = next((f for f, n in self.handles.values() if n == node), None)
                if fd is not None:
                    live[node] = os.pread(fd, os.fstat(fd).st_size, 0)
                else:
                    live[node] = self._read_live(node)
            self.model.sync_all(live)
            return {"ok": True}

    def cut(self, policy: str, seed: int) -> dict[str, Any]:
        """Lose power: from now on every call fails (EIO) until :meth:`resume`; BACKING is
        rewritten in place to the durable state chosen by ``policy``, which becomes the
        new live and durable state (the disk as a reboot finds it)."""
        with self._mutex:
            self.dead = True
            for fd, _ in self.handles.values():
                os.close(fd)
            self.handles.clear()
            pending = len(self.model.ns_log) + len(self.model.data_log)
            dirs, writes, persisted = self.model.crash_image(policy, random.Random(seed))
            changed = self._rebuild(dirs, writes)
            self.generation += 1
            return {
                "ok": True,
                "unsynced": pending,
                "persisted": persisted,
                "changed": changed,
                "generation": self.generation,
            }

    def resume(self, rescan: bool) -> dict[str, Any]:
        """Power back on (the harness has killed and reaped every process under test);
        ``rescan``: BACKING was changed meanwhile (a repair while the power was off), take
        it as the live and durable state."""
        with self._mutex:
            if rescan:
                self.model = Model(self.model.mode)
                self.model.scan(self.backing)
            self.dead = False
            return {"ok": True, "generation": self.generation}

    def _rebuild(self, dirs: dict[int, dict[str, int]], writes: dict[int, list[DataOp]]) -> int:
        """Turn BACKING (the live tree) into the crash image ``dirs`` + ``writes`` in place,
        touching only what differs; reset the model to it. Returns how many entries and files
        were moved, created or rewritten."""
        model = self.model
        # The crash image as a tree: each node once (a directory renamed into itself in an
        # impossible order would appear twice), unreachable nodes dropped.
        target: dict[int, dict[str, int]] = {}
        where: dict[int, tuple[int, str]] = {}
        stack = [Model.ROOT]
        seen = {Model.ROOT}
        while stack:
            d = stack.pop()
            target[d] = {}
            for name, node in dirs.get(d, {}).items():
                if node in seen:
                    continue
                seen.add(node)
                target[d][name] = node
                where[node] = (d, name)
                if model.is_dir[node]:
                    stack.append(node)
        live_paths = self._live_paths()
        old_content = {
            node: self._read_live(node, live_paths[node])
            for node in writes
            if node not in model.content and node in live_paths
        }
        # 1. Move every live entry the image does not have at the same place into a stash,
        #    children before their parent (so the paths still hold when we get to them).
        stash = self.backing + ".stash"
        shutil.rmtree(stash, ignore_errors=True)
        os.mkdir(stash)
        stashed: set[int] = set()
        order: list[tuple[int, str, int]] = []

        def post_order(d: int) -> None:
            for name, node in model.live[d].items():
                if model.is_dir[node]:
                    post_order(node)
                order.append((d, name, node))

        post_order(Model.ROOT)
        for d, name, node in order:
            if target.get(d, {}).get(name) != node:
                os.rename(self._b(live_paths[node]), os.path.join(stash, str(node)))
                stashed.add(node)
        changed = len(stashed)

        # 2. Put every entry of the image in place, parents first.
        paths: dict[int, str] = {Model.ROOT: ""}
        queue = [Model.ROOT]
        for d in queue:
            for name, node in target[d].items():
                path = paths[node] = f"{paths[d]}/{name}"
                if model.is_dir[node]:
                    queue.append(node)
                if model.live.get(d, {}).get(name) == node and node not in stashed:
                    continue  # untouched (or moved along with its folder)
                changed += 1
                if node in stashed:
                    os.rename(os.path.join(stash, str(node)), self._b(path))
                elif model.is_dir[node]:
                    os.mkdir(self._b(path))
                else:  # gone from the live tree; its durable content was kept
                    with open(self._b(path), "wb") as f:
                        f.write(apply_all(model.content.get(node, b""), writes.get(node, [])))
        # 3. Files whose content differs from the live one get the durable content (plus the
        #    writes the policy let persist); they keep their live mtime (not modelled).
        for node, path in paths.items():
            if model.is_dir[node] or node not in live_paths:
                continue
            if node not in model.content and node not in writes:
                continue
            base = model.content.get(node)
            if base is None:
                base = old_content[node]
            data = apply_all(base, writes.get(node, []))
            st = os.lstat(self._b(path))
            with open(self._b(path), "r+b") as out:
                out.write(data)
                out.truncate(len(data))
            os.utime(self._b(path), ns=(st.st_atime_ns, st.st_mtime_ns))
            changed += 1
        shutil.rmtree(stash)
        model.live = target
        model.durable = {d: dict(names) for d, names in target.items()}
        model.content.clear()
        model.ns_log.clear()
        model.data_log.clear()
        return changed

    def stats(self) -> dict[str, Any]:
        with self._mutex:
            return {
                "ok": True,
                "counts": dict(self.counts),
                "unsynced": len(self.model.ns_log) + len(self.model.data_log),
            }


class _FUSE(fuse.FUSE):  # type: ignore[misc]
    """mfusepy drops rename(2)'s flags; refuse them instead of silently replacing a name."""

    def rename_fuse_3(self, old: bytes, new: bytes, flags: int) -> int:
        if flags:
            return -errno.EINVAL
        result: int = self.rename_fuse_2(old, new)
        return result


def serve_control(fs: PowerCutFS, sock_path: str) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(4)
    while True:
        conn, _ = server.accept()
        with conn, conn.makefile("rw") as stream:
            for line in stream:
                req = json.loads(line)
                try:
                    if req["cmd"] == "sync":
                        reply = fs.sync()
                    elif req["cmd"] == "cut":
                        reply = fs.cut(req.get("policy", "drop"), int(req.get("seed", 0)))
                    elif req["cmd"] == "resume":
                        reply = fs.resume(bool(req.get("rescan")))
                    elif req["cmd"] == "stats":
                        reply = fs.stats()
                    else:
                        reply = {"ok": False, "error": f"unknown command {req['cmd']!r}"}
                except Exception as exc:  # the harness reports it; the filesystem stays up
                    reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                stream.write(json.dumps(reply) + "\n")
                stream.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("backing")
    parser.add_argument("mountpoint")
    parser.add_argument("--mode", choices=MODES, default="strict")
    parser.add_argument("--control", required=True, help="path of the control socket to create")
    args = parser.parse_args(argv)
    fs = PowerCutFS(args.backing, args.mode)
    threading.Thread(target=serve_control, args=(fs, args.control), daemon=True).start()
    _FUSE(
        fs,
        args.mountpoint,
        foreground=True,
        nothreads=True,
        direct_io=True,
        hard_remove=True,
        # No kernel cache of names or attributes: a cut rewrites the tree under the mount.
        attr_timeout=0,
        entry_timeout=0,
        negative_timeout=0,
        fsname="powercut",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
