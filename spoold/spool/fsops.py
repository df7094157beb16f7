"""Low-level file operations that behave the same on local disk, NFS, SMB and sshfs.

Public API: :func:`rename`, :func:`rename_noreplace`, :func:`unlink`, :func:`discard`, :func:`write_new`,
:func:`write_over`, :func:`read_bytes`, :func:`listdir`, :func:`fsync_dir`, :func:`exists`,
:func:`maybe_there`, :func:`is_gone`, :func:`folder_fsync_is_sent`, :func:`fstype_at`,
``GONE_ERRNOS``.

Only the ``spoold.spool`` package calls these on spool files.  What they paper over (seen on
real shares, see ``../shared/netshare/README.md`` and ``spool_layout.md``):

- NFS may report ENOENT for a rename that happened (a retransmitted request); a cached file
  handle for a file another client removed gives ESTALE.  Both mean "gone" here, and a rename
  that reports ENOENT is checked against its (unique) target before it counts as lost.
- SMB may refuse a rename or unlink right after ``close()`` with EBUSY (the handle is still
  being released): retried a few times with a short backoff.
- sshfs reports EPERM where EEXIST is meant for an exclusive create.
- No NFS, SMB or SFTP client sends a folder's fsync to its server, yet opening the folder
  for it costs round trips (and on smbnetfs a listing of the whole folder): on those file
  systems :func:`fsync_dir` does not open the folder.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
import stat
import time
from functools import cache, lru_cache
from pathlib import Path

#: errno values that mean "that name is not there (any more)".
GONE_ERRNOS = frozenset({errno.ENOENT, errno.ESTALE})
_BUSY_ERRNOS = frozenset({errno.EBUSY, errno.ETXTBSY})
_RETRIES = 6


def is_gone(exc: OSError) -> bool:
    return exc.errno in GONE_ERRNOS


def exists(path: str | Path) -> bool:
    """lstat-based existence (a symlink counts; it is never followed)."""
    try:
        os.lstat(path)
    except OSError as exc:
        if is_gone(exc) or exc.errno == errno.ENOTDIR:
            return False
        raise
    return True


# ``access`` without following symlinks answers with a bool, not an exception: where it is
# missing (a platform without faccessat), :func:`exists` stands in.
_ACCESS_NOFOLLOW = os.access in os.supports_follow_symlinks


def maybe_there(path: str) -> bool:
    """Whether ``path`` may be worth a rename: False when it is gone, or cannot be looked at.

    For skipping names a cached listing still holds but other workers took (several per
    claim when workers race).  Unlike :func:`exists` it raises nothing: building the
    exception of a missing name costs as much as looking it up, and a name wrongly skipped
    here only waits for the next listing.
    """
    if _ACCESS_NOFOLLOW:
        return os.access(path, os.F_OK, follow_symlinks=False)
    try:
        return exists(path)
    except OSError:
        return False


def rename(src: str | Path, dst: str | Path, *, dst_unique: bool = True) -> bool:
    """Atomically rename ``src`` to ``dst``; False when ``src`` was gone (a lost race).

    ``dst_unique`` says nobody else ever renames to ``dst`` (a claim name with our token, or
    a rename of our own temp file).  Then an ENOENT that comes with ``dst`` present means our
    rename happened and only its reply was lost, as NFS can do.
    """
    for attempt in range(_RETRIES):
        try:
            os.rename(src, dst)
            return True
        except OSError as exc:
            if is_gone(exc):
                if dst_unique and exists(dst):
                    return True
                if not exists(os.path.dirname(dst)):
                    raise  # the target's folder is missing: the caller may create it
                # Lost the race.  (Not judged by looking at ``src``: a client's entry cache
                # may still show a name another host renamed away, sshfs for ~1-2 s.)
                return False
            if _pause_if_busy(exc, attempt):
                continue
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _pause_if_busy(exc: OSError, attempt: int) -> bool:
    """Whether to try again after ``exc``: a busy name (SMB right after a close, while FUSE
    still releases the handle) gets a few short, growing pauses."""
    if exc.errno in _BUSY_ERRNOS and attempt < _RETRIES - 1:
        time.sleep(0.005 * 2**attempt)
        return True
    return False


#: errno values of a ``link`` or ``renameat2`` the filesystem (or kernel, or libc) does not
#: offer: fall back to the next way.
_UNSUPPORTED_ERRNOS = frozenset(
    {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.EMLINK}
)
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


@cache
def _renameat2() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    """libc's ``renameat2`` (Linux, glibc 2.28+), or None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def rename_noreplace(src: str | Path, dst: str | Path) -> bool:
    """Rename ``src`` to ``dst`` unless ``dst`` exists: True when renamed, False when ``src``
    was gone, :class:`FileExistsError` when ``dst`` exists (then nothing changed).

    For every move that must never replace what is at ``dst`` (an operator's fix saved there
    meanwhile).  The first way the filesystem offers: ``link`` + ``unlink`` (atomic: ``link``
    never replaces; a crash between the two leaves both names, the caller's source being a
    claim that a breaker then handles); else ``renameat2(RENAME_NOREPLACE)``; else ``lstat``
    then ``rename``.  RACE (that last way only, on filesystems with neither): a file created at
    ``dst`` between the ``lstat`` and the ``rename`` is replaced.
    """
    src_s, dst_s = os.fspath(src), os.fspath(dst)
    try:
        os.link(src_s, dst_s, follow_symlinks=False)
    except FileExistsError:
        if _same_file(src_s, dst_s):  # NFS: our link happened, its reply was lost
            unlink(src_s)
            return True
        raise
    except OSError as exc:
        if is_gone(exc):
            return _gone_or_raise(dst_s)
        if exc.errno not in _UNSUPPORTED_ERRNOS and exc.errno != errno.EXDEV:
            raise
    else:
        unlink(src_s)
        return True
    fn = _renameat2()
    if fn is not None:
        rc = fn(_AT_FDCWD, os.fsencode(src_s), _AT_FDCWD, os.fsencode(dst_s), _RENAME_NOREPLACE)
        if rc == 0:
            return True
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            raise FileExistsError(code, os.strerror(code), dst_s)
        if code in GONE_ERRNOS:
            return _gone_or_raise(dst_s)
        if code not in _UNSUPPORTED_ERRNOS:
            raise OSError(code, os.strerror(code), src_s)
    if exists(dst_s):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst_s)
    return rename(src_s, dst_s, dst_unique=False)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samestat(os.lstat(a), os.lstat(b))
    except OSError:
        return False


