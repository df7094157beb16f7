"""The main server's commands, ``spoold run`` and ``spoold backfill``: ``register(cli)`` adds them.

Public API: :func:`register`, :class:`JsonFormatter`, :func:`setup_logging`.

Heavy imports (watchdog, pymediainfo, the daemon) happen inside the commands, so devices that
only run ``spoold work`` never load them.  ``python -m spoold.cli.server ...`` runs the full
command line with these commands added (used by the tests until ``spoold.cli.main`` calls
:func:`register`).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

import click

from spoold.errors import SpoolError

# LogRecord attributes that are not "extra" fields.
_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and the record's ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in vars(record).items():
            if k not in _STANDARD and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(fmt: str, level: int = logging.INFO) -> None:
    """Log to stderr at ``level``, as JSON lines or text (the only place handlers are set)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("watchdog").setLevel(logging.WARNING)


def _config_option(fn: Any) -> Any:
    return click.option(
        "--config",
        "config",
        metavar="FILE",
        help="Config file (default: $SPOOLD_CONFIG, ./spoold.toml, /etc/spoold/spoold.toml).",
    )(fn)


def _load(config: str | None) -> Any:
    from spoold.configfile import find_config_file
    from spoold.server.settings import load_settings

    path = find_config_file(config)
    if path is None:
        raise click.UsageError("no config file: pass --config FILE (see spoold.example.toml)")
    return load_settings(path)


def _log_options(fn: Any) -> Any:
    fn = click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="json: one object per line (ts, level, logger, msg, event, task_id...).",
    )(fn)
    return click.option("--debug", "debug", is_flag=True, help="Debug log output.")(fn)


def register(cli: click.Group) -> None:
    """Add ``run`` and ``backfill`` to the ``spoold`` command group."""

    @cli.command(name="run")
    @_config_option
    @_log_options
    def run_cmd(config: str | None, log_format: str, debug: bool) -> None:
        """Run the main server's daemon for the config's spool, until SIGTERM or Ctrl-C.

        Watches the inbox folders, ingests new videos, chains pipeline stages and runs the
        server's own tasks.  A second daemon on the same spool (on any host) refuses to start.

        Example: spoold run --config /etc/spoold/spoold.toml --log-format json
        """
        setup_logging(log_format, logging.DEBUG if debug else logging.INFO)
        try:
            from spoold.server.daemon import Daemon

            daemon = Daemon(_load(config))
            daemon.install_signal_handlers()
            daemon.run()
        except SpoolError as exc:
            raise click.ClickException(str(exc)) from None

    @cli.command(name="backfill")
    @_config_option
    @_log_options
    @click.option("--stable-s", type=click.FloatRange(min=0), help="Override [ingest] stable_s.")
    @click.option(
        "--timeout", type=click.FloatRange(min=1), help="Give up after this many seconds."
    )
    @click.option("--no-progress", is_flag=True, help="No progress bar.")
    def backfill_cmd(
        config: str | None,
        log_format: str,
        debug: bool,
        stable_s: float | None,
        timeout: float | None,
        no_progress: bool,
    ) -> None:
        """Ingest every video already in the inbox folders, with a progress bar, then exit.

        Does what the daemon's scans do, at full speed; refuses while a daemon runs on the
        spool (the daemon ingests existing files by itself).

        Example: spoold backfill --config spoold.toml
        """
        # The progress bar says what happens; the log only what goes wrong.
        setup_logging(log_format, logging.DEBUG if debug else logging.WARNING)
        try:
            from tqdm import tqdm

            from spoold.server.daemon import Daemon

            cfg = _load(config)
            if stable_s is not None:
                cfg.ingest.stable_s = stable_s
                for box in cfg.inbox:
                    box.stable_s = None
            daemon = Daemon(cfg, backfill=True)
            daemon.install_signal_handlers()
            bar = tqdm(total=0, unit="file", disable=no_progress, dynamic_ncols=True)

            def progress(done: int, total: int) -> None:
                if bar.total != total:
                    bar.total = total
                    bar.refresh()
                if done > bar.n:
                    bar.update(done - bar.n)

            rep = daemon.backfill(progress, timeout=timeout)
            bar.close()
        except SpoolError as exc:
            raise click.ClickException(str(exc)) from None
        rate = rep.files / rep.seconds if rep.seconds else 0.0
        click.echo(
            f"backfill: {rep.files} files in {rep.seconds:.1f} s ({rate:.0f} files/s): "
            f"{rep.published} new videos, {rep.duplicates} duplicates, "
            f"{rep.completed} ingested ({rep.rejected} rejected), {rep.left} left for the daemon"
        )


def main() -> None:
    from spoold.cli.main import cli

    register(cli)
    cli(prog_name="spoold")


if __name__ == "__main__":
    main()
