"""The read-only API over the index's published snapshots: app, routes, queries, parameters,
OpenAPI, pages, metrics and exports."""
