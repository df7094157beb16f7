"""The main server's commands: ``run``, ``backfill``, ``serve``, ``export`` and ``demo``.

Public API: :func:`register` (adds the commands to a ``spoold`` group and lets ``status``
report the daemon).  :mod:`spoold.cli.main` calls it only when the server extra is installed.

This module imports only click and the shared command helpers; the daemon, the index, the
API and their dependencies are imported inside the commands that use them.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from spoold.cli.app import config_option, fail_cleanly
from spoold.cli.tasks import set_daemon_status
from spoold.errors import SpoolError
from spoold.logsetup import LOG_FORMATS, setup_logging
from spoold.spool import Spool

if TYPE_CHECKING:
    from spoold.configfile import ApiSettings
    from spoold.server.settings import DaemonConfig


def _settings(config: str | None) -> DaemonConfig | None:
    """The daemon settings in the config file (``--config``, else the usual places), if any."""
    from spoold.configfile import find_config_file
    from spoold.server.settings import load_settings

    path = find_config_file(config)
    return load_settings(path) if path else None


def _load(config: str | None) -> DaemonConfig:
    settings = _settings(config)
    if settings is None:
        raise click.UsageError("no config file: pass --config FILE (see spoold.example.toml)")
    return settings


def _log_options(fn: Any) -> Any:
    fn = click.option(
        "--log-format",
        type=click.Choice(LOG_FORMATS),
        default="text",
        show_default=True,
        help="json: one object per line (ts, level, logger, msg, event, task_id...).",
    )(fn)
    return click.option("--debug", "debug", is_flag=True, help="Debug log output.")(fn)


@click.command(name="run")
@config_option
@_log_options
def run_cmd(config: str | None, log_format: str, debug: bool) -> None:
    """Run the main server's daemon for the config's spool, until SIGTERM or Ctrl-C.

    Watches the inbox folders, ingests new videos, chains pipeline stages and runs the
    server's own tasks.  A second daemon on the same spool (on any host) refuses to start.

    Example: spoold run --config /etc/spoold/spoold.toml --log-format json
    """
    setup_logging(logging.DEBUG if debug else logging.INFO, log_format)
    try:
        from spoold.server.daemon import Daemon

        daemon = Daemon(_load(config))
        daemon.install_signal_handlers()
        daemon.run()
    except SpoolError as exc:
        raise click.ClickException(str(exc)) from None


@click.command(name="backfill")
@config_option
@_log_options
@click.option("--stable-s", type=click.FloatRange(min=0), help="Override [ingest] stable_s.")
@click.option("--timeout", type=click.FloatRange(min=1), help="Give up after this many seconds.")
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
    setup_logging(logging.DEBUG if debug else logging.WARNING, log_format)
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


@click.command()
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

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # as Ctrl-C: the demo stops its daemon, workers and API

    # Without this, SIGTERM (systemd, `kill`, a CI timeout) killed the demo at once and
    # left its children running.
    signal.signal(signal.SIGTERM, stop)
    sys.exit(
        run_demo(
            Path(where).resolve(),
            port=port,
            exit_when_done=exit_when_done,
            timeout=timeout,
            echo=click.echo,
        )
    )


def _index_dir_of(settings: DaemonConfig | None) -> tuple[Path, Path | None]:
    """The config's ``[index] dir`` and spool root; UsageError without an index."""
    if settings is None or settings.index.dir is None:
        raise click.UsageError(
            "no index: pass --index-dir DIR or set [index] dir in the config file"
        )
    return settings.index.dir, settings.spool.root


def _index_dir(index_dir: str | None, config: str | None) -> tuple[Path, Path | None]:
    """The index folder (``--index-dir``, else the config's ``[index] dir``) and the spool."""
    settings = _settings(config)
    if index_dir:
        return Path(index_dir), settings.spool.root if settings else None
    return _index_dir_of(settings)


def _api_settings(config: str | None) -> ApiSettings:
    """The config's ``[api]`` settings with the environment's overrides."""
    from spoold.configfile import ApiSettings

    settings = _settings(config)
    return (settings.api if settings else ApiSettings()).with_env(os.environ)


