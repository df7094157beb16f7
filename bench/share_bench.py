"""What spoold costs on a real share, against what the share itself can do.

Per share type (nfs, smb, sshfs from ``../shared/netshare``, or your own share through
``SPOOLD_SHARE_<TYPE>_MOUNT``, see ``tests/netshare.py``) and on local disk, through one
client mount, single-threaded:

- ``raw``: create + write 300 bytes + close + rename into another folder, per second (the
  share's own ceiling for a spool-like operation; no fsync);
- ``publish``: ``Spool.publish`` of new tasks per second, with fsync (the default: file and
  folder) and without;
- ``claim+complete``: ``Spool.claim`` + ``Claim.complete`` (no children, fsync on) per second;
- the latency of ``Spool.claim`` calls in that loop, p50 and p99;
- ``claim+complete`` with fsync off, next to ``dirq``'s QueueSimple (lock + get + remove, no
  fsync, no leases) on the same share: dirq locks with hard links, which SMB refuses.

Ratios are spoold's rate divided by the raw rate on the same share.  Numbers from a busy
2-core VM are orders of magnitude, not a specification.

Then, per rig share, the round trips of one claim+complete (fsync on, and off) over
``--count`` tasks after a warm-up task, next to the protocol's floor (:data:`FLOOR`, derived
from spool_layout.md) and the ratio: the requests the kernel sent the rig's FUSE client, by
opcode (``strace`` on the client, ``netshare.count_client_ops``), and the requests its server
got: NFSv3 calls and SFTP packets as the FUSE client sent them, SMB2 commands as smbd counted
them (its profile counters: the rig's SMB client talks to smbd from a helper process); the
server's floor is the FUSE floor priced per protocol (:data:`WIRE_COST`).  A share of your own
(``SPOOLD_SHARE_<TYPE>_MOUNT`` not mounted by the rig) has no rig client to trace: its counts
are left out.

    sudo .venv/bin/python bench/share_bench.py                 # all three + local disk
    sudo .venv/bin/python bench/share_bench.py --types nfs -n 100 --json out.json
    sudo .venv/bin/python bench/share_bench.py --repeat 3   # medians of 3 runs per cell
    sudo .venv/bin/python bench/share_bench.py --quick      # every row, few operations
    sudo .venv/bin/python bench/share_bench.py --day-records 3000  # a busy day's complete/DAY/
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import netshare  # noqa: E402

from spoold.spool import Spool, fsops  # noqa: E402

STAMP = "20260101T000000Z"
DAY = "2026-01-01"  # STAMP's day: the records of the bench's tasks go to complete/DAY/
QUICK_N, QUICK_COUNT = 20, 5  # --quick: enough to print every row, not to rate anything
PAYLOAD = b'{"task": "' + b"x" * 285 + b'"}\n'  # about the size of a task file


def fill_day(spool_root: Path, records: int) -> None:
    """Put ``records`` other records in the spool's complete/DAY/: a day's completions so far
    (a folder fsync after each record's rename is where a client may pay for them)."""
    if records <= 0:
        return
    day = spool_root / "complete" / DAY
    day.mkdir(parents=True, exist_ok=True)
    for i in range(records):
        (day / f"{STAMP}-filler-r{i:06d}.json").write_bytes(PAYLOAD)


def raw_rate(root: Path, n: int) -> float:
    src, dst = root / "raw-tmp", root / "raw-dst"
    src.mkdir()
    dst.mkdir()
    t0 = time.perf_counter()
    for i in range(n):
        p = src / f"f{i}.tmp"
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, PAYLOAD)
        os.close(fd)
        os.rename(p, dst / f"f{i}.json")
    return n / (time.perf_counter() - t0)


def publish_rate(root: Path, n: int, fsync: bool) -> float:
    spool = Spool.init(root, fsync=fsync)
    tasks = [spool.new_task("bench", "cpu", f"k{i:05d}", stamp=STAMP) for i in range(n)]
    t0 = time.perf_counter()
    for t in tasks:
        spool.publish(t)
    rate = n / (time.perf_counter() - t0)
    spool.close()
    return rate


