"""The accept/defer/reject tables of docs/daemon.md and docs/reliability.md state exactly
what the code does: their reason texts are the code's ``REASON_*`` constants (all of them)
and each row's verdict is the code's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spoold.server import media
from spoold.server.executors import ingest

DOCS = Path(__file__).resolve().parents[1] / "docs"
ROW = re.compile(r"^\| `(?P<reason>[^`]+)` \| (?P<verdict>\w+) \|")


def code_reasons() -> dict[str, str]:
    """Every REASON_* constant of the media module and the ingest executor → its verdict."""
    names = {
        getattr(mod, n) for mod in (media, ingest) for n in dir(mod) if n.startswith("REASON_")
    }
    assert names == set(ingest.VERDICTS), "a REASON_* constant without a verdict (or back)"
    return dict(ingest.VERDICTS)


def doc_table(name: str) -> dict[str, str]:
    text = (DOCS / name).read_text()
    block = text.split("<!-- ingest-verdicts", 1)[1].split("<!-- /ingest-verdicts -->", 1)[0]
    rows = [m.groupdict() for line in block.splitlines() if (m := ROW.match(line))]
    table = {r["reason"]: r["verdict"] for r in rows}
    assert len(table) == len(rows), f"{name}: a reason listed twice"
    return table


@pytest.mark.parametrize("doc", ["daemon.md", "reliability.md"])
def test_the_docs_table_is_the_codes(doc: str) -> None:
    assert doc_table(doc) == code_reasons()


def test_deferred_reasons_are_what_the_executor_defers() -> None:
    deferred = {r for r, v in code_reasons().items() if v == "deferred"}
    assert deferred == media.INCOMPLETE_REASONS
