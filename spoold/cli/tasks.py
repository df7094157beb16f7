"""The spool commands: ``init``, ``status``, ``ls``, ``show``, ``requeue``, ``check`` and
``schema`` (``submit`` is :mod:`spoold.cli.submit`); one small function per command, its docstring is its --help.

Public API: the commands (added to :data:`spoold.cli.app.cli` on import) and
:func:`set_daemon_status`.

They read and repair a spool with no daemon running.  ``check`` exits 1 when it found problems
it did not repair.  What ``status`` says about the daemon comes from the provider that
:mod:`spoold.cli.server` sets; a worker-only install has none and reports no daemon.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from schemas.task import parse_task_id, task_json_schema
from spoold.cli import lookup, rejections
from spoold.cli.app import (
    check_name,
    check_type,
    cli,
    echo_json,
    echo_table,
    fail_cleanly,
    open_spool,
    spool_options,
)
from spoold.configfile import resolve_spool_root
from spoold.spool import Spool, queue_class
from spoold.spool import inspect as spool_inspect
from spoold.spool.display import format_age

#: The daemon's state for ``status``: (the ``daemon`` object of ``--json``, the lines to print).
DaemonStatus = Callable[[Spool], tuple[dict[str, Any] | None, list[str]]]

_daemon_status: DaemonStatus | None = None


def set_daemon_status(provider: DaemonStatus) -> None:
    """Let ``status`` report the daemon through ``provider`` (called by the server commands)."""
    global _daemon_status
    _daemon_status = provider


@cli.command()
@click.argument("directory", required=False)
@spool_options
@click.option(
    "--lease",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds without heartbeat before a claim counts as abandoned (for devices that do not state their own).",
)
@click.option(
    "--parents",
    is_flag=True,
    help="Also create the folders above DIRECTORY (by default a missing parent is refused: "
    "an unmounted share must not silently become a local spool).",
)
@fail_cleanly
def init(
    directory: str | None, spool_dir: str | None, config: str | None, lease: float, parents: bool
) -> None:
    """Create a spool (idempotent).  The folder above it must exist unless --parents is given.

    Example: spoold init /srv/spool
    """
    root, _ = resolve_spool_root(directory or spool_dir, config)
    parent = root.absolute().parent
    if not parents and not parent.is_dir():
        raise click.ClickException(
            f"{parent} does not exist: is the share mounted? "
            f"(pass --parents to create it and the spool inside it)"
        )
    if parents:
        parent.mkdir(parents=True, exist_ok=True)
    with Spool.init(root, default_lease=lease) as spool:
        click.echo(f"spool ready at {spool.root}")


@cli.command()
@spool_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@fail_cleanly
def status(spool_dir: str | None, config: str | None, as_json: bool) -> None:
    """Counts per queue and task type, oldest pending age, claims, failing tasks and
    rejected files (from the spool's complete ingest records).

    Example: spoold status --spool /srv/spool
    """
    spool, _ = open_spool(spool_dir, config)
    st = spool_inspect.status(spool)
    st["rejected"] = len(rejections.rejections(spool))  # from the spool: survives restarts
    daemon_lines: list[str] = []
    st["daemon"] = None
    if _daemon_status is not None:  # the daemon's state (lease, storage outages)
        st["daemon"], daemon_lines = _daemon_status(spool)
    if as_json:
        echo_json(st)
        return
    rows = [
        ("QUEUE", "READY", "DEFERRED", "CLAIMED", "STALE", "FAILING", "INVALID", "OLDEST", "TYPES")
    ]
    for q in st["queues"]:
        types = " ".join(f"{k}={v}" for k, v in sorted(q["by_type"].items()))
        oldest = format_age(q["oldest_age_s"]) if q["oldest_age_s"] is not None else "-"
        rows.append(
            (
                q["queue"],
                str(q["ready"]),
                str(q["deferred"]),
                str(q["claimed"]),
                str(q["stale"]),
                str(q["failing"]),
                str(q["invalid"]),
                oldest,
                types,
            )
        )
    echo_table(rows)
    t = st["totals"]
    done = ", ".join(f"{d}: {n}" for d, n in st["complete_by_day"].items()) or "none yet"
    click.echo(
        f"\npending: {t['ready']} ready, {t['deferred']} deferred, {t['claimed']} claimed "
        f"({t['stale']} stale), {t['failing']} failing, {t['invalid']} invalid"
    )
    click.echo(f"complete: {done}")
    if st["rejected"]:
        click.echo(f"rejected: {st['rejected']} file(s) (spoold ls --rejected shows why)")
    for line in daemon_lines:
        click.echo(line)
    for q in st["queues"]:
        for c in q["claims"]:
            flag = "  STALE" if c["stale"] else ""
            click.echo(
                f"  running  {c['task_id']} on {c['device']} (heartbeat {c['last_heartbeat_s']} s ago){flag}"
            )
        for f in q["failures"]:
            err = (f["error"] or [""])[-1][:100]
            click.echo(
                f"  failing  {f['task_id']}: {f['attempts']} attempt(s), last on {f['device']}: {err}"
            )


def _wanted(
    e: spool_inspect.Entry,
    device_class: str | None,
    task_type: str | None,
    video: str | None,
    failing: bool,
) -> bool:
    """Whether ``e`` passes the filters of ``spoold ls``."""
    t = e.task
    if device_class and (t.device_class if t else queue_class(e.queue or "")) != device_class:
        return False
    if task_type and (t is None or t.task_type != task_type):
        return False
    if video and (t is None or t.video_id != video):
        return False
    return not (failing and (t is None or not t.attempts))


@cli.command(name="ls")
@spool_options
@click.option(
    "--state",
    type=click.Choice(["pending", "complete", "all"]),
    default="pending",
    show_default=True,
)
@click.option("--class", "device_class", callback=check_name, help="Only this device class.")
@click.option("--type", "task_type", callback=check_type, help="Only this task type.")
@click.option("--video", help="Only tasks of this video id.")
@click.option("--failing", is_flag=True, help="Only tasks with failed attempts.")
@click.option(
    "--rejected",
    is_flag=True,
    help="Only rejected files (the latest ingest record of each file), with their reasons.",
)
@click.option(
    "--path",
    "path_glob",
    metavar="[DEVICE:]GLOB",
    help="Only tasks with an input at this path (a glob, a file or a folder).",
)
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True)
@click.option(
    "--json", "as_json", is_flag=True, help="Machine-readable output (one object per task)."
)
@fail_cleanly
def ls_cmd(
    spool_dir: str | None,
    config: str | None,
    state: str,
    device_class: str | None,
    task_type: str | None,
    video: str | None,
    failing: bool,
    rejected: bool,
    path_glob: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List tasks, pending ones in claim order, then complete ones newest day first.

    --path looks at pending and complete tasks and shows each one's video id and outcome
    (--json: also its inputs).  --rejected lists rejected files with their reasons.

    Example: spoold ls --class jetson --failing; spoold ls --path 'cams/Record/*.mp4'
    """
    spool, _ = open_spool(spool_dir, config)
    if rejected:
        _ls_rejected(spool, limit, as_json)
        return
    out: list[dict[str, Any]] = []
    if path_glob is not None:
        entries = iter(lookup.tasks_for_path(spool, path_glob))
    else:
        entries = spool_inspect.iter_entries(
            spool, pending=state in ("pending", "all"), complete=state in ("complete", "all")
        )
    for e in entries:
        t = e.task
        if not _wanted(e, device_class, task_type, video, failing):
            continue
        out.append(
            (lookup.task_row(e) if path_glob is not None else {})
            | {
                "task_id": e.task_id,
                "state": e.state,
                "where": e.where,
                "queue": e.queue,
                "path": spool.layout.rel(e.path),
                "device": e.claim.device if e.claim else None,
                "attempts": len(t.attempts) if t else None,
                "error": str(e.error) if e.error else None,
            }
        )
        if len(out) >= limit:
            break
    if as_json:
        echo_json(out)
        return
    if path_glob is not None:
        echo_table(
            [("WHERE", "VIDEO", "OUTCOME", "TASK")]
            + [(r["where"], r["video_id"] or "-", r["outcome"], r["task_id"]) for r in out]
        )
        return
    rows = [("WHERE", "QUEUE", "ATTEMPTS", "TASK")]
    for r in out:
        where = r["where"] + (f"({r['device']})" if r["device"] else "")
        if r["error"]:
            where = "INVALID"
        rows.append(
            (
                where,
                r["queue"] or "-",
                str(r["attempts"] if r["attempts"] is not None else "?"),
                r["task_id"],
            )
        )
    echo_table(rows)


def _ls_rejected(spool: Spool, limit: int, as_json: bool) -> None:
    """``spoold ls --rejected``: each rejected file with its reason."""
    rows = rejections.rejections(spool)[:limit]
    if as_json:
        echo_json(rows)
        return
    echo_table(
        [("FILE", "REASON", "TASK")]
        + [
            (
                f"{r['device']}:{r['path']}",
                str(r["reason"]) + (f" ({r['detail']})" if r["detail"] else ""),
                r["task_id"],
            )
            for r in rows
        ]
    )


def _show_path(spool: Spool, pattern: str, as_json: bool) -> None:
    """``spoold show PATH``: every task of the file(s) at ``pattern``."""
    entries = lookup.tasks_for_path(spool, pattern)
    if not entries:
        raise click.ClickException(
            f"{pattern}: neither a task id nor the path of any task's input "
            "(give it as in the task: [storage-root:]path relative to the root, or a glob)"
        )
    if as_json:
        echo_json(
            [
                {
                    "location": {
                        "state": e.state,
                        "where": e.where,
                        "queue": e.queue,
                        "path": spool.layout.rel(e.path),
                    },
                    **lookup.task_row(e),
                    "task": json.loads(e.task.to_json()) if e.task else None,
                }
                for e in entries
            ]
        )
        return
    for e in entries:
        row = lookup.task_row(e)
        click.echo(f"# {e.task_id}: video {row['video_id']}, {row['outcome']} ({e.where})")
        if e.task is not None:
            click.echo(e.task.to_json().decode(), nl=False)


@cli.command()
@click.argument("task_id")
@spool_options
@click.option("--json", "as_json", is_flag=True, help="Print {location, task} as JSON.")
@fail_cleanly
def show(task_id: str, spool_dir: str | None, config: str | None, as_json: bool) -> None:
    """Print one task: where it is and its record.  Given a file's path ([ROOT:]PATH or a
    glob) instead of a task id, print every task of that file, with video id and outcome.

    Example: spoold show 20261125T101530Z-detect-clip1; spoold show cams/Record/a.mp4
    """
    spool, _ = open_spool(spool_dir, config)
    try:
        parse_task_id(task_id)
    except ValueError:
        _show_path(spool, task_id, as_json)
        return
    try:
        loc, task = spool.get(task_id)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    where = {
        "state": loc.state,
        "where": loc.where,
        "queue": loc.queue,
        "path": spool.layout.rel(loc.path),
        "claimed_by": loc.claim.device if loc.claim else None,
    }
    if as_json:
        echo_json({"location": where, "task": json.loads(task.to_json())})
        return
    click.echo(
        f"# {where['path']} ({loc.state}, {loc.where}"
        + (f" by {where['claimed_by']})" if loc.claim else ")")
    )
    click.echo(task.to_json().decode(), nl=False)


@cli.command()
@click.argument("task_ids", nargs=-1, required=True)
@spool_options
@click.option("--force", is_flag=True, help="Also take back a task a device is running now.")
@fail_cleanly
def requeue(
    task_ids: tuple[str, ...], spool_dir: str | None, config: str | None, force: bool
) -> None:
    """Make complete or failing tasks ready to run again, now.

    Example: spoold requeue 20261125T101530Z-detect-clip1
    """
    spool, _ = open_spool(spool_dir, config)
    for task_id in task_ids:
        try:
            loc = spool.requeue(task_id, force=force)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{task_id}: ready in {spool.layout.rel(loc.path)}")


@cli.command()
@spool_options
@click.option(
    "--repair",
    is_flag=True,
    help="Fix what is safe: put back abandoned claims, drop superseded ones, delete old temp "
    "files and the clock probes of this host's dead processes.",
)
@click.option("--json", "as_json", is_flag=True)
@click.option("-q", "--quiet", is_flag=True, help="Only the summary line.")
@fail_cleanly
def check(
    spool_dir: str | None, config: str | None, repair: bool, as_json: bool, quiet: bool
) -> None:
    """Validate every file of the spool; exit 0 only when it is clean.

    Finds files that do not parse (also those a worker moved to pending/Q/invalid/), tasks in
    two places, abandoned claims, stray names and old temp files.  Broken files are reported
    with their line, reason and fix, and never moved by check.

    Example: spoold check --repair
    """
    spool, _ = open_spool(spool_dir, config)
    rep = spool_inspect.check(spool, repair=repair)
    if as_json:
        echo_json(
            {
                "clean": rep.clean,
                "files": rep.files,
                "problems": [p.__dict__ for p in rep.problems],
                "ignored": rep.ignored,
            }
        )
    else:
        if not quiet:
            for p in rep.problems:
                mark = "fixed" if p.repaired else p.kind
                click.echo(f"{mark:12} {p.path}: {p.message}")
        fixed = sum(p.repaired for p in rep.problems)
        click.echo(
            f"checked {rep.files} task files: {len(rep.remaining)} problem(s)"
            + (f", {fixed} repaired" if fixed else "")
            + (f", {len(rep.ignored)} editor/temp file(s) ignored" if rep.ignored else "")
        )
    sys.exit(0 if rep.clean else 1)


@cli.command()
@click.argument("what", type=click.Choice(["task", "all"]), default="task")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=True),
    help="Write here (a file, or a folder for 'all').",
)
def schema(what: str, output: str | None) -> None:
    """Print the JSON Schema of a task file (or write all schemas to a folder).

    Point your editor at it to validate hand edits, e.g. `spoold schema task > task.schema.json`.
    """
    from schemas.export import all_schemas

    schemas = all_schemas()
    if what == "task":
        text = json.dumps(task_json_schema(), indent=2) + "\n"
        if output:
            Path(output).write_text(text)
        else:
            click.echo(text, nl=False)
        return
    folder = Path(output or "schemas/json")
    folder.mkdir(parents=True, exist_ok=True)
    for name, sch in schemas.items():
        (folder / f"{name}.schema.json").write_text(json.dumps(sch, indent=2) + "\n")
        click.echo(str(folder / f"{name}.schema.json"))