def claim_complete(root: Path, n: int, fsync: bool) -> tuple[float, list[float]]:
    """Rate of claim+complete over the ``n`` tasks already published in ``root``, and the
    latency of each claim call (seconds)."""
    spool = Spool(root, fsync=fsync)
    lat = []
    t0 = time.perf_counter()
    for _ in range(n):
        c0 = time.perf_counter()
        claim = spool.claim("cpu", "bench")
        lat.append(time.perf_counter() - c0)
        assert claim is not None, "ran out of tasks"
        claim.complete(result={"ok": True})
    rate = n / (time.perf_counter() - t0)
    spool.close()
    return rate, lat


def dirq_rate(root: Path, n: int) -> float | None:
    """dirq QueueSimple's lock + get + remove per second, or None where it cannot run."""
    from dirq.QueueSimple import QueueSimple
    from spool_bench import dirq_take_all  # the same drain loop as the local bench

    q = QueueSimple(str(root / "dirq"))
    try:
        for _ in range(n):
            q.add(PAYLOAD)
    except OSError as exc:  # EPERM from link(2) on SMB
        print(f"  dirq cannot run here: {exc.strerror}", file=sys.stderr)
        return None
    t0 = time.perf_counter()
    got = dirq_take_all(q)
    assert got == n, f"dirq drained {got} of {n}"
    return n / (time.perf_counter() - t0)


#: A negative LOOKUP (the name does not exist yet): a separate key only where a protocol
#: prices it differently (an SMB2 CREATE that fails needs no CLOSE); a FUSE LOOKUP either way.
LOOKUP_ABSENT = "LOOKUP (absent)"

#: The fewest FUSE requests one claim+complete can cost a network file system client, per
#: spool_layout.md, the cached listing amortized away: (step, operation, requests).
FLOOR: dict[bool, list[tuple[str, str, dict[str, int]]]] = {
    True: [
        ("4.2.2", "rename to the claim name", {"LOOKUP": 1, LOOKUP_ABSENT: 1, "RENAME": 1}),
        ("4.2.3", "utime: the lease", {"SETATTR": 1}),
        ("4.2.4", "read under the claim name", {"OPEN": 1, "READ": 1, "FLUSH": 1, "RELEASE": 1}),
        ("4.4.2", "utime: the fence", {"SETATTR": 1}),
        ("4.4.3", "fsync claimed/", {"OPENDIR": 1, "FSYNCDIR": 1, "RELEASEDIR": 1}),
        (
            "4.4.4",
            "write the record in tmp/, fsync",
            {LOOKUP_ABSENT: 1, "CREATE": 1, "WRITE": 1, "FSYNC": 1, "FLUSH": 1, "RELEASE": 1},
        ),
        (
            "4.4.5",
            "rename to complete/DAY/, fsync it",
            {LOOKUP_ABSENT: 1, "RENAME": 1, "OPENDIR": 1, "FSYNCDIR": 1, "RELEASEDIR": 1},
        ),
        ("4.4.6", "unlink the claim", {"UNLINK": 1}),
    ],
    False: [
        ("4.2.2", "rename to the claim name", {"LOOKUP": 1, LOOKUP_ABSENT: 1, "RENAME": 1}),
        ("4.2.3", "utime: the lease", {"SETATTR": 1}),
        ("4.2.4", "read under the claim name", {"OPEN": 1, "READ": 1, "FLUSH": 1, "RELEASE": 1}),
        ("4.4.2", "utime: the fence", {"SETATTR": 1}),
        (
            "4.4.4",
            "rewrite a spare in tmp/ (its size: a stat)",
            {"OPEN": 1, "GETATTR": 1, "WRITE": 1, "FLUSH": 1, "RELEASE": 1},
        ),
        ("4.4.5", "rename to complete/DAY/", {LOOKUP_ABSENT: 1, "RENAME": 1}),
        ("4.4.6", "rename the claim to a spare", {LOOKUP_ABSENT: 1, "RENAME": 1}),
    ],
}
#: Requests the kernel adds whatever the caller does: the security.capability check of a
#: file's first write (GETXATTR) and dropping an unlinked inode (FORGET).
KERNEL_OPS = ("GETXATTR", "FORGET", "BATCH_FORGET")

