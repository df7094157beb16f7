"""Storage roots: named mount points, whether each is there, and calls that cannot hang us.

Public API: :class:`Storage` (``submit``, ``submit_local``, ``add_lane``, ``run``, ``check``, ``status``, ``available``,
``resolve``, ``real_path``, ``summary``), :class:`Call`, :class:`RootStatus`,
:class:`PathOutsideRoot`, :func:`probe_marker`.

- A root is *there* when its marker file (``[daemon] storage_marker``, default
  ``.spoold-storage``) can be read.  A missing marker means "not mounted" (an empty mount
  point looks exactly like a share whose videos were all deleted), so nothing is ever
  concluded from a listing of a root whose marker is missing.
- Every filesystem call on a root runs in that root's own threads (:class:`Call`), with a
  deadline.  A call past its deadline marks the root ``hung``: a hard NFS mount can block a
  thread forever, and no Python code can interrupt it, so the thread is written off and the
  root gets no further calls until that call returns by itself.  The caller never waits
  longer than the deadline.
- Changes of state are logged once (warning when a root goes away, info when it returns)
  and kept for ``spoold status``.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from schemas.task import FileRef
from spoold.errors import SpoolError, StorageUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
State = Literal["unknown", "ok", "unmounted", "hung", "error"]


class PathOutsideRoot(SpoolError, ValueError):
    """A task path names an unknown storage root or leaves its root (e.g. via a symlink)."""


@dataclass
class RootStatus:
    name: str
    path: Path
    state: State = "unknown"
    message: str = ""
    since: float = field(default_factory=time.time)  # wall clock, for display only

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "state": self.state,
            "message": self.message,
            "since": self.since,
        }


class Call(Generic[T]):
    """One filesystem call running in a root's thread: poll :meth:`done`, then :meth:`result`."""

    def __init__(self, root: str, what: str, fn: Callable[[], T], deadline: float) -> None:
        self.root = root
        self.what = what
        self.fn = fn
        self.deadline = deadline
        self.abandoned = False
        self._event = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    def run(self) -> None:
        """Run the function here and now (a lane's thread; or a batch that carries this call
        along with others, e.g. the finalize tasks the index lane indexes together)."""
        try:
            self._value = self.fn()
        except BaseException as exc:  # handed to whoever asks for the result
            self._error = exc
        finally:
            self._event.set()

    def done(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None) -> bool:
        return self._event.wait(timeout)

    def overdue(self, now: float) -> bool:
        return not self.done() and now > self.deadline

    def result(self) -> T:
        """The call's value; re-raises its exception.  Only valid once :meth:`done`."""
        if not self.done():
            raise StorageUnavailable(f"{self.root}: {self.what} has not finished")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class _Lane:
    """The threads of one root.  Daemon threads: one stuck in a hung mount must not keep the
    process from exiting."""

    def __init__(self, name: str, threads: int, on_done: Callable[[], None] | None) -> None:
        self.name = name
        self.size = threads
        self.on_done = on_done
        self.queue: queue.SimpleQueue[Call[Any]] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.pending: set[Call[Any]] = set()
        self.lock = threading.Lock()

    def submit(self, call: Call[Any]) -> None:
        with self.lock:
            self.pending.add(call)
            if len(self.threads) < self.size:
                t = threading.Thread(
                    target=self._loop, name=f"storage:{self.name}:{len(self.threads)}", daemon=True
                )
                self.threads.append(t)
                t.start()
        self.queue.put(call)

    def _loop(self) -> None:
        while True:
            call = self.queue.get()
            call.run()
            with self.lock:
                self.pending.discard(call)
            if self.on_done is not None:
                self.on_done()

    def overdue(self, now: float) -> list[Call[Any]]:
        with self.lock:
            return [c for c in self.pending if c.overdue(now)]


