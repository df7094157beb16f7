"""Daemon failover across two hosts over the share: the standby takes over, never two at once.

Two "hosts" on the nfs, smb and sshfs shares (``../shared/netshare``): host-a's ``spoold run`` works through
client mount A, host-b's through client mount B; each runs in a UTS namespace of its own with
its own hostname (``unshare --uts``), so the daemon lease (``spoold.spool.lease``) sees two
hosts and host-b cannot use the "holder's pid is gone from this host" shortcut: it must wait
for the lease to expire, as on two real machines.  The spool, the inbox (``indoor-nas``) and
the other storage roots are folders of the share; each daemon's ``state_dir`` is local.

host-b's ``spoold run`` is restarted by a stand-in for systemd's ``Restart=always`` (every
RESTART_S, deploy/systemd/spoold.service uses 5 s): while host-a holds the lease it exits 1
("already running").  The fault hits host-a (SIGKILL, or its connection cut as in
tests/test_netshare_partition.py); docs/daemon.md promises the takeover once the lease
(``lease_s``) has run out since host-a's last heartbeat.  Judged from the server's export dir,
sampled every 0.1 s by the test:

- the lease folder never holds two ``held.HOST…`` lease files, and once host-b's appears host-a's never
  comes back; ``status.json`` never names host-a again after naming host-b;
- host-b took over no sooner than ``lease_s`` after host-a's last heartbeat (mtime of its
  lease file, server time) and within ``lease_s + RESTART_S + START_SLACK_S`` of the fault;
- every clip dropped in the inbox (before and during the fault) has exactly one ingest task,
  completed: no ingest was done twice, none was lost;
- a cut-off host-a, once healed, finds its lease gone and stops (``DaemonLeaseLost``).

The same samples are shown to catch two active daemons: a deliberately broken host-b
(``procs_netshare/broken_spoold.py lease-by-create``) started beside host-a must show as two
lease files at once.

Figures go to ``test-output/netshare/failover-KIND.json`` and ``failover-KIND-runs.jsonl``
(KIND: kill, partition, broken).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from daemon_support import BASE_TOML
from netfaults import host_ports, isolate, rig_netns, write_figures
from netshare import Share, ShareDir, share_fixture, wait_for

from spoold.demo import samples
from spoold.spool import Spool
from spoold.spool.lease import Holder

pytestmark = [pytest.mark.netshare, pytest.mark.slow]

LEASE_S = 5.0
RESTART_S = 1.0  # the standby's restart interval (systemd RestartSec)
START_SLACK_S = 15.0  # a `spoold run` start on this busy 2-core VM (imports, first scan)
CLIPS = 3  # per batch: one before the fault, one during it
SPOOLD = [sys.executable, "-m", "spoold"]
#: a daemon that takes its lease by creating a file of its own (tests/procs_netshare/)
LEASE_BY_CREATE = [sys.executable, str(Path(__file__).parent / "procs_netshare" / "broken_spoold.py"),
                   "lease-by-create"]  # fmt: skip


@pytest.fixture(scope="module", params=["nfs", "smb", "sshfs"])
def share(request: pytest.FixtureRequest) -> Iterator[Share]:
    yield from share_fixture(request.param)


def config(host_root: Path, state: Path) -> str:
    """daemon_support's fast test config, every path on the share as this host mounts it."""
    text = BASE_TOML.replace('root = "spool"', f'root = "{host_root / "spool"}"')
    for name in ("indoor-nas", "shed-nas", "server"):
        text = text.replace(f'{name} = "{name}"', f'{name} = "{host_root / name}"')
    text = text.replace('state_dir = "state"', f'state_dir = "{state}"')
    return text.replace("lease_s = 5.0", f"lease_s = {LEASE_S}")


def run_cmd(host: str, cfg: Path, program: list[str]) -> list[str]:
    """``spoold run`` on "host": its own UTS namespace and hostname (the lease names hosts)."""
    daemon = [*program, "run", "--config", str(cfg), "--log-format", "json"]
    return ["unshare", "--uts", "sh", "-c", f'hostname {host} && exec "$@"', "sh", *daemon]


