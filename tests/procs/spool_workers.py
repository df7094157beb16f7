"""Worker processes for the multi-process spool tests.

Each function here is the body of one real OS process (started with ``multiprocessing``'s
``fork`` context by the tests, or by hand: ``python tests/procs/spool_workers.py drain
SPOOL DEVICE LOG STOPFILE``).  Workers talk to the tests only through the spool and an
append-only event log, one line per event, written with a single ``write(2)`` on an
``O_APPEND`` descriptor so lines from a SIGKILLed process are whole or absent::

    claim ID          a claim() returned this task
    done ID           complete() returned: this worker completed it
    lost ID STEP      heartbeat()/complete()/fail() raised LeaseLost: the claim was broken
    stall ID          about to stop for longer than the lease (drain, stall variant)
    fail ID           fail() returned (crash worker's simulated flaky task)
    kill STEP:OP:WHEN about to SIGKILL itself (crash worker)

The crash worker kills itself at chosen protocol steps: :class:`CrashPoints` wraps the
``spoold.spool.fsops`` primitives (and ``os.utime``) *in this process only* and, while a
protocol step (publish, claim, complete, fail, break) is running, SIGKILLs the process
before or after a primitive with a given probability, or in the middle of writing a temp
file.  Nothing in ``spoold`` itself knows about this.
"""

from __future__ import annotations

import functools
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from schemas.task import ChildSpec, Task
from spoold.errors import LeaseLost
from spoold.spool import Claim, Spool, fsops
from spoold.spool.claiming import Claimer
from spoold.spool.lander import Lander
from spoold.spool.recovery import Recovery

DEVICE_CLASS = "cpu"

#: The crash test's pipeline: a task of type K publishes these children when it completes.
PIPELINE: dict[str, list[ChildSpec]] = {
    "stage1": [
        ChildSpec(task_type="stage2", device_class=DEVICE_CLASS, suffix="a"),
        ChildSpec(task_type="stage2", device_class=DEVICE_CLASS, suffix="b"),
    ],
    "stage2": [ChildSpec(task_type="stage3", device_class=DEVICE_CLASS)],
    "stage3": [],
}

F = TypeVar("F", bound=Callable[..., Any])


class EventLog:
    """Append-only, one ``write(2)`` per line (whole lines survive SIGKILL)."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def __call__(self, *fields: str) -> None:
        os.write(self.fd, (" ".join(fields) + "\n").encode())


def read_events(path: Path) -> list[list[str]]:
    """The events of one log file, as lists of fields."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [line.split() for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------------- drain worker
def drain_worker(
    root: str,
    device: str,
    log_path: str,
    stop_path: str,
    *,
    fsync: bool = False,
    stall_for: float = 0.0,
    max_stalls: int = 0,
    probe: str = "complete",
) -> None:
    """Claim and complete tasks until ``stop_path`` exists and nothing is left to claim.

    With ``max_stalls``: the first ``max_stalls`` tasks it claims, it stops for
    ``stall_for`` seconds (longer than the lease, no heartbeat: a frozen process) and then
    tries to finish them, ``probe`` saying how it first finds out whether it still holds
    the claim: ``heartbeat`` (then complete) or ``complete`` straight away.  Either must
    raise LeaseLost if another worker broke the claim meanwhile.
    """
    log = EventLog(Path(log_path))
    spool = Spool(root, fsync=fsync, backoff_base=0.01, backoff_max=0.05)
    stop = Path(stop_path)
    stalls = 0
    while True:
        claim = spool.claim(DEVICE_CLASS, device)
        if claim is None:
            if stop.exists():
                break
            time.sleep(0.005)
            continue
        task_id = claim.task_id
        log("claim", task_id)
        if stalls < max_stalls:
            stalls += 1
            log("stall", task_id)
            time.sleep(stall_for)
            if probe == "heartbeat":
                try:
                    claim.heartbeat()
                except LeaseLost:
                    log("lost", task_id, "heartbeat")
                    continue
        try:
            claim.complete(result={"by": device})
        except LeaseLost:
            log("lost", task_id, "complete")
            continue
        log("done", task_id)
    spool.close()


