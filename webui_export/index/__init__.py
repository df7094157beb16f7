"""The DuckDB index of finalized metadata: the single writer (finalize, rows, validation,
sightings, snapshots).  Used by the daemon; never imports Flask."""
