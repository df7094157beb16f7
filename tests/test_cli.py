"""The operator CLI: every command works with no daemon, prints clear errors, no tracebacks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from spoold.cli.main import cli
from spoold.spool import Spool


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPOOLD_SPOOL", raising=False)
    monkeypatch.delenv("SPOOLD_CONFIG", raising=False)
    runner = CliRunner()

    def go(*args: str, code: int = 0) -> str:
        res = runner.invoke(cli, list(args), catch_exceptions=False)
        assert res.exit_code == code, res.output
        return res.output

    go("init", str(tmp_path / "spool"))
    monkeypatch.setenv("SPOOLD_SPOOL", str(tmp_path / "spool"))
    return go


def test_submit_prints_the_task_id_and_is_idempotent_per_id(run) -> None:  # type: ignore[no-untyped-def]
    out = run(
        "submit",
        "--type",
        "detect",
        "--class",
        "gpu",
        "--video",
        "v3fa9",
        "--input",
        "indoor-nas:cam/a.mp4:video",
        "--param",
        "fps=2",
    )
    task_id = out.strip()
    assert re.fullmatch(r"\d{8}T\d{6}Z-detect-v3fa9\.[0-9a-f]{12}", task_id), task_id
    shown = json.loads(run("show", task_id, "--json"))
    assert shown["location"]["where"] == "ready"
    assert shown["task"]["inputs"] == [
        {"device": "indoor-nas", "path": "cam/a.mp4", "type": "video"}
    ]
    assert shown["task"]["params"] == {"fps": 2}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "nas:/etc/passwd"], "is absolute"),
        (["--input", "nas"], "want DEVICE:PATH"),
        (["--class", "GPU!"], "device_class 'GPU!' must match"),
        (["--class", "gpu@x"], "device_class 'gpu@x' must match [a-z0-9][a-z0-9_-]*"),
        (["--device", "gpu.01"], "device 'gpu.01' must match [a-z0-9][a-z0-9_-]*"),
        (["--type", "De-tect"], "task_type 'De-tect' must match [a-z][a-z0-9_]*"),
        (["--param", "novalue"], "want KEY=VALUE"),
    ],
)
def test_submit_rejects_bad_input_with_a_specific_message(
    run, args: list[str], message: str
) -> None:  # type: ignore[no-untyped-def]
    base = {"--type": "detect", "--class": "gpu", "--video": "v1"}
    for flag, val in zip(args[::2], args[1::2], strict=True):
        base[flag] = val
    flat = [x for kv in base.items() for x in kv] + (args if len(args) % 2 else [])
    out = run("submit", *flat, code=2)
    assert message in out and "Traceback" not in out


def test_status_ls_and_check_on_a_working_spool(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for v in ("a", "b"):
        run("submit", "--type", "preprocess", "--class", "jetson", "--video", v)
    spool = Spool(tmp_path / "spool")
    claim = spool.claim("jetson", "jetson-01")
    assert claim is not None
    claim.fail("decoder crashed")
    out = run("status")
    assert "jetson" in out and "failing" in out and "decoder crashed" in out
    st = json.loads(run("status", "--json"))
    assert st["totals"]["ready"] == 2 and st["totals"]["failing"] == 1
    rows = json.loads(run("ls", "--json"))
    assert [r["where"] for r in rows] == ["ready", "ready"]
    assert len(json.loads(run("ls", "--failing", "--json"))) == 1
    assert "checked 2 task files: 0 problem(s)" in run("check")


def test_check_exits_1_on_problems_and_0_once_repaired(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("submit", "--type", "preprocess", "--class", "jetson", "--video", "a")
    Spool(tmp_path / "spool", lease=1).claim("jetson", "jetson-01")  # ...and that worker dies
    bad = tmp_path / "spool/pending/jetson/20261125T000000Z-preprocess-bad.json"
    bad.write_text("{,}")
    time.sleep(1.2)  # the 1 s lease runs out (in server time: file mtimes)
    out = run("check", code=1)
    assert (
        "invalid      pending/jetson/20261125T000000Z-preprocess-bad.json: expecting property name"
        in out
    )
    assert "stale-claim" in out and "2 problem(s)" in out
    out = run("check", "--repair", code=1)  # the claim is put back; the bad file is not touched
    assert "1 problem(s), 1 repaired" in out
    bad.unlink()
    assert "0 problem(s)" in run("check", code=0)


def test_show_and_requeue_unknown_tasks_fail_cleanly(run) -> None:  # type: ignore[no-untyped-def]
    assert "no task 20261125T000000Z-x-y" in run("show", "20261125T000000Z-x-y", code=1)
    assert "not a task id" in run("requeue", "nonsense", code=1)


def test_commands_need_a_spool_and_say_how_to_give_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPOOLD_SPOOL", raising=False)
    monkeypatch.delenv("SPOOLD_CONFIG", raising=False)
    res = CliRunner().invoke(cli, ["status"])
    assert res.exit_code == 1 and "pass --spool DIR, set SPOOLD_SPOOL" in res.output
    res = CliRunner().invoke(cli, ["status", "--spool", str(tmp_path)])
    assert res.exit_code == 1 and "not a spool" in res.output


def test_schema_prints_json_schema(run) -> None:  # type: ignore[no-untyped-def]
    schema = json.loads(run("schema", "task"))
    assert schema["title"] == "spoold task"


def test_every_command_has_help_with_an_example() -> None:
    for name, cmd in cli.commands.items():  # type: ignore[attr-defined]
        assert (cmd.help and "Example" in cmd.help) or name == "schema", name


def test_python_dash_m_spoold_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "spoold", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in ("init", "status", "ls", "show", "submit", "requeue", "check", "schema", "work"):
        assert f"  {name}" in out
    assert "  config" in out


# Imported by nothing on the worker side; the server extra's modules and our server code.
_SERVER_MODULES = ("spoold.server", "webui_export", "duckdb", "flask", "watchdog", "pyarrow")


def _import_cli_and_report(prelude: str) -> dict[str, object]:
    code = (
        f"{prelude}\nimport json, sys\nfrom spoold.cli.main import cli\n"
        "print(json.dumps({'commands': sorted(cli.commands), 'modules': sorted(m for m, v in sys.modules.items() if v)}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def test_the_cli_imports_no_server_code_even_with_the_server_extra() -> None:
    rep = _import_cli_and_report("")
    assert {"run", "backfill", "serve", "export", "demo"} <= set(rep["commands"])  # type: ignore[arg-type]
    loaded = [m for m in rep["modules"] if m.startswith(_SERVER_MODULES)]  # type: ignore[union-attr]
    assert loaded == []


def test_a_worker_install_has_stubs_for_the_server_commands() -> None:
    # A worker install lacks the server extra: make its modules unfindable.
    blocked = "import sys\nfor m in ('watchdog', 'duckdb', 'flask'):\n    sys.modules[m] = None"
    rep = _import_cli_and_report(blocked)
    assert rep["commands"] == [
        "backfill", "check", "config", "demo", "export", "init", "ls", "requeue", "run",
        "schema", "serve", "show", "status", "submit", "work",
    ]  # fmt: skip
    assert "spoold.cli.server" not in rep["modules"]  # type: ignore[operator]


def test_status_without_the_server_extra_reports_no_daemon(tmp_path: Path) -> None:
    Spool.init(tmp_path / "spool")
    code = (
        "import json, sys\nfor m in ('watchdog', 'duckdb', 'flask'):\n    sys.modules[m] = None\n"
        "from spoold.cli.main import cli\n"
        f"cli.main(['status', '--json', '--spool', {str(tmp_path / 'spool')!r}], standalone_mode=False)\n"
        "print(json.dumps(sorted(m for m, v in sys.modules.items() if v)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    status, _, modules = out.rpartition("\n[")
    assert json.loads(status)["daemon"] is None
    assert [m for m in json.loads("[" + modules) if m.startswith(_SERVER_MODULES)] == []


def test_status_reports_the_daemon_with_the_server_extra(run) -> None:  # type: ignore[no-untyped-def]
    assert "daemon: never ran on this spool" in run("status")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--class", "gpu", "--device", "Jetson 01"], "device 'Jetson 01' must match"),
        (["--class", "gpu@x", "--device", "j1"], "device_class 'gpu@x' must match"),
        (["--class", "gpu", "--device", "j.1"], "device 'j.1' must match"),
    ],
)
def test_work_refuses_a_name_that_cannot_be_part_of_a_file_name(
    run, args: list[str], message: str
) -> None:  # type: ignore[no-untyped-def]
    out = run("work", *args, "--once", "--", "true", code=2)
    assert message in out and "portable characters" in out and "Traceback" not in out


def test_every_command_removes_its_clock_probe(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    task_id = run("submit", "--type", "detect", "--class", "gpu", "--video", "v1").strip()
    for args in (
        ("status",),
        ("ls",),
        ("show", task_id),
        ("requeue", task_id),
        ("work", "--class", "gpu", "--device", "g1", "--once", "--", "true"),
        ("check",),
        ("show", "20261125T101530Z-detect-nope"),  # fails: the probe goes all the same
    ):
        run(*args, code=1 if args[-1].endswith("nope") else 0)
        assert sorted(p.name for p in (tmp_path / "spool/tmp").iterdir()) == [], args
