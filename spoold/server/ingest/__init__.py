"""Ingestion: find new videos in the inbox folders and publish one ingest task per video.

Public API: :class:`Ingestor` and :class:`IngestReport` (:mod:`.ingestor`).  The package:
:mod:`.ingestor` (every inbox, the pass, publication), :mod:`.inbox` (one inbox folder),
:mod:`.watch` (watchdog hints), :mod:`.stability` (has a file stopped changing?),
:mod:`.finished` (is a stable file a finished copy?),
:mod:`.videos` (video id -> ingest task id).  The listing and fingerprinting themselves are
:mod:`spoold.server.scan`; validating an ingested video is the ``ingest`` executor
(:mod:`spoold.server.executors.ingest`).

How a video is found, and why it is found exactly once:

- **The listing is the truth; watchdog events are hints.**  Each inbox is listed
  incrementally every ``scan_interval_s``: a folder whose mtime did not change is not listed
  again (one ``stat``), so an idle tree of 100,000 files costs a few hundred ``stat`` calls.
  Every ``full_scan_interval_s``, at start and after an outage, every folder is listed and
  every file stat'ed.  A watchdog observer (``watch = native`` on a local disk, ``polling``
  if asked) only marks folders dirty and wakes the loop early: inotify never sees changes
  made by other NFS/SMB clients, so ``auto`` picks ``scan`` (no observer) on network mounts.
- Temp and partial names (dotfiles, ``*.part``, ``*.tmp``, rsync ``.name.XXXXXX``, Syncthing,
  Resilio ``*.!sync``...) and names not matching ``include`` are never looked at; a sync
  tool's rename into the final name simply shows up in the next listing.
- A file is *ready* when its size, mtime and ctime stayed the same for ``stable_s`` seconds of
  our own clock (:class:`~spoold.server.ingest.stability.StabilityTracker`, one per inbox),
  then it is fingerprinted (:func:`spoold.server.media.fingerprint`: size + hashes of head
  and tail) into its video id.
- A file *renamed into place* (``IN_MOVED_TO``: a sync tool's temp file renamed to its final
  name) and not written to since is finished by construction, like a Maildir delivery: it is
  ready once a re-stat ``RENAME_CONFIRM_S`` later (at most ``stable_s``) finds the same
  signature, and then goes through the same finished check as any other file.  Only with a
  native inotify observer on a local disk (:mod:`.watch`); a change seen after the rename puts
  it back on ``stable_s``.  ``scan``, ``polling`` and network mounts keep ``stable_s`` for
  every file: inotify does not see other NFS/SMB clients write, so a rename there proves
  nothing about what follows it.
- A ready file is also checked to be a *finished* copy (:mod:`.finished`,
  :func:`spoold.server.media.unfinished`): a copy that stalled longer than ``stable_s`` (cut
  short, or pre-allocated with a zero tail) is *held* with no task until it changes, and
  published for rejection only once unchanged for ``incomplete_reject_s``.  So a stalled
  copy that resumes is one video, not one per stall.
- :class:`~spoold.server.ingest.videos.VideoIndex` maps video id → ingest task id and is
  rebuilt from the spool's task names at start, so a renamed or copied file, a second pass or
  a restart never publishes a second ingest task.  The task id is ``make_task_id(first-seen stamp, first stage, video_id)``.
- Fingerprints are cached by (path, size, mtime) and saved in the daemon's local state file,
  so a restart does not read 100,000 heads and tails again.

All filesystem work on an inbox runs in its storage root's threads
(:class:`spoold.server.storage.Storage`): a hung share delays its inbox only.
"""

from spoold.server.ingest.ingestor import Ingestor, IngestReport

__all__ = ["IngestReport", "Ingestor"]