class Host:
    """One host's daemon; ``supervise`` restarts it like systemd's Restart=always."""

    def __init__(self, name: str, root: Path, tmp: Path, program: list[str] = SPOOLD) -> None:
        """``program`` runs spoold (a deliberately broken one: ``LEASE_BY_CREATE``)."""
        self.name = name
        self.program = program
        state = tmp / f"state-{name}"
        state.mkdir()
        self.cfg = tmp / f"spoold-{name}.toml"
        self.cfg.write_text(config(root, state))
        self.log = tmp / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.exits: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                run_cmd(self.name, self.cfg, self.program), stdout=fh, stderr=subprocess.STDOUT
            )
        return self.proc

    def supervise(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                proc = self.start()
                while proc.poll() is None and not self._stop.is_set():
                    time.sleep(0.05)
                if proc.poll() is not None:
                    self.exits.append(proc.returncode)
                self._stop.wait(RESTART_S)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self) -> int | None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Watch:
    """Samples, from the export dir, what the daemons write: lease file names + mtimes and
    status.json's host and state."""

    folder: Path  # SPOOL/daemon on the server side
    samples: list[dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _sample(self) -> dict[str, Any]:
        held = {}
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:  # before the first daemon made it
            names = []
        for n in names:
            if Holder.parse(n) is not None:  # held.HOST.… (or a first-scheme held@HOST@…)
                try:
                    held[n] = os.stat(self.folder / n).st_mtime
                except FileNotFoundError:
                    continue
        status = None
        try:
            st = json.loads((self.folder / "status.json").read_bytes())
            status = (st["host"], st["state"])
        except (OSError, ValueError, KeyError):
            pass
        return {"t": time.time(), "held": held, "status": status}

    def run(self) -> None:
        while not self._stop.wait(0.1):
            self.samples.append(self._sample())

    def stop(self) -> None:
        self._stop.set()

    def first(self, host: str) -> float | None:
        for s in self.samples:
            if any(_holder_host(n) == host for n in s["held"]):
                return float(s["t"])
        return None

    def status_changes(self) -> list[tuple[str, str]]:
        """status.json's (host, state) each time it changed."""
        st = [tuple(s["status"]) for s in self.samples if s["status"]]
        return [x for i, x in enumerate(st) if i == 0 or x != st[i - 1]]

    def last_heartbeat(self, host: str) -> float:
        return max(m for s in self.samples for n, m in s["held"].items() if _holder_host(n) == host)


def one_holder_at_a_time(watch: Watch) -> list[str]:
    """What the share shows of two active daemons: two lease files at once, host-a's lease
    back after host-b's, ``status.json`` naming host-a after it named host-b."""
    problems = []
    holders = [sorted(s["held"]) for s in watch.samples]
    two = [h for h in holders if len(h) > 1]
    if two:
        problems.append(f"two lease files at once ({len(two)} samples), e.g. {two[0]}")
    hosts = [_holder_host(h[0]) for h in holders if h]
    if "host-b" not in hosts or "host-a" in hosts[hosts.index("host-b") :]:
        problems.append(f"lease holders over time: {hosts}")
    changes = watch.status_changes()
    named = [host for host, _state in changes]
    if "host-b" in named and any(host != "host-b" for host in named[named.index("host-b") :]):
        problems.append(
            f"status.json named host-a after host-b had taken over; its changes: {changes}"
        )
    return problems


def _holder_host(name: str) -> str | None:
    holder = Holder.parse(name)
    return holder.host if holder else None


def drop_clips(tmp: Path, inbox: Path, batch: str, seed: int) -> None:
    """CLIPS real MP4s arriving in the inbox as a NAS sync writes them (dotfile, then rename),
    directly on the NAS: the cameras' uploads do not go through either daemon's host."""
    for i in range(CLIPS):
        src = samples.make_clip(tmp / "clips" / f"{batch}{i}.mp4", seed=seed + i)
        part = inbox / f".{batch}{i}.mp4.part"
        shutil.copyfile(src, part)
        os.rename(part, inbox / f"{batch}-{i:02d}.mp4")


def ingests(spool_server: Path) -> dict[str, list[str]]:
    """video id -> its ingest task files (pending or complete), read on the server side."""
    out: dict[str, list[str]] = {}
    for path in sorted(spool_server.glob("*/**/*-ingest-*.json")):
        rel = str(path.relative_to(spool_server))
        if rel.startswith(("pending/", "complete/")):
            rec = json.loads(path.read_bytes())
            out.setdefault(rec["video_id"], []).append(rel)
    return out


def completed_ingests(spool_server: Path) -> int:
    return len(list(spool_server.glob("complete/*/*-ingest-*.json")))


def layout(d: ShareDir) -> None:
    Spool.init(d.a / "spool", default_lease=LEASE_S).close()
    for root in ("indoor-nas", "shed-nas", "server"):
        (d.a / root).mkdir()
        (d.a / root / ".spoold-storage").touch()
    (d.a / "indoor-nas" / "cams").mkdir()


@pytest.mark.parametrize("fault", ["kill", "partition"])
def test_the_standby_daemon_takes_over_within_the_lease_and_never_runs_beside_the_holder(
    share: Share, tmp_path: Path, fault: str
) -> None:
    ns = rig_netns(share)  # root: unshare --uts, and the cut
    keep = host_ports(share, ns, 2)
    with share.scratch("failover") as d:
        assert d.server is not None, "the failover test judges from the export dir"
        layout(d)
        srv_spool, inbox = d.server / "spool", d.server / "indoor-nas" / "cams"
        a, b = Host("host-a", d.a, tmp_path), Host("host-b", d.b, tmp_path)
        watch = Watch(srv_spool / "daemon")
        watcher = threading.Thread(target=watch.run, daemon=True)
        watcher.start()
        try:
            drop_clips(tmp_path, inbox, "before", seed=100)
            a.start()
            wait_for(lambda: completed_ingests(srv_spool) == CLIPS, 120, "host-a to ingest")
            b.supervise()
            wait_for(
                lambda: 1 in b.exits or watch.first("host-b"), 60, "host-b to be refused or start"
            )
            time.sleep(0.5)  # let the watcher sample what host-b wrote, if it started
            assert watch.first("host-b") is None and a.proc is not None and a.proc.poll() is None, (
                "host-b's spoold run took the lease while host-a's was running; lease folder on "
                f"the NAS: {sorted(os.listdir(srv_spool / 'daemon'))}; host-b's log:\n"
                + b.output()[-2000:]
            )
            t_fault = time.time()
            if fault == "kill":
                assert a.proc is not None
                a.proc.kill()
                a.proc.wait(10)
                wait_for(lambda: watch.first("host-b"), 120, "host-b to take over")
            else:
                with isolate(ns, keep):
                    wait_for(lambda: watch.first("host-b"), 120, "host-b to take over")
                    drop_clips(tmp_path, inbox, "during", seed=200)
                    wait_for(
                        lambda: completed_ingests(srv_spool) == 2 * CLIPS, 120, "host-b to ingest"
                    )
                    time.sleep(2 * LEASE_S)  # host-a stays cut off a while longer
                t_heal = time.time()
                assert a.proc is not None
                a.proc.wait(120)  # back on the network, host-a finds its lease gone and stops
                a_stopped_s = time.time() - t_heal
                assert "another daemon took over this spool" in a.output(), a.output()[-3000:]
            t_takeover = watch.first("host-b")
            assert t_takeover is not None
            if fault == "kill":
                drop_clips(tmp_path, inbox, "during", seed=200)
            wait_for(lambda: completed_ingests(srv_spool) == 2 * CLIPS, 120, "host-b to ingest")
            time.sleep(1.0)  # a few more samples of the steady state
            a_exit = a.stop()
            b_exit = b.stop()
        finally:
            watch.stop()
            watcher.join(10)
            a.stop()
            b.stop()

        # --- judged from the share; every violation is listed, the figures written either way
        problems = one_holder_at_a_time(watch)
        two = [h for s in watch.samples if len(h := sorted(s["held"])) > 1]
        changes = watch.status_changes()
        b_seen = min(s["t"] for s in watch.samples if s["status"] and s["status"][0] == "host-b")
        stale_status = [  # samples where status.json named host-a after naming host-b
            s["t"]
            for s in watch.samples
            if s["t"] > b_seen and s["status"] and s["status"][0] == "host-a"
        ]
        last_a = watch.last_heartbeat("host-a")
        if t_takeover - last_a < LEASE_S - 0.2:
            problems.append(
                f"host-b took over {t_takeover - last_a:.1f} s after host-a's last heartbeat"
            )
        takeover_s = t_takeover - t_fault
        if takeover_s > LEASE_S + RESTART_S + START_SLACK_S:
            problems.append(f"the takeover took {takeover_s:.1f} s")
        per_video = ingests(srv_spool)
        twice = {v: p for v, p in per_video.items() if len(p) > 1}
        if len(per_video) != 2 * CLIPS or twice:
            problems.append(f"ingest tasks per video: {per_video}")
        if not all(p[0].startswith("complete/") for p in per_video.values()):
            problems.append(f"an ingest was never completed: {per_video}")
        if b_exit != 0:
            problems.append(f"host-b exited {b_exit} on SIGTERM: {b.output()[-2000:]}")
        write_figures(
            f"failover-{fault}",
            {
                "fault": "holder SIGKILLed" if fault == "kill" else "holder cut off (100 % loss)",
                "share": share.type,
                "lease_s": LEASE_S,
                "restart_s": RESTART_S,
                "takeover_s_after_fault": round(takeover_s, 1),
                "takeover_s_after_last_heartbeat": round(t_takeover - last_a, 1),
                "standby_refused_starts": b.exits.count(1),
                "deposed_holder_stopped_s_after_heal": (
                    round(a_stopped_s, 1) if fault == "partition" else None
                ),
                "deposed_holder_exit": a_exit,
                "videos": len(per_video),
                "ingested_twice": len(twice),
                "samples": len(watch.samples),
                "two_holders_seen": len(two),
                "status_changes": changes,
                "status_named_the_deposed_holder_s": (
                    round(stale_status[-1] - stale_status[0] + 0.1, 1) if stale_status else 0
                ),
                "problems": problems,
            },
        )
        assert not problems, "\n".join(problems)


def test_the_judge_catches_a_standby_that_starts_beside_the_holder(
    share: Share, tmp_path: Path
) -> None:
    """A deliberately broken host-b (``broken_spoold.py lease-by-create``: it takes the lease
    by creating a lease file of its own, not by renaming the free or stale one) starts while
    host-a runs: two active daemons, which the share's side must show."""
    rig_netns(share)  # root: unshare --uts
    with share.scratch("failover-broken") as d:
        assert d.server is not None, "the failover test judges from the export dir"
        layout(d)
        srv_spool = d.server / "spool"
        a = Host("host-a", d.a, tmp_path)
        b = Host("host-b", d.b, tmp_path, LEASE_BY_CREATE)
        watch = Watch(srv_spool / "daemon")
        watcher = threading.Thread(target=watch.run, daemon=True)
        watcher.start()
        try:
            drop_clips(tmp_path, d.server / "indoor-nas" / "cams", "before", seed=100)
            a.start()
            wait_for(lambda: completed_ingests(srv_spool) == CLIPS, 120, "host-a to ingest")
            b.start()
            wait_for(lambda: watch.first("host-b"), 60, "host-b to write its lease file")
            time.sleep(2 * LEASE_S)  # both run a while
            both_up = a.proc is not None and a.proc.poll() is None
        finally:
            watch.stop()
            watcher.join(10)
            a.stop()
            b.stop()
        problems = one_holder_at_a_time(watch)
    write_figures(
        "failover-broken",
        {
            "fault": "standby takes its lease by create, beside the holder",
            "share": share.type,
            "samples": len(watch.samples),
            "two_holders_seen": sum(len(s["held"]) > 1 for s in watch.samples),
            "problems": problems,
        },
    )
    assert both_up, f"host-a stopped beside the broken host-b:\n{a.output()[-3000:]}"
    assert any(p.startswith("two lease files at once") for p in problems), problems