def _gone_or_raise(dst: str) -> bool:
    """After ENOENT: the source was gone (False), unless the target's folder is missing."""
    if not exists(os.path.dirname(dst)):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), os.path.dirname(dst))
    return False


def unlink(path: str | Path) -> bool:
    """Remove ``path``; False if it was already gone."""
    for attempt in range(_RETRIES):
        try:
            os.unlink(path)
            return True
        except OSError as exc:
            if is_gone(exc):
                return False
            if _pause_if_busy(exc, attempt):
                continue
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def write_new(path: Path, data: bytes, *, fsync: bool) -> None:
    """Create ``path`` (which must not exist), write ``data``, optionally fsync, close."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def write_over(path: str | Path, data: bytes, *, fsync: bool) -> None:
    """Rewrite the existing regular file ``path`` with ``data`` (never creates it).

    Rewriting an inode is far cheaper than creating one on most filesystems (the lander's
    spare temp files rely on it); truncating only when the new data is shorter avoids freeing
    and re-allocating its block.
    """
    fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        view = memoryview(data)
        written = 0
        while written < len(data):
            written += os.pwrite(fd, view[written:], written)
        if st.st_size > written:
            os.ftruncate(fd, written)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def listdir(path: str | os.PathLike[str]) -> list[str]:
    """The names in a folder; none when it is missing (a queue or day not made yet)."""
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


#: errno values of a filesystem that cannot open or fsync a directory (some FUSE and SMB
#: mounts): there is no directory entry to flush there, and the rename is atomic anyway.
_NO_DIR_FSYNC_ERRNOS = frozenset(
    {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF, errno.EACCES, errno.EPERM}
)


#: File system types (``/proc/self/mountinfo``) whose clients send nothing to the server for
#: a folder's fsync: NFS makes name changes durable on the server before it answers (the
#: kernel client's folder fsync is empty), SMB clients send no flush for a folder (cifs'
#: is empty, smbnetfs has none) and SFTP has no such request (sshfs has none).
NO_FOLDER_FSYNC_FSTYPES = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "fuse.smbnetfs"}
)


_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def fstype_at(path: str, mountinfo: str) -> str | None:
    """The file system type of the mount holding the absolute ``path`` (no symlinks), from
    the text of ``/proc/self/mountinfo``; None when no line matches."""
    best, fstype = -1, None
    for line in mountinfo.splitlines():
        fields, sep, rest = line.partition(" - ")
        parts = fields.split()
        if not sep or len(parts) < 5 or not rest:
            continue
        point = _OCTAL_ESCAPE.sub(lambda m: chr(int(m[1], 8)), parts[4])  # \040: a space
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) > best:
            best, fstype = len(point), rest.split()[0]
    return fstype


@lru_cache(maxsize=4096)
def folder_fsync_is_sent(folder: str) -> bool:
    """Whether an fsync of ``folder`` (an absolute path) can reach a disk: False on the file
    systems of :data:`NO_FOLDER_FSYNC_FSTYPES`; True where that cannot be told (no
    ``/proc``).  Cached per folder: a spool's folders do not move between mounts."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            mountinfo = fh.read()
    except OSError:
        return True
    return fstype_at(os.path.realpath(folder), mountinfo) not in NO_FOLDER_FSYNC_FSTYPES


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename into ``path`` durable.

    The one policy for every caller (spool files, worker outputs, index files): a filesystem
    that cannot open or fsync a directory makes this a no-op (``_NO_DIR_FSYNC_ERRNOS``: the
    rename itself is still atomic, and there is nothing more the caller could do), and so
    does a share whose client would not send the fsync (:func:`folder_fsync_is_sent`); any
    other error (EIO, ENOSPC, a missing directory) raises, because the caller would otherwise
    report durable what may not be.
    """
    if not folder_fsync_is_sent(os.path.abspath(path)):
        return
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        if exc.errno in _NO_DIR_FSYNC_ERRNOS:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NO_DIR_FSYNC_ERRNOS:
            raise
    finally:
        os.close(fd)


def discard(path: str | os.PathLike[str]) -> None:
    """Remove a file of our own, ignoring every error (clean-up on an error path)."""
    try:
        os.unlink(path)
    except OSError:
        pass


class TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


class NotRegular(Exception):
    def __init__(self, what: str) -> None:
        self.what = what


def read_bytes(path: str | Path, limit: int) -> bytes:
    """Read a regular file without following symlinks; TooLarge past ``limit`` bytes."""
    try:
        fd = os.open(
            path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        )
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegular("a symbolic link (never followed)") from None
        raise
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise NotRegular("a directory")
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular("not a regular file")
        if st.st_size > limit:
            raise TooLarge(st.st_size)
        # One read for the size fstat gave (plus one byte, to see growth), then more only
        # if the file grew meanwhile: asking for ``limit`` bytes would allocate that much.
        data = os.read(fd, st.st_size + 1)
        if len(data) > st.st_size:
            chunks = [data]
            remaining = limit + 1 - len(data)
            while remaining > 0:
                chunk = os.read(fd, min(remaining, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
            data = b"".join(chunks)
        if len(data) > limit:
            raise TooLarge(len(data))
        return data
    finally:
        os.close(fd)
