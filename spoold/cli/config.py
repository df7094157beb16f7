"""``spoold config``: the configuration file.

Public API: the ``config`` group (added to :data:`spoold.cli.app.cli` on import) with
``config example``, which prints the annotated example ``spoold.toml`` shipped in the package
(so an install without a checkout has it).  Worker side.
"""

from __future__ import annotations

import click

from spoold.cli.app import cli
from spoold.data import example_config_text


@cli.group(name="config")
def config_group() -> None:
    """The configuration file (spoold.toml).

    Example: spoold config example > spoold.toml
    """


@config_group.command(name="example")
def example() -> None:
    """Print the annotated example spoold.toml, every setting with its default.

    Example: spoold config example > spoold.toml
    """
    click.echo(example_config_text(), nl=False)