#: The fewest server requests each FUSE request of :data:`FLOOR` needs, per protocol, for a
#: client that sends one request at a time (no SMB2 compounding, no SFTP pipelining) and
#: holds file handles (no path walk per call): what the floor costs on the wire.
WIRE_COST: dict[str, dict[str, dict[str, int]]] = {
    # NFSv3 (RFC 1813): no open or close on the wire; directory changes are synchronous on
    # the server, so a directory fsync sends nothing; a file fsync is a COMMIT.
    "nfs": {
        "LOOKUP": {"LOOKUP": 1},
        LOOKUP_ABSENT: {"LOOKUP": 1},
        "RENAME": {"RENAME": 1},
        "SETATTR": {"SETATTR": 1},
        "READ": {"READ": 1},
        "CREATE": {"CREATE": 1},
        "WRITE": {"WRITE": 1},
        "FSYNC": {"COMMIT": 1},
        "UNLINK": {"REMOVE": 1},
        "GETATTR": {"GETATTR": 1},
    },
    # SMB2 (MS-SMB2): every path operation opens a handle (CREATE, whose reply carries the
    # attributes) and closes it; a CREATE of an absent name fails and needs no CLOSE.
    "smb": {
        "LOOKUP": {"CREATE": 1, "CLOSE": 1},
        LOOKUP_ABSENT: {"CREATE": 1},
        "RENAME": {"CREATE": 1, "SET_INFO": 1, "CLOSE": 1},
        "SETATTR": {"CREATE": 1, "SET_INFO": 1, "CLOSE": 1},
        "OPEN": {"CREATE": 1},
        "READ": {"READ": 1},
        "RELEASE": {"CLOSE": 1},
        "CREATE": {"CREATE": 1},
        "WRITE": {"WRITE": 1},
        "FSYNC": {"FLUSH": 1},
        "OPENDIR": {"CREATE": 1},
        "FSYNCDIR": {"FLUSH": 1},
        "RELEASEDIR": {"CLOSE": 1},
        "UNLINK": {"CREATE": 1, "CLOSE": 1},  # delete-on-close
        "GETATTR": {"QUERY_INFO": 1},
    },
    # SFTP v3 with OpenSSH's extensions (posix-rename@, fsync@: EXTENDED): a directory is
    # opened only to be listed, and SFTP has no directory fsync.
    "sshfs": {
        "LOOKUP": {"LSTAT": 1},
        LOOKUP_ABSENT: {"LSTAT": 1},
        "RENAME": {"EXTENDED": 1},
        "SETATTR": {"SETSTAT": 1},
        "OPEN": {"OPEN": 1},
        "READ": {"READ": 1},
        "RELEASE": {"CLOSE": 1},
        "CREATE": {"OPEN": 1},
        "WRITE": {"WRITE": 1},
        "FSYNC": {"EXTENDED": 1},
        "UNLINK": {"REMOVE": 1},
        "GETATTR": {"FSTAT": 1},
    },
}

