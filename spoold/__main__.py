"""``python -m spoold``: the same program as the ``spoold`` command."""

from spoold.cli.main import main

main()