def probe_marker(root: Path, marker: str) -> tuple[State, str]:
    """Read the marker file (an ``open`` + ``read``: this is what hangs on a dead hard mount)."""
    path = root / marker
    try:
        with open(path, "rb") as fh:
            fh.read(4096)
    except (FileNotFoundError, NotADirectoryError):
        return "unmounted", (
            f"marker {path} is missing: the share is not mounted (or create the marker with "
            f"`touch {path}`); its files are not taken as deleted"
        )
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            return "error", f"marker {path} is a folder; it must be a file"
        return "error", f"marker {path}: {exc.strerror or exc}"
    return "ok", ""


class Storage:
    """The storage roots of this host, their state, and timed calls on them.

    ``clock`` is monotonic seconds (deadlines); ``on_done`` is called from a root's thread
    whenever a call finishes (the daemon uses it to wake its loop).
    """

    def __init__(
        self,
        roots: dict[str, Path],
        *,
        marker: str = ".spoold-storage",
        fs_timeout: float = 10.0,
        check_interval: float = 10.0,
        threads: int = 2,
        clock: Callable[[], float] = time.monotonic,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        self.roots = {k: Path(v) for k, v in roots.items()}
        self.marker = marker
        self.fs_timeout = fs_timeout
        self.check_interval = check_interval
        self.clock = clock
        self._lanes = {k: _Lane(k, threads, on_done) for k in self.roots}
        self._on_done = on_done
        self._extra = {"(local)": _Lane("(local)", threads, on_done)}
        self._status = {k: RootStatus(k, p) for k, p in self.roots.items()}
        self._probes: dict[str, Call[tuple[State, str]]] = {}
        self._next_probe: dict[str, float] = dict.fromkeys(self.roots, -1e18)

    # ------------------------------------------------------------------ state
    def status(self, name: str) -> RootStatus:
        if name not in self._status:
            raise PathOutsideRoot(self._unknown(name))
        return self._status[name]

    def available(self, name: str) -> bool:
        st = self._status.get(name)
        return st is not None and st.state == "ok"

    def down(self) -> list[str]:
        return [k for k, s in self._status.items() if s.state not in ("ok", "unknown")]

    def summary(self) -> dict[str, dict[str, Any]]:
        return {k: s.as_dict() for k, s in self._status.items()}

    def check(self, now: float | None = None, *, force: bool = False) -> list[RootStatus]:
        """Advance every root's state: collect marker probes, spot hung calls, start new
        probes when due.  Never blocks.  Returns the roots whose state changed."""
        now = self.clock() if now is None else now
        changed: list[RootStatus] = []
        for name in self.roots:
            lane = self._lanes[name]
            stuck = lane.overdue(now)
            if stuck:
                oldest = min(stuck, key=lambda c: c.deadline)
                waited = now - oldest.deadline
                msg = (
                    f"{oldest.what} on {self.roots[name]} has not returned "
                    f"({waited:.0f} s past its deadline): hung mount?"
                )
                if self._set(name, "hung", msg):
                    changed.append(self._status[name])
                continue
            if self._status[name].state == "hung":
                # The stuck call came back by itself: look at the marker again right away.
                self._next_probe[name] = -1e18
            probe = self._probes.get(name)
            if probe is not None and probe.done():
                del self._probes[name]
                try:
                    state, msg = probe.result()
                except Exception as exc:  # a bug in probe_marker: report, do not crash
                    state, msg = "error", f"marker check failed: {exc}"
                if self._set(name, state, msg):
                    changed.append(self._status[name])
            if name not in self._probes and (force or now >= self._next_probe[name]):
                self._next_probe[name] = now + self.check_interval
                self._probes[name] = self._start(
                    name, f"marker check of {name}", probe_marker, self.roots[name], self.marker
                )
        return changed

    def _set(self, name: str, state: State, message: str) -> bool:
        st = self._status[name]
        if st.state == state:
            st.message = message
            return False
        before, since = st.state, st.since
        st.state, st.message, st.since = state, message, time.time()
        if state == "ok":
            if before != "unknown":
                log.info(
                    "storage %s is back (was %s for %.0f s)",
                    name,
                    before,
                    st.since - since,
                    extra={"event": "storage.up", "root": name},
                )
        elif state != "unknown":
            log.warning(
                "storage %s unavailable (%s): %s — tasks needing it wait and retry",
                name,
                state,
                message,
                extra={"event": "storage.down", "root": name, "state": state},
            )
        return True

    def wait_checked(self, timeout: float) -> None:
        """Block until every root has a state other than ``unknown`` (or ``timeout``)."""
        deadline = self.clock() + timeout
        self.check(force=True)
        while self.clock() < deadline:
            self.check()
            if all(s.state != "unknown" for s in self._status.values()):
                return
            time.sleep(0.01)

    # ------------------------------------------------------------------ calls
    def _start(self, name: str, what: str, fn: Callable[..., T], *args: Any) -> Call[T]:
        call: Call[T] = Call(name, what, lambda: fn(*args), self.clock() + self.fs_timeout)
        self._lanes[name].submit(call)
        return call

    def submit(
        self, name: str, what: str, fn: Callable[..., T], *args: Any, timeout: float | None = None
    ) -> Call[T]:
        """Run ``fn(*args)`` in ``name``'s threads; :class:`StorageUnavailable` at once when
        the root is not available.  Poll the returned :class:`Call`."""
        if name not in self.roots:
            raise PathOutsideRoot(self._unknown(name))
        st = self._status[name]
        if st.state != "ok":
            raise StorageUnavailable(f"storage {name} is {st.state}: {st.message}")
        deadline = self.clock() + (self.fs_timeout if timeout is None else timeout)
        call: Call[T] = Call(name, what, lambda: fn(*args), deadline)
        self._lanes[name].submit(call)
        return call

    def add_lane(self, name: str, threads: int = 1) -> None:
        """Threads for work on no storage root, e.g. one thread for a single-thread library."""
        self._extra.setdefault(name, _Lane(name, threads, self._on_done))

    def submit_local(
        self,
        what: str,
        fn: Callable[..., T],
        *args: Any,
        timeout: float | None = None,
        lane: str = "(local)",
    ) -> Call[T]:
        """Like :meth:`submit`, for work on no storage root (its own threads, always there)."""
        deadline = self.clock() + (self.fs_timeout if timeout is None else timeout)
        call: Call[T] = Call(lane, what, lambda: fn(*args), deadline)
        self._extra[lane].submit(call)
        return call

    def run(
        self, name: str, what: str, fn: Callable[..., T], *args: Any, timeout: float | None = None
    ) -> T:
        """:meth:`submit` and wait for the result (at most the timeout)."""
        call = self.submit(name, what, fn, *args, timeout=timeout)
        if not call.wait(max(0.0, call.deadline - self.clock())):
            call.abandoned = True
            self.check()
            raise StorageUnavailable(
                f"storage {name}: {what} did not return within "
                f"{(self.fs_timeout if timeout is None else timeout):g} s (hung mount?)"
            )
        return call.result()

    # ------------------------------------------------------------------ paths
    def _unknown(self, name: str) -> str:
        known = ", ".join(sorted(self.roots)) or "none"
        return (
            f"no storage root {name!r} on this host (configure it under [storage]; known: {known})"
        )

    def resolve(self, ref: FileRef) -> Path:
        """Where ``ref`` is on this host (lexical: no filesystem call, so it cannot hang)."""
        root = self.roots.get(ref.device)
        if root is None:
            raise PathOutsideRoot(f"{ref.device}:{ref.path}: " + self._unknown(ref.device))
        return root / ref.path

    def real_path(self, ref: FileRef) -> Path:
        """:meth:`resolve`, then refuse a path whose real location leaves the root (a symlink
        pointing elsewhere).  Touches the filesystem: call it in the root's thread."""
        path = self.resolve(ref)
        root = os.path.realpath(self.roots[ref.device])
        real = os.path.realpath(path)
        if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
            raise PathOutsideRoot(
                f"{ref.device}:{ref.path} resolves to {real}, outside storage root "
                f"{ref.device} ({root}): refused"
            )
        return Path(real)