#: SMB2 commands as smbd's profile names them (``smbstatus --profile``: ``smb2_NAME_count``).
SMBD_PROFILE_NAMES = {
    "negprot": "NEGOTIATE", "sesssetup": "SESSION_SETUP", "logoff": "LOGOFF",
    "tcon": "TREE_CONNECT", "tdis": "TREE_DISCONNECT", "create": "CREATE", "close": "CLOSE",
    "flush": "FLUSH", "read": "READ", "write": "WRITE", "lock": "LOCK", "ioctl": "IOCTL",
    "cancel": "CANCEL", "keepalive": "ECHO", "find": "QUERY_DIRECTORY", "notify": "CHANGE_NOTIFY",
    "getinfo": "QUERY_INFO", "setinfo": "SET_INFO", "break": "OPLOCK_BREAK",
}  # fmt: skip
#: The FUSE opcodes tests/netshare.py does not name (smbnetfs has no ``create``: the kernel
#: falls back to MKNOD + OPEN).
FUSE_EXTRA_NAMES = {"op6": "SYMLINK", "op8": "MKNOD"}


#: The requests of a folder fsync, which spoold leaves out where no client would send it
#: (``fsops.folder_fsync_is_sent``).
FOLDER_FSYNC_OPS = ("OPENDIR", "FSYNCDIR", "RELEASEDIR")


def _floor_steps(fsync: bool, folder_fsync: bool) -> list[dict[str, int]]:
    return [
        {op: k for op, k in ops.items() if folder_fsync or op not in FOLDER_FSYNC_OPS}
        for _, _, ops in FLOOR[fsync]
    ]


def floor_ops(fsync: bool, folder_fsync: bool = True) -> dict[str, int]:
    """The FUSE requests of the floor (a negative LOOKUP is a LOOKUP); ``folder_fsync``:
    whether folders are fsynced on that mount."""
    out: dict[str, int] = {}
    for ops in _floor_steps(fsync, folder_fsync):
        for op, k in ops.items():
            fuse_op = "LOOKUP" if op == LOOKUP_ABSENT else op
            out[fuse_op] = out.get(fuse_op, 0) + k
    return out


def wire_floor(share_type: str, fsync: bool, folder_fsync: bool = True) -> dict[str, int]:
    """The server requests of the floor on ``share_type``'s protocol (:data:`WIRE_COST`)."""
    out: dict[str, int] = {}
    for ops in _floor_steps(fsync, folder_fsync):
        for op, k in ops.items():
            for req, c in WIRE_COST[share_type].get(op, {}).items():
                out[req] = out.get(req, 0) + k * c
    return out


#: How long smbd may take to write its profile counters out (it does so a second after a change).
SMBD_PROFILE_DUMP_S = 2.0


