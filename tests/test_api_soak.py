"""Soak: Schemathesis fuzzes a real gunicorn (4 workers) while a writer finalizes big videos."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_api_server import REPO, Load, env, free_port, get, stop, wait_until, writer

from spoold.demo.synth import build_demo_index

pytestmark = pytest.mark.slow

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,negative_data_rejection"
)


@pytest.mark.timeout(900)
def test_fuzzing_a_live_server_while_the_index_changes(tmp_path: Path) -> None:
    demo = build_demo_index(tmp_path / "index", tmp_path / "files")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "webui_export.api.server", "--index-dir", str(demo.index_dir),
         "--port", str(port), "--workers", "4"],
        cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    load = Load(base)
    proc = None
    try:
        wait_until(lambda: get(f"{base}/api/openapi.json", 2)[0] == 200, 30, "server up", server)
        load.start(threads=2)
        proc = writer(demo.index_dir, tmp_path / "stream", 150)
        st = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
        assert st, "schemathesis is not installed in this environment"
        fuzz = subprocess.run(
            [st, "run", f"{base}/api/openapi.json", "--checks", CHECKS, "--mode", "all",
             "-n", "100", "--request-timeout", "30", "--seed", "1"],
            cwd=tmp_path, capture_output=True, text=True, timeout=800, check=False,
        )  # fmt: skip
        assert fuzz.returncode == 0, fuzz.stdout[-4000:] + fuzz.stderr[-2000:]
        assert proc.wait(timeout=600) == 0
        wait_until(
            lambda: get(f"{base}/api/stats")[1]["index"]["counts"]["videos"] == 158,
            10,
            "all 150 streamed videos visible",
        )
    finally:
        load.finish()
        if proc is not None:
            stop(proc)
        log = stop(server)
    assert not load.errors, load.errors[:5]
    assert "Traceback" not in log and "Conflicting lock" not in log, log[-4000:]
