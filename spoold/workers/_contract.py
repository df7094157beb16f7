"""The ``spoold work`` command contract, seen from inside a worker command.

Public API:

- :class:`WorkerError` — an error the worker reports on purpose: one line naming the file and
  the reason, printed to stderr by :func:`run_main`, exit status 2.
- :class:`WorkerEnv` — the environment ``spoold work`` hands a command (:meth:`WorkerEnv.load`):
  the task (``$SPOOLD_TASK_FILE`` or stdin), ``$SPOOLD_RESULT_FILE``, ``$SPOOLD_ROOTS``,
  ``$SPOOLD_WORKDIR``, ``$SPOOLD_TASK_ID`` and ``$SPOOLD_DEVICE``;
  :meth:`WorkerEnv.write_output` writes one JSON output on a root and returns its FileRef.
- :class:`Roots` — storage-root names → local directories; :meth:`Roots.resolve` turns a
  :class:`~schemas.task.FileRef` into a local path and refuses any path that leaves its root
  (``..``, absolute paths, or symlinks pointing outside); :meth:`Roots.output_path` does the
  same for a file the worker is about to write, creating its parent directories.
- :func:`atomic_write_bytes`, :func:`atomic_write_json` — write a file on storage atomically:
  temporary file in the destination directory, ``fsync``, ``rename``, ``fsync`` of the directory.
- :func:`publish_dir` — move a fully written (and fsynced) directory into place, replacing an
  older copy of it (e.g. the keyframes of a re-run).
- :func:`write_result` — write the :class:`~schemas.task.WorkResult` to ``$SPOOLD_RESULT_FILE``.
- :func:`video_id_of` — the video id of a task, checked to be usable as one path component.
- :func:`meta_dir` — ``meta/<video_id>/<task_type>``, where a task's outputs go.
- :func:`run_main` — run a worker's ``main``: :class:`WorkerError` becomes a one-line message
  and exit status 2; any other exception a traceback and exit status 1.

Runs on Python 3.10.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ValidationError

from schemas.task import KEY_RE, FileRef, Task, WorkResult, describe_error
from spoold.spool.fsops import fsync_dir

__all__ = [
    "Roots",
    "WorkerEnv",
    "WorkerError",
    "atomic_write_bytes",
    "atomic_write_json",
    "meta_dir",
    "publish_dir",
    "run_main",
    "video_id_of",
    "write_result",
]

ENV_TASK_FILE = "SPOOLD_TASK_FILE"
ENV_RESULT_FILE = "SPOOLD_RESULT_FILE"
ENV_TASK_ID = "SPOOLD_TASK_ID"
ENV_DEVICE = "SPOOLD_DEVICE"
ENV_ROOTS = "SPOOLD_ROOTS"
ENV_WORKDIR = "SPOOLD_WORKDIR"


class WorkerError(Exception):
    """A failure the worker explains in one line (file and reason); exit status 2."""


def _validation_summary(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{loc}: {describe_error(err)}" if loc else describe_error(err))
    return "; ".join(parts)


def _within(path: Path, root: Path) -> bool:
    try:
        return os.path.commonpath([str(path), str(root)]) == str(root)
    except ValueError:  # different drives (Windows) or mixed absolute/relative
        return False


@dataclass(frozen=True)
class Roots:
    """Storage roots: name → local directory (``$SPOOLD_ROOTS``)."""

    dirs: Mapping[str, Path]

    @classmethod
    def from_json(cls, text: str, *, source: str = ENV_ROOTS) -> Roots:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WorkerError(f"{source}: not JSON ({exc.msg} at char {exc.pos})") from None
        if not isinstance(raw, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in raw.items()
        ):
            raise WorkerError(
                f'{source}: want a JSON object of root name → directory, e.g. {{"server": "/srv"}}'
            )
        return cls({name: Path(path) for name, path in raw.items()})

    def root(self, name: str) -> Path:
        """The real (symlink-free) directory of a root; WorkerError if unknown or missing."""
        if name not in self.dirs:
            known = ", ".join(sorted(self.dirs)) or "none"
            raise WorkerError(f"storage root {name!r} is not in {ENV_ROOTS} (known: {known})")
        path = self.dirs[name]
        if not path.is_dir():
            raise WorkerError(
                f"storage root {name!r} directory {path} does not exist or is not mounted"
            )
        return Path(os.path.realpath(path))

    def _check_rel(self, device: str, rel: str) -> PurePosixPath:
        p = PurePosixPath(rel)
        if not rel or p.is_absolute() or ".." in p.parts or "\x00" in rel or "\\" in rel:
            raise WorkerError(
                f"{device}:{rel}: path must be relative to the storage root and may not "
                "contain '..'"
            )
        return p

    def resolve(self, ref: FileRef, *, must_exist: bool = True) -> Path:
        """Local path of ``ref``; WorkerError if it leaves its root (symlinks included)."""
        root = self.root(ref.device)
        rel = self._check_rel(ref.device, ref.path)
        candidate = root.joinpath(*rel.parts)
        real = Path(os.path.realpath(candidate))
        if not _within(real, root):
            raise WorkerError(
                f"{ref.device}:{ref.path}: resolves to {real}, outside storage root {root} "
                "(symlink escape); refusing to read it"
            )
        if must_exist and not real.exists():
            raise WorkerError(f"{ref.device}:{ref.path}: no such file ({candidate})")
        return real

    def sibling(self, device: str, path: Path) -> Path | None:
        """``path`` (already local) if it exists and stays inside root ``device``, else None."""
        root = self.root(device)
        real = Path(os.path.realpath(path))
        if not _within(real, root) or not real.is_file():
            return None
        return real

    def relative(self, device: str, path: Path) -> str:
        """POSIX path of local ``path`` relative to root ``device`` (for a FileRef)."""
        root = self.root(device)
        real = Path(os.path.realpath(path))
        if not _within(real, root):
            raise WorkerError(f"{path}: not inside storage root {device!r} ({root})")
        return PurePosixPath(*real.relative_to(root).parts).as_posix()

    def output_path(self, device: str, rel: str) -> Path:
        """Local path to write ``device:rel`` to; parents created, escapes refused."""
        root = self.root(device)
        relp = self._check_rel(device, rel)
        target = root.joinpath(*relp.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        parent = Path(os.path.realpath(target.parent))
        if not _within(parent, root):
            raise WorkerError(
                f"{device}:{rel}: parent directory resolves to {parent}, outside storage root "
                f"{root}; refusing to write there"
            )
        return parent / target.name


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``: temp file beside it, fsync, rename over, fsync the directory."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise WorkerError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_dir(path.parent)


def atomic_write_json(path: Path, model: BaseModel | Mapping[str, Any]) -> None:
    """Atomically write a pydantic model (or a plain mapping) as indented JSON."""
    if isinstance(model, BaseModel):
        text = model.model_dump_json(indent=2, exclude_none=True)
    else:
        text = json.dumps(model, indent=2, sort_keys=True, allow_nan=False)
    atomic_write_bytes(path, text.encode() + b"\n")


def fsync_tree(path: Path) -> None:
    """fsync every regular file directly inside ``path``, then ``path`` itself."""
    for child in path.iterdir():
        if child.is_file():
            with open(child, "rb") as f:
                os.fsync(f.fileno())
    fsync_dir(path)


def publish_dir(staged: Path, final: Path) -> None:
    """Move the fully written directory ``staged`` to ``final`` (same filesystem).

    An existing ``final`` (an earlier run) is first renamed aside, then removed, so readers
    see either the old or the new directory, never a mix; there is a moment with neither.
    """
    fsync_tree(staged)
    old: Path | None = None
    if final.exists() or final.is_symlink():
        old = final.with_name(f".{final.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
        os.replace(final, old)
    try:
        os.replace(staged, final)
    except OSError as exc:
        if old is not None:
            os.replace(old, final)
        raise WorkerError(f"{final}: cannot publish directory ({exc.strerror or exc})") from None
    fsync_dir(final.parent)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()


def video_id_of(task: Task) -> str:
    """The task's video id (else the key of its task id), safe as a single path component."""
    vid = task.video_id or task.task_id.split("-", 2)[2]
    if not KEY_RE.match(vid) or vid in {".", ".."}:
        raise WorkerError(
            f"task {task.task_id}: video_id {vid!r} is not usable as a directory name "
            "(want [A-Za-z0-9][A-Za-z0-9_.-]*)"
        )
    return vid