def _smbd(share: netshare.Share, *args: str) -> str:
    conf = Path(share.info.get("NETSHARE_STATE") or netshare.netshare_state()) / "smb" / "smb.conf"
    if not conf.is_file() or shutil.which(args[0]) is None:
        raise netshare.ShareUnavailable(f"counting SMB2 requests needs {args[0]} and {conf}")
    out = subprocess.run(
        [args[0], "-s", str(conf), *args[1:]], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise netshare.ShareUnavailable(f"{' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def _smbd_counts(share: netshare.Share) -> dict[str, int]:
    """SMB2 requests smbd has served since its profile was switched on, by command."""
    found = re.findall(
        r"^smb2_(\w+?)_count:\s+(\d+)$", _smbd(share, "smbstatus", "--profile"), re.M
    )
    return {SMBD_PROFILE_NAMES.get(k, k): int(v) for k, v in found}


@contextmanager
def smbd_requests(share: netshare.Share) -> Iterator[dict[str, int]]:
    """The SMB2 requests the rig's smbd serves while the block runs, by command (filled in
    when it ends), from smbd's own profile counters (``smbcontrol all profile count``,
    read with ``smbstatus --profile``; each smbd process writes them out a second after they
    change).  Raises :class:`netshare.ShareUnavailable` on a share that is not the rig's."""
    if netshare.client_pid(share) is None:
        raise netshare.ShareUnavailable("a share of your own: its server's counters are not ours")
    _smbd(share, "smbcontrol", "all", "profile", "count")
    time.sleep(SMBD_PROFILE_DUMP_S)
    before = _smbd_counts(share)
    counts: dict[str, int] = {}
    try:
        yield counts
    finally:
        time.sleep(SMBD_PROFILE_DUMP_S)
        after = _smbd_counts(share)
        _smbd(share, "smbcontrol", "all", "profile", "off")
    counts.update({k: v - before.get(k, 0) for k, v in after.items() if v > before.get(k, 0)})


def is_task_file(name: str) -> bool:
    """A name a LOOKUP of one task's files asks for (a task, claim or temp file); any other
    LOOKUP is of a folder the client had cached and re-validates when its entry expires."""
    return name.endswith((".json", ".tmp"))


def round_trips(
    share: netshare.Share,
    root: Path,
    n: int,
    fsync: bool,
    *,
    server_root: Path | None = None,
    day_records: int = 0,
) -> dict[str, Any]:
    """FUSE requests and server requests per claim+complete, over ``n`` tasks after one
    warm-up task (the listing, the clock probe and complete/DAY/ are then in place), with
    ``day_records`` other records in complete/DAY/ (written from the server side
    ``server_root`` when there is one).

    The server requests are smbd's own counts on smb (the rig's SMB client talks to smbd
    from a helper process), the ones the FUSE client sent on nfs (NFSv3 calls) and sshfs
    (SFTP packets to ``ssh``)."""
    spool = Spool.init(root, fsync=fsync)
    for i in range(n + 1):
        spool.publish(spool.new_task("bench", "cpu", f"k{i:05d}", stamp=STAMP))
    fill_day(server_root or root, day_records)
    worker = Spool(root, fsync=fsync)

    def one() -> None:
        claim = worker.claim("cpu", "bench")
        assert claim is not None, "ran out of tasks"
        claim.complete(result={"ok": True})

    one()
    trace = Path(tempfile.gettempdir()) / f"spoold-share-trips-{share.type}-{int(fsync)}.txt"
    with ExitStack() as stack:
        smb = stack.enter_context(smbd_requests(share)) if share.type == "smb" else None
        counts = stack.enter_context(netshare.count_client_ops(share, trace))
        for _ in range(n):
            one()
    worker.close()
    fuse, wire = counts.per(n)
    fuse = {FUSE_EXTRA_NAMES.get(k, k): v for k, v in fuse.items()}
    if smb is not None:
        wire = {k: v / n for k, v in sorted(smb.items())}
    folders = sum(v for k, v in counts.lookups.items() if not is_task_file(k)) / n
    folder_fsync = fsync and fsops.folder_fsync_is_sent(os.path.abspath(root))
    return {
        "fsync": fsync,
        "n": n,
        "fuse": fuse,
        "folder_lookups": folders,
        "wire": wire,
        "wire_source": "smbd's profile" if smb is not None else "sent by the FUSE client",
        "folder_fsync": folder_fsync,
        "floor": floor_ops(fsync, folder_fsync),
        "wire_floor": wire_floor(share.type, fsync, folder_fsync),
    }


def fuse_total(fuse: dict[str, float]) -> float:
    """The FUSE requests a claim+complete caused, without those the kernel adds anyway."""
    return sum(v for k, v in fuse.items() if k not in KERNEL_OPS)


def folder_fsyncs(r: dict[str, Any]) -> str:
    """What spoold did about folder fsyncs in a round-trip count."""
    if not r["fsync"]:
        return "none: fsync off"
    return "sent" if r["folder_fsync"] else "skipped: no client sends them"


def trips_summary(counted: list[tuple[str, dict[str, Any]]]) -> str:
    """One row per share and fsync setting: ours, the floor's, the ratio, for the FUSE
    requests and for the server requests."""
    out = [
        "| share | fsync | FUSE requests | floor | ratio | of which folder re-LOOKUPs "
        "| server requests | floor | ratio | server count from | folder fsyncs |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for where, r in counted:
        ours, floor = fuse_total(r["fuse"]), sum(r["floor"].values())
        wire, wfloor = sum(r["wire"].values()), sum(r["wire_floor"].values())
        out.append(
            f"| {where} | {'on' if r['fsync'] else 'off'} | {ours:.1f} | {floor} | "
            f"{ours / floor:.2f} | {r['folder_lookups']:.1f} | {wire:.1f} | {wfloor} | "
            f"{wire / wfloor:.2f} | {r['wire_source']} | {folder_fsyncs(r)} |"
        )
    return "\n".join(out) + "\n"


def trips_table(where: str, rows: list[dict[str, Any]]) -> str:
    """Per FUSE opcode and per server request: the floor and the measured requests per
    claim+complete."""
    out = []
    for r in rows:
        floor, fuse = r["floor"], r["fuse"]
        ops = sorted(set(floor) | set(fuse))
        out.append(
            f"{where}, fsync {'on' if r['fsync'] else 'off'} (folder fsyncs: {folder_fsyncs(r)}): "
            f"{fuse_total(fuse):.1f} FUSE "
            f"requests per claim+complete (floor {sum(floor.values())}; kernel-added "
            + ", ".join(f"{k} {fuse[k]:.1f}" for k in KERNEL_OPS if k in fuse)
            + f"), over {r['n']} tasks"
        )
        out.append("| request | floor | measured | above floor |")
        out.append("| --- | ---: | ---: | ---: |")
        for op in ops:
            if op in KERNEL_OPS:
                continue
            f, m = floor.get(op, 0), fuse.get(op, 0.0)
            out.append(f"| {op} | {f} | {m:.2f} | {max(0.0, m - f):.2f} |")
        wire, wfloor = r["wire"], r["wire_floor"]
        out.append(
            f"server requests per claim+complete ({r['wire_source']}): "
            f"{sum(wire.values()):.1f}, floor {sum(wfloor.values())}"
        )
        out.append("| server request | floor | measured |")
        out.append("| --- | ---: | ---: |")
        for req in sorted(set(wire) | set(wfloor), key=lambda k: -wire.get(k, 0.0)):
            out.append(f"| {req} | {wfloor.get(req, 0)} | {wire.get(req, 0.0):.2f} |")
        out.append("")
    return "\n".join(out)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def measure(
    where: str, base: Path, n: int, server: Path | None = None, day_records: int = 0
) -> dict[str, Any]:
    """The rate cells of one row in ``base``; complete/DAY/ holds ``day_records`` other
    records before the claims (written through ``server``, the same folder on the file
    server, when there is one)."""
    raw = raw_rate(base, n)
    pub = publish_rate(base / "spool-fsync", n, fsync=True)
    pub_nofsync = publish_rate(base / "spool", n, fsync=False)
    for name in ("spool-fsync", "spool"):
        fill_day((server or base) / name, day_records)
    cc, lat = claim_complete(base / "spool-fsync", n, fsync=True)
    cc_nofsync, _ = claim_complete(base / "spool", n, fsync=False)
    return {
        "where": where,
        "n": n,
        "raw_per_s": raw,
        "publish_per_s": pub,
        "publish_nofsync_per_s": pub_nofsync,
        "claim_complete_per_s": cc,
        "claim_complete_nofsync_per_s": cc_nofsync,
        "dirq_per_s": dirq_rate(base, n),
        "claim_p50_ms": 1000 * statistics.median(lat),
        "claim_p99_ms": 1000 * pct(lat, 0.99),
    }


def median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-cell medians of repeated measurements (ratios: the median of each run's ratio)."""
    out: dict[str, Any] = {"where": runs[0]["where"], "n": runs[0]["n"], "runs": len(runs)}
    for key in runs[0]:
        if key.endswith(("_per_s", "_ms")):
            values = [r[key] for r in runs if r[key] is not None]
            out[key] = statistics.median(values) if values else None
    for key in ("publish_per_s", "publish_nofsync_per_s", "claim_complete_per_s"):
        out[key + "_ratio"] = statistics.median(r[key] / r["raw_per_s"] for r in runs)
    return out


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| where | raw create+rename/s | publish/s (fsync) | ratio | publish/s (no fsync) "
        "| ratio | claim+complete/s | ratio | claim p50 ms | claim p99 ms "
        "| claim+complete/s (no fsync) | dirq lock+get+remove/s | vs dirq |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: |\n"
    )
    lines = []
    for r in rows:
        raw = r["raw_per_s"]

        def ratio(key: str, r: dict[str, Any] = r, raw: float = raw) -> float:
            return float(r.get(key + "_ratio", r[key] / raw))

        lines.append(
            f"| {r['where']} | {raw:.0f} | {r['publish_per_s']:.0f} | "
            f"{ratio('publish_per_s'):.2f} | {r['publish_nofsync_per_s']:.0f} | "
            f"{ratio('publish_nofsync_per_s'):.2f} | {r['claim_complete_per_s']:.0f} | "
            f"{ratio('claim_complete_per_s'):.2f} | {r['claim_p50_ms']:.1f} | "
            f"{r['claim_p99_ms']:.1f} | {r['claim_complete_nofsync_per_s']:.0f} | "
            + (
                f"{r['dirq_per_s']:.0f} | {r['claim_complete_nofsync_per_s'] / r['dirq_per_s']:.2f} |"
                if r.get("dirq_per_s")
                else "cannot run | - |"
            )
        )
    return head + "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--types", default=",".join(netshare.SHARE_TYPES), help="comma-separated")
    ap.add_argument("-n", type=int, default=200, help="operations per measurement")
    ap.add_argument("--no-local", action="store_true", help="skip the local-disk row")
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell; report medians")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    ap.add_argument("--count", type=int, default=20, help="tasks per round-trip count (0: none)")
    ap.add_argument(
        "--quick", action="store_true", help=f"-n {QUICK_N} --count {QUICK_COUNT}: a smoke run"
    )
    ap.add_argument(
        "--day-records",
        type=int,
        default=0,
        help=f"other records in complete/{DAY}/ before the claims (a day's completions so far)",
    )
    args = ap.parse_args()
    if args.quick:
        args.n, args.count, args.repeat = QUICK_N, QUICK_COUNT, 1
    if args.day_records:
        print(f"complete/{DAY}/ holds {args.day_records} other records before the claims")
    trips: list[str] = []
    summary: list[tuple[str, dict[str, Any]]] = []
    rows = []
    if not args.no_local:
        runs = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="spoold-bench-") as d:
                runs.append(measure("local disk", Path(d), args.n, None, args.day_records))
        rows.append(median_row(runs))
        print(table(rows[-1:]), end="", flush=True)
    for t in [t for t in args.types.split(",") if t]:
        try:
            with netshare.share_of(t) as share:
                where = f"{t} ({share.origin})"
                runs = []
                for _ in range(args.repeat):
                    with share.scratch("bench") as d:
                        runs.append(measure(where, d.a, args.n, d.server, args.day_records))
                rows.append(median_row(runs))
                if args.count:
                    with share.scratch("trips") as d:
                        try:
                            counted = [
                                round_trips(
                                    share,
                                    d.a / f"spool-{int(f)}",
                                    args.count,
                                    f,
                                    server_root=d.server / f"spool-{int(f)}" if d.server else None,
                                    day_records=args.day_records,
                                )
                                for f in (True, False)
                            ]
                        except netshare.ShareUnavailable as exc:
                            print(f"{t}: round trips not counted: {exc}", file=sys.stderr)
                        else:
                            rows[-1]["round_trips"] = counted
                            trips.append(trips_table(where, counted))
                            summary += [(where, r) for r in counted]
        except netshare.ShareUnavailable as exc:
            print(f"{t}: skipped: {exc}", file=sys.stderr)
            continue
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(table(rows), end="")
    if summary:
        print()
        print("round trips per claim+complete against the protocol's floor")
        print(trips_summary(summary), end="")
    for text in trips:
        print()
        print(text, end="")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
