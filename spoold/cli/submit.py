"""``spoold submit``: publish a task by hand; a repeat with the same arguments is a no-op.

Public API: the ``submit`` command (added to :data:`spoold.cli.app.cli` on import).

A task's identity is its type, class, device, video, inputs and params (the id key is
``VIDEO.DIGEST``), or ``--key``; the id's stamp is the first submit's time, so a repeat looks the
task up by type and key in its queue and in ``complete/`` and prints that id.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import click

from schemas.task import FileRef, describe_error, parse_task_id, sanitize_key
from spoold.cli.app import check_name, check_type, cli, fail_cleanly, open_spool, spool_options
from spoold.cli.isotime import iso8601_option
from spoold.spool import Spool, queue_name


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


def _identity_key(
    task_type: str,
    device_class: str,
    device: str | None,
    video: str | None,
    inputs: list[FileRef],
    params: dict[str, Any],
) -> str:
    """The id key that ``submit`` derives from its arguments: ``VIDEO.DIGEST`` (``DIGEST``
    without ``--video``), DIGEST = 12 hex digits of SHA-256 over type, class, device, video,
    inputs and params; ``--not-before`` is not part of it (a new time is not a new task)."""
    ident = {
        "type": task_type,
        "class": device_class,
        "device": device,
        "video": video,
        "inputs": [i.model_dump(mode="json") for i in inputs],
        "params": params,
    }
    blob = json.dumps(ident, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
    return f"{sanitize_key(video)[:130]}.{digest}" if video else digest


def _existing(spool: Spool, queue: str, task_type: str, key: str) -> str | None:
    """The id of a task of ``task_type`` with ``key`` in ``queue`` or complete (any stamp)."""

    def same(task_id: str) -> bool:
        return parse_task_id(task_id)[2] == key

    for task_id in sorted(spool.task_ids(queue, task_type=task_type)):
        if same(task_id):
            return task_id
    for day in reversed(spool.complete_days()):  # newest first: a repeat is usually recent
        for task_id in sorted(spool.completed_ids(day, task_type=task_type)):
            if same(task_id):
                return task_id
    return None


def _parse_params(params: tuple[str, ...]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for p in params:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise click.BadParameter(f"{p!r}: want KEY=VALUE", param_hint="--param")
        try:
            parsed[k] = json.loads(v)
        except json.JSONDecodeError:
            parsed[k] = v
    return parsed


@cli.command()
@spool_options
@click.option(
    "--type",
    "task_type",
    required=True,
    callback=check_type,
    help="Task type (stage), e.g. preprocess (a-z 0-9 _).",
)
@click.option(
    "--class",
    "device_class",
    required=True,
    callback=check_name,
    help="Device class that may run it (a-z 0-9 _ -).",
)
@click.option(
    "--device", callback=check_name, help="Pin to one device (data locality; a-z 0-9 _ -)."
)
@click.option("--video", help="Video id the task belongs to (the start of its id key).")
@click.option(
    "--key",
    help="The task's identity, instead of the one derived from the arguments: a repeat "
    "with the same --type and --key (same class and device) is a no-op, whatever else differs.",
)
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
    metavar="ISO-8601",
    callback=iso8601_option,
    help="Time before which nobody may claim it: any ISO 8601 form (2026-12-06T15:45+05:30, "
    "20261206T101500Z, 2026-12-06, ...); UTC when it has no offset.",
)
@fail_cleanly
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
    """Publish a new task and print its id; a repeat is a no-op that prints the same id.

    A task's identity is its type, class, device, video, inputs and params (its id key is
    VIDEO.DIGEST of them), or --type with --key when given.  If a task with that identity is
    pending or complete, nothing is published and its id is printed (run a complete task
    again with `spoold requeue ID`).  Two submits of one new task at the same instant may
    both publish.

    Example: spoold submit --type detect --class gpu --video v3fa9c2 --input indoor-nas:cam/a.mp4:video
    """
    spool, _ = open_spool(spool_dir, config)
    parsed = _parse_params(params)
    refs = _parse_inputs(inputs)
    ident = (
        sanitize_key(key)
        if key
        else _identity_key(task_type, device_class, device, video, refs, parsed)
    )
    try:
        task = spool.new_task(
            task_type,
            device_class,
            ident,
            device=device,
            video_id=video,
            inputs=refs,
            params=parsed,
            not_before=not_before,
        )
    except ValueError as exc:
        msg = describe_error(exc.errors()[0]) if hasattr(exc, "errors") else str(exc)
        raise click.UsageError(msg) from None
    found = _existing(spool, queue_name(device_class, device), task_type, ident)
    if found is not None:
        loc = spool.locate(found)
        where = f"{loc.state}, {spool.layout.rel(loc.path)}" if loc else "just moved"
        click.echo(f"exists already ({where})", err=True)
        click.echo(found)
        return
    res = spool.publish(task)
    if not res.created:
        click.echo(
            f"exists already ({res.location.state}, {spool.layout.rel(res.location.path)})",
            err=True,
        )
    click.echo(res.task_id)
