"""The main server's side: the daemon loop, ingestion, pipeline chaining, server-side
executors, storage roots and media validation.  Needs the ``server`` extra."""
