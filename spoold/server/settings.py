"""The main server's configuration: the daemon's sections on top of :class:`spoold.configfile.Config`.

Public API: :class:`DaemonConfig` (the whole file; :meth:`~DaemonConfig.inbox_named`, :meth:`~DaemonConfig.inbox_tz`,
:meth:`~DaemonConfig.inbox_families` and :meth:`~DaemonConfig.parse_name` give an inbox's
camera time zone, naming families and what its file names say), :class:`DaemonSettings`,
:class:`DashcamSettings`, :class:`IngestSettings`, :class:`InboxSettings`, :class:`StageSettings`,
:class:`PipelineSettings`, :class:`MaintenanceSettings`, :class:`IndexSettings`,
:func:`load_settings`,
:data:`DEFAULT_STAGES`, :data:`BUILTIN_EXECUTORS`, ``WatchMode``.

One TOML file serves every host: workers read ``[spool]`` and ``[storage]`` (plain
:class:`~spoold.configfile.Config`, unknown sections allowed), the daemon reads it all with
:class:`DaemonConfig`, where a misspelt key is an error.  :func:`load_settings` reports every
mistake on its own line as ``FILE: section.key: what is wrong``; ``spoold.example.toml``
documents each setting.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from schemas.task import NAME_RE, TYPE_RE
from spoold.configfile import Config, format_validation_error, read_toml
from spoold.configfile import _absolutize as _absolutize_base
from spoold.dashcam import (
    FAMILIES,
    Family,
    FamilyError,
    NameInfo,
    families_from_data,
    select_families,
)
from spoold.dashcam import parse_name as _parse_name
from spoold.errors import ConfigError
from spoold.workers.gps_track import parse_tz

WatchMode = Literal["auto", "native", "polling", "scan"]

#: Server-side task types the daemon can run without a ``command`` (see spoold.server.executors).
BUILTIN_EXECUTORS = ("ingest", "finalize", "archive", "cleanup", "index")

#: The default pipeline: ingest (server) → preprocess (jetson) → detect (gpu) →
#: finalize (server) → archive (server).
DEFAULT_STAGES: dict[str, dict[str, Any]] = {
    "ingest": {"device_class": "server", "next": ["preprocess"]},
    "preprocess": {"device_class": "jetson", "next": ["detect"], "inputs": ["outputs"]},
    "detect": {"device_class": "gpu", "next": ["finalize"], "inputs": ["outputs", "inputs"]},
    "finalize": {"device_class": "server", "next": ["archive"], "inputs": ["outputs", "inputs"]},
    "archive": {"device_class": "server", "next": [], "inputs": ["outputs"]},
}


def _name(value: str, what: str) -> str:
    if not NAME_RE.match(value):
        raise ValueError(f"{what} {value!r} must match [a-z0-9][a-z0-9_-]* (max 63 chars)")
    return value


def _type(value: str) -> str:
    if not TYPE_RE.match(value):
        raise ValueError(f"task type {value!r} must match [a-z][a-z0-9_]* (max 32 chars)")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DaemonSettings(_Section):
    """``[daemon]``: the process itself."""

    device: str = Field(default="server", description="device name the daemon claims as")
    state_dir: Path | None = Field(
        default=None, description="local cache folder (default ~/.cache/spoold)"
    )
    lease_s: float = Field(default=30.0, ge=3, description="single-instance lease, server seconds")
    tick_s: float = Field(default=1.0, gt=0, le=60, description="longest sleep between passes")
    storage_marker: str = ".spoold-storage"
    storage_check_s: float = Field(default=10.0, gt=0)
    fs_timeout_s: float = Field(default=10.0, gt=0, description="marker checks, single stats")
    scan_timeout_s: float = Field(default=600.0, gt=0, description="one listing of an inbox")
    probe_timeout_s: float = Field(default=120.0, gt=0, description="one server task's file work")
    io_threads: int = Field(default=2, ge=1, le=32, description="threads per storage root")
    server_slots: int = Field(default=2, ge=1, le=64, description="server tasks run at once")
    outage_pause_s: float = Field(default=30.0, ge=0)
    chain_interval_s: float = Field(default=2.0, gt=0)
    chain_full_interval_s: float = Field(default=300.0, gt=0)
    chain_hot_days: int = Field(default=7, ge=1)
    status_interval_s: float = Field(default=30.0, gt=0)
    state_save_s: float = Field(default=60.0, gt=0)
    shutdown_grace_s: float = Field(default=10.0, ge=0)

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        return _name(v, "device")

    @field_validator("storage_marker")
    @classmethod
    def _marker(cls, v: str) -> str:
        if not v or "/" in v or v in (".", ".."):
            raise ValueError(f"storage_marker {v!r} must be a plain file name")
        return v


def _tz(value: str | None) -> str | None:
    """A time zone setting: UTC, an offset like +05:30 or an IANA name (checked now)."""
    if value is not None:
        parse_tz(value)  # ValueError with an operator-readable message
    return value


TzSetting = Annotated[str | None, AfterValidator(_tz)]


class DashcamSettings(_Section):
    """``[dashcam]``: the cameras' clock and the file-name families every inbox knows.

    ``families`` adds naming families in :mod:`spoold.dashcam`'s data format (one
    ``[[dashcam.families]]`` table each), tried *before* the built-in ones; a mistake is
    reported with the family's position, name and field at load.
    """

    tz: TzSetting = Field(
        default=None,
        description="time zone the cameras' clocks are set to (default: unknown, taken as UTC)",
    )
    families: list[dict[str, Any]] = Field(
        default_factory=list, description="extra naming families (spoold.dashcam format)"
    )
    _built: tuple[Family, ...] = PrivateAttr(default=())

    @field_validator("families")
    @classmethod
    def _check_families(cls, v: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            families_from_data(v, taken=(f.brand for f in FAMILIES))
        except FamilyError as exc:
            raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _build(self) -> DashcamSettings:
        self._built = families_from_data(self.families, taken=(f.brand for f in FAMILIES))
        return self

    @property
    def extra_families(self) -> tuple[Family, ...]:
        """The operator's families, built and validated."""
        return self._built


