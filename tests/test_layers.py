"""The layers of the code point one way, and the import contracts that say so really bite.

`make lint` runs `lint-imports` with the contracts in pyproject.toml ([tool.importlinter]).
These tests run the same contracts on a copy of the tree into which one forbidden arrow is
written, so a contract that silently stopped matching anything would be caught.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _copy_tree(dst: Path) -> None:
    for pkg in ("schemas", "spoold", "webui_export"):
        shutil.copytree(ROOT / pkg, dst / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dst / "pyproject.toml")


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH first: the copy, not the editable install, is what gets analysed.
    return subprocess.run(
        [str(LINT), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_the_tree_keeps_every_contract() -> None:
    out = _lint(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert ", 0 broken." in out.stdout, out.stdout


@pytest.mark.parametrize(
    ("module", "arrow", "contract"),
    [
        ("schemas/task.py", "import spoold.spool", "schemas imports nothing of ours"),
        ("spoold/spool/layout.py", "import spoold.server.daemon", "the spool protocol imports"),
        ("spoold/spool/layout.py", "import click", "the spool protocol imports"),
        ("spoold/worker/runtime.py", "import duckdb", "the worker side never imports"),
        ("spoold/workers/gps.py", "import webui_export.index.writer", "the worker side never"),
        ("spoold/cli/tasks.py", "import spoold.server.daemon", "the worker-side commands"),
        ("spoold/cli/work.py", "import spoold.cli.server", "the worker-side commands"),
        ("webui_export/api/routes.py", "import spoold.server.daemon", "the index and the API"),
        ("webui_export/index/writer.py", "import webui_export.api.db", "the index (the single"),
        ("spoold/server/pipeline.py", "import webui_export.api.app", "the server side never"),
        ("spoold/server/storage.py", "import spoold.server.daemon", "no import cycles"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, arrow: str, contract: str
) -> None:
    _copy_tree(tmp_path)
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{arrow}  # injected by the test\n")
    out = _lint(tmp_path)
    assert out.returncode != 0, out.stdout
    broken = out.stdout.split("Broken contracts")[-1]
    assert contract in broken, out.stdout
