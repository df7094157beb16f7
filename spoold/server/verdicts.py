"""What ingestion says about a file: the reason codes and the verdict each one carries.

Public API: the ``REASON_*`` codes, :data:`INCOMPLETE_REASONS`, :data:`VERDICTS`.
docs/daemon.md and docs/reliability.md show the same table; tests/test_ingest_verdicts_doc.py
keeps them equal.
"""

from __future__ import annotations

REASON_EMPTY = "empty file (0 bytes)"
REASON_NOT_MEDIA = "not a media file"
REASON_TRUNCATED = "file is truncated (mediainfo IsTruncated)"
REASON_ZERO_TAIL = "zero-filled tail (unfinished pre-allocated copy)"
#: Not a verdict: a pre-allocated copy whose last byte is still zero may still be arriving
#: (the ingestor lets it settle for ``[ingest] prealloc_settle_s``, then ingests it).
REASON_ZERO_END = "last byte still zero (a pre-allocated copy may still be arriving)"
REASON_NO_VIDEO = "no video track"
REASON_NO_DURATION = "duration is zero or missing"
REASON_NO_PICTURE_SIZE = "video track has no picture size"

#: Reasons that an unfinished copy also shows: such a file is deferred (retried) while it may
#: still be copying and rejected only once it stayed unchanged for ``[ingest]
#: incomplete_reject_s``.  Every other reason rejects at once.
INCOMPLETE_REASONS = frozenset({REASON_EMPTY, REASON_TRUNCATED, REASON_ZERO_TAIL})
#: Reason code -> verdict, as docs/reliability.md's table states it ("deferred" = retried,
#: rejected after the limit; "rejected" = at once).
VERDICTS: dict[str, str] = {
    reason: "deferred" if reason in INCOMPLETE_REASONS else "rejected"
    for reason in (
        REASON_EMPTY,
        REASON_NOT_MEDIA,
        REASON_TRUNCATED,
        REASON_ZERO_TAIL,
        REASON_NO_VIDEO,
        REASON_NO_DURATION,
        REASON_NO_PICTURE_SIZE,
    )
}
