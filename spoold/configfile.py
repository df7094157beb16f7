"""Reading ``spoold.toml``: finding the file, its ``[spool]`` and ``[storage]`` sections.

Public API: :class:`Config`, :class:`SpoolSettings`, :class:`ApiSettings`,
:data:`API_ENV`, :func:`load_config`, :func:`find_config_file`, :func:`resolve_spool_root`,
:func:`read_toml`, :func:`format_validation_error`.

One TOML file serves every command; it is validated once, with one clear error per mistake.
This module reads what every command needs (worker side); the daemon's sections are
validated by :mod:`spoold.server.settings`, whose model extends :class:`Config`.

Where the spool is, for every command: ``--spool DIR``, else ``$SPOOLD_SPOOL``, else the
``[spool] root`` of the config file (``--config``, else ``$SPOOLD_CONFIG``, else
``./spoold.toml``, else ``/etc/spoold/spoold.toml``).  Relative paths in a config file are
relative to that file's folder.

The read API's settings (``[api]``, for ``spoold serve``) are taken from, first to last: the
command line, the environment (:data:`API_ENV`: ``SPOOLD_API_TOKEN``,
``SPOOLD_CORS_ORIGINS``, ...), the config file, the defaults.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic
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


class ApiSettings(BaseModel):
    """``[api]``: how ``spoold serve`` serves the read API and the dashboard."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", min_length=1, description="address to bind")
    port: int = Field(default=8080, ge=1, le=65535)
    workers: int = Field(default=4, ge=1, le=64, description="gunicorn worker processes")
    token_file: Path | None = Field(
        default=None, description="file holding the bearer token every request must carry"
    )
    cors_origins: list[str] = Field(default_factory=list)
    timeout_s: int = Field(default=30, ge=1, description="longest a request may take")
    default_page_size: int = Field(default=50, ge=1)
    max_page_size: int = Field(default=1000, ge=1)

    @pydantic.model_validator(mode="after")
    def _pages(self) -> ApiSettings:
        if self.default_page_size > self.max_page_size:
            raise ValueError("default_page_size must not exceed max_page_size")
        return self

    def with_env(self, environ: Mapping[str, str]) -> ApiSettings:
        """These settings with the environment's overrides (:data:`API_ENV`) applied."""
        data = self.model_dump()
        for var, key in API_ENV.items():
            value = environ.get(var)
            if value is None or key == "token":
                continue
            if key == "cors_origins":
                data[key] = _origins(var, value)
            else:
                data[key] = value
        try:
            return ApiSettings.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = err["loc"][0] if err["loc"] else None
            where = next((f"${v}" for v, k in API_ENV.items() if k == field), "[api]")
            raise ConfigError(f"{where}: {err['msg']}") from None

    def token(self, environ: Mapping[str, str]) -> str | None:
        """The bearer token: ``$SPOOLD_API_TOKEN``, else the content of ``token_file``."""
        if environ.get("SPOOLD_API_TOKEN"):
            return environ["SPOOLD_API_TOKEN"]
        if self.token_file is None:
            return None
        where = f"API token file {self.token_file} ([api] token_file or $SPOOLD_API_TOKEN_FILE)"
        try:
            token = self.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{where}: {exc.strerror}") from None
        if not token:
            raise ConfigError(f"{where} is empty")
        return token


#: Environment variables that override ``[api]`` (the token itself has no config key: it
#: belongs in a file, ``token_file``, not in the config).
API_ENV = {
    "SPOOLD_API_TOKEN": "token",
    "SPOOLD_API_TOKEN_FILE": "token_file",
    "SPOOLD_CORS_ORIGINS": "cors_origins",
    "SPOOLD_API_HOST": "host",
    "SPOOLD_API_PORT": "port",
    "SPOOLD_API_WORKERS": "workers",
    "SPOOLD_API_TIMEOUT_S": "timeout_s",
    "SPOOLD_DEFAULT_PAGE_SIZE": "default_page_size",
    "SPOOLD_MAX_PAGE_SIZE": "max_page_size",
}


def _origins(var: str, value: str) -> list[str]:
    """A list of origins: a JSON list, or comma-separated (what the read API also accepts)."""
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"${var}: not a JSON list: {exc}") from None
        if not isinstance(parsed, list) or not all(isinstance(o, str) for o in parsed):
            raise ConfigError(f"${var}: want a JSON list of strings")
        return parsed
    return [o.strip() for o in text.split(",") if o.strip()]


class Config(BaseModel):
    """The parts every command shares; the daemon's sections extend it (spoold.server.settings)."""

    model_config = ConfigDict(extra="allow")

    spool: SpoolSettings
    storage: dict[str, Path] = Field(
        default_factory=dict, description="storage root name -> local mount point on this host"
    )
    api: ApiSettings = Field(default_factory=ApiSettings)
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
    api = data.get("api")
    if isinstance(api, dict) and isinstance(api.get("token_file"), str):
        api["token_file"] = str((base / api["token_file"]).resolve())


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
