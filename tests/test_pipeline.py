"""Pipeline chaining: a completed task's follow-ups, by configuration, published exactly once."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from schemas.task import FileRef, Task
from spoold.server.pipeline import Chainer, Pipeline
from spoold.server.settings import PipelineSettings
from spoold.spool import Spool

VIDEO = FileRef(device="indoor-nas", path="cams/a.mp4", type="video")
GPS = FileRef(device="server", path="meta/a.gps.json", type="gps")
DET = FileRef(device="server", path="meta/a.det.json", type="detections")


def done(task: Task, outputs: list[FileRef], result: dict | None = None) -> Task:
    return task.model_copy(update={"outputs": outputs, "result": result})


def test_default_followups_carry_the_files_the_next_stage_needs(tmp_path: Path) -> None:
    pipe = Pipeline(PipelineSettings())
    spool = Spool.init(tmp_path)
    ingest = spool.new_task("ingest", "server", "v1", video_id="v1", inputs=[VIDEO])
    [pre] = pipe.followups(done(ingest, [VIDEO]))
    assert (pre.task_type, pre.device_class, pre.inputs) == ("preprocess", "jetson", [VIDEO])
    pre_task = spool.child_task(ingest, pre)
    [det] = pipe.followups(done(pre_task, [GPS]))
    assert (det.task_type, det.device_class, det.inputs) == ("detect", "gpu", [GPS, VIDEO])
    det_task = spool.child_task(pre_task, det)
    [fin] = pipe.followups(done(det_task, [DET]))
    assert (fin.task_type, fin.device_class) == ("finalize", "server")
    assert fin.inputs == [DET, GPS, VIDEO]
    fin_task = spool.child_task(det_task, fin)
    [arc] = pipe.followups(done(fin_task, [DET, GPS, VIDEO]))
    assert (arc.task_type, arc.device_class) == ("archive", "server")
    assert pipe.followups(done(spool.child_task(fin_task, arc), [])) == []
    # Every stage of one video shares the stamp and the key: ids are known in advance.
    assert spool.child_task(fin_task, arc).task_id == ingest.task_id.replace("ingest", "archive")


def test_input_selectors_filter_by_type_and_never_repeat_a_file() -> None:
    task = Task(
        task_id="20261125T101530Z-detect-v1",
        task_type="detect",
        device_class="gpu",
        inputs=[VIDEO, GPS],
        outputs=[DET, GPS],
        created_at=datetime.now(timezone.utc),
    )
    assert Pipeline.select_inputs(task, ["outputs:gps", "inputs"]) == [GPS, VIDEO]
    assert Pipeline.select_inputs(task, ["inputs:video"]) == [VIDEO]


def test_a_rejected_video_or_an_opt_out_gets_no_followup(tmp_path: Path) -> None:
    pipe = Pipeline(PipelineSettings())
    spool = Spool.init(tmp_path)
    ingest = spool.new_task("ingest", "server", "v1", video_id="v1", inputs=[VIDEO])
    assert pipe.followups(done(ingest, [], {"rejected": True, "reason": "no video track"})) == []
    assert pipe.followups(done(ingest, [VIDEO], {"chain": False})) == []


def operator_completes(spool: Spool, task: Task) -> Path:
    """What an operator does by hand: mv the pending file into complete/DAY/."""
    src = spool.publish(task).location.path
    dest = spool.layout.completed(task.task_id)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(src, dest)
    return dest


def all_ids(spool: Spool) -> list[str]:
    return sorted(p.stem for p in spool.root.glob("*/**/*.json") if p.parent.name != "daemon")


def test_an_operators_mv_into_complete_is_chained_once_even_across_restarts(
    tmp_path: Path,
) -> None:
    spool = Spool.init(tmp_path)
    pipe = Pipeline(PipelineSettings())
    task = spool.new_task("preprocess", "jetson", "v1", video_id="v1", inputs=[VIDEO])
    operator_completes(spool, task)
    chainer = Chainer(spool, pipe)
    assert chainer.run_pass() == 1
    detect_id = task.task_id.replace("preprocess", "detect")
    assert spool.locate(detect_id).where == "ready"  # type: ignore[union-attr]
    assert chainer.run_pass() == 0 and chainer.run_pass(full=True) == 0
    # A restarted daemon (fresh chainer, with or without its saved watermarks) adds nothing.
    assert Chainer(spool, pipe).run_pass(full=True) == 0
    again = Chainer(spool, pipe)
    again.import_state(chainer.export_state())
    assert again.run_pass() == 0
    assert all_ids(spool).count(detect_id) == 1


def test_a_followup_that_already_completed_is_not_published_again(tmp_path: Path) -> None:
    spool = Spool.init(tmp_path)
    pipe = Pipeline(PipelineSettings())
    pre = spool.new_task("preprocess", "jetson", "v1", video_id="v1", inputs=[VIDEO])
    operator_completes(spool, pre)
    detect = spool.new_task("detect", "gpu", "v1", video_id="v1", stamp=pre.stamp)
    operator_completes(spool, detect)
    chainer = Chainer(spool, pipe)
    published = chainer.run_pass()
    assert published == 1  # only finalize: detect is complete already
    assert sorted(i.split("-")[1] for i in all_ids(spool)) == ["detect", "finalize", "preprocess"]


def test_a_completion_in_an_old_day_folder_is_found_by_the_full_pass(tmp_path: Path) -> None:
    spool = Spool.init(tmp_path)
    pipe = Pipeline(PipelineSettings())
    today = spool.new_task("ingest", "server", "v2", video_id="v2")
    operator_completes(spool, today.model_copy(update={"result": {"rejected": True}}))
    chainer = Chainer(spool, pipe, hot_days=1)
    chainer.run_pass(full=True)
    old_stamp = datetime.now(timezone.utc) - timedelta(days=30)
    old = spool.new_task("detect", "gpu", "v1", video_id="v1", stamp=old_stamp)
    path = operator_completes(spool, old)
    os.utime(path.parent, None)
    assert chainer.run_pass() == 0  # the old day is not "recent"
    assert chainer.run_pass(full=True) == 1
    assert spool.locate(old.task_id.replace("detect", "finalize")) is not None


def test_a_stage_added_in_config_is_chained(tmp_path: Path) -> None:
    settings = PipelineSettings.model_validate(
        {"stages": {"detect": {"next": ["ocr"]}, "ocr": {"device_class": "tpu", "next": []}}}
    )
    spool = Spool.init(tmp_path)
    det = spool.new_task("detect", "gpu", "v1", video_id="v1")
    operator_completes(spool, det)
    assert Chainer(spool, Pipeline(settings)).run_pass() == 1
    loc = spool.locate(det.task_id.replace("detect", "ocr"))
    assert loc is not None and loc.queue == "tpu"