class IngestSettings(_Section):
    """``[ingest]``: defaults for every inbox."""

    stable_s: float = Field(default=10.0, ge=0, description="size+mtime unchanged this long")
    scan_interval_s: float = Field(default=10.0, gt=0, description="incremental rescan")
    full_scan_interval_s: float = Field(default=1800.0, gt=0, description="stat every file")
    poll_interval_s: float = Field(default=30.0, gt=0, description="watch = 'polling' interval")
    include: list[str] = Field(
        default_factory=lambda: ["*.mp4", "*.mov", "*.ts", "*.avi"],
        description="video name patterns (case-insensitive globs)",
    )
    ignore: list[str] = Field(
        default_factory=lambda: ["@eaDir", "#recycle", "#snapshot", ".snapshot", "lost+found"],
        description="file or folder names (globs) never looked at, besides temp files",
    )
    missing_max_attempts: int = Field(default=3, ge=1)
    incomplete_reject_s: float = Field(
        default=3600.0,
        gt=0,
        description="an unfinished-looking file (truncated, zero tail...) unchanged this long "
        "is rejected; until then it is held and looked at again (a copy may have stalled)",
    )
    prealloc_settle_s: float = Field(
        default=60.0,
        ge=0,
        description="a pre-allocated copy (seen changing at its full size) whose last byte is "
        "still zero when stable waits this long more for its last bytes, then is ingested",
    )


class InboxSettings(_Section):
    """``[[inbox]]``: one folder to watch, on a storage root."""

    name: str | None = None
    root: str = Field(description="storage root name (a key of [storage])")
    path: str = Field(default="", description="folder relative to the root ('' = all of it)")
    include: list[str] | None = None
    ignore: list[str] = Field(default_factory=list, description="added to [ingest] ignore")
    watch: WatchMode = "auto"
    poll_interval_s: float | None = Field(default=None, gt=0)
    stable_s: float | None = Field(default=None, ge=0)
    vehicle: str | None = None
    tz: TzSetting = Field(
        default=None, description="this inbox's cameras' time zone (default: [dashcam] tz)"
    )
    families: list[str] | None = Field(
        default=None,
        description="only these naming families, in this order (built-in or [[dashcam.families]])",
    )

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        p = PurePosixPath(v or ".")
        if p.is_absolute() or ".." in p.parts or "\\" in v:
            raise ValueError(f"path {v!r} must be relative to the storage root, without '..'")
        return "" if str(p) == "." else str(p)

    @field_validator("name")
    @classmethod
    def _inbox_name(cls, v: str | None) -> str | None:
        return None if v is None else _name(v, "inbox name")

    @property
    def label(self) -> str:
        return self.name or (f"{self.root}:{self.path}" if self.path else self.root)


