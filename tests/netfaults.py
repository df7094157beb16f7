"""Network and NAS faults on the netshare rig (``tests/netshare.py``), for the partition,
NAS-restart and daemon-failover tests.  Not a test module.

Public API:

- :func:`rig_netns`: the rig's namespaces, or skip/fail the test when it runs in loopback mode;
- :func:`client_ports`: the local TCP ports of one client mount's connections to the NAS;
  :func:`host_ports`: the same for mount 1 or 2 of a share, woken first;
- :func:`isolate`: a context manager that blackholes every packet between the client and the
  server namespaces except those of the connections it is told to keep (both directions), and
  heals on exit;
- :func:`readonly_view`: a read-only-switchable bind mount of a folder of a client mount;
- :func:`restart_nfs_server`, :func:`restart_server`: kill the NAS service and start it again;
- :class:`Fleet`, :func:`publish_tasks`: `spoold work` devices running ``hold_run.sh`` and the
  tasks they drain; :func:`write_figures`: a test's figures for docs/reliability.md.

Why a filter and not ``ip link set down`` or ``tc netem``: both client mounts of the rig share
one veth pair, so downing the link cuts both "hosts"; and this kernel has no ``sch_netem``,
``sch_prio``, ``cls_flower`` nor the ``gact`` drop action (``tc`` says "unknown qdisc").  What
it has is ``htb`` and ``u32``: an htb class whose leaf is ``pfifo limit 0`` drops everything
sent to it, and a ``u32`` filter sends every IP packet there except the kept connections'.
That is a 100 % loss partition of one client host: its TCP connection (and any reconnection
attempt, whatever its port) goes unanswered, exactly as a pulled cable does; the other
client's connection is untouched.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from netshare import (
    REPO,
    Share,
    SpooldWork,
    completed_in,
    is_mounted,
    mount,
    netshare_state,
    umount,
    unavailable,
    wait_for,
)

from spoold.spool import Spool


@dataclass(frozen=True)
class Netns:
    """The rig's two network namespaces and their veth ends."""

    srv: str = "netshare-srv"
    cli: str = "netshare-cli"
    srv_dev: str = "nshare0"
    cli_dev: str = "nshare1"


def rig_netns(share: Share) -> Netns:
    """The namespaces of a rig this session can cut (skip/fail the test otherwise)."""
    if os.geteuid() != 0:
        unavailable("cutting the share's network needs root")
    if share.info.get("NETSHARE_MODE") != "netns":
        unavailable(
            f"{share.describe()}: not a netns rig (mode {share.info.get('NETSHARE_MODE')!r}); "
            "a partition needs the veth between netshare-srv and netshare-cli"
        )
    ns = Netns()
    for name in (ns.srv, ns.cli):
        if not Path(f"/run/netns/{name}").exists():
            unavailable(f"network namespace {name} is missing")
    return ns


def _run(*cmd: str) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


def _descendants(pid: int) -> set[int]:
    out = {pid}
    children: list[str] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):  # any thread may have forked (sshfs)
        try:
            children += (task / "children").read_text().split()
        except OSError:
            continue
    for c in children:
        out |= _descendants(int(c))
    return out


def client_pid(share: Share, index: int) -> int:
    """The pid of the FUSE client daemon of mount ``index`` (1 or 2), from the rig's pid file."""
    pf = netshare_state() / share.type / "run" / f"client-{index}.pid"
    return int(pf.read_text().split()[0])


def _socketpair_peers(ns: Netns, pids: set[int]) -> set[int]:
    """Processes joined to ``pids`` by a unix socket pair: sshfs double-forks its ssh (its
    parent is then init), and talks SFTP to it over one."""
    out = _run("ip", "netns", "exec", ns.cli, "ss", "-xpH")
    owners: dict[str, set[int]] = {}
    peer_of: dict[str, str] = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 8 and f[4] == "*" and f[6] == "*":
            owners[f[5]] = {int(p) for p in re.findall(r"pid=(\d+)", line)}
            peer_of[f[5]] = f[7]
    return {
        p for inode, own in owners.items() if own & pids for p in owners.get(peer_of[inode], ())
    }


