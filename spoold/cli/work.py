"""``spoold work``: claim tasks of a device class and run a COMMAND for each.

Public API: the ``work`` command (added to :data:`spoold.cli.app.cli` on import).  The
COMMAND contract (task JSON in, result JSON out, exit 0 = done) is
:func:`spoold.worker.handler.command_handler`'s, documented in spool_layout.md.
"""

from __future__ import annotations

from pathlib import Path

import click

from spoold.cli.app import check_name, cli, fail_cleanly, open_spool, spool_options
from spoold.configfile import Config


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
    lease: float | None,
    roots: tuple[str, ...],
    command: tuple[str, ...],
) -> None:
    """Claim tasks of a device class and run COMMAND for each.

    COMMAND gets the task JSON on stdin and in $SPOOLD_TASK_FILE, writes its outputs and
    children to $SPOOLD_RESULT_FILE (see spool_layout.md, "Worker commands"), and exits 0
    when done; any other exit records a failure with the end of its stderr. SIGTERM stops
    after handing a running task back.

    Example: spoold work --class jetson --device jetson-01 -- python -m spoold.workers.preprocess
    """
    from spoold.worker.runtime import Worker, command_handler

    spool, cfg = open_spool(spool_dir, config, lease=lease)
    worker = Worker(
        spool,
        device_class,
        device,
        command_handler(list(command)),
        roots=_parse_roots(roots, cfg),
        poll=poll,
        max_poll=max_poll,
    )
    worker.install_signal_handlers()
    stats = worker.run(once=once, max_tasks=max_tasks)
    click.echo(
        f"{device}: {stats.completed} completed, {stats.failed} failed, "
        f"{stats.lost} lost, {stats.released} released",
        err=True,
    )
