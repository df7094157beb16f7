"""The executor table: which executor plans a claimed server task, and which roots it needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from daemon_support import Env

from schemas.metadata import StageStatus, VideoMeta
from schemas.task import FileRef, Task
from spoold.errors import SpoolError
from spoold.server import executors
from spoold.server.executors.base import LOCAL_LANE, Outcome
from spoold.server.settings import BUILTIN_EXECUTORS, DaemonConfig, StageSettings
from spoold.server.storage import Storage
from spoold.spool import Spool


@dataclass
class FakeHost:
    cfg: DaemonConfig
    spool: Spool
    storage: Storage
    device: str = "server-01"
    find_paths: Callable[[str], list[FileRef]] = field(default=lambda vid: [])
    index_active: bool = False

    def maintain_index(self) -> Outcome:
        return Outcome("complete", result={"maintained": True})

    def video_meta(self, task: Task) -> VideoMeta | None:
        return None

    def stages(self, task: Task) -> list[StageStatus]:
        return []


def host(tmp_path: Path) -> FakeHost:
    env = Env(tmp_path)
    cfg = env.settings()
    return FakeHost(cfg, env.spool(), Storage(dict(cfg.storage)))


def task(h: FakeHost, task_type: str) -> Task:
    return h.spool.new_task(
        task_type,
        "server",
        "v1",
        video_id="v1",
        inputs=[
            FileRef(device="indoor-nas", path="cams/a.mp4", type="video"),
            FileRef(device="server", path="meta/v1.det.json", type="detections"),
        ],
    )


def test_the_table_has_every_configurable_executor() -> None:
    assert tuple(executors.EXECUTORS) == BUILTIN_EXECUTORS


def test_a_stage_names_its_executor_and_needs_the_roots_that_executor_reads(
    tmp_path: Path,
) -> None:
    h, stage = host(tmp_path), StageSettings(device_class="server", executor="finalize")
    job, needs = executors.plan(task(h, "refinalize"), h, stage)
    assert (job.root, needs) == ("server", {"server"})  # metadata only: not the video's root


def test_ingest_needs_the_video_root(tmp_path: Path) -> None:
    h = host(tmp_path)
    job, needs = executors.plan(task(h, "ingest"), h, None)
    assert (job.root, needs) == ("indoor-nas", {"indoor-nas"})


def test_a_command_stage_runs_locally_and_needs_the_roots_of_all_its_files(
    tmp_path: Path,
) -> None:
    h = host(tmp_path)
    stage = StageSettings(device_class="server", command=["true"], params={"timeout_s": 7})
    job, needs = executors.plan(task(h, "transcode"), h, stage)
    assert (job.root, job.lane, job.timeout) == (None, LOCAL_LANE, 7.0)
    assert needs == {"indoor-nas", "server"}


def test_a_task_type_without_executor_or_command_cannot_run(tmp_path: Path) -> None:
    h = host(tmp_path)
    with pytest.raises(SpoolError, match="no server executor for task type 'transcode'"):
        executors.plan(task(h, "transcode"), h, None)


def test_the_index_task_without_index_runs_locally(tmp_path: Path) -> None:
    h = host(tmp_path)
    job, needs = executors.plan(task(h, "index"), h, None)
    assert (job.root, job.lane, needs) == (None, LOCAL_LANE, set())  # reads no file
    assert job.fn().result == {"maintained": True}
