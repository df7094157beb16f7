"""A real gunicorn with several workers serves the API while a writer process finalizes.

The invariant: readers never block the writer and the writer never breaks readers: every
request is answered 200/304 (never a lock error, a 500 or a 503), and each newly published
video is visible through the server within seconds.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from webui_export.index.writer import Indexer

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, timeout: float = 10.0) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def wait_until(condition, timeout: float, what: str, proc: subprocess.Popen | None = None):
    """Poll ``condition`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"{what}: process exited with {proc.returncode}:\n{out}")
        try:
            result = condition()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def stop(proc: subprocess.Popen) -> str:
    """Terminate, wait, kill if needed; return what it printed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # gunicorn: quick shutdown
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return proc.stdout.read() if proc.stdout else ""


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen]]:
    index = tmp_path / "index"
    with Indexer(index):
        pass  # publishes the empty generation 1
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "webui_export.api.server", "--index-dir", str(index),
         "--port", str(port), "--workers", "3"],
        cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: get(f"{base}/api/openapi.json", 2)[0] == 200, 30, "server up", proc)
        yield base, index, proc
    finally:
        log = stop(proc)
        assert "Conflicting lock" not in log and "Traceback" not in log, log


def writer(index: Path, files: Path, count: int, first: int = 0) -> subprocess.Popen:
    code = (
        "import sys; from pathlib import Path; from spoold.demo.synth import finalize_stream\n"
        "finalize_stream(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]),"
        " first=int(sys.argv[4]))\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(index), str(files), str(count), str(first)],
        cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


@dataclass
class Load:
    """Reader threads hammering the server; they record every status they get."""

    base: str
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def _run(self, urls: list[str]) -> None:
        n = 0
        while not self.stop.is_set() and n < 5000:  # bounded
            url = urls[n % len(urls)]
            n += 1
            status, body = get(self.base + url)
            self.statuses[status] += 1
            if status not in (200, 304):
                self.errors.append(f"{url} -> {status} {body}")

    def start(self, threads: int = 4) -> None:
        urls = ["/api/videos?limit=5", "/api/stats", "/api/plates?q=ST0",
                "/api/plates/ST001/timeline", "/api/videos?has_plate=true&limit=2"]  # fmt: skip
        for _ in range(threads):
            thread = threading.Thread(target=self._run, args=(urls,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def test_gunicorn_workers_read_while_a_writer_finalizes(server, tmp_path: Path) -> None:
    base, index, _ = server
    load = Load(base)
    load.start()
    count = 12
    proc = writer(index, tmp_path / "files", count)
    visible_after: list[float] = []
    try:
        for line in proc.stdout:  # one line per published video
            if not line.startswith("published "):
                continue
            video_id = line.split()[1]
            published = time.monotonic()
            wait_until(
                lambda v=video_id: get(f"{base}/api/videos/{v}")[0] == 200, 10, f"{video_id} visible"
            )  # fmt: skip
            visible_after.append(time.monotonic() - published)
        assert proc.wait(timeout=120) == 0
    finally:
        stop(proc)
        load.finish()
    assert len(visible_after) == count
    assert not load.errors, load.errors[:5]
    assert load.statuses[200] > 0
    status, body = get(f"{base}/api/videos?limit=100")
    assert status == 200 and len(body["rows"]) == count
    # every worker serves the newest generation once it looks (no stale worker)
    generations = {get(f"{base}/api/stats")[1]["generation"] for _ in range(12)}
    assert len(generations) == 1


def test_the_writer_can_restart_while_readers_are_busy(server, tmp_path: Path) -> None:
    """Readers never hold live.duckdb, so a (re)starting writer always gets its lock."""
    base, index, _ = server
    load = Load(base)
    load.start(threads=2)
    try:
        for round_ in range(2):
            proc = writer(index, tmp_path / "files", 2, first=10 * round_)
            out = proc.communicate(timeout=120)[0]
            assert proc.returncode == 0, out
    finally:
        load.finish()
    assert not load.errors, load.errors[:5]
    assert len(get(f"{base}/api/videos?limit=100")[1]["rows"]) == 4


def test_server_rejects_writes_and_binds_loopback(server) -> None:
    base, _, _ = server
    request = urllib.request.Request(f"{base}/api/videos", method="POST", data=b"{}")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 405
    assert base.startswith("http://127.0.0.1:")