class StageSettings(_Section):
    """``[pipeline.stages.TYPE]``: who runs a stage and what follows it."""

    device_class: str
    device: str | None = Field(default=None, description="pin to one device")
    next: list[str] = Field(default_factory=list)
    inputs: list[str] = Field(
        default_factory=lambda: ["outputs"],
        description="parent outputs/inputs that become this stage's inputs: "
        "'outputs', 'inputs', 'outputs:TYPE', 'inputs:TYPE'",
    )
    params: dict[str, Any] = Field(default_factory=dict)
    executor: str | None = Field(default=None, description="server stages: a built-in executor")
    command: list[str] | None = Field(default=None, description="server stages: run this instead")

    @field_validator("device_class")
    @classmethod
    def _cls(cls, v: str) -> str:
        return _name(v, "device_class")

    @field_validator("device")
    @classmethod
    def _dev(cls, v: str | None) -> str | None:
        return None if v is None else _name(v, "device")

    @field_validator("next")
    @classmethod
    def _next(cls, v: list[str]) -> list[str]:
        return [_type(t) for t in v]

    @field_validator("inputs")
    @classmethod
    def _inputs(cls, v: list[str]) -> list[str]:
        for sel in v:
            source, _, kind = sel.partition(":")
            if source not in ("outputs", "inputs") or (_ and not kind):
                raise ValueError(
                    f"input selector {sel!r}: want 'outputs', 'inputs', 'outputs:TYPE' "
                    "or 'inputs:TYPE'"
                )
        return v

    @field_validator("executor")
    @classmethod
    def _executor(cls, v: str | None) -> str | None:
        if v is not None and v not in BUILTIN_EXECUTORS:
            raise ValueError(
                f"executor {v!r} is not built in (have: {', '.join(BUILTIN_EXECUTORS)})"
            )
        return v


