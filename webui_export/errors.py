"""Errors of the index and its exports, all in the spoold family (:class:`SpoolError`).

Public API: :class:`FinalizeError`, :class:`IndexWriteFailed`, :class:`IndexLocked`, :class:`SnapshotUnavailable`,
:class:`NotInIndex`.
"""

from __future__ import annotations

from spoold.errors import SpoolError


class FinalizeError(SpoolError, ValueError):
    """A video's worker output is missing, invalid or partial: nothing of that video was indexed.

    The message names the file (or the video) and the reason; the finalize task should fail
    with it.
    """


class IndexWriteFailed(FinalizeError):
    """The index write itself failed and was rolled back: the video's outputs may be fine.

    In a batch (``Indexer.finalize_many``) every video of the batch gets it; indexing them one
    by one tells a video that breaks the write from the others.
    """


class IndexLocked(SpoolError):
    """Another process holds the index writer (``live.duckdb``): only one Indexer may run."""


class SnapshotUnavailable(SpoolError):
    """No read snapshot has been published in the index directory yet."""


class NotInIndex(SpoolError, LookupError):
    """The video or plate asked for is not in the published index."""
