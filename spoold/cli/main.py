"""The ``spoold`` program: the command group with every command this install can run.

Public API: :data:`cli` (the group, with its commands), :func:`main` (the console script),
:func:`server_extra_installed`, :data:`SERVER_COMMANDS`.

The spool commands (:mod:`spoold.cli.tasks`), ``work`` (:mod:`spoold.cli.work`) and
``config`` (:mod:`spoold.cli.config`) are always there.  The main server's commands
(:mod:`spoold.cli.server`: ``run``, ``backfill``, ``serve``, ``export``, ``demo``) are real
only when the server extra is installed; on a worker install each is a stub that names the
extra to install and exits 2, so a worker device's ``spoold`` never imports server code and
never ends in a traceback.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec

import click

from spoold.cli import config, submit, tasks, work  # noqa: F401 - importing them adds their commands
from spoold.cli.app import cli

__all__ = ["SERVER_COMMANDS", "cli", "main", "server_extra_installed"]

# Modules only the server extra installs (pyproject.toml); a worker install has none of them.
_SERVER_EXTRA = ("watchdog", "duckdb", "flask")

#: The commands that need the server extra.
SERVER_COMMANDS = ("run", "backfill", "serve", "export", "demo")

#: What a stub prints: the one thing to do.
INSTALL_HINT = "pip install 'spoold[server]'"


def server_extra_installed() -> bool:
    """Whether this Python has the server extra (found without importing it)."""
    return all(find_spec(name) is not None for name in _SERVER_EXTRA)


def _stub(name: str) -> click.Command:
    """``spoold NAME`` on an install without the server extra: one line, exit 2."""

    def needs_the_server_extra() -> None:
        click.echo(
            f"spoold {name}: needs the server extra, which this install lacks: {INSTALL_HINT}",
            err=True,
        )
        sys.exit(2)

    return click.Command(
        name,
        callback=needs_the_server_extra,
        help=f"A main-server command; install the server extra to use it: {INSTALL_HINT}",
        short_help=f"(needs {INSTALL_HINT})",
        # Whatever arguments the real command takes, the answer is the same line.
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )


def _register_server_commands() -> None:
    if server_extra_installed():
        from spoold.cli.server import register

        register(cli)
        return
    for name in SERVER_COMMANDS:
        cli.add_command(_stub(name))


_register_server_commands()


def main() -> None:
    cli(prog_name="spoold")
