"""StabilityTracker: a file is ready once its signature held for the window, on our clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from spoold.server.ingest.stability import StabilityTracker


def test_growing_file_is_not_stable_until_the_window_passes(tmp_path: Path) -> None:
    path = tmp_path / "growing.mp4"
    path.write_bytes(b"\0" * 1000)
    tracker = StabilityTracker(window_s=5)

    assert not tracker.observe(path, now=0.0)  # first sight: no history yet
    assert not tracker.observe(path, now=3.0)
    with path.open("ab") as f:
        f.write(b"\1" * 1000)  # still being copied
    assert not tracker.observe(path, now=4.0)  # changed: the window restarts
    assert not tracker.observe(path, now=8.9)
    assert tracker.unchanged_for(path, now=8.9) == pytest.approx(4.9)
    assert tracker.observe(path, now=9.0)


def test_tracker_forgets_vanished_files(tmp_path: Path) -> None:
    path = tmp_path / "gone.mp4"
    path.write_bytes(b"x")
    tracker = StabilityTracker(window_s=1)
    tracker.observe(path, now=0.0)
    path.unlink()
    with pytest.raises(FileNotFoundError):
        tracker.observe(path, now=5.0)
    assert len(tracker) == 0


def test_a_signature_is_stable_after_the_window_and_restart_starts_it_again() -> None:
    tracker = StabilityTracker(window_s=2)
    assert not tracker.see("a.mp4", (10, 1, 1), now=0.0)
    assert tracker.see("a.mp4", (10, 1, 1), now=2.0)
    assert not tracker.see("a.mp4", (11, 2, 2), now=2.5)  # grew: a new window
    assert tracker.see("a.mp4", (11, 2, 2), now=4.5)
    tracker.restart("a.mp4", now=5.0)  # e.g. changed while being fingerprinted
    assert not tracker.see("a.mp4", (11, 2, 2), now=6.0)
    assert tracker.see("a.mp4", (11, 2, 2), now=7.0)
    tracker.restart("never-seen.mp4", now=7.0)
    assert list(tracker) == ["a.mp4"]


def test_a_zero_window_makes_a_file_stable_at_first_sight() -> None:
    assert StabilityTracker(window_s=0).see("a.mp4", (1, 1, 1), now=0.0)


def test_a_shorter_window_can_be_asked_for_one_sight() -> None:
    t = StabilityTracker(10.0)
    sig = (100, 1, 1)
    assert not t.see("a", sig, now=0.0, window=0.2)
    assert not t.see("a", sig, now=0.1, window=0.2)
    assert t.see("a", sig, now=0.2, window=0.2)
    assert not t.see("a", sig, now=0.2)  # the tracker's own window still applies otherwise
    assert not t.see("a", (101, 2, 2), now=0.3, window=0.2)  # a change starts it again
    assert t.see("b", sig, now=0.0, window=0.0)
