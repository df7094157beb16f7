"""Finalized metadata: the DuckDB index (one writer) and the read API over its snapshots.

Daemon side (never imports Flask): :mod:`webui_export.index` (``Indexer``, ``FinalizeError``).
Read side: :mod:`webui_export.app` (``create_app``), :mod:`webui_export.server` (``serve``),
:mod:`webui_export.export` (GPX, GeoJSON, CSV, Parquet).  ``docs/index-design.md`` explains the
one-writer / many-readers design.

This package imports nothing on purpose, so ``import webui_export.index`` stays light.
"""
