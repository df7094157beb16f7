"""The daemon's config file: the shipped example loads, and each mistake is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from spoold.configfile import Config, load_config
from spoold.errors import ConfigError
from spoold.server.pipeline import Pipeline
from spoold.server.settings import DEFAULT_STAGES, load_settings

EXAMPLE = Path(__file__).resolve().parent.parent / "spoold.example.toml"

GOOD = """
[spool]
root = "spool"
[storage]
indoor-nas = "/mnt/indoor-nas"
shed-nas = "/mnt/shed-nas"
server = "/srv/storage"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "spoold.toml"
    p.write_text(text)
    return p


def test_the_example_config_loads_with_the_default_pipeline() -> None:
    cfg = load_settings(EXAMPLE)
    assert set(cfg.storage) == {"indoor-nas", "shed-nas", "server"}
    assert cfg.inbox[0].root == "indoor-nas" and cfg.inbox[0].watch == "auto"
    chain = {k: (v.device_class, v.next) for k, v in cfg.pipeline.stages.items()}
    assert chain == {k: (v["device_class"], v["next"]) for k, v in DEFAULT_STAGES.items()}


def test_a_worker_reads_the_same_file_as_a_plain_config() -> None:
    cfg = load_config(EXAMPLE, Config)
    assert cfg.spool.root == Path("/srv/spool")


def test_defaults_give_the_default_pipeline(tmp_path: Path) -> None:
    cfg = load_settings(write(tmp_path, GOOD))
    assert list(cfg.pipeline.stages) == ["ingest", "preprocess", "detect", "finalize", "archive"]
    assert cfg.spool.root == (tmp_path / "spool").resolve()


def test_a_new_device_class_and_stage_is_only_config(tmp_path: Path) -> None:
    extra = """
[pipeline.stages.ingest]
device_class = "server"
next = ["ocr"]
[pipeline.stages.ocr]
device_class = "tpu"
inputs = ["outputs:video"]
params = { model = "plates-v2" }
"""
    cfg = load_settings(write(tmp_path, GOOD + extra))
    pipe = Pipeline(cfg.pipeline)
    assert pipe.child_ids("20261125T101530Z-ingest-v1") == [("20261125T101530Z-ocr-v1", "tpu")]


MISTAKES = [
    ("[daemon]\nlese_s = 3\n", "daemon.lese_s: unknown setting"),
    ("[ingest]\nstable_s = -1\n", "ingest.stable_s: Input should be greater than or equal to 0"),
    (
        '[[inbox]]\nroot = "indoor"\n',
        "inbox.0.root: 'indoor' is not a storage root (known: indoor-nas, server, shed-nas)",
    ),
    (
        '[[inbox]]\nroot = "indoor-nas"\nwatch = "inotify"\n',
        "inbox.0.watch: Input should be 'auto', 'native', 'polling' or 'scan'",
    ),
    (
        '[[inbox]]\nroot = "indoor-nas"\npath = "../x"\n',
        "inbox.0.path: Value error, path '../x' must be relative",
    ),
    (
        '[[inbox]]\nroot = "indoor-nas"\npath = "a"\n[[inbox]]\nroot = "indoor-nas"\npath = "a/b"\n',
        "inbox.1: folder overlaps inbox.0 (indoor-nas:a)",
    ),
    (
        '[pipeline.stages.detect]\ndevice_class = "gpu"\nnext = ["finalise"]\n',
        "pipeline.stages.detect.next: no stage 'finalise' in [pipeline.stages]",
    ),
    (
        '[pipeline.stages.finalize]\ndevice_class = "server"\nnext = ["ingest"]\n',
        "pipeline.stages: the stages loop: ingest -> preprocess -> detect -> finalize -> ingest",
    ),
    (
        '[pipeline.stages.transcode]\ndevice_class = "server"\n',
        "pipeline.stages.transcode: no built-in executor for 'transcode'",
    ),
    (
        '[pipeline.stages.preprocess]\ndevice_class = "jetson"\ninputs = ["output"]\n',
        "pipeline.stages.preprocess.inputs: Value error, input selector 'output'",
    ),
    ('[pipeline]\nfirst = "ingst"\n', "pipeline.first: no stage 'ingst' in [pipeline.stages]"),
    (
        '[pipeline.stages.Detect]\ndevice_class = "gpu"\n',
        "pipeline.stages: Value error, task type 'Detect' must match",
    ),
    (  # names become parts of spool file names: portable characters only (issue 12)
        '[daemon]\ndevice = "server@shed"\n',
        "daemon.device: Value error, device 'server@shed' must match [a-z0-9][a-z0-9_-]*",
    ),
    (
        '[pipeline.stages.detect]\ndevice_class = "gpu.big"\n',
        "device_class 'gpu.big' must match [a-z0-9][a-z0-9_-]*",
    ),
    (
        '[maintenance]\ntemp_dirs = ["srv:tmp"]\n',
        "maintenance.temp_dirs.0: 'srv' is not a storage root",
    ),
]


@pytest.mark.parametrize(("extra", "message"), MISTAKES, ids=[m[1].split(":")[0] for m in MISTAKES])
def test_each_mistake_is_one_line_naming_the_file_and_the_key(
    tmp_path: Path, extra: str, message: str
) -> None:
    path = write(tmp_path, GOOD + extra)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    lines = str(err.value).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}: ")
    assert message in lines[0]


def test_two_mistakes_are_two_lines(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + '[[inbox]]\nroot = "nas"\n[pipeline]\nfirst = "x"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert len(str(err.value).splitlines()) == 2