def client_ports(ns: Netns, pid: int) -> set[int]:
    """Local ports of the established TCP connections of client ``pid``: its own, its
    children's, and those of a helper it talks to over a socket pair (sshfs's ssh)."""
    pids = _descendants(pid)
    pids |= _socketpair_peers(ns, pids)
    out = _run("ip", "netns", "exec", ns.cli, "ss", "-tnpH", "state", "established")
    ports = set()
    for line in out.splitlines():
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        fields = line.split()
        if owners & pids and len(fields) >= 3:
            ports.add(int(fields[2].rsplit(":", 1)[1]))
    return ports


def host_ports(share: Share, ns: Netns, index: int) -> set[int]:
    """:func:`client_ports` of client mount ``index`` (1 or 2), after a listing through it: a
    lazy client (smbnetfs) connects on first use and drops a connection idle for 5 minutes,
    so the mount is used first to make sure its connection is there to be kept."""
    os.listdir(share.mount if index == 1 else share.mount2)
    return client_ports(ns, client_pid(share, index))


def _blackhole(ns_name: str, dev: str, port_field: str, keep: set[int]) -> None:
    """htb on ``dev``: class 1:1 passes, class 1:2 (pfifo limit 0) drops; kept ports -> 1:1,
    every other IP packet -> 1:2; non-IP (ARP) takes the default, 1:1."""
    tc = ["ip", "netns", "exec", ns_name, "tc"]
    _run(*tc, "qdisc", "replace", "dev", dev, "root", "handle", "1:", "htb", "default", "1")
    for cls in ("1:1", "1:2"):
        _run(
            *tc, "class", "add", "dev", dev, "parent", "1:", "classid", cls, "htb", "rate", "10gbit"
        )
    _run(*tc, "qdisc", "add", "dev", dev, "parent", "1:2", "handle", "20:", "pfifo", "limit", "0")
    for port in sorted(keep):
        _run(*tc, "filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "1",
             "u32", "match", "ip", port_field, str(port), "0xffff", "flowid", "1:1")  # fmt: skip
    _run(*tc, "filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "2",
         "u32", "match", "u32", "0", "0", "flowid", "1:2")  # fmt: skip


def heal(ns: Netns) -> None:
    """Remove the blackhole on both veth ends (a no-op when there is none)."""
    for name, dev in ((ns.cli, ns.cli_dev), (ns.srv, ns.srv_dev)):
        subprocess.run(
            ["ip", "netns", "exec", name, "tc", "qdisc", "del", "dev", dev, "root"],
            capture_output=True,
            timeout=30,
            check=False,
        )


def dropped_packets(ns: Netns) -> int:
    """Packets the blackhole dropped so far, both directions (proof that the cut cut)."""
    total = 0
    for name, dev in ((ns.cli, ns.cli_dev), (ns.srv, ns.srv_dev)):
        out = _run("ip", "netns", "exec", name, "tc", "-s", "qdisc", "show", "dev", dev)
        m = re.search(r"qdisc pfifo 20:.*?dropped (\d+)", out, re.S)
        total += int(m.group(1)) if m else 0
    return total


@contextmanager
def isolate(ns: Netns, keep_ports: set[int]) -> Iterator[None]:
    """Cut every client<->server packet except the connections whose client-side port is in
    ``keep_ports``; heal on exit, whatever happens."""
    assert keep_ports, "keeping no connection would cut both client hosts"
    try:
        _blackhole(ns.cli, ns.cli_dev, "sport", keep_ports)
        _blackhole(ns.srv, ns.srv_dev, "dport", keep_ports)
        yield
    finally:
        heal(ns)


@contextmanager
def readonly_view(src: Path, view: Path) -> Iterator[ReadonlyView]:
    """``src`` (a folder on a client mount) bind-mounted at ``view``; ``.flip(ro)`` remounts it
    read-only or read-write (root only).  Unmounted on exit."""
    view.mkdir(parents=True, exist_ok=True)
    mount("--bind", str(src), str(view))
    try:
        yield ReadonlyView(view)
    finally:
        umount(view)