def meta_dir(task: Task) -> str:
    """``meta/<video_id>/<task_type>``: where this task's output files go (POSIX, relative)."""
    return f"meta/{video_id_of(task)}/{task.task_type}"


@dataclass(frozen=True)
class WorkerEnv:
    """Everything ``spoold work`` passes to a worker command."""

    task: Task
    roots: Roots
    result_file: Path | None
    workdir: Path
    device: str | None

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, stdin_text: str | None = None
    ) -> WorkerEnv:
        """Read the task and the environment; WorkerError naming what is missing or wrong."""
        env = os.environ if environ is None else environ
        task_file = env.get(ENV_TASK_FILE)
        if task_file:
            source = task_file
            try:
                text = Path(task_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise WorkerError(f"{task_file}: cannot read task file ({exc.strerror})") from None
        else:
            source = "stdin"
            text = sys.stdin.read() if stdin_text is None else stdin_text
        if not text.strip():
            raise WorkerError(f"no task: {ENV_TASK_FILE} is not set and stdin is empty")
        try:
            task = Task.model_validate_json(text)
        except ValidationError as exc:
            raise WorkerError(f"{source}: invalid task: {_validation_summary(exc)}") from None
        expected = env.get(ENV_TASK_ID)
        if expected and expected != task.task_id:
            raise WorkerError(
                f"{source}: task id {task.task_id!r} differs from {ENV_TASK_ID}={expected!r}"
            )
        roots_text = env.get(ENV_ROOTS)
        if not roots_text:
            raise WorkerError(f"{ENV_ROOTS} is not set: no storage roots to resolve inputs in")
        roots = Roots.from_json(roots_text)
        result = env.get(ENV_RESULT_FILE)
        workdir = Path(env.get(ENV_WORKDIR) or os.getcwd())
        return cls(
            task=task,
            roots=roots,
            result_file=Path(result) if result else None,
            workdir=workdir,
            device=env.get(ENV_DEVICE),
        )

    def inputs_of_type(self, *types: str | None) -> list[FileRef]:
        return [ref for ref in self.task.inputs if ref.type in types]

    def describe_inputs(self) -> str:
        """``root:path (type), ...`` of the task's inputs (or ``none``), for error messages."""
        return ", ".join(f"{r.device}:{r.path} ({r.type})" for r in self.task.inputs) or "none"

    def write_output(self, root: str, rel: str, model: BaseModel, kind: str) -> FileRef:
        """Write ``model`` as JSON to ``root:rel`` atomically; the FileRef (type ``kind``)."""
        atomic_write_json(self.roots.output_path(root, rel), model)
        return FileRef(device=root, path=rel, type=kind)


def write_result(env: WorkerEnv, result: WorkResult) -> None:
    """Write ``result`` to ``$SPOOLD_RESULT_FILE`` (or stdout when it is not set)."""
    text = result.model_dump_json(indent=2, exclude_none=True)
    if env.result_file is None:
        sys.stdout.write(text + "\n")
        return
    env.result_file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(env.result_file, text.encode() + b"\n")


def run_main(prog: str, main: Callable[[Sequence[str]], int], argv: Sequence[str] | None) -> int:
    """Call ``main(argv)``; WorkerError → ``prog: error: ...`` on stderr and 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return main(args)
    except WorkerError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception:  # the traceback's last lines end up in the task's failure record
        traceback.print_exc()
        print(f"{prog}: internal error (traceback above)", file=sys.stderr)
        return 1
