"""spool_layout.md is the protocol: it must name what the code uses, and only the spool
package may move spool files."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest
from spoolkit import later, new_spool, task

from spoold.spool import host, layout
from spoold.spool.lease import DaemonLease
from spoold.worker.runtime import command_handler

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "spool_layout.md").read_text()

# Modules outside spoold/spool that rename files: which primitives each may call, and why
# what it renames is not a spool file.  Never ``fsops.rename``: that one is for spool files.
# Each entry must still use what it lists (a stale entry fails), so the list stays the truth.
REPLACE = frozenset({"os.replace"})
RENAMES_ALLOWED: dict[str, tuple[frozenset[str], str]] = {
    "spoold/demo/samples.py": (REPLACE, "the sample-clip cache in /tmp"),
    "spoold/demo/run.py": (frozenset({"os.rename"}), "sample clips 'synced' into the demo inbox"),
    "spoold/server/localstate.py": (REPLACE, "the daemon's local state cache and finalize journal"),
    "spoold/workers/_contract.py": (REPLACE, "worker output files on a storage root"),
    "webui_export/index/files.py": (REPLACE, "the index manifest (read snapshots)"),
    "webui_export/index/writer.py": (REPLACE, "DuckDB snapshots"),
    "webui_export/index/snapshot.py": (REPLACE, "Parquet snapshot parts"),
    "webui_export/api/export.py": (REPLACE, "export files the user asked for"),
    "webui_export/api/thumbnails.py": (REPLACE, "the API's thumbnail cache (not on the spool)"),
    "spoold/cli/rejections.py": (REPLACE, "the CLI's rejections cache (not on the spool)"),
}
PRODUCT_PACKAGES = ("spoold", "schemas", "webui_export")

# Every primitive that gives a file a new name, by the module that provides it.  os.link
# counts (a hard link plus an unlink is a rename).  Removing files (os.unlink, fsops.unlink)
# is not checked here: temp and scratch clean-up is everywhere and names nothing new.
RENAME_PRIMITIVES: dict[str, frozenset[str]] = {
    "os": frozenset({"rename", "replace", "renames", "link"}),
    "shutil": frozenset({"move"}),
    "spoold.spool.fsops": frozenset({"rename", "rename_noreplace"}),
}


def renames_in(source: str) -> list[str]:
    """The rename calls in ``source``: ``module.name`` for the primitives above, however
    imported (``import os``, ``from os import replace as r``, ``from spoold.spool import
    fsops``), and ``Path.rename``/``Path.replace`` for a one-argument ``.rename(x)`` or
    ``.replace(x)`` on anything else (``str.replace`` takes two)."""
    tree = ast.parse(source)
    modules: dict[str, str] = {}  # local name -> module in RENAME_PRIMITIVES
    functions: dict[str, str] = {}  # local name -> "module.primitive"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in RENAME_PRIMITIVES:
                    modules[a.asname or a.name] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                full = f"{node.module}.{a.name}"
                if full in RENAME_PRIMITIVES:
                    modules[a.asname or a.name] = full
                elif a.name in RENAME_PRIMITIVES.get(node.module, ()):
                    functions[a.asname or a.name] = full
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id in functions:
            found.append(functions[f.id])
        elif isinstance(f, ast.Attribute):
            if isinstance(f.value, ast.Name) and f.value.id in modules:
                if f.attr in RENAME_PRIMITIVES[modules[f.value.id]]:
                    found.append(f"{modules[f.value.id]}.{f.attr}")
            elif f.attr in ("rename", "replace") and len(node.args) == 1 and not node.keywords:
                found.append(f"Path.{f.attr}")
    return found


def test_every_directory_and_the_marker_are_documented() -> None:
    for name in layout.DIRECTORIES:
        assert f"{name}/" in DOC, name
    assert layout.MARKER in DOC


def test_documented_names_match_the_code_patterns() -> None:
    example_claim = re.search(r"`\.\.\.([a-z][^`]+-L60\.json)`", DOC)
    assert example_claim is not None
    cn = layout.ClaimName.parse("20261125T090000Z-preprocess-x." + example_claim.group(1))
    assert cn is not None and cn.task_id == "20261125T090000Z-preprocess-x" and not cn.legacy
    assert "`^[A-Za-z0-9._-]+$`" in DOC and layout.PORTABLE_RE.pattern == "^[A-Za-z0-9._-]+$"
    for m in re.finditer(r"(\d{8}T\d{6}Z-[a-z_]+-[A-Za-z0-9_.-]+?)\.json", DOC):
        assert layout.TASK_FILE_RE.match(m.group(1) + ".json"), m.group(0)
    assert "`YYYYMMDDTHHMMSSZ`" in DOC and layout.day_of("20261125T101530Z-x-y") == "2026-11-25"


def test_the_worker_environment_is_documented() -> None:
    import inspect

    src = inspect.getsource(command_handler)
    for var in sorted(set(re.findall(r"(SPOOLD_[A-Z_]+)=", src))):
        assert f"`{var}`" in DOC, var


def test_the_rename_finder_sees_every_primitive() -> None:
    """The check below is only as good as this finder: each way of renaming is seen, and
    look-alikes (``str.replace``, an unrelated ``rename`` method with keywords) are not."""
    cases = {
        "import os\nos.rename(a, b)": ["os.rename"],
        "import os as o\no.replace(a, b)": ["os.replace"],
        "import os\nos.renames(a, b); os.link(a, b)": ["os.renames", "os.link"],
        "from os import replace as r\nr(a, b)": ["os.replace"],
        "import shutil\nshutil.move(a, b)": ["shutil.move"],
        "from shutil import move\nmove(a, b)": ["shutil.move"],
        "from spoold.spool import fsops\nfsops.rename(a, b, dst_unique=False)": [
            "spoold.spool.fsops.rename"
        ],
        "from spoold.spool.fsops import rename\nrename(a, b)": ["spoold.spool.fsops.rename"],
        "Path(a).rename(b)": ["Path.rename"],
        "tmp.replace(final)": ["Path.replace"],
        "name.replace('-', '_')": [],
        "df.rename(columns=cols)": [],
        "import os\nos.unlink(a); os.path.join(a, b)": [],
    }
    for source, want in cases.items():
        assert sorted(renames_in(source)) == sorted(want), source
    assert renames_in((ROOT / "spoold/spool/lander.py").read_text()), "the spool renames"


def test_only_the_spool_package_renames_files() -> None:
    offenders: dict[str, list[str]] = {}
    stale: dict[str, list[str]] = {}
    for pkg in PRODUCT_PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("spoold/spool/"):
                continue
            found = renames_in(path.read_text())
            allowed = RENAMES_ALLOWED.get(rel, (frozenset(), ""))[0]
            if bad := [f for f in found if f not in allowed]:
                offenders[rel] = bad
            if unused := sorted(allowed - set(found)):
                stale[rel] = unused
    for rel, (allowed, _) in RENAMES_ALLOWED.items():
        if not (ROOT / rel).exists():
            stale[rel] = sorted(allowed)  # moved or removed
    assert offenders == {}, "rename spool files only through spoold.spool (or list it above)"
    assert stale == {}, "these no longer rename that way: update RENAMES_ALLOWED"


def test_every_cli_command_is_in_the_readme() -> None:
    from spoold.cli.main import cli

    readme = (ROOT / "README.md").read_text()
    for name in cli.commands:  # type: ignore[attr-defined]
        assert f"spoold {name}" in readme, name


@pytest.mark.parametrize("hostname", ["Odd Host@lab", "émile's-mac.local", "x%40y", "."])
def test_every_name_the_code_writes_is_portable(tmp_path: Path, monkeypatch, hostname: str) -> None:  # type: ignore[no-untyped-def]
    """Claims, pinned queues, the quarantine, spares, temp files, clock probes and the daemon's
    lease, written on a host with an odd name: every name matches the portable set."""
    monkeypatch.setattr(host.socket, "gethostname", lambda: hostname)
    spool = new_spool(tmp_path)  # fsync off: finished claims become spares
    seen: set[str] = set()

    def look() -> None:
        for _, dirs, files in os.walk(spool.root):
            seen.update(dirs, files)

    spool.publish(task(spool, "a.b", device="jetson-01"))
    spool.publish(task(spool, "c"))
    bad = spool.root / "pending/jetson/20261125T000000Z-preprocess-bad.json"
    bad.write_text("{ broken")
    claims = [spool.claim("jetson", "jetson-01") for _ in range(2)]
    lease = DaemonLease(spool)
    lease.acquire()
    look()
    for c in claims:
        assert c is not None
        c.complete() if c.task_id.endswith("a.b") else c.fail("boom")
    look()
    spool.publish(task(spool, "d"))
    later(spool, 3600)
    c = spool.claim("jetson", "jetson-02")
    assert c is not None
    look()
    assert any(n.startswith("clock.") for n in seen) and any(n.endswith(".spare") for n in seen)
    assert any(n.startswith("held.") for n in seen) and "jetson.jetson-01" in seen
    assert "invalid" in seen and any(layout.ClaimName.parse(n) for n in seen)
    assert sorted(n for n in seen if not layout.PORTABLE_RE.match(n)) == []
