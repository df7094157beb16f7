"""Huge inputs cost what a small one costs: only the head and tail are read, never the body."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from spoold.demo.samples import make_clip
from spoold.server import media

GIB = 1 << 30


def test_a_huge_file_is_fingerprinted_and_judged_without_reading_it_whole(tmp_path: Path) -> None:
    """An 8 GiB file (sparse: a real clip's bytes, then a hole) gets a fingerprint and a
    specific verdict, and the process does not grow by anything like the file's size."""
    clip = make_clip(tmp_path / "clip.mp4", seed=7)
    huge = tmp_path / "2026_1125_101500_000120F.MP4"
    huge.write_bytes(clip.read_bytes())
    with open(huge, "r+b") as fh:
        fh.truncate(8 * GIB)  # what a copy that stopped after the first bytes leaves behind
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    vid = media.fingerprint(huge)
    assert vid.startswith("v") and vid != media.fingerprint(clip)
    # Zeros after a complete MP4 index are padding: the clip inside is judged on its own.
    info = media.probe(huge, timeout=120)
    assert (info.codec, info.duration_s, info.width, info.size) == ("h264", 2.0, 320, 8 * GIB)
    # A huge file that is garbage is refused with a reason, just as fast.
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all\n" * 10)
    with open(junk, "r+b") as fh:
        fh.truncate(8 * GIB)
    with pytest.raises(media.VideoRejected) as err:
        media.probe(junk, timeout=120)
    assert err.value.reason == media.REASON_NOT_MEDIA and "junk.mp4" in str(err.value)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 256 * 1024  # far below the 8 GiB the file claims to hold
