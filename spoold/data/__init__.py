"""Files shipped inside the package (the wheel), for installs without a checkout.

Public API: :func:`example_config_text`.

``spoold.example.toml`` here is a byte-for-byte copy of the checkout's top-level file, which
error messages and docs name (tests/test_packaging.py keeps the two identical): an installed
spoold prints it so the operator can start from it (``spoold config example``).
"""

from __future__ import annotations

from importlib.resources import files

EXAMPLE_CONFIG = "spoold.example.toml"


def example_config_text() -> str:
    """The annotated example ``spoold.toml``: every setting with its default."""
    return files(__name__).joinpath(EXAMPLE_CONFIG).read_text(encoding="utf-8")
