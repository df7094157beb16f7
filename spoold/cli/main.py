"""The ``spoold`` program: the command group with every command this install can run.

Public API: :data:`cli` (the group, with its commands), :func:`main` (the console script).

The spool commands (:mod:`spoold.cli.tasks`) and ``work`` (:mod:`spoold.cli.work`) are always
there.  The main server's commands (:mod:`spoold.cli.server`: ``run``, ``backfill``,
``serve``, ``export``, ``demo``) are added only when the server extra is installed, so a
worker device's ``spoold`` never imports server code.
"""

from __future__ import annotations

from importlib.util import find_spec

from spoold.cli import tasks, work  # noqa: F401 - importing them adds their commands
from spoold.cli.app import cli

__all__ = ["cli", "main"]

# Modules only the server extra installs (pyproject.toml); a worker install has none of them.
_SERVER_EXTRA = ("watchdog", "duckdb", "flask")


def server_extra_installed() -> bool:
    """Whether this Python has the server extra (found without importing it)."""
    return all(find_spec(name) is not None for name in _SERVER_EXTRA)


def _register_server_commands() -> None:
    if server_extra_installed():
        from spoold.cli.server import register

        register(cli)


_register_server_commands()


def main() -> None:
    cli(prog_name="spoold")
