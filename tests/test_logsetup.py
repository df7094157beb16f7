"""spoold.logsetup: the one place log handlers are set, as text or JSON lines on stderr."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from spoold.logsetup import setup_logging


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    """The root logger, with its handlers and level put back afterwards."""
    logger = logging.getLogger()
    saved = (list(logger.handlers), logger.level)
    yield logger
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])


def test_json_lines_carry_the_extra_fields(
    root: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging(logging.INFO, "json")
    logging.getLogger("spoold.test").info("claimed %s", "t1", extra={"event": "claim"})
    logging.getLogger("spoold.test").debug("not shown")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["level"] == "info" and rec["logger"] == "spoold.test"
    assert rec["msg"] == "claimed t1" and rec["event"] == "claim"


def test_text_lines_name_level_and_logger(
    root: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging(logging.WARNING)
    logging.getLogger("spoold.test").warning("disk full")
    assert capsys.readouterr().err.rstrip().endswith(" WARNING spoold.test: disk full")


def test_force_replaces_handlers_and_no_force_keeps_them(root: logging.Logger) -> None:
    keep = logging.NullHandler()
    root.handlers[:] = [keep]
    setup_logging(logging.DEBUG, force=False)
    assert root.handlers == [keep]
    setup_logging(logging.DEBUG)
    assert keep not in root.handlers and len(root.handlers) == 1
    assert root.level == logging.DEBUG


def test_an_unknown_format_is_refused(root: logging.Logger) -> None:
    with pytest.raises(ValueError, match="log format 'xml'"):
        setup_logging(logging.INFO, "xml")
