"""The ``spoold`` command line: one small function per command; its docstring is its --help.

Every command takes ``--spool DIR`` (else ``$SPOOLD_SPOOL``, else the config file's
``[spool] root``) and works with no daemon running.  Expected errors print one line and exit
1; ``check`` exits 1 when it found problems it did not repair.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import click

from schemas.task import FileRef, describe_error, sanitize_key, task_json_schema
from spoold.configfile import Config, resolve_spool_root
from spoold.errors import SpoolError
from spoold.spool import Spool
from spoold.spool import inspect as spool_inspect
from spoold.spool.display import format_age

F = TypeVar("F", bound=Callable[..., Any])


def _fail_cleanly(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SpoolError as exc:
            raise click.ClickException(str(exc)) from None
        except PermissionError as exc:
            raise click.ClickException(f"{exc.filename}: permission denied") from None

    return wrapper  # type: ignore[return-value]


def spool_options(fn: F) -> F:
    fn = click.option(
        "--config",
        "config",
        metavar="FILE",
        help="Config file (default: $SPOOLD_CONFIG, ./spoold.toml, /etc/spoold/spoold.toml).",
    )(fn)
    fn = click.option(
        "--spool",
        "spool_dir",
        metavar="DIR",
        help="Spool root (default: $SPOOLD_SPOOL, then the config file's [spool] root).",
    )(fn)
    return fn


def open_spool(
    spool_dir: str | None, config: str | None, **kwargs: Any
) -> tuple[Spool, Config | None]:
    root, cfg = resolve_spool_root(spool_dir, config)
    if cfg is not None:
        kwargs.setdefault("fsync", cfg.spool.fsync)
        kwargs.setdefault("backoff_base", cfg.spool.backoff_base_s)
        kwargs.setdefault("backoff_max", cfg.spool.backoff_max_s)
    return Spool(root, **kwargs), cfg


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="spoold")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """spoold: the dashcam pipeline's spool-directory coordinator.

    Tasks are JSON files in SPOOL/pending/CLASS/ and SPOOL/complete/DAY/; the folder a file
    is in is its state.  See spool_layout.md for the protocol.
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(
        level=max(level, logging.DEBUG), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


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
@_fail_cleanly
def init(directory: str | None, spool_dir: str | None, config: str | None, lease: float) -> None:
    """Create a spool (idempotent).

    Example: spoold init /srv/spool
    """
    root, _ = resolve_spool_root(directory or spool_dir, config)
    spool = Spool.init(root, default_lease=lease)
    click.echo(f"spool ready at {spool.root}")


@cli.command()
@spool_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_fail_cleanly
def status(spool_dir: str | None, config: str | None, as_json: bool) -> None:
    """Counts per queue and task type, oldest pending age, claims and failing tasks.

    Example: spoold status --spool /srv/spool
    """
    spool, _ = open_spool(spool_dir, config)
    st = spool_inspect.status(spool)
    daemon_lines: list[str] = []
    try:  # the daemon's state (lease, storage outages); absent on a worker-only install
        from spoold.server.daemon import read_status, status_lines

        st["daemon"] = read_status(spool)
        daemon_lines = status_lines(st["daemon"])
    except ImportError:
        st["daemon"] = None
    if as_json:
        _echo_json(st)
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
    _table(rows)
    t = st["totals"]
    done = ", ".join(f"{d}: {n}" for d, n in st["complete_by_day"].items()) or "none yet"
    click.echo(
        f"\npending: {t['ready']} ready, {t['deferred']} deferred, {t['claimed']} claimed "
        f"({t['stale']} stale), {t['failing']} failing, {t['invalid']} invalid"
    )
    click.echo(f"complete: {done}")
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


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo(
            "  ".join(
                c.ljust(w) if i in (0, len(r) - 1) else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )


@cli.command(name="ls")
@spool_options
@click.option(
    "--state",
    type=click.Choice(["pending", "complete", "all"]),
    default="pending",
    show_default=True,
)
@click.option("--class", "device_class", help="Only this device class.")
@click.option("--type", "task_type", help="Only this task type.")
@click.option("--video", help="Only tasks of this video id.")
@click.option("--failing", is_flag=True, help="Only tasks with failed attempts.")
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True)
@click.option(
    "--json", "as_json", is_flag=True, help="Machine-readable output (one object per task)."
)
@_fail_cleanly
def ls_cmd(
    spool_dir: str | None,
    config: str | None,
    state: str,
    device_class: str | None,
    task_type: str | None,
    video: str | None,
    failing: bool,
    limit: int,
    as_json: bool,
) -> None:
    """List tasks, pending ones in claim order, then complete ones newest day first.

    Example: spoold ls --class jetson --failing
    """
    spool, _ = open_spool(spool_dir, config)
    out: list[dict[str, Any]] = []
    entries = spool_inspect.iter_entries(
        spool, pending=state in ("pending", "all"), complete=state in ("complete", "all")
    )
    for e in entries:
        t = e.task
        if (
            device_class
            and (t.device_class if t else (e.queue or "")).split("@")[0] != device_class
        ):
            continue
        if task_type and (t is None or t.task_type != task_type):
            continue
        if video and (t is None or t.video_id != video):
            continue
        if failing and (t is None or not t.attempts):
            continue
        out.append(
            {
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
        _echo_json(out)
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
    _table(rows)


@cli.command()
@click.argument("task_id")
@spool_options
@click.option("--json", "as_json", is_flag=True, help="Print {location, task} as JSON.")
@_fail_cleanly
def show(task_id: str, spool_dir: str | None, config: str | None, as_json: bool) -> None:
    """Print one task: where it is and its record.

    Example: spoold show 20261125T101530Z-detect-clip1
    """
    spool, _ = open_spool(spool_dir, config)
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
        _echo_json({"location": where, "task": json.loads(task.to_json())})
        return
    click.echo(
        f"# {where['path']} ({loc.state}, {loc.where}"
        + (f" by {where['claimed_by']})" if loc.claim else ")")
    )
    click.echo(task.to_json().decode(), nl=False)


def _parse_inputs(values: tuple[str, ...]) -> list[FileRef]:
    refs = []
    for v in values:
        parts = v.split(":", 2)
        if len(parts) < 2:
            raise click.BadParameter(
                f"{v!r}: want DEVICE:PATH or DEVICE:PATH:TYPE", param_hint="--input"
            )
        try:
            refs.append(
                FileRef(device=parts[0], path=parts[1], type=parts[2] if len(parts) > 2 else None)
            )
        except ValueError as exc:
            msg = describe_error(exc.errors()[0]) if hasattr(exc, "errors") else str(exc)
            raise click.BadParameter(f"{v!r}: {msg}", param_hint="--input") from None
    return refs


@cli.command()
@spool_options
@click.option("--type", "task_type", required=True, help="Task type (stage), e.g. preprocess.")
@click.option("--class", "device_class", required=True, help="Device class that may run it.")
@click.option("--device", help="Pin to one device (data locality).")
@click.option("--video", help="Video id the task belongs to (also its id key).")
@click.option("--key", help="Id key, when there is no video (default: the video id).")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    metavar="DEVICE:PATH[:TYPE]",
    help="An input file, relative to that device's storage root (repeatable).",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A stage parameter (repeatable; VALUE parsed as JSON when it is JSON).",
)
@click.option(
    "--not-before",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"]),
    help="UTC time before which nobody may claim it.",
)
@_fail_cleanly
def submit(
    spool_dir: str | None,
    config: str | None,
    task_type: str,
    device_class: str,
    device: str | None,
    video: str | None,
    key: str | None,
    inputs: tuple[str, ...],
    params: tuple[str, ...],
    not_before: datetime | None,
) -> None:
    """Publish a new task and print its id (a no-op that prints the same id if it exists).

    Example: spoold submit --type detect --class gpu --video v3fa9c2 --input indoor-nas:cam/a.mp4:video
    """
    if not (video or key):
        raise click.UsageError("give --video or --key")
    spool, _ = open_spool(spool_dir, config)
    parsed: dict[str, Any] = {}
    for p in params:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise click.BadParameter(f"{p!r}: want KEY=VALUE", param_hint="--param")
        try:
            parsed[k] = json.loads(v)
        except json.JSONDecodeError:
            parsed[k] = v
    try:
        task = spool.new_task(
            task_type,
            device_class,
            sanitize_key(key or video or ""),
            device=device,
            video_id=video,
            inputs=_parse_inputs(inputs),
            params=parsed,
            not_before=not_before.replace(tzinfo=timezone.utc) if not_before else None,
        )
    except ValueError as exc:
        msg = describe_error(exc.errors()[0]) if hasattr(exc, "errors") else str(exc)
        raise click.UsageError(msg) from None
    res = spool.publish(task)
    if not res.created:
        click.echo(
            f"exists already ({res.location.state}, {spool.layout.rel(res.location.path)})",
            err=True,
        )
    click.echo(res.task_id)


@cli.command()
@click.argument("task_ids", nargs=-1, required=True)
@spool_options
@click.option("--force", is_flag=True, help="Also take back a task a device is running now.")
@_fail_cleanly
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
    help="Fix what is safe: put back abandoned claims, drop superseded ones, delete old temp files.",
)
@click.option("--json", "as_json", is_flag=True)
@click.option("-q", "--quiet", is_flag=True, help="Only the summary line.")
@_fail_cleanly
def check(
    spool_dir: str | None, config: str | None, repair: bool, as_json: bool, quiet: bool
) -> None:
    """Validate every file of the spool; exit 0 only when it is clean.

    Finds files that do not parse, tasks in two places, abandoned claims, stray names and old
    temp files.  Broken files are reported with their line and reason and never moved.

    Example: spoold check --repair
    """
    spool, _ = open_spool(spool_dir, config)
    rep = spool_inspect.check(spool, repair=repair)
    if as_json:
        _echo_json(
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
@click.option("--class", "device_class", required=True, help="Device class to work for.")
@click.option("--device", required=True, help="This device's name (unique per host).")
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
@_fail_cleanly
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
    spool.close()
    click.echo(
        f"{device}: {stats.completed} completed, {stats.failed} failed, "
        f"{stats.lost} lost, {stats.released} released",
        err=True,
    )


@cli.command()
@click.option(
    "--dir",
    "where",
    default="demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the demo (replaced).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help="Port for the API and dashboard (default: 8080, or a free one if taken).",
)
@click.option(
    "--exit-when-done",
    is_flag=True,
    help="Stop everything once the plates are in the API (for tests and CI).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=10),
    default=600,
    show_default=True,
    help="Give up after this many seconds.",
)
def demo(where: str, port: int | None, exit_when_done: bool, timeout: float) -> None:
    """Run the whole pipeline on sample clips made on the spot, and show where to look.

    Makes dashcam clips (several brands, front and rear, GPS along a route, licence plates
    rendered in), starts the daemon, a Jetson-class and a GPU-class worker and the API, drops
    the clips into a demo NAS inbox and waits until the plate timeline shows every plate.

    Example: spoold demo --dir /tmp/spoold-demo
    """
    from spoold.demo.run import run_demo

    sys.exit(
        run_demo(
            Path(where).resolve(),
            port=port,
            exit_when_done=exit_when_done,
            timeout=timeout,
            echo=click.echo,
        )
    )


def _index_dir(index_dir: str | None, config: str | None) -> tuple[Path, Path | None]:
    """The index folder (``--index-dir``, else the config's ``[index] dir``) and the spool."""
    from spoold.configfile import find_config_file
    from spoold.server.settings import load_settings

    cfg_path = find_config_file(config)
    settings = load_settings(cfg_path) if cfg_path else None
    spool_root = settings.spool.root if settings else None
    if index_dir:
        return Path(index_dir), spool_root
    if settings is None or settings.index.dir is None:
        raise click.UsageError(
            "no index: pass --index-dir DIR or set [index] dir in the config file"
        )
    return settings.index.dir, spool_root


@cli.command()
@click.option("--config", metavar="FILE", help="Config file (its [index] dir and [spool] root).")
@click.option("--index-dir", metavar="DIR", help="The index folder the daemon publishes to.")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default)."
)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="gunicorn worker processes.",
)
@click.option(
    "--cors-origin",
    "cors",
    multiple=True,
    help="An origin allowed to read cross-origin (repeatable).",
)
@click.option(
    "--token-env", metavar="VAR", help="Require 'Authorization: Bearer $VAR' on every request."
)
@_fail_cleanly
def serve(
    config: str | None,
    index_dir: str | None,
    host: str,
    port: int,
    workers: int,
    cors: tuple[str, ...],
    token_env: str | None,
) -> None:
    """Serve the read-only API, the dashboard and /metrics with gunicorn (N workers).

    Example: spoold serve --config /etc/spoold/spoold.toml --workers 4
    """
    import os

    from webui_export.api.server import serve as run_server

    idx, spool_root = _index_dir(index_dir, config)
    token = None
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise click.UsageError(f"--token-env {token_env}: that variable is not set")
    click.echo(f"serving {idx} on http://{host}:{port}/ ({workers} workers)", err=True)
    run_server(idx, host, port, workers, spool_root=spool_root, cors_origins=cors, api_token=token)


