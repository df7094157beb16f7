"""The command line as installed: the server commands on a worker install (no server extra)
say what to install and exit 2; ``spoold init`` refuses a missing parent (an unmounted
share); ``spoold config example`` prints the shipped example config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spoold.cli.main import SERVER_COMMANDS
from spoold.data import example_config_text
from spoold.server.settings import load_settings

SPOOLD = [sys.executable, "-m", "spoold"]

# A worker install: the server extra's modules cannot be found (find_spec gives None) or
# imported, in every process that Python starts with this folder on PYTHONPATH.
BLOCKER = """\
import sys
for name in ("duckdb", "flask", "watchdog", "gunicorn", "pyarrow", "pymediainfo"):
    sys.modules[name] = None
"""


@pytest.fixture
def worker_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, PYTHONPATH=path)


def spoold(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SPOOLD, *args], capture_output=True, text=True, env=env, timeout=60)


def test_the_blocker_hides_the_server_extra(worker_env: dict[str, str]) -> None:
    probe = "import importlib.util as u; print(u.find_spec('duckdb'), u.find_spec('flask'))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=worker_env, check=True
    )
    assert out.stdout.split() == ["None", "None"]


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--config", "/etc/spoold/spoold.toml", "--port", "8080"],
        ["export", "gpx", "v1", "-o", "x.gpx"],
        ["backfill", "--config", "spoold.toml"],
        ["demo"],
        ["run", "--config", "spoold.toml", "--log-format", "json"],
        ["serve", "--help"],
    ],
)
def test_server_commands_on_a_worker_install_name_the_extra_and_exit_2(
    worker_env: dict[str, str], args: list[str]
) -> None:
    out = spoold(*args, env=worker_env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stdout == ""
    assert out.stderr == (
        f"spoold {args[0]}: needs the server extra, which this install lacks: "
        "pip install 'spoold[server]'\n"
    )


def test_a_worker_install_lists_them_and_still_works(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    helptext = spoold("--help", env=worker_env).stdout
    for name in SERVER_COMMANDS:
        assert f"  {name}" in helptext and "(needs pip install 'spoold[server]')" in helptext
    spool = tmp_path / "spool"
    assert spoold("init", str(spool), env=worker_env).returncode == 0
    out = spoold("status", "--spool", str(spool), env=worker_env)
    assert out.returncode == 0, out.stderr


def test_init_refuses_a_missing_parent_unless_parents(tmp_path: Path) -> None:
    typo = tmp_path / "mnt" / "spoool" / "spool"
    out = spoold("init", str(typo))
    assert out.returncode == 1
    assert f"{typo.parent} does not exist: is the share mounted?" in out.stderr
    assert "--parents" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "mnt").exists()  # nothing was created
    out = spoold("init", "--parents", str(typo))
    assert out.returncode == 0, out.stderr
    assert (typo / ".spoold-spool").is_file()
    # An existing parent needs no flag, and init stays idempotent.
    assert spoold("init", str(typo)).returncode == 0
    assert spoold("init", str(tmp_path / "second")).returncode == 0


def test_config_example_prints_the_shipped_example(tmp_path: Path) -> None:
    out = subprocess.run(
        "spoold config example > spoold.toml",
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"),
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "spoold.toml").read_text(encoding="utf-8")
    assert text == example_config_text() and "[api]" in text
    assert load_settings(tmp_path / "spoold.toml").api.port == 8080
