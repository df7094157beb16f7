"""Camera clocks and naming families in spoold.toml: ``[dashcam]``, ``[[dashcam.families]]`` and
an inbox's ``tz`` / ``families``, validated at load and used to read clip names."""

from __future__ import annotations

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
