"""The ``spoold`` command line.

:mod:`spoold.cli.app` holds the group and what commands share, :mod:`spoold.cli.tasks` the
spool commands, :mod:`spoold.cli.work` ``spoold work``, :mod:`spoold.cli.server` the main
server's commands, and :mod:`spoold.cli.main` puts them together (the console script).
"""