@dataclass(frozen=True)
class ReadonlyView:
    path: Path

    def flip(self, readonly: bool) -> None:
        assert is_mounted(self.path)
        mount("-o", f"remount,bind,{'ro' if readonly else 'rw'}", str(self.path))


# ------------------------------------------------------------------ NAS service restarts


def _pid_file(path: Path) -> int:
    return int(path.read_text().split()[0])


def _port_open(ns: Netns, port: int) -> bool:
    out = _run("ip", "netns", "exec", ns.srv, "ss", "-tlnH", f"sport = :{port}")
    return bool(out.strip())


def _kill_tree(pid: int) -> None:
    for p in sorted(_descendants(pid), reverse=True):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _respawn(pid_file: Path, argv: list[str]) -> None:
    """Start ``argv`` in a session of its own and record it in the rig's pid file ("PID START",
    as up.sh writes it), so that ``down.sh`` stops the new server and what it starts."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    start = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    pid_file.write_text(f"{proc.pid} {start}\n")


def restart_nfs_server(ns: Netns, down_s: float) -> float:
    """SIGKILL ganesha (pid from the rig's ``nfs/run/ganesha.pid``), then the rest of the NFS
    server (``server.sh`` and its rpcbind, ``run/server.pid``), keep it down ``down_s``
    seconds and start ``server.sh`` again as up.sh does: the NAS rebooting its NFS service.
    Returns the seconds it was not serving."""
    t = netshare_state() / "nfs"
    t0 = time.monotonic()
    os.kill(_pid_file(t / "run" / "ganesha.pid"), signal.SIGKILL)
    _kill_tree(_pid_file(t / "run" / "server.pid"))
    wait_for(lambda: not _port_open(ns, 2049), 10, "ganesha to stop listening")
    time.sleep(down_s)
    server_sh = [f"--net=/run/netns/{ns.srv}", "unshare", "--mount", str(t / "server.sh")]
    _respawn(t / "run" / "server.pid", ["nsenter", *server_sh])
    wait_for(lambda: _port_open(ns, 2049), 60, "ganesha to listen again on 2049", poll=0.1)
    return time.monotonic() - t0


def _server_argv(share_type: str, state: Path) -> tuple[list[str], int]:
    """The server's command line and port, as up.sh starts it (not read from /proc: sshd
    rewrites its process title)."""
    if share_type == "smb":
        conf = str(state / "smb.conf")
        return ["smbd", "-F", "--no-process-group", "-s", conf, "--debug-stdout", "-d", "1"], 445
    return ["/usr/sbin/sshd", "-D", "-e", "-f", str(state / "sshd_config")], 22


def restart_server(share_type: str, ns: Netns, down_s: float) -> float:
    """SIGKILL the file server of ``share_type`` and its children (smbd, or sshd and its
    per-session children; pid from the rig's ``TYPE/run/server.pid``), keep it down ``down_s``
    seconds, start it again in the server namespace.  Returns the seconds it was not
    serving.  (nfs: :func:`restart_nfs_server`.)"""
    state = netshare_state() / share_type
    argv, port = _server_argv(share_type, state)
    t0 = time.monotonic()
    _kill_tree(_pid_file(state / "run" / "server.pid"))
    wait_for(lambda: not _port_open(ns, port), 10, f"the {share_type} server to stop listening")
    time.sleep(down_s)
    _respawn(state / "run" / "server.pid", ["nsenter", f"--net=/run/netns/{ns.srv}", *argv])
    wait_for(lambda: _port_open(ns, port), 60, f"the {share_type} server to listen on {port}")
    return time.monotonic() - t0


# ------------------------------------------------------------------ devices

STAMP = "20260101T000000Z"
DAY = "2026-01-01"
HOLD_RUN = Path(__file__).parent / "procs_netshare" / "hold_run.sh"


@dataclass
class Fleet:
    """One test's `spoold work` processes (COMMAND: ``procs_netshare/hold_run.sh``), their run
    log, and the spool as the NAS sees it (for judging)."""

    server: Path  # the spool on the NAS itself (judging only)
    tmp: Path
    lease_s: float
    workers: dict[str, SpooldWork] = field(default_factory=dict)

    @property
    def runlog(self) -> Path:
        return self.tmp / "runs.log"

    def start(
        self,
        name: str,
        device: str,
        root: Path,
        hold_s: float,
        program: list[str] | None = None,
    ) -> SpooldWork:
        """Start worker ``name`` (``program``: see :class:`SpooldWork`)."""
        env = dict(os.environ, RUNLOG=str(self.runlog), HOLD_S=str(hold_s))
        # Each host its own config naming its own mount: reading the config resolves the
        # spool root, and a path on the cut-off mount would hang host-b too.
        cfg = self.tmp / f"spoold-{device}.toml"
        cfg.write_text(f'[spool]\nroot = "{root}"\nbackoff_base_s = 0.5\nbackoff_max_s = 2.0\n')
        args = [
            "--spool", str(root), "--config", str(cfg), "--class", "cpu",
            "--device", device, "--poll", "0.1", "--max-poll", "0.5", "--lease", str(self.lease_s),
            "--", "/bin/sh", str(HOLD_RUN),
        ]  # fmt: skip
        w = SpooldWork(args, self.tmp / f"{name}.log", env=env, program=program)
        self.workers[name] = w
        return w

    def runs(self) -> list[tuple[str, str, str]]:
        """(task id, device, worker pid) per run of the COMMAND."""
        try:
            text = self.runlog.read_text()
        except FileNotFoundError:
            return []
        return [(f[0], f[1], f[2]) for ln in text.splitlines() if len(f := ln.split()) == 3]

    def done(self) -> set[str]:
        try:
            names = os.listdir(self.server / "complete" / DAY)
        except FileNotFoundError:
            return set()
        return {n[: -len(".json")] for n in names if n.endswith(".json")}

    def pending(self) -> list[str]:
        out = []
        for dirpath, _dirs, files in os.walk(self.server / "pending"):
            out += [os.path.join(dirpath, n) for n in files if n.endswith(".json")]
        return sorted(out)

    def describe_pending(self) -> str:
        """What is left in pending/ on the NAS, with ages, for a failure message."""
        now = time.time()
        rows = []
        for path in self.pending():
            try:
                age = f"{now - os.stat(path).st_mtime:.1f} s"
            except OSError as exc:
                age = str(exc)
            rows.append(f"  {os.path.relpath(path, self.server)}  (mtime {age} ago)")
        return "\n".join(rows) or "  (nothing)"

    def wait_done(self, want: set[str], timeout: float) -> None:
        """Wait until exactly ``want`` is complete; on timeout say what is left where."""
        try:
            wait_for(lambda: self.done() == want, timeout, "every task to complete")
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}; not complete: {sorted(want - self.done())}; pending/ on the NAS:\n"
                + self.describe_pending()
            ) from None

    def log_of(self, *names: str) -> str:
        return "".join(self.workers[n].output() for n in names)

    def completions(self) -> Counter[str]:
        """How many workers logged the completion of each task."""
        return Counter(m for w in self.workers.values() for m in completed_in(w.output()))


def publish_tasks(spool: Spool, prefix: str, n: int) -> set[str]:
    """``n`` cpu tasks with ids ``STAMP-ingest-PREFIXnn``; their ids."""
    return {
        spool.publish(spool.new_task("ingest", "cpu", f"{prefix}{i:02d}", stamp=STAMP)).task_id
        for i in range(n)
    }


# ------------------------------------------------------------------ figures


def write_figures(name: str, summary: dict[str, object]) -> None:
    """``test-output/netshare/NAME-SHARE.json`` (this run) and ``NAME-runs.jsonl`` (every run:
    docs/reliability.md quotes them), and the figures on stdout."""
    out = REPO / "test-output" / "netshare"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}-{summary['share']}.json").write_text(json.dumps(summary, indent=2) + "\n")
    with open(out / f"{name}-runs.jsonl", "a") as fh:
        fh.write(json.dumps(summary) + "\n")
    print(json.dumps(summary))
