"""Where each stage of a video stands (``video_stages``) and what finalize gets from the earlier
stages (``gather_outputs``), from a spool played by hand through its verbs: devices claim and
complete, a worker publishes its own child with part of its outputs, a task fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.task import ChildSpec, FileRef
from spoold.server.pipeline import Pipeline
from spoold.server.settings import PipelineSettings
from spoold.server.stages import (
    Lookup,
    NotReady,
    Records,
    StageTracker,
    gather_outputs,
    video_stages,
)
from spoold.spool import Spool
from webui_export.index.validate import OUTPUT_KINDS

VID = "v0c1d2e3f405162738495"
VIDEO = FileRef(device="indoor-nas", path="Record/20190101_120000_NF.mp4", type="video")
GPS = FileRef(device="server", path=f"meta/{VID}/preprocess/gps.json", type="gps")
KEYFRAMES = FileRef(device="server", path=f"meta/{VID}/preprocess/keyframes", type="keyframes")
PLATES = FileRef(device="server", path=f"meta/{VID}/detect/plates.json", type="plates")
DETECTIONS = FileRef(device="server", path=f"meta/{VID}/detect/detections.json", type="detections")


def run(spool: Spool, device_class: str, device: str, outputs: list[FileRef], **kw: object) -> str:
    claim = spool.claim(device_class, device)
    assert claim is not None
    claim.complete(outputs, kw.get("children", []), kw.get("result"))  # type: ignore[arg-type]
    return claim.task.task_id


def detect_chained_by_preprocess(tmp_path: Path, *, hold_preprocess: bool = False) -> tuple:
    """ingest -> preprocess (publishes detect with the keyframes only) -> detect; returns the
    spool, the pipeline, the finalize task the chain would publish and the held claim."""
    spool = Spool.init(tmp_path / "spool")
    pipe = Pipeline(PipelineSettings())
    ingest = spool.new_task("ingest", "server", VID, video_id=VID, inputs=[VIDEO])
    spool.publish(ingest)
    run(spool, "server", "server", [VIDEO], result={"video_id": VID})
    spool.publish(spool.child_task(ingest, pipe.followups(spool.get(ingest.task_id)[1])[0]))
    claim = spool.claim("jetson", "jetson-01")
    assert claim is not None
    child = ChildSpec(task_type="detect", device_class="gpu", inputs=[KEYFRAMES])
    held = None
    if hold_preprocess:  # published its child, not completed yet (slow, or killed)
        spool.publish(spool.child_task(claim.task, child))
        held = claim
    else:
        claim.complete([GPS, KEYFRAMES], [child], {"chain": False})
    detect_id = run(spool, "gpu", "rtx-01", [PLATES, DETECTIONS])
    detect = spool.get(detect_id)[1]
    assert [r.type for r in detect.inputs] == ["keyframes"]
    [spec] = pipe.followups(detect)
    finalize = spool.child_task(detect, spec)
    return spool, pipe, finalize, held


def test_finalize_gets_the_track_the_chain_left_out(tmp_path: Path) -> None:
    spool, pipe, finalize, _ = detect_chained_by_preprocess(tmp_path)
    assert GPS not in finalize.inputs and VIDEO not in finalize.inputs
    refs = gather_outputs(spool, pipe, finalize, OUTPUT_KINDS)
    assert {r.type for r in refs} >= {"gps", "plates", "detections", "video"}
    assert refs.count(GPS) == 1 and refs.count(VIDEO) == 1


def test_finalize_refuses_while_an_earlier_stage_is_not_complete(tmp_path: Path) -> None:
    spool, pipe, finalize, held = detect_chained_by_preprocess(tmp_path, hold_preprocess=True)
    with pytest.raises(NotReady, match=r"preprocess-v0c1d2e3f405162738495 is claimed"):
        gather_outputs(spool, pipe, finalize, OUTPUT_KINDS)
    held.complete([GPS, KEYFRAMES], [], {"chain": False})
    assert GPS in gather_outputs(spool, pipe, finalize, OUTPUT_KINDS)


def test_stages_name_device_and_time_of_each_and_a_failure(tmp_path: Path) -> None:
    spool, pipe, finalize, _ = detect_chained_by_preprocess(tmp_path)
    spool.publish(finalize)
    claim = spool.claim("server", "server")
    assert claim is not None and claim.task.task_id == finalize.task_id
    claim.fail("finalize: invalid worker output: plates.json: not valid JSON")
    stages = {s.stage: s for s in video_stages(spool, pipe, finalize.task_id)}
    assert list(stages) == ["ingest", "preprocess", "detect", "finalize", "archive"]
    for name, device in (("ingest", "server"), ("preprocess", "jetson-01"), ("detect", "rtx-01")):
        assert stages[name].state == "complete" and stages[name].device == device
        assert stages[name].updated_at is not None and stages[name].task_id
    assert stages["finalize"].state == "failed" and stages["finalize"].device == "server"
    assert "not valid JSON" in (stages["finalize"].error or "")
    assert stages["archive"].state == "pending" and stages["archive"].task_id is None
    mine = video_stages(spool, pipe, finalize.task_id, running=(finalize.task_id, "srv-2"))
    assert (mine[3].state, mine[3].device) == ("running", "srv-2")


def test_after_a_rejected_ingest_the_other_stages_are_skipped(tmp_path: Path) -> None:
    spool = Spool.init(tmp_path / "spool")
    pipe = Pipeline(PipelineSettings())
    spool.publish(spool.new_task("ingest", "server", VID, video_id=VID, inputs=[VIDEO]))
    ingest_id = run(spool, "server", "server", [], result={"rejected": True, "reason": "no moov"})
    states = [(s.stage, s.state) for s in video_stages(spool, pipe, ingest_id)]
    assert states[0] == ("ingest", "complete")
    assert {state for _, state in states[1:]} == {"skipped"}


def test_the_tracker_hands_complete_ingest_records_to_the_index(tmp_path: Path) -> None:
    """Noted ingest tasks reach ``ingests`` once complete: a rejection with its video's stages
    (the others skipped), an acceptance without; one still pending is left to be noted again."""
    spool = Spool.init(tmp_path / "spool")
    pipe = Pipeline(PipelineSettings())
    got: list[list[tuple[str, list[tuple[str, str]]]]] = []
    tracker = StageTracker(
        spool,
        pipe,
        lambda items: None,
        ingests=lambda items: got.append(
            [(t.task_id, [(s.stage, s.state) for s in st]) for t, st in items]
        ),
    )
    bad = spool.new_task("ingest", "server", "vbad", video_id="vbad", inputs=[VIDEO])
    spool.publish(bad)
    tracker.note(bad.task_id)  # published, not complete yet (the runner notes its start)
    assert tracker.flush() == 0 and got == [] and tracker.backlog == 0
    run(spool, "server", "server", [], result={"rejected": True, "reason": "not a media file"})
    good = spool.new_task("ingest", "server", VID, video_id=VID, inputs=[VIDEO])
    spool.publish(good)
    run(spool, "server", "server", [VIDEO], result={"video_id": VID})
    for task_id in (bad.task_id, good.task_id, "not-a-task-id"):
        tracker.note(task_id)
    tracker.note(spool.child_task(good, pipe.followups(spool.get(good.task_id)[1])[0]).task_id)
    assert tracker.backlog == 2  # the two ingests (a preprocess is no index matter)
    assert tracker.flush() == 2 and tracker.backlog == 0
    [[(bad_id, bad_stages), (good_id, good_stages)]] = got
    assert (bad_id, good_id) == (bad.task_id, good.task_id)
    assert bad_stages[0] == ("ingest", "complete")
    assert {state for _, state in bad_stages[1:]} == {"skipped"}
    assert good_stages == []


def videos_in_every_state(spool: Spool) -> list[str]:
    """Videos whose finalize task is ready, deferred (a failed attempt), claimed, complete or
    not published, each with a complete ingest; returns a task id of each video."""
    ids = []
    for n, where in enumerate(["deferred", "claimed", "complete", "none", "failed", "ready"]):
        vid = f"v{n}"
        ingest = spool.new_task("ingest", "server", vid, video_id=vid, inputs=[VIDEO])
        spool.publish(ingest)
        run(spool, "server", f"srv-{n}", [VIDEO], result={"video_id": vid})
        ids.append(ingest.task_id)
        if where == "none":
            continue
        spec = ChildSpec(task_type="finalize", device_class="gpu", inputs=[VIDEO])
        spool.publish(spool.child_task(spool.get(ingest.task_id)[1], spec))
        if where == "ready":
            continue
        claim = spool.claim("gpu", f"rtx-{n}")
        assert claim is not None
        if where in ("deferred", "failed"):  # deferred by the backoff, or ready at once
            spool.policy.free_retries = 0 if where == "deferred" else 1
            claim.fail(f"{where}: plates.json: not valid JSON")
        elif where == "complete":
            claim.complete([], [], {"indexed": True})
    return ids


def test_a_batch_lookup_sees_what_locate_sees(tmp_path: Path) -> None:
    """Stages found through one listing of the queues (no direct lookup) are the stages found
    by locating each task, in every place a task can be; a task that completes after the
    listing is found complete."""
    spool = Spool.init(tmp_path / "spool")
    pipe = Pipeline(PipelineSettings())
    ids = videos_in_every_state(spool)
    alone = [video_stages(spool, pipe, t) for t in ids]
    assert {s.state for stages in alone for s in stages} == {
        "complete",
        "pending",
        "running",
        "failed",
    }
    wheres = [spool.locate(t.replace("-ingest-", "-finalize-")) for t in ids]
    assert [w.where if w else None for w in wheres] == [
        "deferred",
        "claimed",
        "complete",
        None,
        "ready",
        "ready",
    ]
    lookup, records = Lookup(spool, list_after=0, max_age=3600), Records(spool)
    assert [video_stages(spool, pipe, t, lookup=lookup, records=records) for t in ids] == alone
    ready = spool.claim("gpu", "rtx-9")
    assert ready is not None
    ready.complete([], [], {"indexed": True})
    stages = video_stages(spool, pipe, ready.task.task_id, lookup=lookup, records=records)
    assert (stages[3].state, stages[3].device) == ("complete", "rtx-9")
    assert stages == video_stages(spool, pipe, ready.task.task_id)


def test_records_reads_a_record_again_once_its_file_changed(tmp_path: Path) -> None:
    """A requeued task's later completion is read anew (its device and time), not the one
    read before; an unchanged record is the same object; a record gone is FileNotFoundError."""
    spool = Spool.init(tmp_path / "spool")
    spool.publish(spool.new_task("ingest", "server", VID, video_id=VID, inputs=[VIDEO]))
    task_id = run(spool, "server", "srv-1", [VIDEO], result={"video_id": VID})
    records = Records(spool, size=1)
    path = spool.locate(task_id, queues=()).path  # type: ignore[union-attr]
    first = records.read(path)
    assert first.completed_by == "srv-1" and records.read(path) is first
    spool.requeue(task_id)
    run(spool, "server", "srv-2", [VIDEO], result={"video_id": VID})
    assert records.read(path).completed_by == "srv-2"
    spool.requeue(task_id)
    with pytest.raises(FileNotFoundError):
        records.read(path)
