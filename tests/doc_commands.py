"""The command lines a document prints, for tests that run them exactly as printed.

Not a test module; tests import it (``tests/`` is on ``sys.path`` under pytest).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

MAIN = Path(__file__).resolve().parent.parent

_FENCE = re.compile(r"^```(\w*)\s*$")


def fenced_blocks(doc: Path, lang: str) -> list[str]:
    """The text of every fenced block of language ``lang`` in ``doc``, in order."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in doc.read_text().splitlines():
        m = _FENCE.match(line)
        if current is None and m and m.group(1) == lang:
            current = []
        elif current is not None and line.strip() == "```":
            blocks.append("\n".join(current) + "\n")
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def command_lines(doc: Path) -> list[list[str]]:
    """Every command line of the ``sh`` blocks of ``doc``, as the shell would split it (a
    trailing ``# comment`` is the shell's comment, not an argument)."""
    out = []
    for block in fenced_blocks(doc, "sh"):
        for line in block.splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                out.append(argv)
    return out