# ---------------------------------------------------------------------- crash worker
class CrashPoints:
    """SIGKILL this process at protocol steps: with probability ``prob`` at every crash
    point, or (``at="STEP:OP:WHEN"``, e.g. ``"recycle:rename:before"``) at that one point.

    Crash points are just before and just after each file-system primitive the spool uses
    (``write_new``, ``write_over``, ``rename``, ``unlink``, ``fsync_dir``, ``os.utime``),
    plus "half way through writing a temp file" (WHEN = ``half``), counted only while one
    of the wrapped steps runs (the innermost names the point: children are published
    inside complete, and a finished claim is disposed of inside ``recycle``).
    """

    STEPS = {
        "publish": (Spool, "publish"),
        "claim": (Claimer, "_try_claim"),
        "break": (Recovery, "break_claim"),
        "complete": (Claim, "complete"),
        "fail": (Claim, "fail"),
        # Disposing of a finished claim (renamed to a spare temp file, or unlinked).
        "recycle": (Lander, "recycle"),
    }

    def __init__(
        self, prob: float, log: EventLog, rng: random.Random, at: str | None = None
    ) -> None:
        self.prob = prob
        self.at = at
        self.log = log
        self.rng = rng
        self.stack: list[str] = []

    def fires(self, op: str, when: str) -> bool:
        if not self.stack:
            return False
        if self.at is not None:
            return self.at == f"{self.stack[-1]}:{op}:{when}"
        return self.rng.random() < self.prob

    def maybe_kill(self, op: str, when: str) -> None:
        if self.fires(op, when):
            self.kill(op, when)

    def kill(self, op: str, when: str) -> None:
        self.log("kill", f"{self.stack[-1]}:{op}:{when}")
        os.kill(os.getpid(), signal.SIGKILL)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.stack.append(name)
        try:
            yield
        finally:
            self.stack.pop()

    def install(self) -> None:
        for name, (owner, attr) in self.STEPS.items():
            setattr(owner, attr, self._in_step(name, getattr(owner, attr)))
        for attr in ("rename", "unlink", "fsync_dir"):
            setattr(fsops, attr, self._around(attr, getattr(fsops, attr)))
        os.utime = self._around("utime", os.utime)
        real_write_new = fsops.write_new

        def write_new(path: Path, data: bytes, *, fsync: bool) -> None:
            if self.fires("write_new", "half"):
                # Die half way through the temp file: it must never be renamed into place.
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                os.write(fd, data[: len(data) // 2])
                self.kill("write_new", "half")
            self.maybe_kill("write_new", "before")
            real_write_new(path, data, fsync=fsync)
            self.maybe_kill("write_new", "after")

        fsops.write_new = write_new
        real_write_over = fsops.write_over

        def write_over(path: str | Path, data: bytes, *, fsync: bool) -> None:
            if self.fires("write_over", "half"):
                # Die half way through rewriting a spare temp file: never renamed into place.
                fd = os.open(path, os.O_WRONLY)
                os.write(fd, data[: len(data) // 2])
                self.kill("write_over", "half")
            self.maybe_kill("write_over", "before")
            real_write_over(path, data, fsync=fsync)
            self.maybe_kill("write_over", "after")

        fsops.write_over = write_over

    def _in_step(self, name: str, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.step(name):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    def _around(self, op: str, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.maybe_kill(op, "before")
            result = fn(*args, **kwargs)
            self.maybe_kill(op, "after")
            return result

        return wrapper  # type: ignore[return-value]


def crash_worker(
    root: str,
    device: str,
    log_path: str,
    *,
    crash_prob: float,
    fail_prob: float,
    seed: int,
    fsync: bool,
) -> None:
    """Run the PIPELINE forever (the test kills it): claim, "work", complete with children.

    A fraction ``fail_prob`` of runs fail instead (a flaky task), so ``fail()`` -- the path
    that rewrites a pending record -- runs under crashes too, not only when breaking claims.
    """
    rng = random.Random(seed)
    log = EventLog(Path(log_path))
    CrashPoints(crash_prob, log, rng).install()
    spool = Spool(root, fsync=fsync, backoff_base=0.02, backoff_max=0.1)
    while True:
        claim = spool.claim(DEVICE_CLASS, device)
        if claim is None:
            time.sleep(0.005)
            continue
        task = claim.task
        log("claim", task.task_id)
        time.sleep(rng.uniform(0, 0.004))  # the work
        try:
            if rng.random() < fail_prob:
                claim.fail("flaky: simulated failure")
                log("fail", task.task_id)
                continue
            claim.complete(
                children=PIPELINE[task.task_type], result={"by": device, "pid": os.getpid()}
            )
        except LeaseLost:
            log("lost", task.task_id, "complete")
            continue
        log("done", task.task_id)


def crash_at(
    root: str, device: str, log_path: str, at: str, action: str, task_json: bytes = b""
) -> None:
    """Do one protocol action and SIGKILL this process at crash point ``at``.

    ``action``: ``publish`` (``task_json``), or claim a task and then ``claim`` (nothing
    more), ``complete`` (with its PIPELINE children) or ``fail``.  Returning normally means
    the crash point was never reached (the test checks the exit status).
    """
    log = EventLog(Path(log_path))
    CrashPoints(0.0, log, random.Random(0), at=at).install()
    spool = Spool(root, free_retries=100)
    if action == "publish":
        spool.publish(Task.model_validate_json(task_json))
        return
    claim = spool.claim(DEVICE_CLASS, device)
    assert claim is not None, "nothing to claim"
    log("claim", claim.task_id)
    if action == "complete":
        claim.complete(children=PIPELINE.get(claim.task.task_type, []))
    elif action == "fail":
        claim.fail("boom")


def main(argv: list[str]) -> None:
    """By hand: ``drain SPOOL DEVICE LOG STOPFILE`` or ``crash SPOOL DEVICE LOG [PROB]``."""
    if argv[:1] == ["drain"] and len(argv) == 5:
        drain_worker(argv[1], argv[2], argv[3], argv[4])
    elif argv[:1] == ["crash"] and len(argv) in (4, 5):
        prob = float(argv[4]) if len(argv) == 5 else 0.005
        crash_worker(
            argv[1], argv[2], argv[3], crash_prob=prob, fail_prob=0.05, seed=os.getpid(), fsync=True
        )
    else:
        sys.exit(main.__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
