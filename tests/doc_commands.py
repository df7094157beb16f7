"""The command lines a document prints, for tests that run them exactly as printed.

Public: :func:`fenced_blocks`, :func:`shell_commands`, ``MAIN``.
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


def _complete(text: str) -> bool:
    """Whether ``text`` is a whole shell command (no open quote, no continuation)."""
    if text.rstrip().endswith(("\\", "|", "&&")):
        return False
    try:
        shlex.split(text, comments=True)
    except ValueError:  # an open quote: the command goes on
        return False
    return True


def shell_commands(block: str) -> list[str]:
    """The commands of a shell block, each as printed (continued lines joined by newlines);
    blank and comment-only lines are left out."""
    out: list[str] = []
    current = ""
    for line in block.splitlines():
        current = f"{current}\n{line}" if current else line
        if _complete(current):
            if shlex.split(current, comments=True):
                out.append(current)
            current = ""
    if current:
        raise ValueError(f"unfinished shell command in a document: {current!r}")
    return out
