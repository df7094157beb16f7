"""The ``spoold`` command line: worker-side commands in :mod:`spoold.cli.main`, the main
server's commands (``run``, ``serve``, ``backfill``, ``export``, ``demo``) in
:mod:`spoold.cli.server`."""
