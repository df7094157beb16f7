"""What a user sees through the read API's Flask app, for the tests.

Not a test module; tests import it (``tests/`` is on ``sys.path`` under pytest).
"""

from __future__ import annotations

import re
from typing import Any


def dashboard_html(c: Any) -> str:
    """The dashboard as a browser shows it: the page and the panels it loads (``data-src``),
    from a Flask test client ``c``."""
    page = str(c.get("/").get_data(as_text=True))
    for src in re.findall(r'data-src="(/[^"]+)"', page):
        page += c.get(src).get_data(as_text=True)
    return page
