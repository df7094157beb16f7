"""``spoold work``: claim tasks of a device class and run a COMMAND for each.

Public API: the ``work`` command (added to :data:`spoold.cli.app.cli` on import),
:func:`resolve_command`, :func:`device_lock`.  The COMMAND contract (task JSON in, result
JSON out, exit 0 = done) is :func:`spoold.worker.handler.command_handler`'s, documented in
spool_layout.md.

Exit status: 0 when the loop ended as asked (SIGTERM, ``--once``, ``--max-tasks``), 2 when
it never claimed (COMMAND cannot be run, the device name is taken on this host, bad
arguments), 3 when it stopped claiming after a run of tasks this device could not run.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from filelock import FileLock, Timeout

from spoold.cli.app import check_name, cli, fail_cleanly, open_spool, spool_options
from spoold.configfile import Config
from spoold.logsetup import LOG_FORMATS, setup_logging

#: Exit status when the worker stopped claiming because the device cannot run tasks.
EXIT_DEVICE_FAULT = 3


def resolve_command(command: list[str]) -> list[str]:
    """``command`` with its program checked before anything is claimed: a name is looked up
    on $PATH (and looked up again per task, so reinstalling it needs no restart), a path is
    made absolute (tasks run in their scratch folder).  UsageError-like exit 2 otherwise."""
    exe = command[0]
    if os.sep not in exe:
        if shutil.which(exe) is None:
            _refuse(f"{exe!r} is not found on $PATH ({os.environ.get('PATH', '')})")
        return command
    path = Path(exe).absolute()
    if not path.is_file():
        _refuse(f"{path}: no such file")
    if not os.access(path, os.X_OK):
        _refuse(f"{path}: not executable (chmod +x it, or name its interpreter first)")
    return [str(path), *command[1:]]


def _refuse(why: str) -> None:
    click.echo(f"spoold work: cannot run COMMAND: {why}; nothing was claimed", err=True)
    sys.exit(2)


@contextmanager
def device_lock(spool_root: Path, device: str) -> Iterator[None]:
    """Hold this host's lock on (spool, device name) for the worker's lifetime.

    A device name is unique per host and spool (its claims and pinned queue are named by it),
    so this is a local, single-host lock: filelock's ``flock`` on a file in the temp folder,
    released by the kernel when the process dies.  It is never taken on the spool itself,
    where ``flock`` does not cross NFS/SMB clients (the spool's claim protocol serves there).
    """
    spool_id = hashlib.sha256(str(spool_root.resolve()).encode()).hexdigest()[:12]
    lock = FileLock(Path(tempfile.gettempdir()) / f"spoold-device.{device}.{spool_id}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        _refuse_device(device, lock.lock_file)
    try:
        yield
    finally:
        lock.release()


def _refuse_device(device: str, lock_file: str) -> None:
    click.echo(
        f"spoold work: another worker on this host already runs as device {device!r} on this spool "
        f"(it holds {lock_file}); give each worker its own --device",
        err=True,
    )
    sys.exit(2)


def _parse_roots(values: tuple[str, ...], cfg: Config | None) -> dict[str, Path]:
    roots = dict(cfg.storage) if cfg else {}
    for v in values:
        name, sep, path = v.partition("=")
        if not sep:
            raise click.BadParameter(f"{v!r}: want NAME=PATH", param_hint="--root")
        roots[name] = Path(path)
    return roots


@cli.command(context_settings={"ignore_unknown_options": True})
@spool_options
@click.option(
    "--class",
    "device_class",
    required=True,
    callback=check_name,
    help="Device class to work for (a-z 0-9 _ -).",
)
@click.option(
    "--device",
    required=True,
    callback=check_name,
    help="This device's name (unique per host; a-z 0-9 _ -).",
)
@click.option("--once", is_flag=True, help="Run at most one task, then exit.")
@click.option("--max-tasks", type=click.IntRange(min=1), help="Exit after this many tasks.")
@click.option(
    "--poll",
    type=click.FloatRange(min=0.01),
    default=2.0,
    show_default=True,
    help="Seconds between polls of an idle spool (grows with backoff and jitter).",
)
@click.option(
    "--max-poll",
    type=click.FloatRange(min=0.01),
    default=30.0,
    show_default=True,
    help="Longest idle poll interval.",
)
@click.option(
    "--doorbell",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="While idle, look at the queue folders' mtime this often (one stat each) and claim "
    "at once when a task arrives; 0: only at polls.",
)
@click.option(
    "--lease",
    type=click.FloatRange(min=1),
    help="Seconds this worker's claims may go without heartbeat (default: the spool's).",
)
@click.option(
    "--root",
    "roots",
    multiple=True,
    metavar="NAME=PATH",
    help="Where a storage root is mounted on this device (repeatable; adds to the config's [storage]).",
)
@click.option(
    "--max-device-faults",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Stop claiming (exit 3) after this many tasks in a row that this device could not "
    "run: COMMAND gone or not executable, scratch disk full or refusing writes.",
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    help="One line per task taken and finished, UTC times; json: one object per line.",
)
@click.option(
    "--exclusive",
    is_flag=True,
    help="Refuse to start (exit 2) when another worker with this --device already runs on "
    "this host and spool (several processes of one device are fine otherwise: each claim "
    "names its process).",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@fail_cleanly
def work(
    spool_dir: str | None,
    config: str | None,
    device_class: str,
    device: str,
    once: bool,
    max_tasks: int | None,
    poll: float,
    max_poll: float,
    doorbell: float,
    lease: float | None,
    roots: tuple[str, ...],
    max_device_faults: int,
    log_format: str,
    exclusive: bool,
    command: tuple[str, ...],
) -> None:
    """Claim tasks of a device class and run COMMAND for each.

    COMMAND gets the task JSON on stdin and in $SPOOLD_TASK_FILE, writes its outputs and
    children to $SPOOLD_RESULT_FILE (see spool_layout.md, "Worker commands"), and exits 0
    when done; any other exit records a failure with the end of its stderr. SIGTERM stops
    after handing a running task back.

    COMMAND is checked before anything is claimed (exit 2 if it cannot be run).  A task this
    device cannot run (COMMAND gone, scratch disk full) is handed back with no failed
    attempt; after --max-device-faults of those in a row the worker says why and exits 3.
    The log has one line per task taken and one per task finished (outcome, seconds).

    Example: spoold work --class jetson --device jetson-01 -- python -m spoold.workers.preprocess
    """
    from spoold.worker.runtime import Worker, command_handler

    # INFO at least (a device's log shows every task), more with `spoold -v... work`.
    setup_logging(min(logging.INFO, logging.getLogger().getEffectiveLevel()), log_format)
    argv = resolve_command(list(command))
    spool, cfg = open_spool(spool_dir, config, lease=lease)
    with device_lock(spool.root, device) if exclusive else contextlib.nullcontext():
        worker = Worker(
            spool,
            device_class,
            device,
            command_handler(argv),
            roots=_parse_roots(roots, cfg),
            poll=poll,
            max_poll=max_poll,
            doorbell=doorbell,
            max_device_faults=max_device_faults,
        )
        worker.install_signal_handlers()
        stats = worker.run(once=once, max_tasks=max_tasks)
        spool.close()
    click.echo(
        f"{device}: {stats.completed} completed, {stats.failed} failed, "
        f"{stats.lost} lost, {stats.released} released",
        err=True,
    )
    if stats.stopped_because:  # the worker logged why
        sys.exit(EXIT_DEVICE_FAULT)