class PipelineSettings(_Section):
    """``[pipeline]``: the stages, by task type, and the first one (run on each new video).

    A ``[pipeline.stages.TYPE]`` table overrides only the keys it sets of that default stage
    (or adds a stage); ``defaults = false`` starts from no stage at all.
    """

    first: str = "ingest"
    defaults: bool = True
    stages: dict[str, StageSettings] = Field(
        default_factory=lambda: {k: StageSettings(**v) for k, v in DEFAULT_STAGES.items()}
    )

    @model_validator(mode="before")
    @classmethod
    def _merge(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("defaults") is False:
            return data
        given = data.get("stages")
        if not isinstance(given, dict):
            return data
        merged: dict[str, Any] = {k: dict(v) for k, v in DEFAULT_STAGES.items()}
        for name, st in given.items():
            merged[name] = {**merged.get(name, {}), **st} if isinstance(st, dict) else st
        return {**data, "stages": merged}

    @field_validator("stages")
    @classmethod
    def _types(cls, v: dict[str, StageSettings]) -> dict[str, StageSettings]:
        for t in v:
            _type(t)
        return v


class MaintenanceSettings(_Section):
    """``[maintenance]``: periodic utility tasks the daemon publishes for itself."""

    cleanup_interval_s: float = Field(default=3600.0, gt=0)
    index_interval_s: float = Field(default=3600.0, gt=0)
    temp_dirs: list[str] = Field(
        default_factory=list, description="'ROOT:PATH' folders whose old entries are removed"
    )
    temp_ttl_s: float = Field(default=86400.0, gt=0)
    spool_tmp_ttl_s: float = Field(default=3600.0, gt=0)

    @field_validator("temp_dirs")
    @classmethod
    def _dirs(cls, v: list[str]) -> list[str]:
        for item in v:
            root, sep, path = item.partition(":")
            p = PurePosixPath(path or ".")
            if not sep or not NAME_RE.match(root) or p.is_absolute() or ".." in p.parts:
                raise ValueError(f"temp_dirs entry {item!r}: want 'ROOT:relative/path'")
        return v


class IndexSettings(_Section):
    """``[index]``: where finalize writes the metadata index (``webui_export.index.writer``)."""

    dir: Path | None = Field(
        default=None, description="index folder on the server's local disk; unset = no index"
    )
    publish_interval_s: float = Field(default=1.0, gt=0)
    finalize_batch: int = Field(
        default=200,
        ge=1,
        le=500,
        description="most finalize tasks indexed in one transaction when a backlog waits"
        " (fewer when that would take more than about 5 s)",
    )


class DaemonConfig(Config):
    """The whole config file as the daemon reads it (``[spool]``, ``[storage]`` and more)."""

    model_config = ConfigDict(extra="forbid")

    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    dashcam: DashcamSettings = Field(default_factory=DashcamSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    inbox: list[InboxSettings] = Field(default_factory=list)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    # read by `spoold serve` (webui_export.api.ui checks it): tile_url, tile_attribution
    webui: dict[str, str] = Field(default_factory=dict)

    def state_dir(self) -> Path:
        return self.daemon.state_dir or Path.home() / ".cache" / "spoold"

    def inbox_named(self, label: str) -> InboxSettings | None:
        """The inbox called ``label`` (:attr:`InboxSettings.label`), if there is one."""
        return next((b for b in self.inbox if b.label == label), None)

    def inbox_tz(self, box: InboxSettings | None) -> str | None:
        """The cameras' time zone of ``box``: its own ``tz``, else ``[dashcam] tz``."""
        return (box.tz if box is not None else None) or self.dashcam.tz

    def inbox_families(self, box: InboxSettings | None) -> tuple[Family, ...]:
        """The naming families of ``box``, in match order: its ``families`` list when set,
        else the operator's ``[[dashcam.families]]`` then the built-in ones."""
        extra = self.dashcam.extra_families
        if box is not None and box.families is not None:
            return select_families(box.families, extra)
        return (*extra, *FAMILIES)

    def parse_name(self, box: InboxSettings | None, relpath: str) -> NameInfo | None:
        """What ``relpath`` (a clip of ``box``) says by its name, with the inbox's families."""
        return _parse_name(relpath, self.inbox_families(box))

    def problems(self) -> list[str]:
        """Mistakes that span sections, one ``where: what`` line each (empty when fine)."""
        out: list[str] = []
        roots = sorted(self.storage)
        known = ", ".join(roots) or "none configured"
        seen: dict[tuple[str, str], int] = {}
        labels: set[str] = set()
        for i, box in enumerate(self.inbox):
            where = f"inbox.{i}"
            if box.root not in self.storage:
                out.append(f"{where}.root: {box.root!r} is not a storage root (known: {known})")
            for pat in [*(box.include or []), *box.ignore]:
                if not pat or "/" in pat:
                    out.append(f"{where}: pattern {pat!r} must be a non-empty name glob")
            prev = seen.get((box.root, box.path))
            if prev is not None:
                out.append(f"{where}: same folder as inbox.{prev} ({box.label})")
            seen[(box.root, box.path)] = i
            for (root, path), j in seen.items():
                if j != i and root == box.root and _nested(path, box.path):
                    out.append(f"{where}: folder overlaps inbox.{j} ({root}:{path or '/'})")
            if box.label in labels:
                out.append(f"{where}.name: {box.label!r} is used by another inbox")
            labels.add(box.label)
            if box.families is not None:
                try:
                    select_families(box.families, self.dashcam.extra_families)
                except FamilyError as exc:
                    out.append(f"{where}.families: {exc}")
        out += self._pipeline_problems()
        for i, item in enumerate(self.maintenance.temp_dirs):
            root = item.partition(":")[0]
            if root not in self.storage:
                out.append(f"maintenance.temp_dirs.{i}: {root!r} is not a storage root ({known})")
        return out

    def _pipeline_problems(self) -> list[str]:
        out: list[str] = []
        stages = self.pipeline.stages
        if self.pipeline.first not in stages:
            out.append(f"pipeline.first: no stage {self.pipeline.first!r} in [pipeline.stages]")
        for name, st in stages.items():
            where = f"pipeline.stages.{name}"
            for nxt in st.next:
                if nxt not in stages:
                    out.append(f"{where}.next: no stage {nxt!r} in [pipeline.stages]")
            if st.device_class == "server" or st.executor or st.command:
                if st.device_class != "server":
                    out.append(f"{where}: executor/command need device_class = 'server'")
                elif not (st.command or (st.executor or name) in BUILTIN_EXECUTORS):
                    out.append(
                        f"{where}: no built-in executor for {name!r} "
                        f"(have: {', '.join(BUILTIN_EXECUTORS)}); set executor = '...' or "
                        "command = [...]"
                    )
            root = st.params.get("root")
            archive = (st.executor or name) == "archive"
            if archive and isinstance(root, str) and root not in self.storage:
                out.append(f"{where}.params.root: {root!r} is not a storage root")
        cycle = _find_cycle({k: v.next for k, v in stages.items()})
        if cycle:
            out.append(f"pipeline.stages: the stages loop: {' -> '.join(cycle)}")
        return out


def _nested(a: str, b: str) -> bool:
    pa, pb = PurePosixPath(a or "."), PurePosixPath(b or ".")
    return a == "" or b == "" or pa in pb.parents or pb in pa.parents


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in graph.get(n, []):
            if state.get(m) == 1:
                return [*path[path.index(m) :], m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        path.pop()
        state[n] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def load_settings(path: str | os.PathLike[str]) -> DaemonConfig:
    """Read and validate a daemon config; :class:`ConfigError` lists every mistake, one a line."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    data = read_toml(p)
    base = p.parent.resolve()
    _absolutize_base(data, base)
    for section, key in (("daemon", "state_dir"), ("index", "dir")):
        table = data.get(section)
        if isinstance(table, dict) and isinstance(table.get(key), str):
            table[key] = str((base / os.path.expanduser(table[key])).resolve())
    try:
        cfg = DaemonConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(p, exc)) from None
    problems = cfg.problems()
    if problems:
        raise ConfigError("\n".join(f"{p}: {line}" for line in problems))
    cfg.source = p
    return cfg


def match_any(name: str, patterns: list[str]) -> bool:
    """Case-insensitive glob match of a single name against ``patterns``."""
    low = name.lower()
    return any(fnmatch.fnmatchcase(low, pat.lower()) for pat in patterns)
