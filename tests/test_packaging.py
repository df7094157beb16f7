"""The wheel, built by pip from pyproject.toml and installed into a fresh venv without a checkout.

It must carry the LICENSE and the example config (``spoold.data.example_config_text``), and the
installed ``spoold`` must run.  ``--no-deps`` keeps the test offline: the fresh venv reaches
this venv's third-party packages through a ``.pth`` line, while spoold itself is only the
wheel's copy (this venv's editable install is not visible there).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import spoold
from spoold.data import example_config_text

ROOT = Path(__file__).resolve().parent.parent
#: What the build reads (copied, so that the build's build/ and egg-info stay out of the tree).
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "spoold.example.toml")
PACKAGES = ("spoold", "schemas", "webui_export")


def test_the_packaged_example_config_is_the_top_level_one() -> None:
    top = (ROOT / "spoold.example.toml").read_text(encoding="utf-8")
    assert example_config_text() == top
    assert (ROOT / "spoold" / "data" / "spoold.example.toml").read_bytes() == top.encode()


def test_license_is_mit_as_pyproject_says() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert 'license = "MIT"' in (ROOT / "pyproject.toml").read_text()


def _run(*cmd: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run ``cmd``; fail the test with its output unless it exits 0; return its stdout."""
    r = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        shutil.copy2(ROOT / name, src / name)
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", out, ".", cwd=src)
    (whl,) = out.glob("spoold-*.whl")
    return whl


def test_the_wheel_carries_license_and_example_config(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        dist_info = f"spoold-{spoold.__version__}.dist-info"
        assert f"{dist_info}/licenses/LICENSE" in names
        assert z.read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        assert "spoold/data/spoold.example.toml" in names
        example = z.read("spoold/data/spoold.example.toml")
        assert example == (ROOT / "spoold.example.toml").read_bytes()
        metadata = z.read(f"{dist_info}/METADATA").decode()
        assert "License-Expression: MIT" in metadata
        # Sources only: no tests, caches or build leftovers.
        assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n]


def test_the_wheel_installed_without_a_checkout_runs(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "-q",
        "--no-deps",
        wheel,
        cwd=tmp_path,
    )
    site = _run(
        python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path
    )
    (Path(site.strip()) / "zz_host_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    assert spoold.__version__ in _run(venv / "bin" / "spoold", "--version", cwd=tmp_path, env=env)
    probe = (
        "import spoold, spoold.data; print(spoold.__file__, len(spoold.data.example_config_text()))"
    )
    where, size = _run(python, "-c", probe, cwd=tmp_path, env=env).split()
    assert Path(where).is_relative_to(venv), where
    assert int(size) == len(example_config_text())
