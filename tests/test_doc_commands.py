"""The install commands of the README and docs/deploy.md run as printed: ``make wheel``, then
``pip install`` of the wheel (and of the checkout) into a fresh venv, then
``spoold config example``.

They run in a copy of the sources whose ``.venv`` has this venv's pip (``make wheel`` builds
with it) and with a fresh venv's ``pip`` first on ``$PATH``.  That venv sees this venv's third-party
packages through a ``.pth`` line to a folder of links that leaves out spoold itself, so pip
finds every dependency installed (no download) and installs spoold only from the wheel or
the checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import spoold

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "spoold.example.toml", "Makefile")
PACKAGES = ("spoold", "schemas", "webui_export")


def install_section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme[readme.index("## Install\n") : readme.index("## Commands\n")]


def sh(script: str, cwd: Path, env: dict[str, str]) -> str:
    r = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, f"{script}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def checkout(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        shutil.copy2(ROOT / name, src / name)
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    # make's venv: this venv's pip, and an install marker newer than pyproject.toml, so that
    # make never installs into this venv from the copy.
    bin_dir = src / ".venv/bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "pip").symlink_to(Path(sys.prefix) / "bin/pip")
    os.utime(src / "pyproject.toml", (0, 0))
    (bin_dir / ".installed").touch()
    return src


def fresh_venv(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A venv with pip whose dependencies are this venv's, spoold itself left out."""
    deps = tmp_path / "deps"
    deps.mkdir(parents=True)
    skip = ("spoold", "__editable__", "pip", "_distutils_hack", "distutils-precedence")
    for entry in Path(sysconfig.get_path("purelib")).iterdir():
        if not entry.name.startswith(skip) and not entry.name.endswith(".pth"):
            (deps / entry.name).symlink_to(entry)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=300)
    site = subprocess.run(
        [venv / "bin/python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "zz_deps.pth").write_text(f"{deps}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return venv, env


def test_the_readme_install_commands_run_as_printed(tmp_path: Path) -> None:
    section = install_section()
    (block,) = re.findall(r"```sh\n(.*?)```", section, re.S)
    prose = re.sub(r"```sh\n.*?```", "", section, flags=re.S)
    inline = [c for c in re.findall(r"`([^`]+)`", prose) if c.startswith(("pip ", "spoold config"))]
    assert inline == [
        "pip install .",
        "pip install '.[server]'",
        "spoold config example > spoold.toml",
    ]

    src = checkout(tmp_path)
    venv, env = fresh_venv(tmp_path / "from-wheel")
    sh(block, src, env)  # make wheel; pip install the wheel; pip install the wheel[server]
    spoold = venv / "bin/spoold"
    # Outside the checkout: in it, `python -c` would import the checkout's spoold.
    where = sh(
        f"{spoold} --version; python -c 'import spoold; print(spoold.__file__)'", tmp_path, env
    )
    assert str(venv) in where  # the wheel's copy, not this checkout's
    assert "spoold serve" in sh(
        "spoold serve --help", tmp_path, env
    )  # the server extra's commands are real

    sh(inline[2], tmp_path, env)
    assert (tmp_path / "spoold.toml").read_text() == (ROOT / "spoold.example.toml").read_text()

    venv, env = fresh_venv(tmp_path / "from-checkout")
    sh(inline[0], src, env)
    sh(inline[1], src, env)
    assert str(venv) in sh("python -c 'import spoold; print(spoold.__file__)'", tmp_path, env)


DEPLOY_LINES = (
    'python3 -m venv /opt/spoold && /opt/spoold/bin/pip install "$(ls dist/spoold-*.whl)[server]"',
    "mkdir -p /etc/spoold && /opt/spoold/bin/spoold config example > /etc/spoold/spoold.toml",
    'python3 -m venv /opt/spoold && /opt/spoold/bin/pip install "$(ls dist/spoold-*.whl)[workers]"',
)


def test_the_deploy_install_lines_run_as_printed(tmp_path: Path) -> None:
    """docs/deploy.md's install lines, as root, in a mount namespace where /etc and /opt are
    overlays onto temporary folders (the host's stay untouched)."""
    doc = (ROOT / "docs/deploy.md").read_text()
    for line in DEPLOY_LINES:
        assert f"\n{line}" in doc, line
    src = checkout(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    sh("make wheel", src, env)
    layers = tmp_path / "layers"
    mounts = []
    for target in ("/etc", "/opt"):
        upper, work = layers / f"{target[1:]}-upper", layers / f"{target[1:]}-work"
        upper.mkdir(parents=True)
        work.mkdir()
        opts = f"lowerdir={target},upperdir={upper},workdir={work}"
        mounts.append(f"mount -t overlay overlay -o {opts} {target}")
    script = " && ".join([*mounts, *DEPLOY_LINES, "/opt/spoold/bin/spoold --version"])
    out = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "bash",
            "-euo",
            "pipefail",
            "-c",
            script,
        ],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.strip().endswith(f"spoold, version {spoold.__version__}")
    written = layers / "etc-upper/spoold/spoold.toml"
    assert written.read_text() == (ROOT / "spoold.example.toml").read_text()
    assert (layers / "opt-upper/spoold/bin/spoold").exists()
