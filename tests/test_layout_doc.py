"""spool_layout.md is the protocol: it must name what the code uses, and only the spool
package may move spool files."""

from __future__ import annotations

import re
from pathlib import Path

from spoold.spool import layout
from spoold.worker.runtime import command_handler

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "spool_layout.md").read_text()

# Modules outside spoold/spool that rename files, and why that is not a spool file.
RENAMES_ALLOWED: dict[str, str] = {
    "spoold/demo/samples.py": "the sample-clip cache in /tmp",
    "spoold/demo/run.py": "sample clips 'synced' into the demo NAS inbox",
    "spoold/server/daemon.py": "the daemon's local state file (a cache outside the spool)",
    "spoold/workers/_contract.py": "worker output files on a storage root, not spool files",
    "webui_export/index/files.py": "the index manifest (read snapshots), not spool files",
    "webui_export/index/writer.py": "DuckDB snapshots, not spool files",
    "webui_export/index/snapshot.py": "Parquet snapshot parts, not spool files",
    "webui_export/api/export.py": "export files the user asked for",
}


def test_every_directory_and_the_marker_are_documented() -> None:
    for name in layout.DIRECTORIES:
        assert f"{name}/" in DOC, name
    assert layout.MARKER in DOC


def test_documented_names_match_the_code_patterns() -> None:
    example_claim = re.search(r"`(\.\.\.)?(@[^`]+-L60\.json)`", DOC)
    assert example_claim is not None
    assert (
        layout.ClaimName.parse("20261125T090000Z-preprocess-x" + example_claim.group(2)) is not None
    )
    for m in re.finditer(r"(\d{8}T\d{6}Z-[a-z_]+-[A-Za-z0-9_.-]+?)\.json", DOC):
        assert layout.TASK_FILE_RE.match(m.group(1) + ".json"), m.group(0)
    assert "`YYYYMMDDTHHMMSSZ`" in DOC and layout.day_of("20261125T101530Z-x-y") == "2026-11-25"


def test_the_worker_environment_is_documented() -> None:
    import inspect

    src = inspect.getsource(command_handler)
    for var in sorted(set(re.findall(r"(SPOOLD_[A-Z_]+)=", src))):
        assert f"`{var}`" in DOC, var


def test_only_the_spool_package_renames_files() -> None:
    pattern = re.compile(r"\bos\.(rename|replace|link|renames)\(|shutil\.move\(")
    offenders = []
    for pkg in ("spoold", "schemas", "webui_export"):
        for path in (ROOT / pkg).rglob("*.py"):
            rel = str(path.relative_to(ROOT))
            if rel.startswith("spoold/spool/") or rel in RENAMES_ALLOWED:
                continue
            if pattern.search(path.read_text()):
                offenders.append(rel)
    assert offenders == []


def test_every_cli_command_is_in_the_readme() -> None:
    from spoold.cli.main import cli

    readme = (ROOT / "README.md").read_text()
    for name in cli.commands:  # type: ignore[attr-defined]
        assert f"spoold {name}" in readme, name
