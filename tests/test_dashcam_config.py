"""Camera clocks and naming families in spoold.toml: ``[dashcam]``, ``[[dashcam.families]]`` and
an inbox's ``tz`` / ``families``, validated at load and used to read clip names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from spoold.errors import ConfigError
from spoold.server.settings import DaemonConfig, load_settings

EXAMPLE = Path(__file__).resolve().parent.parent / "spoold.example.toml"

BASE = """
[spool]
root = "spool"
[storage]
nas = "/mnt/nas"
"""

ACME = r"""
[[dashcam.families]]
name = "acme"
pattern = 'ACME_(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})_(?P<h>\d{2})(?P<mi>\d{2})(?P<s>\d{2})_(?P<ch>[FR])\.mp4'
channels = { F = "front", R = "rear" }
folders = [{ match = "EVENT", mode = "event", locked = true }]
"""


def load_settings_text(tmp_path: Path, text: str) -> DaemonConfig:
    p = tmp_path / "spoold.toml"
    p.write_text(text)
    return load_settings(p)


def _uncommented_example() -> str:
    """The shipped example with its commented [dashcam] settings and inbox tz/families on."""
    text = EXAMPLE.read_text()
    keys = ("tz", "[[dashcam.families]]", "name", "pattern", "channels", "default_mode")
    keys += ("folders", "template", "source", "families")
    out = []
    for line in text.splitlines():
        m = re.match(r"# (\S+)( = |$)", line)
        out.append(line[2:] if m and m[1] in keys else line)
    return "\n".join(out)


def test_the_example_family_uncommented_is_used_to_read_names(tmp_path: Path) -> None:
    text = _uncommented_example()
    assert '[[dashcam.families]]\nname = "acme"' in text
    (tmp_path / "spoold.toml").write_text(text)
    cfg = load_settings(tmp_path / "spoold.toml")
    box = cfg.inbox[0]
    assert box.families == ["viofo", "acme"]
    assert cfg.inbox_tz(box) == "Europe/London"
    info = cfg.parse_name(box, "dashcam/EVENT/ACME_20240915_143027_R.mp4")
    assert info is not None
    assert (info.brand, info.rule, info.channel, info.mode, info.locked) == (
        "acme",
        "acme",
        "rear",
        "event",
        True,
    )
    assert info.start_local is not None and info.start_local.isoformat() == "2024-09-15T14:30:27"
    viofo = cfg.parse_name(box, "dashcam/2024_0915_143027_0001F.MP4")
    assert viofo is not None and viofo.brand == "viofo"


def test_operator_families_come_before_the_built_in_ones(tmp_path: Path) -> None:
    cfg = load_settings_text(tmp_path, BASE + ACME + '[[inbox]]\nroot = "nas"\n')
    names = [f.brand for f in cfg.inbox_families(cfg.inbox[0])]
    assert names[0] == "acme" and "viofo" in names and "hisilicon" in names
    info = cfg.parse_name(cfg.inbox[0], "ACME_20240915_143027_F.mp4")
    assert info is not None and (info.brand, info.channel) == ("acme", "front")


def test_without_the_family_the_name_is_only_generic(tmp_path: Path) -> None:
    cfg = load_settings_text(tmp_path, BASE + '[[inbox]]\nroot = "nas"\n')
    info = cfg.parse_name(cfg.inbox[0], "ACME_20240915_143027_F.mp4")
    assert info is not None and info.brand == "generic" and info.rule == "generic-datetime"
    assert cfg.inbox_tz(cfg.inbox[0]) is None


def test_an_inbox_limited_to_families_reads_only_those(tmp_path: Path) -> None:
    text = BASE + ACME + '[[inbox]]\nroot = "nas"\nfamilies = ["acme"]\n'
    cfg = load_settings_text(tmp_path, text)
    assert [f.brand for f in cfg.inbox_families(cfg.inbox[0])] == ["acme"]
    info = cfg.parse_name(cfg.inbox[0], "2024_0915_143027_0001F.MP4")  # a Viofo name
    assert info is not None and info.brand == "generic"


def test_inbox_tz_wins_over_the_dashcam_default(tmp_path: Path) -> None:
    text = BASE + '[dashcam]\ntz = "UTC"\n[[inbox]]\nroot = "nas"\npath = "a"\ntz = "+05:30"\n'
    text += '[[inbox]]\nroot = "nas"\npath = "b"\n'
    cfg = load_settings_text(tmp_path, text)
    assert [cfg.inbox_tz(b) for b in cfg.inbox] == ["+05:30", "UTC"]
    assert cfg.inbox_named(cfg.inbox[1].label) is cfg.inbox[1]


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (
            ACME.replace("(?P<s>\\d{2})_", "_"),
            "dashcam.families: Value error, dashcam family #1 ('acme'): pattern lacks group(s) s",
        ),
        (
            ACME.replace('"rear"', '"back"'),
            "dashcam.families: Value error, dashcam family #1 ('acme'): channels.R = 'back' is "
            "not one of",
        ),
        (
            ACME.replace('name = "acme"', 'name = "viofo"'),
            "dashcam family #1 ('viofo'): name is already used by another family",
        ),
        ('[dashcam]\ntz = "Mars/Olympus"\n', "dashcam.tz: Value error, unknown time zone"),
        (
            '[[inbox]]\nroot = "nas"\ntz = "25:00"\n',
            "inbox.0.tz: Value error, unknown time zone '25:00'",
        ),
        (
            '[[inbox]]\nroot = "nas"\nfamilies = ["nope"]\n',
            "inbox.0.families: dashcam family 'nope' is not known; known: 70mai, blackvue",
        ),
    ],
)
def test_mistakes_are_one_line_naming_the_family_and_field(
    tmp_path: Path, extra: str, line: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings_text(tmp_path, BASE + extra)
    assert line in str(err.value)
    assert str(err.value).startswith(str(tmp_path / "spoold.toml"))


# ------------------------------------------------------------------------ the daemon's use


def test_ingest_reads_names_with_the_inbox_families(tmp_path: Path) -> None:
    pytest.importorskip("pymediainfo")
    from spoold.demo.samples import make_clip
    from spoold.server.media import describe

    cfg = load_settings_text(tmp_path, BASE + ACME + '[[inbox]]\nname = "cams"\nroot = "nas"\n')
    box = cfg.inbox_named("cams")
    make_clip(tmp_path / "nas" / "EVENT" / "ACME_20240915_143027_R.mp4", seconds=1)
    rel = "EVENT/ACME_20240915_143027_R.mp4"
    meta = describe("nas", tmp_path / "nas", rel, families=cfg.inbox_families(box))
    assert (meta.brand, meta.channel, meta.mode) == ("acme", "rear", "event")
    assert meta.start_local is not None and meta.start_local.isoformat() == "2024-09-15T14:30:27"
    assert describe("nas", tmp_path / "nas", rel).brand == "generic"  # built-in ones only


def test_the_inbox_tz_and_name_time_are_carried_to_the_following_stages() -> None:
    from schemas.task import FileRef, Task
    from spoold.server.pipeline import Pipeline
    from spoold.server.settings import PipelineSettings

    stages = {"preprocess": {"device_class": "jetson", "params": {"camera_tz": "UTC", "rate": 2}}}
    pipeline = Pipeline(PipelineSettings.model_validate({"stages": stages}))
    video = FileRef(device="nas", path="EVENT/ACME_20240915_143027_R.mp4", type="video")
    ingest = Task(
        task_id="20240915T133027Z-ingest-v1",
        task_type="ingest",
        video_id="v1",
        device_class="server",
        inputs=[video],
        outputs=[video],
        params={"inbox": "cams", "camera_tz": "Europe/London"},
        result={"start_local": "2024-09-15T14:30:27", "brand": "acme"},
        created_at="2024-09-15T13:31:00Z",
    )
    [spec] = pipeline.followups(ingest)
    assert spec.params == {
        "camera_tz": "Europe/London",  # the inbox's zone wins over the stage default
        "start_local": "2024-09-15T14:30:27",
        "rate": 2,
    }
    ingest.params.pop("camera_tz")
    [spec] = pipeline.followups(ingest)
    assert spec.params["camera_tz"] == "UTC"


def test_the_daemon_ingests_with_the_configured_family_and_passes_the_inbox_tz(
    tmp_path: Path,
) -> None:
    pytest.importorskip("pymediainfo")
    from daemon_support import Env, drive

    from spoold.demo.samples import make_clip

    env = Env(tmp_path)
    env.write_config('tz = "Europe/London"\n' + ACME)  # tz goes to the [[inbox]] table
    make_clip(env.inbox / "EVENT" / "ACME_20240915_143027_R.mp4", seconds=1, seed=3)
    daemon = env.daemon()
    daemon.start()
    try:
        drive(daemon, lambda: env.tasks("preprocess"), 20, "the clip's preprocess task")
    finally:
        daemon.shutdown()
    [rec] = env.complete("ingest").values()
    assert rec["params"]["camera_tz"] == "Europe/London"
    assert (rec["result"]["brand"], rec["result"]["mode"]) == ("acme", "event")
    [where] = env.tasks("preprocess").values()
    pre = json.loads((env.spool_root / where[0]).read_text())
    assert pre["params"]["camera_tz"] == "Europe/London"
    assert pre["params"]["start_local"] == "2024-09-15T14:30:27"
