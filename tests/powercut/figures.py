"""Where the power-cut tests leave their figures: ``test-output/powercut/NAME.json`` (this run)
and ``NAME-runs.jsonl`` (every run); docs/reliability.md quotes them.

Public API: :func:`write_figures`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[2] / "test-output" / "powercut"


def write_figures(name: str, figures: dict[str, Any]) -> None:
    """Write this run's ``figures`` (and append them to the runs log), and print them."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
    with open(OUT / f"{name}-runs.jsonl", "a") as fh:
        fh.write(json.dumps(figures) + "\n")
    print(f"\n{name}: {json.dumps(figures)}")
