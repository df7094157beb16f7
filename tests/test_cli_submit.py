"""``spoold submit`` from outside: a repeat prints the same id and publishes nothing, and
``--not-before`` takes every ISO 8601 form (the parser checked by hypothesis properties
against what ``datetime`` formats)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from spoold.cli.isotime import parse_iso8601
from spoold.cli.main import cli
from spoold.spool import Spool

SPOOLD = [sys.executable, "-m", "spoold"]
BASE = ["submit", "--type", "detect", "--class", "gpu", "--video", "v3fa9c2"]


def spoold(spool: Spool, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [*SPOOLD, *args, "--spool", str(spool.root)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == code, out.stderr
    return out


def pending(spool: Spool) -> list[str]:
    return sorted(spool.task_ids("gpu", states=("ready", "deferred", "claimed")))


def test_the_same_submit_twice_prints_the_same_id_and_makes_one_task(tmp_path: Path) -> None:
    spool = Spool.init(tmp_path / "spool")
    args = [*BASE, "--input", "indoor-nas:cam/a.mp4:video", "--param", "fps=2"]
    first = spoold(spool, *args).stdout.strip()
    time.sleep(1.1)  # the id's stamp has one-second resolution: a new second, a new stamp
    second = spoold(spool, *args)
    assert second.stdout.strip() == first
    assert "exists already (pending" in second.stderr
    assert pending(spool) == [first]
    # Other arguments are another task; --key names the identity instead.
    other = spoold(spool, *BASE, "--input", "indoor-nas:cam/b.mp4:video").stdout.strip()
    assert other != first and pending(spool) == sorted([first, other])
    keyed = spoold(spool, *BASE, "--key", "rerun-1").stdout.strip()
    assert keyed.endswith("-detect-rerun-1")
    assert spoold(spool, *BASE, "--key", "rerun-1", "--param", "x=1").stdout.strip() == keyed


def test_a_repeat_of_a_completed_task_prints_its_id(tmp_path: Path) -> None:
    spool = Spool.init(tmp_path / "spool")
    first = spoold(spool, *BASE).stdout.strip()
    claim = spool.claim("gpu", "gpu-01")
    assert claim is not None
    claim.complete([], [])
    again = spoold(spool, *BASE)
    assert again.stdout.strip() == first and "exists already (complete" in again.stderr
    assert pending(spool) == []


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-06T15:45:00+05:30",
        "2026-12-06T15:45+05:30",
        "2026-12-06T10:15:00Z",
        "20261206T101500Z",
        "20261206T154500+0530",
        "2026-12-06T11:15:00+01",
        "2026-12-06 10:15:00Z",
        "2026-W49-7T10:15Z",
        "2026-340T10:15Z",
        "2026-12-06T10:15:00.000Z",
    ],
)
def test_not_before_takes_every_iso_form_of_one_instant(tmp_path: Path, text: str) -> None:
    spool = Spool.init(tmp_path / "spool")
    res = CliRunner().invoke(cli, [*BASE, "--not-before", text, "--spool", str(spool.root)])
    assert res.exit_code == 0, res.output
    _, task = spool.get(res.output.strip())
    assert task.not_before == datetime(2026, 12, 6, 10, 15, tzinfo=timezone.utc)


def test_a_date_alone_is_midnight_utc_and_junk_is_a_usage_error(tmp_path: Path) -> None:
    spool = Spool.init(tmp_path / "spool")
    task_id = spoold(spool, *BASE, "--not-before", "2026-12-06").stdout.strip()
    shown = json.loads(spoold(spool, "show", task_id, "--json").stdout)
    assert shown["task"]["not_before"] == "2026-12-06T00:00:00Z"
    err = spoold(spool, *BASE, "--not-before", "2026-13-06T10:15Z", code=2).stderr
    assert "Invalid value for '--not-before'" in err and "want ISO 8601" in err
    assert "Traceback" not in err


# Offsets as ISO 8601 writes them: whole minutes, under a day.
offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda m: timezone(timedelta(minutes=m))
)
instants = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets
)


def _offset(dt: datetime, style: str) -> str:
    off = dt.utcoffset()
    assert off is not None
    if style == "Z" and not off:
        return "Z"
    minutes = int(off.total_seconds()) // 60
    sign, minutes = ("-" if minutes < 0 else "+"), abs(minutes)
    hh, mm = divmod(minutes, 60)
    return {"Z": f"{sign}{hh:02}:{mm:02}", "colon": f"{sign}{hh:02}:{mm:02}"}.get(
        style, f"{sign}{hh:02}{mm:02}"
    )


@given(instants, st.sampled_from(["Z", "colon", "basic"]), st.booleans(), st.booleans())
def test_every_formatted_instant_parses_back_to_itself(
    dt: datetime, offset_style: str, basic: bool, comma: bool
) -> None:
    frac = f"{',' if comma else '.'}{dt.microsecond:06d}" if dt.microsecond else ""
    # The year by hand: strftime's %Y does not pad years below 1000 on every libc.
    clock = f"{dt:%m%dT%H%M%S}" if basic else f"-{dt:%m-%dT%H:%M:%S}"
    text = f"{dt.year:04d}{clock}{frac}{_offset(dt, offset_style)}"
    assert parse_iso8601(text) == dt


@given(instants)
def test_isoformat_and_week_and_ordinal_dates_agree(dt: datetime) -> None:
    assert parse_iso8601(dt.isoformat()) == dt
    year, week, weekday = dt.isocalendar()
    day = dt.timetuple().tm_yday
    clock = f"T{dt:%H:%M:%S}.{dt.microsecond:06d}{_offset(dt, 'colon')}"
    assert parse_iso8601(f"{year:04d}-W{week:02d}-{weekday}{clock}") == dt
    assert parse_iso8601(f"{dt.year:04d}-{day:03d}{clock}") == dt


@given(st.text(max_size=40))
def test_any_text_is_a_datetime_or_a_value_error(text: str) -> None:
    try:
        parsed = parse_iso8601(text)
    except ValueError:
        return
    assert parsed.tzinfo is timezone.utc


@pytest.mark.skipif(sys.version_info < (3, 11), reason="3.11's fromisoformat reads ISO 8601")
@given(instants, st.booleans())
def test_agrees_with_python_311_fromisoformat(dt: datetime, basic: bool) -> None:
    text = f"{dt.year:04d}{dt:%m%dT%H%M%S}" if basic else f"{dt.year:04d}-{dt:%m-%dT%H:%M:%S}"
    text += _offset(dt, "colon")
    assert parse_iso8601(text) == datetime.fromisoformat(text)
