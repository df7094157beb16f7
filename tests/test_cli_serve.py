"""``spoold serve`` and ``spoold demo`` from outside: the API token and CORS origins set in
the environment or in ``[api]`` are enforced by a real server; a taken port is one line and
exit 2; SIGTERM to the demo leaves none of its processes running."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from webui_export.index.writer import Indexer

SPOOLD = [sys.executable, "-m", "spoold"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.fixture
def index(tmp_path: Path) -> Path:
    with Indexer(tmp_path / "index"):
        pass  # publishes the empty generation 1
    return tmp_path / "index"


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str]) -> str:
        proc = subprocess.Popen(
            [*SPOOLD, "serve", "--workers", "1", *args],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        procs.append(proc)
        assert proc.stderr is not None
        line = proc.stderr.readline()  # "serving INDEX on http://HOST:PORT/ (...)"
        m = re.search(r"on (http://\S+)/ ", line)
        assert m, line + proc.communicate(timeout=30)[1]
        deadline = time.monotonic() + 60
        while True:
            try:
                if get(f"{m[1]}/api/openapi.json")[0] == 200:
                    return m[1]
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server never came up"
            time.sleep(0.2)

    yield start
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)
            p.wait(timeout=30)


def test_a_token_from_the_environment_is_required(serve, index: Path) -> None:  # type: ignore[no-untyped-def]
    env = dict(os.environ, SPOOLD_API_TOKEN="s3cret-from-env")
    base = serve("--index-dir", str(index), "--port", str(free_port()), env=env)
    status, headers, body = get(f"{base}/api/videos")
    assert status == 401 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["status"] == 401
    assert get(f"{base}/api/videos", {"Authorization": "Bearer wrong"})[0] == 401
    assert get(f"{base}/api/videos", {"Authorization": "Bearer s3cret-from-env"})[0] == 200


def test_the_api_section_and_its_environment_overrides(  # type: ignore[no-untyped-def]
    serve, index: Path, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text("s3cret-from-file\n")
    config = tmp_path / "spoold.toml"
    config.write_text(
        f'[spool]\nroot = "spool"\n[index]\ndir = "{index}"\n'
        f'[api]\nport = {free_port()}\ntoken_file = "token"\n'
        'cors_origins = ["https://from-file.example"]\ndefault_page_size = 5\nmax_page_size = 7\n'
    )
    port = free_port()
    env = dict(os.environ, SPOOLD_API_PORT=str(port), SPOOLD_CORS_ORIGINS="https://env.example")
    env.pop("SPOOLD_API_TOKEN", None)
    base = serve("--config", str(config), env=env)
    assert base == f"http://127.0.0.1:{port}"  # the environment overrides [api] port
    auth = {"Authorization": "Bearer s3cret-from-file"}
    assert get(f"{base}/api/videos")[0] == 401
    status, headers, _ = get(f"{base}/api/videos", {**auth, "Origin": "https://env.example"})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "https://env.example"
    _, headers, _ = get(f"{base}/api/videos", {**auth, "Origin": "https://from-file.example"})
    assert "Access-Control-Allow-Origin" not in headers
    status, _, body = get(f"{base}/api/videos?limit=8", auth)  # [api] max_page_size = 7
    assert status == 400, body


def test_a_taken_port_is_one_line_and_exit_2(index: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [*SPOOLD, "serve", "--index-dir", str(index), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 2
    assert out.stderr == (
        f"spoold serve: port {port} on 127.0.0.1 is taken (another server listens there): "
        "choose another with --port N or --host ADDR, or set [api] port / host in spoold.toml "
        "($SPOOLD_API_PORT, $SPOOLD_API_HOST)\n"
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead: it only waits for its parent to read its status.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_sigterm_to_the_demo_stops_every_process_it_started(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [*SPOOLD, "demo", "--dir", str(tmp_path / "demo"), "--port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert demo.stdout is not None
    pids: list[int] = []
    for line in demo.stdout:
        if line.startswith("started: "):
            pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", line)]
            break
    assert len(pids) == 4, "the demo never said what it started"
    # Every child's own children too: gunicorn's workers, a worker's running COMMAND.
    time.sleep(3)
    family = set(pids)
    for pid in pids:
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists():
            family |= {int(c) for c in children.read_text().split()}
    demo.send_signal(signal.SIGTERM)
    rest = demo.communicate(timeout=90)[0]
    assert demo.returncode == 1, rest  # stopped before every plate was found
    deadline = time.monotonic() + 30
    while any(alive(p) for p in family) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [p for p in family if alive(p)] == [], rest


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("SPOOLD_API_PORT", "abc", "$SPOOLD_API_PORT: Input should be a valid integer"),
        ("SPOOLD_CORS_ORIGINS", "[1", "$SPOOLD_CORS_ORIGINS: not a JSON list"),
        ("SPOOLD_MAX_PAGE_SIZE", "10", "[api]: Value error, default_page_size must not exceed"),
        (
            "SPOOLD_API_TOKEN_FILE",
            "/nonexistent/token",
            "API token file /nonexistent/token ([api] token_file or $SPOOLD_API_TOKEN_FILE): No such",
        ),
    ],
)
def test_a_bad_environment_override_is_one_line_naming_it(
    index: Path, var: str, value: str, message: str
) -> None:
    out = subprocess.run(
        [*SPOOLD, "serve", "--index-dir", str(index), "--port", str(free_port())],
        env=dict(os.environ, **{var: value}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1, out.stderr
    assert out.stderr.startswith(f"Error: {message}") and out.stderr.count("\n") == 1, out.stderr


def test_a_host_passing_no_token_leaves_the_environments_in_force(
    index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webui_export.api.app import create_app

    monkeypatch.setenv("SPOOLD_API_TOKEN", "from-env")
    app = create_app({"INDEX_DIR": str(index), "API_TOKEN": None, "SPOOL_ROOT": None})
    assert app.config["API_TOKEN"] == "from-env"
    assert app.test_client().get("/api/videos").status_code == 401
