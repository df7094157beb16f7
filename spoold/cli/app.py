"""The ``spoold`` command group and what its commands share.

Public API: :data:`cli` (the click group; :mod:`spoold.cli.main` adds the commands),
:func:`fail_cleanly`, :func:`config_option`, :func:`spool_options`, :func:`open_spool`,
:func:`echo_json`, :func:`echo_table`, :func:`check_name`, :func:`check_type`.

Every spool command takes ``--spool DIR`` (else ``$SPOOLD_SPOOL``, else the config file's
``[spool] root``) and works with no daemon running.  Expected errors (:class:`SpoolError`, a
permission refused) print one line and exit 1 through :func:`fail_cleanly`.  The spool a
command opens is closed when the command ends, whatever way it ends, so no command leaves its
clock probe in ``tmp/``.  Device, class and type names are checked where they are typed
(:func:`check_name`, :func:`check_type`): they become parts of file names.  Worker side:
imports nothing of the server.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from schemas.task import NAME_RE, TYPE_RE
from spoold.configfile import Config, resolve_spool_root
from spoold.errors import SpoolError
from spoold.logsetup import setup_logging
from spoold.spool import Spool

F = TypeVar("F", bound=Callable[..., Any])


def fail_cleanly(fn: F) -> F:
    """Turn the expected errors of a command into one line on stderr and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SpoolError as exc:
            raise click.ClickException(str(exc)) from None
        except PermissionError as exc:
            raise click.ClickException(f"{exc.filename}: permission denied") from None

    return wrapper  # type: ignore[return-value]


def config_option(fn: F) -> F:
    """``--config FILE``, found as :func:`spoold.configfile.find_config_file` says."""
    return click.option(
        "--config",
        "config",
        metavar="FILE",
        help="Config file (default: $SPOOLD_CONFIG, ./spoold.toml, /etc/spoold/spoold.toml).",
    )(fn)


def spool_options(fn: F) -> F:
    """``--config FILE`` and ``--spool DIR``, for :func:`open_spool`."""
    fn = config_option(fn)
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
    """The spool that ``--spool``/``--config`` name, with the config's spool settings."""
    root, cfg = resolve_spool_root(spool_dir, config)
    if cfg is not None:
        kwargs.setdefault("fsync", cfg.spool.fsync)
        kwargs.setdefault("backoff_base", cfg.spool.backoff_base_s)
        kwargs.setdefault("backoff_max", cfg.spool.backoff_max_s)
    spool = Spool(root, **kwargs)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:  # closed when the command ends: its clock probe goes with it
        ctx.call_on_close(spool.close)
    return spool, cfg


def _check(regex: Any, allowed: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None and not regex.match(value):
            raise click.BadParameter(
                f"{param.name} {value!r} must match {allowed}: it becomes part of spool "
                "file names, which use only portable characters"
            )
        return value

    return callback


#: Click callback for a device or device-class name option (as the task schema says it).
check_name = _check(NAME_RE, "[a-z0-9][a-z0-9_-]* (max 63 chars)")
#: Click callback for a task type option.
check_type = _check(TYPE_RE, "[a-z][a-z0-9_]* (max 32 chars)")


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


def echo_table(rows: Sequence[tuple[str, ...]]) -> None:
    """Columns padded to their widest cell; the first and last left-aligned, the rest right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo(
            "  ".join(
                c.ljust(w) if i in (0, len(r) - 1) else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="spoold")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """spoold: the dashcam pipeline's spool-directory coordinator.

    Tasks are JSON files in SPOOL/pending/CLASS/ and SPOOL/complete/DAY/; the folder a file
    is in is its state.  See spool_layout.md for the protocol.
    """
    # The default for every command; `run` and `backfill` set their own format and level.
    setup_logging(max(logging.WARNING - 10 * verbose, logging.DEBUG), force=False)
