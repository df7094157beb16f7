"""The one import of pyarrow (columnar rows for DuckDB inserts), kept in one place.

Public API: ``pa`` (``pyarrow``), ``pc`` (``pyarrow.compute``), ``pj`` (``pyarrow.json``).

pyarrow ships no type information; this module is the only place that says so to mypy.
"""

from __future__ import annotations

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.json as pj  # type: ignore[import-untyped]

__all__ = ["pa", "pc", "pj"]