@cli.command(name="export")
@click.argument("what", type=click.Choice(["gpx", "geojson", "plate-csv", "parquet"]))
@click.argument("key", required=False)
@click.option("--config", metavar="FILE", help="Config file (its [index] dir).")
@click.option("--index-dir", metavar="DIR", help="The index folder.")
@click.option(
    "-o", "--output", metavar="PATH", help="Output file (folder for parquet); default stdout."
)
@_fail_cleanly
def export_cmd(
    what: str, key: str | None, config: str | None, index_dir: str | None, output: str | None
) -> None:
    """Export data for other tools: a video's track (GPX, GeoJSON), a plate's sightings (CSV),
    or the whole index as Parquet partitioned by day.

    Example: spoold export gpx v3fa9c2d81b4e -o track.gpx ; spoold export parquet -o dump/
    """
    from webui_export.api import export as ex

    idx, _ = _index_dir(index_dir, config)
    if what == "parquet":
        counts = ex.parquet_dump(idx, Path(output or "spoold-export"))
        click.echo(", ".join(f"{k}: {v}" for k, v in counts.items()))
        return
    if not key:
        raise click.UsageError(
            f"export {what} needs a {'plate' if what == 'plate-csv' else 'video id'}"
        )
    fn = {"gpx": ex.track_gpx, "geojson": ex.track_geojson, "plate-csv": ex.plate_csv}[what]
    n = fn(idx, key, Path(output) if output else sys.stdout)
    click.echo(f"{n} rows", err=True)


def _register_server_commands() -> None:
    # The server's commands live with the server code; their heavy imports are lazy, so a
    # worker-only install still has a working `spoold`.
    from spoold.cli.server import register

    register(cli)


_register_server_commands()


def main() -> None:
    cli(prog_name="spoold")
