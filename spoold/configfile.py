"""Reading ``spoold.toml``: finding the file, its ``[spool]`` and ``[storage]`` sections.

Public API: :class:`Config`, :class:`SpoolSettings`, :func:`load_config`,
:func:`find_config_file`, :func:`resolve_spool_root`, :func:`read_toml`,
:func:`format_validation_error`.

One TOML file serves every command; it is validated once, with one clear error per mistake.
This module reads what every command needs (worker side); the daemon's sections are
validated by :mod:`spoold.server.settings`, whose model extends :class:`Config`.

Where the spool is, for every command: ``--spool DIR``, else ``$SPOOLD_SPOOL``, else the
``[spool] root`` of the config file (``--config``, else ``$SPOOLD_CONFIG``, else
``./spoold.toml``, else ``/etc/spoold/spoold.toml``).  Relative paths in a config file are
relative to that file's folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas.task import NAME_RE
from spoold.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 on Jetson
    import tomli as tomllib

DEFAULT_LOCATIONS = (Path("spoold.toml"), Path("/etc/spoold/spoold.toml"))


class SpoolSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    root: Path
    lease_s: float = Field(default=60.0, gt=0, description="claim lease, server seconds")
    fsync: bool = True
    backoff_base_s: float = Field(default=10.0, ge=0)
    backoff_max_s: float = Field(default=3600.0, ge=0)


class Config(BaseModel):
    """The parts every command shares; the daemon's sections extend it (spoold.server.settings)."""

    model_config = ConfigDict(extra="allow")

    spool: SpoolSettings
    storage: dict[str, Path] = Field(
        default_factory=dict, description="storage root name -> local mount point on this host"
    )
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("storage")
    @classmethod
    def _names(cls, v: dict[str, Path]) -> dict[str, Path]:
        for name in v:
            if not NAME_RE.match(name):
                raise ValueError(f"storage root name {name!r} must match [a-z0-9][a-z0-9_-]*")
        return v


def find_config_file(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        return p
    env = os.environ.get("SPOOLD_CONFIG")
    if env:
        p = Path(env)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found (from $SPOOLD_CONFIG)")
        return p
    for p in DEFAULT_LOCATIONS:
        if p.is_file():
            return p
    return None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
            return data
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None


def format_validation_error(path: Path, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown setting (check the spelling against spoold.example.toml)"
        lines.append(f"{path}: {where}: {msg}")
    return "\n".join(lines)


def _absolutize(data: dict[str, Any], base: Path) -> None:
    spool = data.get("spool")
    if isinstance(spool, dict) and isinstance(spool.get("root"), str):
        spool["root"] = str((base / spool["root"]).resolve())
    storage = data.get("storage")
    if isinstance(storage, dict):
        for k, v in storage.items():
            if isinstance(v, str):
                storage[k] = str((base / v).resolve())


def load_config(path: str | os.PathLike[str], model: type[Config] = Config) -> Config:
    p = Path(path)
    data = read_toml(p)
    _absolutize(data, p.parent.resolve())
    try:
        cfg = model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(p, exc)) from None
    cfg.source = p
    return cfg


def resolve_spool_root(spool: str | None, config: str | None) -> tuple[Path, Config | None]:
    """The spool root and the config (if any), by the precedence in the module docstring."""
    cfg_path = find_config_file(config)
    cfg = load_config(cfg_path) if cfg_path else None
    if spool:
        return Path(spool), cfg
    env = os.environ.get("SPOOLD_SPOOL")
    if env:
        return Path(env), cfg
    if cfg is not None:
        return cfg.spool.root, cfg
    raise ConfigError(
        "no spool given: pass --spool DIR, set SPOOLD_SPOOL, or write a spoold.toml "
        'with [spool] root = "..."'
    )
