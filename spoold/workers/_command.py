"""What every reference worker command does around its own work.

Public API:

- :func:`worker_main(prog, parser, options, run, summary, argv) <worker_main>` — a worker's
  ``main``: parse the command line, load the :class:`~spoold.workers._contract.WorkerEnv`,
  merge the task's ``params`` into the options, ``run``, write the result, print one summary
  line ``prog: <summary(result)>``; errors as :func:`~spoold.workers._contract.run_main` says.
- :func:`apply_params(opts, params, casts, aliases={}) <apply_params>` — task ``params``
  override the options of the same name (``casts`` says which exist and how to convert; a
  ``None`` value is ignored); a value that does not convert is a
  :class:`~spoold.workers._contract.WorkerError` naming the param.
- :func:`parse_bool(value) <parse_bool>` — a boolean param: ``true``/``false``, ``1``/``0``,
  ``yes``/``no``, ``on``/``off`` (any case) or a JSON boolean/number.

Runs on Python 3.10.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from schemas.task import WorkResult
from spoold.workers._contract import WorkerEnv, WorkerError, run_main, write_result

__all__ = ["apply_params", "parse_bool", "worker_main"]

OptionsT = TypeVar("OptionsT")


def parse_bool(value: Any) -> bool:
    """A task param as a boolean; ValueError for a string that is not one."""
    if isinstance(value, str):
        if value.strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if value.strip().lower() in {"0", "false", "no", "off", ""}:
            return False
        raise ValueError(value)
    return bool(value)


def apply_params(
    opts: object,
    params: Mapping[str, Any],
    casts: Mapping[str, Callable[[Any], Any]],
    aliases: Mapping[str, str] | None = None,
) -> None:
    """Set each option named in ``params`` (or by an alias of it) on ``opts``, converted."""
    for key, value in params.items():
        name = (aliases or {}).get(key, key)
        if name in casts and value is not None:
            try:
                setattr(opts, name, casts[name](value))
            except (TypeError, ValueError):
                raise WorkerError(
                    f"task params[{key!r}] = {value!r} is not a valid {name}"
                ) from None


def worker_main(
    prog: str,
    parser: Callable[[], argparse.ArgumentParser],
    options: Callable[[argparse.Namespace, dict[str, Any]], OptionsT],
    run: Callable[[WorkerEnv, OptionsT], WorkResult],
    summary: Callable[[dict[str, Any]], str],
    argv: Sequence[str] | None,
) -> int:
    """Run one worker command on the task ``spoold work`` hands it; the exit status."""

    def _main(args: Sequence[str]) -> int:
        ns = parser().parse_args(list(args))
        env = WorkerEnv.load()
        opts = options(ns, env.task.params)
        result = run(env, opts)
        write_result(env, result)
        print(f"{prog}: {summary(result.result or {})}")
        return 0

    return run_main(prog, _main, argv)
