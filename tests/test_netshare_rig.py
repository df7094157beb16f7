"""The share rig's contract (tests/netshare.py): where a share comes from, and what a test
does without one — skip with the reason, or fail loudly when ``CI=true``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import netshare
import pytest

PROBE_TEST = """
import pytest
from netshare import share_fixture

@pytest.fixture(scope="session", params=["nfs"])
def share(request):
    yield from share_fixture(request.param)

def test_needs_a_share(share):
    pass
"""


def run_without_a_share(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_probe.py").write_text(PROBE_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOOLD_SHARE_", "CI"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")]),
        NETSHARE_STATE=str(tmp_path / "no-rig"),  # no rig already up
        SPOOLD_NETSHARE_DIR=str(tmp_path / "no-scripts"),  # and none to start
    )
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "test_probe.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_a_share_a_netshare_test_skips_and_says_why(tmp_path: Path) -> None:
    r = run_without_a_share(tmp_path, ci=None)
    assert r.returncode == 0 and "1 skipped" in r.stdout, r.stdout
    assert "no share:" in r.stdout and "up.sh not found" in r.stdout


def test_in_ci_a_missing_share_fails_instead_of_skipping(tmp_path: Path) -> None:
    r = run_without_a_share(tmp_path, ci="true")
    assert r.returncode != 0 and "skipped" not in r.stdout, r.stdout
    assert "CI=true and no share:" in r.stdout


def test_a_share_named_in_the_environment_is_used_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, srv = (tmp_path / n for n in ("a", "b", "srv"))
    for d in (a, b, srv):
        d.mkdir()
    monkeypatch.setenv("SPOOLD_SHARE_SMB_MOUNT", str(a))
    monkeypatch.setenv("SPOOLD_SHARE_SMB_MOUNT2", str(b))
    monkeypatch.setenv("SPOOLD_SHARE_SMB_EXPORT", str(srv))
    share = netshare._from_env("smb")
    assert share is not None
    assert (share.mount, share.mount2, share.export, share.origin) == (a, b, srv, "env")
    monkeypatch.delenv("SPOOLD_SHARE_SMB_MOUNT2")
    monkeypatch.delenv("SPOOLD_SHARE_SMB_EXPORT")
    share = netshare._from_env("smb")
    assert share is not None and share.mount2 == a and share.export is None
    monkeypatch.setenv("SPOOLD_SHARE_SMB_MOUNT", str(tmp_path / "not-mounted"))
    with pytest.raises(netshare.ShareUnavailable, match="is the share mounted"):
        netshare._from_env("smb")
