"""The shipped systemd units, checked by systemd's own tools (``systemd-analyze``).

``verify`` must print nothing (it exits 0 even on an unknown or misplaced key, so the output is
what is asserted); ``security --offline=true`` must rate every unit 4.0 or lower; the units
the pipeline needs mounts for name them in ``RequiresMountsFor=``; the daemon is ``Type=notify``
with a watchdog (its sd_notify client is tested in test_sdnotify.py).
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spoold.configfile import read_toml
from tests.netshare import ensure_debian_packages

UNITS = Path(__file__).resolve().parent.parent / "deploy" / "systemd"
UNIT_FILES = sorted(p.name for p in UNITS.glob("*.service"))
#: "where the job allows": every unit we ship meets it.
MAX_EXPOSURE = 4.0
#: Where the units expect spoold (the venv of docs/deploy.md).
INSTALLED = "/opt/spoold/bin/spoold"


def _analyze() -> str:
    ensure_debian_packages("systemd")
    found = shutil.which("systemd-analyze")
    assert found, "the systemd package is installed but systemd-analyze is not on PATH"
    return found


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name)
    return parser


def test_the_units_are_the_three_we_document() -> None:
    assert UNIT_FILES == ["spoold-api.service", "spoold-worker@.service", "spoold.service"]


@pytest.mark.parametrize("name", UNIT_FILES)
def test_systemd_analyze_verify_reports_nothing(name: str, tmp_path: Path) -> None:
    analyze = _analyze()
    # verify checks that ExecStart's program exists: point it at this venv's spoold (the unit
    # is otherwise byte for byte the shipped one).  A template is verified as an instance.
    spoold = Path(sys.executable).parent / "spoold"
    assert spoold.exists(), spoold
    text = (UNITS / name).read_text()
    assert INSTALLED in text
    target = tmp_path / name.replace("@.", "@jetson.")
    target.write_text(text.replace(INSTALLED, str(spoold)))
    r = subprocess.run(
        [analyze, "verify", str(target)], capture_output=True, text=True, timeout=60, check=False
    )
    assert r.returncode == 0, r.stderr
    assert (r.stdout + r.stderr).strip() == "", r.stdout + r.stderr


@pytest.mark.parametrize("name", UNIT_FILES)
def test_systemd_analyze_security_rates_each_unit_at_most_4(name: str) -> None:
    analyze = _analyze()
    r = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(UNITS / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = r.stdout + r.stderr
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out)
    assert m, out
    assert float(m.group(1)) <= MAX_EXPOSURE, out


def test_the_restart_limit_is_in_the_unit_section_where_systemd_reads_it() -> None:
    for name in UNIT_FILES:
        unit = _unit(name)
        assert not any(k.startswith("StartLimit") for k in unit["Service"]), name
    daemon = _unit("spoold.service")
    assert daemon["Unit"]["StartLimitIntervalSec"] == "300"


def test_the_units_wait_for_the_spool_and_storage_mounts() -> None:
    example = read_toml(Path(__file__).resolve().parent.parent / "spoold.example.toml")
    roots = {example["spool"]["root"], *example["storage"].values()}
    daemon = _unit("spoold.service")["Unit"]["RequiresMountsFor"].split()
    assert set(daemon) == roots
    api = _unit("spoold-api.service")["Unit"]["RequiresMountsFor"].split()
    assert example["spool"]["root"] in api
    env = dict(
        line.split("=", 1)
        for line in (UNITS / "worker-jetson.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    worker_roots = {env["SPOOLD_SPOOL"], *re.findall(r"=(/\S+)", env["SPOOLD_ROOTS_ARGS"])}
    worker = _unit("spoold-worker@.service")["Unit"]["RequiresMountsFor"].split()
    assert set(worker) == worker_roots
    # ProtectSystem=strict: the same paths are the only writable ones ("-": may be absent).
    for name, mounts in (("spoold.service", daemon), ("spoold-worker@.service", worker)):
        writable = _unit(name)["Service"]["ReadWritePaths"].split()
        assert {p.lstrip("-") for p in writable} == set(mounts), name


def test_the_daemon_unit_is_notify_with_a_watchdog() -> None:
    service = _unit("spoold.service")["Service"]
    assert service["Type"] == "notify"
    assert int(service["WatchdogSec"]) > 0