def _check_port(host: str, port: int) -> None:
    """Exit 2 with one line when ``host:port`` cannot be bound (taken, no such address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As gunicorn does: a port in TIME_WAIT after a restart is free, not taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                why = f"port {port} on {host} is taken (another server listens there)"
            else:
                why = f"cannot listen on {host}:{port}: {exc.strerror}"
            click.echo(
                f"spoold serve: {why}: choose another with --port N or --host ADDR, "
                "or set [api] port / host in spoold.toml ($SPOOLD_API_PORT, $SPOOLD_API_HOST)",
                err=True,
            )
            sys.exit(2)


@click.command()
@click.option(
    "--config", metavar="FILE", help="Config file (its [api], [index] dir, [spool] root)."
)
@click.option("--index-dir", metavar="DIR", help="The index folder the daemon publishes to.")
@click.option(
    "--host", help="Address to bind (default: [api] host, $SPOOLD_API_HOST, else 127.0.0.1)."
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help="Port (default: [api] port, $SPOOLD_API_PORT, else 8080).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="gunicorn worker processes (default: [api] workers, $SPOOLD_API_WORKERS, else 4).",
)
@click.option(
    "--cors-origin",
    "cors",
    multiple=True,
    help="An origin allowed to read cross-origin (repeatable; default: [api] cors_origins, "
    "$SPOOLD_CORS_ORIGINS).",
)
@click.option(
    "--token-env",
    metavar="VAR",
    help="Require 'Authorization: Bearer $VAR' on every request (default: $SPOOLD_API_TOKEN, "
    "else the content of [api] token_file / $SPOOLD_API_TOKEN_FILE).",
)
@fail_cleanly
def serve(
    config: str | None,
    index_dir: str | None,
    host: str | None,
    port: int | None,
    workers: int | None,
    cors: tuple[str, ...],
    token_env: str | None,
) -> None:
    """Serve the read API, the dashboard and /metrics with gunicorn (N workers).

    Settings come from the command line, then the environment, then [api] in the config
    file (see `spoold config example`).  With a token set, every request but the OpenAPI
    document needs it: a request without it is answered 401.

    Example: spoold serve --config /etc/spoold/spoold.toml --workers 4
    """
    from spoold.configfile import find_config_file
    from webui_export.api.server import serve as run_server

    api = _api_settings(config)
    idx, spool_root = _index_dir(index_dir, config)
    cfg_path = find_config_file(config)
    if cfg_path is not None:  # the WebUI reads [storage] and [webui] from it (in each worker)
        os.environ["SPOOLD_CONFIG_FILE"] = str(cfg_path.resolve())
    token = api.token(os.environ)
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise click.UsageError(f"--token-env {token_env}: that variable is not set")
    host = host or api.host
    port = port or api.port
    _check_port(host, port)
    # The page sizes reach every gunicorn worker's app as the read API's own SPOOLD_ settings.
    os.environ["SPOOLD_DEFAULT_PAGE_SIZE"] = str(api.default_page_size)
    os.environ["SPOOLD_MAX_PAGE_SIZE"] = str(api.max_page_size)
    workers = workers or api.workers
    auth = "token required" if token else "no token: anyone who reaches it may read"
    click.echo(f"serving {idx} on http://{host}:{port}/ ({workers} workers, {auth})", err=True)
    run_server(
        idx,
        host,
        port,
        workers,
        spool_root=spool_root,
        cors_origins=list(cors) or api.cors_origins,
        api_token=token,
        timeout=api.timeout_s,
    )


@click.command(name="export")
@click.argument("what", type=click.Choice(["gpx", "geojson", "plate-csv", "parquet"]))
@click.argument("key", required=False)
@click.option("--config", metavar="FILE", help="Config file (its [index] dir).")
@click.option("--index-dir", metavar="DIR", help="The index folder.")
@click.option(
    "-o", "--output", metavar="PATH", help="Output file (folder for parquet); default stdout."
)
@fail_cleanly
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


def _daemon_status(spool: Spool) -> tuple[dict[str, Any] | None, list[str]]:
    """The daemon's lease and last status, for ``spoold status``."""
    try:
        from spoold.server.daemon_status import read_status, status_lines
    except ImportError:  # a partial install: report no daemon rather than fail `status`
        return None, []
    st = read_status(spool)
    return st, status_lines(st)


def register(group: click.Group) -> None:
    """Add the main server's commands to ``group`` and let ``status`` report the daemon."""
    for command in (run_cmd, backfill_cmd, serve, export_cmd, demo):
        group.add_command(command)
    set_daemon_status(_daemon_status)
