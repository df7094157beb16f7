"""Finalized metadata: the DuckDB index (one writer) and the read API over its snapshots.

Daemon side (never imports Flask): :mod:`webui_export.index.writer` (``Indexer``, ``FinalizeError``).
Read side: :mod:`webui_export.api.app` (``create_app``), :mod:`webui_export.api.server` (``serve``),
:mod:`webui_export.api.export` (GPX, GeoJSON, CSV, Parquet).  ``docs/index-design.md`` explains the
one-writer / many-readers design.

This package imports nothing on purpose, so ``import webui_export.index.writer`` stays light.
"""
